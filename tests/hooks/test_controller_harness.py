"""ControllerHarness: a plugin's replies read by the controller's own hook adapter.

For each reply the controller refuses, the raw PluginHarness shows the plugin's outcome as
given (a pass), while ControllerHarness shows the refusal the controller would make of it.
"""

from __future__ import annotations

from typing import Any

import pytest

from hookbus.bus import (
    Hook,
    Plugin,
    hold,
    merge_patch,
    node_result,
    patch,
    reject,
    short_circuit,
    value,
    warn,
)
from hookbus.bus.testing import PluginHarness
from hookbus.controller.adapters.plugin_hooks import to_kubernetes_pod
from hookbus.controller.argo.names import node_id
from hookbus.controller.engine.hooks import WorkflowInfo
from hookbus.controller.testing import (
    ControllerHarness,
    node_item,
    plugin_item,
    pod_item,
    workflow_info,
)

MANIFEST: dict[str, Any] = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"name": "etl-1", "namespace": "data", "uid": "uid-1", "labels": {"team": "lake"}},
    "spec": {
        "entrypoint": "main",
        "templates": [
            {
                "name": "main",
                "dag": {"tasks": [{"name": "load", "template": "load"}, {"name": "notify", "template": "notify"}]},
            },
            {
                "name": "load",
                "container": {
                    "image": "python:3.12",
                    "command": ["python", "-c"],
                    "args": ["print(1)"],
                    "env": [{"name": "A", "value": "1"}],
                    "securityContext": {"runAsNonRoot": True},
                },
                "sidecars": [{"name": "proxy", "image": "envoy:1", "resources": {"limits": {"cpu": "1"}}}],
            },
            {"name": "notify", "plugin": {"slack": {"text": "done"}}},
        ],
    },
}


# ----------------------------------------------------------------------- inputs


def test_inputs_are_built_from_the_manifest_as_the_engine_shapes_them() -> None:
    info = workflow_info(MANIFEST)
    assert info == WorkflowInfo(namespace="data", name="etl-1", uid="uid-1", labels={"team": "lake"})

    load = node_item(MANIFEST, "load")
    assert load.node["name"] == "etl-1.load" and load.node["id"] == node_id("etl-1", "etl-1.load")
    assert (load.node["type"], load.node["templateName"], load.node["phase"]) == ("Pod", "load", "Pending")
    assert load.template["container"]["image"] == "python:3.12"
    root = node_item(MANIFEST).node  # the entrypoint: Argo names the root node after the workflow
    assert (root["id"], root["name"], root["type"]) == ("etl-1", "etl-1", "DAG")

    finished = node_item(MANIFEST, "load", phase="Succeeded", outputs={"parameters": []})
    assert finished.node["phase"] == "Succeeded" and finished.node["outputs"] == {"parameters": []}

    pod = pod_item(MANIFEST, "load")
    assert pod.node == load.node and pod.pod["name"] == load.node["id"]
    assert pod.pod["main"]["env"] == {"A": "1"} and pod.pod["main"]["securityContext"] == {"runAsNonRoot": True}
    assert [(s["name"], s["resources"]) for s in pod.pod["sidecars"]] == [("proxy", {"limits": {"cpu": "1"}})]

    notify = plugin_item(MANIFEST, "notify")
    assert notify.node["type"] == "Plugin" and notify.template["plugin"] == {"slack": {"text": "done"}}

    with pytest.raises(KeyError, match="no template 'missing'"):
        node_item(MANIFEST, "missing")


async def test_the_hooks_need_a_started_harness() -> None:
    harness = ControllerHarness(Plugin("idle"))
    with pytest.raises(RuntimeError, match="not started"):
        await harness.node_pre_execute([node_item(MANIFEST, "load")])


# ------------------------------------------------------------------- a good plugin


