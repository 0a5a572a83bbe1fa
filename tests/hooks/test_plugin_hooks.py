"""The engine's hook points answered by real plugins over a real NATS server."""

from __future__ import annotations

from typing import Any

import pytest

from hookbus.bus import (
    Plugin,
    hold,
    merge_patch,
    node_result,
    patch,
    reject,
    short_circuit,
    take_over,
    value,
    warn,
)
from hookbus.bus.testing import PluginHarness
from hookbus.controller.adapters.plugin_hooks import (
    PluginHooks,
    from_kubernetes_pod,
    to_kubernetes_pod,
)
from hookbus.controller.engine.hooks import NodeItem, PluginItem, PodItem, WorkflowInfo

INFO = WorkflowInfo(namespace="ci", name="build-1", uid="uid-1", labels={"team": "data"})


def node(i: int, **extra: Any) -> NodeItem:
    return NodeItem(
        node={"id": f"build-1-{i}", "name": f"build-1.step{i}", "templateName": "work", "phase": "Pending", **extra},
        template={"name": "work", "container": {"image": "alpine:3.23", "command": ["echo"], "args": ["hi"]}},
    )


def engine_pod() -> dict[str, Any]:
    return {
        "name": "build-1-0",
        "main": {"name": "main", "image": "python:3.12", "command": ["python"], "args": [], "env": {"A": "1"}, "workingDir": None, "source": "print(1)"},
        "init": [],
        "sidecars": [],
        "labels": {"app": "x"},
        "annotations": {},
    }


async def test_pre_operate_rejection_names_plugin_and_reason() -> None:
    plugin = Plugin("image-allowlist")

    @plugin.workflow_pre_operate(mutating=False)
    def check(workflow: dict[str, Any], **kwargs: Any) -> Any:
        image = workflow["spec"]["templates"][0]["container"]["image"]
        return reject(f"template 'main' uses image {image!r}") if image.startswith("evil") else warn("looks fine")

    wf = {"metadata": {"name": "w", "namespace": "ci", "uid": "u"}, "spec": {"templates": [{"name": "main", "container": {"image": "evil:1"}}]}}
    ok = {"metadata": {"name": "v", "namespace": "ci", "uid": "v"}, "spec": {"templates": [{"name": "main", "container": {"image": "alpine"}}]}}
    async with PluginHarness(plugin) as harness:
        assert harness.dispatcher is not None
        bad, good = await PluginHooks(harness.dispatcher).workflow_pre_operate([wf, ok])
    assert not bad.allowed
    assert "evil:1" in bad.message and "image-allowlist" in bad.message
    assert good.allowed and good.workflow is None
    assert good.warnings == ("image-allowlist: looks fine",)


async def test_pre_operate_mutation_returns_the_patched_workflow() -> None:
    plugin = Plugin("deadline")

    @plugin.workflow_pre_operate(mutating=True)
    def add(**kwargs: Any) -> Any:
        return patch([{"op": "add", "path": "/spec/activeDeadlineSeconds", "value": 600}])

    wf = {"metadata": {"name": "w", "namespace": "ci"}, "spec": {"entrypoint": "main"}}
    async with PluginHarness(plugin) as harness:
        assert harness.dispatcher is not None
        (admission,) = await PluginHooks(harness.dispatcher).workflow_pre_operate([wf])
    assert admission.allowed
    assert admission.workflow is not None and admission.workflow["spec"]["activeDeadlineSeconds"] == 600
    assert "activeDeadlineSeconds" not in wf["spec"]


