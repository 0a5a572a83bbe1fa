"""Hook points: called once per transition, batched per pass; decisions are applied."""

from __future__ import annotations

import asyncio
import copy
from typing import TYPE_CHECKING, Any

import pytest

from hookbus.controller.engine.controller import Controller
from hookbus.controller.engine.hooks import (
    Admission,
    NodeItem,
    NoOpinionHooks,
    NullHooks,
    PluginItem,
    PluginReply,
    PodDecision,
    PodItem,
    PostExecute,
    PreExecute,
    Verdict,
    WorkflowInfo,
)
from hookbus.controller.engine.memory_store import MemoryStore
from hookbus.controller.engine.settings import ControllerSettings
from tests.support.engine import ScriptedExecutor, by_name, load

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from hookbus.controller.argo.types import JSON

FAN = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: fan}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: s
        template: TEMPLATE
        withSequence: {count: "5"}
        arguments: {parameters: [{name: i, value: "{{item}}"}]}
  - name: work
    inputs: {parameters: [{name: i}]}
    container: {image: alpine, args: ["echo run{{inputs.parameters.i}}"]}
  - name: plug
    inputs: {parameters: [{name: i}]}
    plugin: {hello: {msg: "{{inputs.parameters.i}}"}}
"""


class Recorder(NoOpinionHooks):
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []
        self.pre: dict[str, PreExecute] = {}
        self.veto: set[str] = set()
        self.seen_pre: list[str] = []

    async def node_pre_execute(self, workflow: WorkflowInfo, nodes: Sequence[NodeItem]) -> list[PreExecute]:
        self.calls.append(("pre", len(nodes)))
        self.seen_pre.extend(n.node["name"] for n in nodes)
        return [self.pre.get(n.node["displayName"], PreExecute()) for n in nodes]

    async def pod_pre_create(self, workflow: WorkflowInfo, pods: Sequence[PodItem]) -> list[PodDecision]:
        self.calls.append(("pod", len(pods)))
        out = []
        for item in pods:
            if item.node["displayName"] in self.veto:
                out.append(PodDecision(allowed=False, message="image not allowed"))
            else:
                pod = dict(item.pod)
                pod["annotations"] = {**pod["annotations"], "seen": "yes"}
                out.append(PodDecision(pod=pod))
        return out

    async def node_post_execute(self, workflow: WorkflowInfo, nodes: Sequence[NodeItem]) -> list[PostExecute]:
        self.calls.append(("post", len(nodes)))
        return [
            PostExecute(outputs={"result": n.node["outputs"]["result"] + "!"}) if (n.node.get("outputs") or {}).get("result") else PostExecute()
            for n in nodes
        ]

    async def template_execute(self, workflow: WorkflowInfo, nodes: Sequence[PluginItem]) -> list[PluginReply]:
        self.calls.append(("plugin", len(nodes)))
        return [
            PluginReply(phase="Succeeded", outputs={"parameters": [{"name": "echo", "value": n.template["plugin"]["hello"]["msg"]}]})
            for n in nodes
        ]


class AnnotationExecutor(ScriptedExecutor):
    async def run(self, task: Any) -> Any:
        assert task.annotations.get("seen") == "yes"
        return await super().run(task)


def _controller(hooks: Any, executor: Any) -> Controller:
    return Controller(ControllerSettings(executor="x"), store=MemoryStore(), executor=executor, hooks=hooks)


async def test_hooks_are_batched_per_pass_and_applied() -> None:
    hooks = Recorder()
    hooks.pre = {
        "s(0:0)": PreExecute(decision="shortCircuit", outputs={"result": "cached"}),
        "s(1:1)": PreExecute(decision="fail", message="blocked by policy"),
    }
    hooks.veto = {"s(2:2)"}
    ex = AnnotationExecutor()
    async with _controller(hooks, ex) as ctl:
        key = await ctl.submit(load(FAN.replace("TEMPLATE", "work")))
        wf = await ctl.wait(key, timeout=5)
    nodes = by_name(wf)
    # one preExecute call carrying all five nodes (they became ready in one pass)
    assert hooks.calls[0] == ("pre", 5)
    assert sorted(hooks.seen_pre) == sorted(f"fan[0].s({i}:{i})" for i in range(5))
    assert ("pod", 3) in hooks.calls
    assert nodes["fan[0].s(0:0)"]["phase"] == "Succeeded"
    # a short-circuited node gets its node.postExecute too (which may change its record)
    assert nodes["fan[0].s(0:0)"]["outputs"] == {"result": "cached!"}
    assert nodes["fan[0].s(1:1)"]["phase"] == "Failed"
    assert nodes["fan[0].s(1:1)"]["message"] == "blocked by policy"
    assert nodes["fan[0].s(2:2)"]["phase"] == "Error"
    assert "image not allowed" in nodes["fan[0].s(2:2)"]["message"]
    assert sorted(ex.runs) == ["fan[0].s(3:3)", "fan[0].s(4:4)"]
    # postExecute changed the outputs before they were recorded
    assert nodes["fan[0].s(3:3)"]["outputs"] == {"result": "run3!"}
    # once per node: the three settled by plugins in the first pass, the two that ran later
    assert sum(n for kind, n in hooks.calls if kind == "post") == 5
    assert wf["status"]["phase"] == "Failed"


async def test_plugin_templates_go_to_template_execute() -> None:
    hooks = Recorder()
    ex = ScriptedExecutor()
    async with _controller(hooks, ex) as ctl:
        key = await ctl.submit(load(FAN.replace("TEMPLATE", "plug")))
        wf = await ctl.wait(key, timeout=5)
    nodes = by_name(wf)
    assert ("plugin", 5) in hooks.calls
    node = nodes["fan[0].s(3:3)"]
    assert node["type"] == "Plugin" and node["phase"] == "Succeeded"
    assert node["outputs"]["parameters"] == [{"name": "echo", "value": "3"}]
    assert ex.runs == []
    assert wf["status"]["phase"] == "Succeeded"


async def test_plugin_template_without_plugin_fails_as_in_argo() -> None:
    ex = ScriptedExecutor()
    async with _controller(NullHooks(), ex) as ctl:
        key = await ctl.submit(load(FAN.replace("TEMPLATE", "plug")))
        wf = await ctl.wait(key, timeout=5)
    # Argo's agent: NodeFailed, "no plugin executed the template"
    assert by_name(wf)["fan[0].s(0:0)"]["phase"] == "Failed"
    assert by_name(wf)["fan[0].s(0:0)"]["message"].startswith("no plugin executed the template")


class Rejecter(NoOpinionHooks):
    async def workflow_pre_operate(self, workflows: Sequence[JSON]) -> list[Admission]:
        return [Admission(allowed=False, message="image alpine is not allowed") for _ in workflows]


async def test_a_rejected_workflow_is_failed_at_once_and_nothing_runs() -> None:
    executor = ScriptedExecutor()
    async with _controller(Rejecter(), executor) as ctl:
        key = await ctl.submit(load(FAN.replace("TEMPLATE", "work")))
        done = await ctl.wait(key, timeout=5)
        assert done["status"]["phase"] == "Failed"
        assert done["status"]["message"] == "image alpine is not allowed"
        assert not done["status"].get("nodes")
        assert [w["status"]["phase"] for w in ctl.list()] == ["Failed"]
    assert executor.started == [], "no node of a rejected workflow runs"


class Patcher(NoOpinionHooks):
    """Renames every workflow after its first, or empties its templates."""

    def __init__(self, change: str) -> None:
        self.change = change

    async def workflow_pre_operate(self, workflows: Sequence[JSON]) -> list[Admission]:
        out = []
        for workflow in workflows:
            patched = copy.deepcopy(workflow)
            if self.change == "rename" and patched["metadata"]["name"] != "fan":
                patched["metadata"]["name"] = "fan"
            elif self.change == "break":
                patched["spec"]["entrypoint"] = "nosuch"
            out.append(Admission(workflow=patched))
        return out


async def test_a_patch_that_breaks_or_renames_onto_another_workflow_fails_it_as_submitted() -> None:
    executor = ScriptedExecutor()
    async with _controller(Patcher("rename"), executor) as ctl:
        first = await ctl.submit(load(FAN.replace("TEMPLATE", "work")))
        await ctl.wait(first, timeout=5)
        second = await ctl.submit(load(FAN.replace("TEMPLATE", "work").replace("name: fan}", "name: fan-2}")))
        assert second.name == "fan-2", "kept under the name it was submitted with"
        done = await ctl.wait(second, timeout=5)
        assert done["status"]["phase"] == "Failed"
        assert "renamed the workflow to default/fan, which exists" in done["status"]["message"]
    async with _controller(Patcher("break"), ScriptedExecutor()) as ctl:
        done = await ctl.wait(await ctl.submit(load(FAN.replace("TEMPLATE", "work"))), timeout=5)
        assert done["status"]["phase"] == "Failed"
        assert "patch left the workflow invalid" in done["status"]["message"] and "nosuch" in done["status"]["message"]
        assert done["spec"]["entrypoint"] == "main", "the workflow is kept as submitted"


class Events:
    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.log: list[tuple[str, Any]] = []

    async def workflow_phase(self, workflow: WorkflowInfo, phase: str, message: str) -> None:
        self.log.append(("workflow", phase))

    async def node_phases(self, workflow: WorkflowInfo, nodes: Sequence[JSON]) -> None:
        # persist, then notify: every reported node is already in the store as reported
        stored = self.store._nodes[next(iter(self.store._nodes))]
        for node in nodes:
            assert stored[node["id"]]["phase"] == node["phase"]
        self.log.extend(("node", (n["name"], n["phase"])) for n in nodes)

    async def pod_created(self, workflow: WorkflowInfo, pods: Sequence[JSON]) -> None:
        self.log.extend(("pod", p["name"]) for p in pods)

    async def progress(self, workflow: WorkflowInfo, done: int, total: int, phases: Mapping[str, int]) -> None:
        self.log.append(("progress", (done, total)))


async def test_events_after_persist_once_per_transition() -> None:
    store = MemoryStore()
    events = Events(store)
    ex = ScriptedExecutor()
    ctl = Controller(ControllerSettings(executor="x"), store=store, executor=ex, events=events)
    async with ctl:
        key = await ctl.submit(load(FAN.replace("TEMPLATE", "work")))
        await ctl.wait(key, timeout=5)
    workflow_phases = [p for kind, p in events.log if kind == "workflow"]
    assert workflow_phases == ["Running", "Succeeded"]
    node_events = [p for kind, p in events.log if kind == "node"]
    item = "fan[0].s(2:2)"
    # created and started in the same pass: the first persisted (and reported) phase is Running
    assert [ph for name, ph in node_events if name == item] == ["Running", "Succeeded"]
    assert sorted(p for kind, p in events.log if kind == "pod") == sorted(f"fan[0].s({i}:{i})" for i in range(5))
    assert [p for kind, p in events.log if kind == "progress"][-1] == (5, 5)


SECRET = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: sec}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: a, template: use}
      - {name: b, template: use}
  - name: use
    container: {image: alpine, args: ["echo {{vault.db-password}} {{vault.user}}"]}
"""