def good_plugin() -> Plugin:
    plugin = Plugin("lake-guard")

    @plugin.workflow_pre_operate(mutating=True)
    def admit(workflow: dict[str, Any], **kwargs: Any) -> Any:
        if workflow["metadata"].get("labels", {}).get("team") != "lake":
            return reject("only the lake team runs here")
        return patch([{"op": "add", "path": "/spec/activeDeadlineSeconds", "value": 600}])

    @plugin.workflow_pre_update()
    def stamp(**kwargs: Any) -> Any:
        return merge_patch({"metadata": {"annotations": {"lake/checked": "yes"}}})

    @plugin.node_pre_execute()
    def gate(node: dict[str, Any], **kwargs: Any) -> Any:
        if node["templateName"] == "load":
            return hold(30, message="waiting for the lake")
        return short_circuit("Succeeded", outputs={"parameters": [{"name": "p", "value": "cached"}]})

    @plugin.pod_pre_create()
    def label(**kwargs: Any) -> Any:
        return patch([{"op": "add", "path": "/metadata/labels/cost-center", "value": "42"}])

    @plugin.node_post_execute()
    def redact(**kwargs: Any) -> Any:
        return patch([{"op": "replace", "path": "/message", "value": "redacted"}])

    @plugin.parameters_resolve(scopes=["vault"])
    def resolve(key: str, **kwargs: Any) -> Any:
        return value("hunter2", secret=True) if key == "db" else None

    @plugin.template_execute(templates=["slack"])
    def run(**kwargs: Any) -> Any:
        return node_result("Succeeded", message="posted")

    return plugin


async def test_a_good_plugin_passes_every_hook() -> None:
    foreign = {**MANIFEST, "metadata": {"name": "other", "namespace": "data", "labels": {"team": "web"}}}
    async with ControllerHarness(good_plugin(), workflow=MANIFEST) as harness:
        admitted, refused = await harness.workflow_pre_operate([MANIFEST, foreign])
        (update,) = await harness.workflow_pre_update([{"metadata": {"name": "etl-1"}}])
        held, skipped = await harness.node_pre_execute([node_item(MANIFEST, "load"), node_item(MANIFEST, "notify")])
        (pod,) = await harness.pod_pre_create([pod_item(MANIFEST, "load")])
        (post,) = await harness.node_post_execute([node_item(MANIFEST, "load", phase="Succeeded", message="")])
        secret, unknown = await harness.parameters_resolve(["vault.db", "vault.other"])
        (reply,) = await harness.template_execute([plugin_item(MANIFEST, "notify")])

    assert admitted.allowed and admitted.workflow is not None and admitted.workflow["spec"]["activeDeadlineSeconds"] == 600
    assert not refused.allowed and "only the lake team runs here" in refused.message and "lake-guard" in refused.message
    assert dict(update.annotations) == {"lake/checked": "yes"}
    assert (held.decision, held.requeue, held.message) == ("hold", 30.0, "waiting for the lake")
    assert [(v.plugin, v.verdict, v.node_id) for v in held.verdicts] == [("lake-guard", "hold", node_id("etl-1", "etl-1.load"))]
    assert (skipped.decision, skipped.phase) == ("shortCircuit", "Succeeded")
    assert pod.allowed and pod.pod is not None and pod.pod["labels"] == {"cost-center": "42"}
    assert pod.pod["main"]["securityContext"] == {"runAsNonRoot": True}, "the pod keeps its container fields"
    assert post.message == "redacted"
    assert secret is not None and (secret.value, secret.secret) == ("hunter2", True) and unknown is None
    assert (reply.phase, reply.message) == ("Succeeded", "posted")


async def test_calls_carry_the_harness_workflow_unless_one_is_given() -> None:
    plugin = Plugin("meta-reader")

    @plugin.node_pre_execute()
    def echo(workflow: dict[str, Any], **kwargs: Any) -> Any:
        meta = workflow["metadata"]
        return warn(f"{meta['namespace']}/{meta['name']}")

    item = node_item(MANIFEST, "load")
    async with ControllerHarness(plugin, workflow=MANIFEST) as harness:
        (default,) = await harness.node_pre_execute([item])
        (given,) = await harness.node_pre_execute([item], workflow=WorkflowInfo("ci", "other", "u"))
    assert default.warnings == ("meta-reader: data/etl-1",)
    assert given.warnings == ("meta-reader: ci/other",)