async def test_pre_execute_decisions_map_to_the_engine() -> None:
    plugin = Plugin("decider")

    @plugin.node_pre_execute()
    def decide(node: dict[str, Any], **kwargs: Any) -> Any:
        match node["name"].rsplit("step", 1)[1]:
            case "0":
                return short_circuit("Succeeded", outputs={"parameters": [{"name": "p", "value": "cached"}]}, message="cache hit")
            case "1":
                return take_over(requeue=30)
            case "2":
                return hold(10, message="waiting for the lake")
            case "3":
                return {"decision": "fail", "message": "not today"}
            case "4":
                return {"decision": "explode"}
            case _:
                return None

    async with PluginHarness(plugin) as harness:
        assert harness.dispatcher is not None
        results = await PluginHooks(harness.dispatcher).node_pre_execute(INFO, [node(i) for i in range(6)])
    short, take, held, failed, malformed, cont = results
    assert (short.decision, short.phase, short.message) == ("shortCircuit", "Succeeded", "cache hit")
    assert short.outputs == {"parameters": [{"name": "p", "value": "cached"}]}
    assert (take.decision, take.requeue) == ("takeOver", 30.0)
    assert (held.decision, held.requeue, held.message) == ("hold", 10.0, "waiting for the lake")
    assert (failed.decision, failed.phase) == ("fail", "Failed") and "not today" in failed.message and "decider" in failed.message
    assert (malformed.decision, malformed.phase) == ("fail", "Error") and "unknown decision 'explode'" in malformed.message
    assert cont.decision == "continue"


@pytest.mark.parametrize(("policy", "expected"), [("Fail", "fail"), ("Ignore", "continue")])
async def test_a_failing_plugin_errors_the_node_or_is_skipped(policy: str, expected: str) -> None:
    plugin = Plugin("broken")

    @plugin.node_pre_execute(failure_policy=policy)
    def boom(**kwargs: Any) -> Any:
        raise RuntimeError("backend unreachable")

    async with PluginHarness(plugin) as harness:
        assert harness.dispatcher is not None
        (result,) = await PluginHooks(harness.dispatcher).node_pre_execute(INFO, [node(0)])
        ignored = harness.dispatcher.stats.ignored
    assert result.decision == expected
    if expected == "fail":
        assert result.phase == "Error"
        assert "'broken'" in result.message and "node.preExecute" in result.message and "backend unreachable" in result.message
    else:
        assert ignored == 1


async def test_pod_patches_reach_the_engine_pod_and_vetoes_stop_it() -> None:
    plugin = Plugin("pod-policy")

    @plugin.pod_pre_create()
    def shape(pod: dict[str, Any], **kwargs: Any) -> Any:
        if pod["spec"]["containers"][0]["image"].startswith("python"):
            return patch(
                [
                    {"op": "add", "path": "/metadata/labels/cost-center", "value": "42"},
                    {"op": "add", "path": "/spec/containers/0/env/-", "value": {"name": "B", "value": "2"}},
                    {"op": "add", "path": "/spec/containers/-", "value": {"name": "shipper", "image": "busybox", "command": ["sleep", "60"]}},
                ]
            )
        return reject("only python pods here")

    other = engine_pod()
    other["main"]["image"] = "alpine"
    async with PluginHarness(plugin) as harness:
        assert harness.dispatcher is not None
        shaped, vetoed = await PluginHooks(harness.dispatcher).pod_pre_create(
            INFO, [PodItem({"id": "build-1-0"}, engine_pod()), PodItem({"id": "build-1-1"}, other)]
        )
    assert shaped.allowed and shaped.pod is not None
    assert shaped.pod["labels"] == {"app": "x", "cost-center": "42"}
    assert shaped.pod["main"]["env"] == {"A": "1", "B": "2"}
    assert shaped.pod["main"]["source"] == "print(1)", "a script keeps its source"
    assert [s["name"] for s in shaped.pod["sidecars"]] == ["shipper"]
    assert not vetoed.allowed and "only python pods here" in vetoed.message and "pod-policy" in vetoed.message


def test_pod_round_trip_without_changes_is_lossless() -> None:
    pod = engine_pod()
    pod["sidecars"] = [{"name": "side", "image": "nginx", "command": [], "args": [], "env": {}, "workingDir": None, "source": None}]
    k8s = to_kubernetes_pod(pod, INFO)
    assert k8s["metadata"]["labels"]["workflows.argoproj.io/workflow"] == "build-1"
    assert [c["name"] for c in k8s["spec"]["containers"]] == ["main", "side"]
    assert from_kubernetes_pod(k8s, pod) == pod


async def test_parameters_resolve_values_and_secrets() -> None:
    plugin = Plugin("vault")

    @plugin.parameters_resolve(scopes=["vault"])
    def resolve(key: str, **kwargs: Any) -> Any:
        return value("hunter2", secret=True) if key == "db-password" else None

    async with PluginHarness(plugin) as harness:
        assert harness.dispatcher is not None
        found, missing, foreign = await PluginHooks(harness.dispatcher).parameters_resolve(
            INFO, ["vault.db-password", "vault.unknown", "other.x"]
        )
    assert found is not None and (found.value, found.secret) == ("hunter2", True)
    assert missing is None and foreign is None