class Resolver(NoOpinionHooks):
    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    async def parameters_resolve(self, workflow: WorkflowInfo, names: Sequence[str]) -> list[Any]:
        from hookbus.controller.engine.hooks import ResolvedValue

        self.asked.append(list(names))
        values = {"vault.db-password": ResolvedValue("s3cret", secret=True), "vault.user": ResolvedValue("admin")}
        return [values.get(n) for n in names]


async def test_parameters_resolve_once_per_pass() -> None:
    hooks = Resolver()
    ex = ScriptedExecutor()
    async with _controller(hooks, ex) as ctl:
        key = await ctl.submit(load(SECRET))
        wf = await ctl.wait(key, timeout=5)
    # both nodes became ready together: one call, each name once
    assert hooks.asked == [["vault.db-password", "vault.user"]]
    # the secret reached the process (the scripted executor echoes it) but the status shows it redacted
    assert by_name(wf)["sec[0].a"]["outputs"]["result"] == "[redacted] admin"


ONE = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: one}
spec:
  entrypoint: main
  templates:
  - name: main
    container: {image: alpine, args: ["echo ran"]}
"""


class Holder(NoOpinionHooks):
    def __init__(self, decisions: list[PreExecute]) -> None:
        self.decisions = decisions
        self.asked = 0

    async def node_pre_execute(self, workflow: WorkflowInfo, nodes: Sequence[NodeItem]) -> list[PreExecute]:
        self.asked += 1
        return [self.decisions.pop(0) if self.decisions else PreExecute() for _ in nodes]


async def test_hold_requeues_on_the_clock() -> None:
    from hookbus.controller.engine.clock import ManualClock
    from tests.support.waiting import wait_for

    clock = ManualClock()
    hooks = Holder([PreExecute(decision="hold", requeue=30, message="waiting for db")])
    ex = ScriptedExecutor()
    ctl = Controller(ControllerSettings(executor="x"), store=MemoryStore(), executor=ex, hooks=hooks, clock=clock)
    async with ctl:
        key = await ctl.submit(load(ONE))
        await wait_for(lambda: clock.sleepers == 1, what="hold timer")
        node = by_name(ctl.get(key))["one"]
        assert node["phase"] == "Pending" and node["message"] == "waiting for db"
        assert ex.runs == []
        clock.advance(30)
        wf = await ctl.wait(key, timeout=5)
    assert hooks.asked == 2  # offered again after the hold
    assert ex.runs == ["one"]
    assert wf["status"]["phase"] == "Succeeded"


async def test_take_over_and_complete_later() -> None:
    from tests.support.waiting import wait_for

    hooks = Holder([PreExecute(decision="takeOver", message="external system")])
    ex = ScriptedExecutor()
    async with _controller(hooks, ex) as ctl:
        key = await ctl.submit(load(ONE))
        await wait_for(lambda: by_name(ctl.get(key)).get("one", {}).get("phase") == "Running", what="taken over")
        await ctl.complete_node(key, "one", "Succeeded", outputs={"result": "done elsewhere"})
        wf = await ctl.wait(key, timeout=5)
    assert ex.runs == []
    assert by_name(wf)["one"]["outputs"] == {"result": "done elsewhere"}
    assert wf["status"]["phase"] == "Succeeded"


class Broken(NoOpinionHooks):
    async def node_pre_execute(self, workflow: WorkflowInfo, nodes: Sequence[NodeItem]) -> list[PreExecute]:
        raise RuntimeError("boom")


async def test_an_internal_error_ends_the_workflow_not_the_controller() -> None:
    ex = ScriptedExecutor()
    async with _controller(Broken(), ex) as ctl:
        key = await ctl.submit(load(ONE))
        wf = await ctl.wait(key, timeout=5)
        assert wf["status"]["phase"] == "Error"
        assert wf["status"]["message"] == "internal error: RuntimeError: boom"
        stored = await ctl.store.load(key)
        assert stored.workflow["status"]["phase"] == "Error"
        # the controller still works
        other = await ctl.submit(load(ONE.replace("name: one", "name: two")))
        assert (await ctl.wait(other, timeout=5))["status"]["phase"] == "Error"
    assert ex.runs == []


class FlakyStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.failures = 2

    async def put_nodes(self, key: Any, nodes: Mapping[str, JSON], revision: int) -> int:
        from hookbus.controller.adapters.store import StoreError

        if self.failures:
            self.failures -= 1
            raise StoreError("server away", retryable=True)
        return await super().put_nodes(key, nodes, revision)


async def test_store_outage_is_retried_without_losing_state() -> None:
    from hookbus.controller.engine.clock import ManualClock
    from tests.support.waiting import wait_for

    clock = ManualClock()
    store = FlakyStore()
    store.failures = 1
    ex = ScriptedExecutor(blocking=True)
    ctl = Controller(ControllerSettings(executor="x"), store=store, executor=ex, clock=clock)
    async with ctl:
        key = await ctl.submit(load(ONE.replace('"echo ran"', '"block"')))
        # the first pass could not write: a retry is scheduled, nothing was lost
        await wait_for(lambda: store.failures == 0 and clock.sleepers == 1, what="retry timer")
        assert (await store.load(key)).nodes == {}  # type: ignore[union-attr]
        clock.advance(1)
        await wait_for(lambda: len(store._nodes[key]) == 1, what="written on retry")
        ex.release()
        wf = await ctl.wait(key, timeout=5)
    assert wf["status"]["phase"] == "Succeeded"
    stored = await store.load(key)
    assert stored is not None
    assert {n["name"]: n["phase"] for n in stored.nodes.values()} == {"one": "Succeeded"}


PRIV = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: priv}
spec:
  entrypoint: main
  templates:
  - name: main
    container:
      image: alpine
      args: ["echo hi"]
      securityContext: {privileged: true}
      resources: {limits: {cpu: "1"}}
"""