async def test_a_pod_offered_ahead_is_answered_with_the_node() -> None:
    plugin = Plugin("pod-shaper")

    @plugin.node_pre_execute(side_effects=False)
    def look(**kwargs: Any) -> Any:
        return None

    @plugin.pod_pre_create(side_effects=False)
    def label(**kwargs: Any) -> Any:
        return patch([{"op": "add", "path": "/metadata/labels/seen", "value": "yes"}])

    async with ControllerHarness(plugin) as harness:
        (result,) = await harness.node_pre_execute([node_item(MANIFEST, "load")], ahead=[pod_item(MANIFEST, "load")])
    assert result.decision == "continue"
    assert result.pod is not None and result.pod.pod is not None and result.pod.pod["labels"] == {"seen": "yes"}


# -------------------------------------------------------------- replies the controller refuses


NODE_REFUSALS = {
    "hold without requeue": ({"decision": "hold", "message": "later"}, "'hold' needs 'requeue' seconds"),
    "unknown decision": ({"decision": "postpone"}, "unknown decision 'postpone'"),
    "outputs of the wrong type": (
        {"decision": "shortCircuit", "phase": "Succeeded", "outputs": ["not", "a", "map"]},
        "outputs as a map",
    ),
    "short-circuit to a phase a node cannot end in": ({"decision": "shortCircuit", "phase": "Running"}, "phase Succeeded, Skipped or Failed"),
    "requeue that is not a duration": ({"decision": "takeOver", "requeue": "soonish"}, "soonish"),
}


@pytest.mark.parametrize(("reply", "problem"), list(NODE_REFUSALS.values()), ids=list(NODE_REFUSALS))
async def test_a_node_reply_the_controller_refuses_errors_the_node(reply: dict[str, Any], problem: str) -> None:
    plugin = Plugin("sloppy")

    @plugin.node_pre_execute()
    def decide(**kwargs: Any) -> Any:
        return reply

    item = node_item(MANIFEST, "load")
    async with PluginHarness(plugin) as raw:
        outcome = await raw.call_one(Hook.NODE_PRE_EXECUTE, {"node": item.node, "template": item.template})
    assert outcome.allowed and not outcome.error, "the dispatcher alone passes the reply on"
    assert outcome.plugin == "sloppy" and outcome.result["decision"] == reply["decision"]

    async with ControllerHarness(plugin) as harness:
        (result,) = await harness.node_pre_execute([item])
    assert (result.decision, result.phase) == ("fail", "Error")
    assert result.message.startswith("plugin 'sloppy' failed hook node.preExecute: malformed reply: ")
    assert problem in result.message


POD_REFUSALS = {
    "containers removed": ([{"op": "replace", "path": "/spec/containers", "value": []}], "the pod has no containers"),
    "an env entry without a name": (
        [{"op": "add", "path": "/spec/containers/0/env/-", "value": {"value": "orphan"}}],
        "has no name",
    ),
    "a container that is not a map": ([{"op": "add", "path": "/spec/containers/-", "value": "envoy"}], "a container must be a map"),
}


@pytest.mark.parametrize(("ops", "problem"), list(POD_REFUSALS.values()), ids=list(POD_REFUSALS))
async def test_a_pod_patched_into_something_that_cannot_run_is_vetoed(ops: list[dict[str, Any]], problem: str) -> None:
    plugin = Plugin("pod-breaker")

    @plugin.pod_pre_create()
    def breaks(**kwargs: Any) -> Any:
        return patch(ops)

    item = pod_item(MANIFEST, "load")
    shown = to_kubernetes_pod(item.pod, workflow_info(MANIFEST))  # the pod as plugins see it
    async with PluginHarness(plugin) as raw:
        outcome = await raw.call_one(Hook.POD_PRE_CREATE, {"node": item.node, "pod": shown}, workflow={"name": "etl-1"})
    assert outcome.allowed and outcome.target is not None and outcome.patched_by == ("pod-breaker",)

    async with ControllerHarness(plugin, workflow=MANIFEST) as harness:
        (decision,) = await harness.pod_pre_create([item])
    assert not decision.allowed and decision.pod is None
    assert "pod-breaker" in decision.message and "cannot run" in decision.message and problem in decision.message