async def test_template_execute_follows_argos_executor_plugin_reply() -> None:
    mine, other = Plugin("slack"), Plugin("not-mine")

    @mine.template_execute(templates=["slack"])
    def run(template: dict[str, Any], **kwargs: Any) -> Any:
        return node_result("Succeeded", message="posted", outputs={"parameters": [{"name": "ts", "value": "1"}]})

    @other.template_execute()
    def decline(**kwargs: Any) -> Any:
        return {}

    slack = PluginItem({"id": "n1"}, {"name": "notify", "plugin": {"slack": {"text": "hi"}}})
    unknown = PluginItem({"id": "n2"}, {"name": "other", "plugin": {"teams": {}}})
    async with PluginHarness(mine, other) as harness:
        assert harness.dispatcher is not None
        done, nobody = await PluginHooks(harness.dispatcher).template_execute(INFO, [slack, unknown])
    assert (done.phase, done.message) == ("Succeeded", "posted")
    assert done.outputs == {"parameters": [{"name": "ts", "value": "1"}]}
    assert nobody.phase is None


async def test_pre_update_keeps_only_label_and_annotation_changes() -> None:
    plugin = Plugin("lineage")

    @plugin.workflow_pre_update()
    def stamp(workflow: dict[str, Any], **kwargs: Any) -> Any:
        return merge_patch({"metadata": {"annotations": {"lineage/run": "r-1"}, "labels": {"team": "data"}}, "spec": {"x": 1}})

    update = {"metadata": {"name": "build-1", "labels": {"team": "data"}}, "status": {"phase": "Running"}}
    async with PluginHarness(plugin) as harness:
        assert harness.dispatcher is not None
        (result,) = await PluginHooks(harness.dispatcher).workflow_pre_update(INFO, [update])
    assert dict(result.annotations) == {"lineage/run": "r-1"}
    assert dict(result.labels) == {}


async def test_post_execute_changes_outputs_and_message() -> None:
    plugin = Plugin("redactor")

    @plugin.node_post_execute()
    def redact(node: dict[str, Any], **kwargs: Any) -> Any:
        return patch([{"op": "replace", "path": "/outputs/parameters/0/value", "value": "***"}, {"op": "replace", "path": "/message", "value": "redacted"}])

    item = node(0, phase="Succeeded", message="", outputs={"parameters": [{"name": "token", "value": "abc"}]})
    async with PluginHarness(plugin) as harness:
        assert harness.dispatcher is not None
        (result,) = await PluginHooks(harness.dispatcher).node_post_execute(INFO, [item])
    assert result.outputs == {"parameters": [{"name": "token", "value": "***"}]}
    assert result.message == "redacted"


async def test_verdicts_ride_with_the_results_and_requeue_takes_go_durations() -> None:
    plugin = Plugin("decider")

    @plugin.node_pre_execute()
    def decide(node: dict[str, Any], **kwargs: Any) -> Any:
        match node["name"].rsplit("step", 1)[1]:
            case "0":
                return {"decision": "hold", "requeue": "1h30m", "message": "after the maintenance window"}
            case "1":
                return {"decision": "fail", "message": "not today"}
            case "2":
                return {"decision": "hold", "requeue": "soonish"}
            case _:
                return None

    async with PluginHarness(plugin) as harness:
        assert harness.dispatcher is not None
        held, failed, bad, cont = await PluginHooks(harness.dispatcher).node_pre_execute(INFO, [node(i) for i in range(4)])
    assert (held.decision, held.requeue) == ("hold", 5400.0)
    assert [(v.plugin, v.hook, v.verdict, v.node_id) for v in held.verdicts] == [("decider", "node.preExecute", "hold", "build-1-0")]
    assert [(v.verdict, v.node_id) for v in failed.verdicts] == [("fail", "build-1-1")]
    assert "not today" in failed.verdicts[0].message
    assert (bad.decision, bad.phase) == ("fail", "Error") and "soonish" in bad.message
    assert cont.verdicts == ()