class PodPolicy(NoOpinionHooks):
    async def pod_pre_create(self, workflow: WorkflowInfo, pods: Sequence[PodItem]) -> list[PodDecision]:
        return [
            PodDecision(allowed=False, message="privileged containers are forbidden")
            if (p.pod["main"].get("securityContext") or {}).get("privileged")
            else PodDecision()
            for p in pods
        ]


async def test_pod_pre_create_sees_container_fields_beyond_the_process() -> None:
    ex = ScriptedExecutor()
    async with _controller(PodPolicy(), ex) as ctl:
        key = await ctl.submit(load(PRIV))
        wf = await ctl.wait(key, timeout=5)
    node = by_name(wf)["priv"]
    assert node["phase"] == "Error"
    assert node["message"] == "pod creation vetoed: privileged containers are forbidden"
    assert ex.runs == []


class Gate(NoOpinionHooks):
    """Holds node.preExecute (and so its workflow's pass) until released."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def node_pre_execute(self, workflow: WorkflowInfo, nodes: Sequence[NodeItem]) -> list[PreExecute]:
        self.entered.set()
        await self.release.wait()
        return [PreExecute() for _ in nodes]


async def test_deleting_a_workflow_lets_its_pass_under_way_end_and_writes_nothing_back() -> None:
    hooks = Gate()
    async with _controller(hooks, ScriptedExecutor()) as ctl:
        key = await ctl.submit(load(ONE))
        await asyncio.wait_for(hooks.entered.wait(), 5)  # its pass is under way, held by a plugin
        suspend = asyncio.create_task(ctl.suspend(key))  # queued behind that pass
        await asyncio.sleep(0)
        deleting = asyncio.create_task(ctl.delete(key))
        await asyncio.sleep(0)
        hooks.release.set()
        await asyncio.wait_for(deleting, 5)
        with pytest.raises(LookupError, match="default/one"):  # answered, not left waiting
            await asyncio.wait_for(suspend, 5)
        assert await ctl.store.load(key) is None, "the pass under way wrote the deleted workflow back"
        assert not ctl.exists(key)


async def test_a_held_node_loses_the_hold_message_when_it_leaves_the_hold() -> None:
    from hookbus.controller.engine.clock import ManualClock
    from tests.support.waiting import wait_for

    clock = ManualClock()
    hooks = Holder([PreExecute(decision="hold", requeue=30, message="waiting for db")])
    ex = ScriptedExecutor()
    ctl = Controller(ControllerSettings(executor="x"), store=MemoryStore(), executor=ex, hooks=hooks, clock=clock)
    async with ctl:
        key = await ctl.submit(load(ONE))
        await wait_for(lambda: clock.sleepers == 1, what="hold timer")
        assert by_name(ctl.get(key))["one"]["message"] == "waiting for db"
        clock.advance(30)
        wf = await ctl.wait(key, timeout=5)
    node = by_name(wf)["one"]
    assert node["phase"] == "Succeeded"
    assert "message" not in node, node.get("message")


class VerdictEvents(NoOpinionHooks):
    """Fails every node, with the verdict behind the failure."""

    async def node_pre_execute(self, workflow: WorkflowInfo, nodes: Sequence[NodeItem], ahead: Any = ()) -> list[PreExecute]:
        return [
            PreExecute(
                decision="fail",
                message="not today",
                verdicts=(Verdict("gate", "node.preExecute", "fail", n.node["id"], "not today"),),
            )
            for n in nodes
        ]


class VerdictSink(Events):
    async def plugin_verdicts(self, workflow: WorkflowInfo, verdicts: Sequence[Verdict]) -> None:
        # persist, then notify: the node the verdict is about is stored as it ended
        stored = self.store._nodes[next(iter(self.store._nodes))]
        for verdict in verdicts:
            assert verdict.node_id is not None and stored[verdict.node_id]["phase"] == "Failed"
        self.log.extend(("verdict", (v.plugin, v.verdict, v.node_id)) for v in verdicts)


async def test_plugin_verdicts_are_announced_by_the_engine_after_the_persist() -> None:
    store = MemoryStore()
    events = VerdictSink(store)
    ctl = Controller(
        ControllerSettings(executor="x"), store=store, executor=ScriptedExecutor(), hooks=VerdictEvents(), events=events
    )
    async with ctl:
        key = await ctl.submit(load(ONE))
        wf = await ctl.wait(key, timeout=5)
    node_id = by_name(wf)["one"]["id"]
    verdicts = [p for kind, p in events.log if kind == "verdict"]
    assert verdicts == [("gate", "fail", node_id)]
    # announced with the pass that stored the node's end, ahead of its phase change
    assert events.log.index(("verdict", ("gate", "fail", node_id))) < events.log.index(("node", ("one", "Failed")))


async def test_a_taken_over_node_survives_a_restart_and_its_owner_is_asked_again() -> None:
    from tests.support.waiting import wait_for

    store = MemoryStore()
    first = Holder([PreExecute(decision="takeOver", message="external system")])
    ctl1 = Controller(ControllerSettings(executor="x"), store=store, executor=ScriptedExecutor(), hooks=first)
    await ctl1.start()
    key = await ctl1.submit(load(ONE))

    async def stored_running() -> bool:
        stored = await store.load(key)
        return stored is not None and any(n["phase"] == "Running" for n in stored.nodes.values())

    await wait_for(stored_running, what="the taken-over node stored as Running")
    await ctl1.stop()  # abrupt: as a crash, nothing marked

    second = Holder([PreExecute(decision="takeOver", message="still external")])
    ex2 = ScriptedExecutor()
    async with Controller(ControllerSettings(executor="x"), store=store, executor=ex2, hooks=second) as ctl2:
        await wait_for(lambda: second.asked == 1, what="the plugins asked about the node again")
        node = by_name(ctl2.get(key))["one"]
        assert (node["phase"], node["message"]) == ("Running", "still external")
        await ctl2.complete_node(key, "one", "Succeeded", outputs={"result": "done elsewhere"})
        wf = await ctl2.wait(key, timeout=5)
    assert ex2.runs == [] and ex2.started == []
    assert by_name(wf)["one"]["outputs"] == {"result": "done elsewhere"}
    assert wf["status"]["phase"] == "Succeeded"
