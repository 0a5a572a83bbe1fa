"""The engine through the executor port: start, results routed by identity, cancel, attach."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from hookbus.controller.engine.memory_store import MemoryStore
from hookbus.controller.engine.ports import WorkflowKey
from hookbus.controller.executors.base import TaskExecutor, TaskResult, TaskSpec
from tests.support.engine import by_name, load, make_controller
from tests.support.waiting import wait_for

ONE = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: twin, namespace: NAMESPACE}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: work
        template: work
    - - name: after
        template: work
  - name: work
    DEADLINE
    container: {image: alpine, args: [run]}
    outputs:
      parameters:
      - name: where
        valueFrom: {path: /tmp/where}
"""


def manifest(namespace: str = "default", deadline: str = "") -> dict[str, Any]:
    return load(ONE.replace("NAMESPACE", namespace).replace("DEADLINE", deadline))


class GatedExecutor(TaskExecutor):
    """Nodes wait until released (by workflow and node name); each reports its namespace
    as the ``where`` output and ``result``. Counts starts, cancels and attach requests."""

    name = "gated"

    def __init__(self, *, attach: bool = False) -> None:
        super().__init__()
        self.gates: dict[tuple[str, str], asyncio.Event] = {}
        self.started: list[tuple[str, str]] = []
        self.cancelled: list[tuple[str, str]] = []
        self.attached: list[TaskSpec] = []
        self.cancel_requests: list[str] = []
        self.answer = attach
        self.sink: Any = None

    def bind(self, sink: Any) -> None:
        self.sink = sink
        super().bind(sink)

    def gate(self, namespace: str, node_name: str) -> asyncio.Event:
        return self.gates.setdefault((namespace, node_name), asyncio.Event())

    def release(self, namespace: str, node_name: str) -> None:
        self.gate(namespace, node_name).set()

    async def run(self, task: TaskSpec) -> TaskResult:
        self.started.append((task.namespace, task.node_name))
        try:
            await self.gate(task.namespace, task.node_name).wait()
        except asyncio.CancelledError:
            self.cancelled.append((task.namespace, task.node_name))
            raise
        now = time.time()
        return TaskResult("Succeeded", 0, "", task.namespace, {"where": task.namespace}, None, now, now)

    async def attach(self, task: TaskSpec) -> bool:
        self.attached.append(task)
        return self.answer

    async def cancel(self, task: TaskSpec) -> None:
        self.cancel_requests.append(task.node_name)
        await super().cancel(task)


def phase(ctl: Any, key: WorkflowKey, name: str) -> str | None:
    node = ctl.node(key, name)
    return None if node is None else str(node["phase"])


async def test_start_returns_while_the_node_runs_and_the_pass_records_it_running() -> None:
    ex = GatedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(manifest())
        await wait_for(lambda: phase(ctl, key, "twin[0].work") == "Running", what="the node running")
        await asyncio.sleep(0.05)
        assert ex.started == [("default", "twin[0].work")]
        assert ctl.get(key)["status"]["phase"] == "Running"
        ex.release("default", "twin[0].work")
        ex.release("default", "twin[1].after")
        wf = await ctl.wait(key, timeout=5)
    assert wf["status"]["phase"] == "Succeeded"


async def test_results_reach_their_own_workflow_when_two_run_at_once() -> None:
    # the same workflow name in two namespaces: the node ids are the same in both
    ex = GatedExecutor()
    async with make_controller(ex) as ctl:
        one = await ctl.submit(manifest("one"))
        two = await ctl.submit(manifest("two"))
        assert by_name(ctl.get(one)).keys() == by_name(ctl.get(two)).keys()
        await wait_for(lambda: len(ex.started) == 2, what="both first nodes running")
        ex.release("two", "twin[0].work")
        await wait_for(lambda: phase(ctl, two, "twin[0].work") == "Succeeded", what="two's node done")
        assert phase(ctl, one, "twin[0].work") == "Running"
        ex.release("one", "twin[0].work")
        for namespace in ("one", "two"):
            ex.release(namespace, "twin[1].after")
        done = {key: await ctl.wait(key, timeout=5) for key in (one, two)}
    for key in (one, two):
        node = by_name(done[key])["twin[0].work"]
        assert node["phase"] == "Succeeded"
        assert node["outputs"]["parameters"] == [{"name": "where", "value": key.namespace}]
        assert node["outputs"]["result"] == key.namespace


async def test_stop_cancels_the_running_node_in_the_executor() -> None:
    ex = GatedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(manifest())
        await wait_for(lambda: len(ex.started) == 1, what="the node running")
        await ctl.stop_workflow(key)
        wf = await ctl.wait(key, timeout=5)
        await wait_for(lambda: len(ex.cancelled) == 1, what="the node cancelled in the executor")
    node = by_name(wf)["twin[0].work"]
    assert (node["phase"], node["message"]) == ("Failed", "Stopped with strategy 'Stop'")
    assert ex.cancelled == [("default", "twin[0].work")]
    assert ex.cancel_requests == ["twin[0].work"]
    assert wf["status"]["phase"] == "Failed"


async def test_a_node_deadline_cancels_the_node_in_the_executor() -> None:
    ex = GatedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(manifest(deadline="timeout: 200ms"))
        wf = await ctl.wait(key, timeout=5)
    node = by_name(wf)["twin[0].work"]
    assert node["phase"] == "Failed"
    assert node["message"] == "Pod was active on the node longer than the specified deadline"
    assert ex.cancelled == [("default", "twin[0].work")]


async def test_a_late_result_of_a_cancelled_node_is_ignored() -> None:
    ex = GatedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(manifest())
        await wait_for(lambda: len(ex.started) == 1, what="the node running")
        node_id = ctl.node(key, "twin[0].work")["id"]
        await ctl.terminate(key)
        wf = await ctl.wait(key, timeout=5)
        now = time.time()
        ex.sink(TaskResult("Succeeded", 0, "", "late", {}, None, now, now, key=key, node_id=node_id))
        ex.sink(TaskResult("Succeeded", 0, "", "stray", {}, None, now, now, key=WorkflowKey("default", "gone"), node_id="x"))
        await asyncio.sleep(0.05)
        after = ctl.get(key)
    assert by_name(wf)["twin[0].work"]["phase"] == "Failed"
    assert by_name(after)["twin[0].work"]["phase"] == "Failed"


async def _restart_with(second: GatedExecutor) -> tuple[Any, WorkflowKey, str]:
    """Run the workflow until its first node runs, stop the controller, start another on
    the same store with *second*; the running controller, the key and the node's id."""
    store = MemoryStore()
    first = GatedExecutor()
    ctl = make_controller(first, store=store)
    await ctl.start()
    key = await ctl.submit(manifest())
    await wait_for(lambda: phase(ctl, key, "twin[0].work") == "Running", what="the node running")

    async def persisted() -> bool:
        stored = await store.load(key)
        return stored is not None and any(n.get("phase") == "Running" and n["name"] == "twin[0].work" for n in stored.nodes.values())

    await wait_for(persisted, what="the node stored as Running")
    node_id = ctl.node(key, "twin[0].work")["id"]
    await ctl.stop()
    restarted = make_controller(second, store=store)
    await restarted.start()
    return restarted, key, node_id


async def test_a_node_the_executor_reattaches_to_keeps_running_and_its_result_counts() -> None:
    ex = GatedExecutor(attach=True)
    ctl, key, node_id = await _restart_with(ex)
    try:
        await wait_for(lambda: len(ex.attached) == 1, what="the executor asked to re-attach")
        (asked,) = ex.attached
        assert (asked.key, asked.node_id, asked.node_name) == (key, node_id, "twin[0].work")
        await asyncio.sleep(0.05)
        assert phase(ctl, key, "twin[0].work") == "Running", "not marked lost while the executor has it"
        assert ex.started == [], "not started a second time"
        now = time.time()
        ex.sink(TaskResult("Succeeded", 0, "", "after the restart", {"where": "kept"}, None, now, now, key=key, node_id=node_id))
        ex.release("default", "twin[1].after")
        wf = await ctl.wait(key, timeout=5)
    finally:
        await ctl.stop()
    node = by_name(wf)["twin[0].work"]
    assert node["phase"] == "Succeeded"
    assert node["outputs"]["parameters"] == [{"name": "where", "value": "kept"}]
    assert node["outputs"]["result"] == "after the restart"
    assert ex.started == [("default", "twin[1].after")]
    assert wf["status"]["phase"] == "Succeeded"


async def test_a_reattached_node_still_has_its_deadline() -> None:
    ex = GatedExecutor(attach=True)
    store = MemoryStore()
    first = GatedExecutor()
    async with make_controller(first, store=store) as ctl:
        key = await ctl.submit(manifest(deadline="timeout: 500ms"))
        await wait_for(lambda: phase(ctl, key, "twin[0].work") == "Running", what="the node running")
        await asyncio.sleep(0.05)
    async with make_controller(ex, store=store) as ctl:
        wf = await ctl.wait(key, timeout=5)
    node = by_name(wf)["twin[0].work"]
    assert len(ex.attached) == 1
    assert (node["phase"], node["message"]) == ("Failed", "Pod was active on the node longer than the specified deadline")
    assert ex.cancel_requests == ["twin[0].work"], "the executor is told to stop the node it re-attached to"


async def test_a_node_the_executor_does_not_have_is_lost_as_before() -> None:
    ex = GatedExecutor(attach=False)
    ctl, key, _ = await _restart_with(ex)
    try:
        wf = await ctl.wait(key, timeout=5)
    finally:
        await ctl.stop()
    node = by_name(wf)["twin[0].work"]
    assert len(ex.attached) == 1
    assert (node["phase"], node["message"]) == ("Error", "pod deleted")
    assert ex.started == []
    assert wf["status"]["phase"] == "Failed"


class BrokenStart(GatedExecutor):
    """Its start raises (an executor breaking the contract) and so does its attach."""

    async def start(self, task: TaskSpec) -> None:
        raise RuntimeError("no capacity")

    async def attach(self, task: TaskSpec) -> bool:
        self.attached.append(task)
        raise RuntimeError("the cluster is away")


async def test_a_start_that_raises_ends_the_node_in_error() -> None:
    async with make_controller(BrokenStart()) as ctl:
        key = await ctl.submit(manifest())
        wf = await ctl.wait(key, timeout=5)
    node = by_name(wf)["twin[0].work"]
    assert (node["phase"], node["message"]) == ("Error", "executor error: no capacity")


async def test_an_attach_that_raises_counts_as_lost() -> None:
    ex = BrokenStart()
    ctl, key, _ = await _restart_with(ex)
    try:
        wf = await ctl.wait(key, timeout=5)
    finally:
        await ctl.stop()
    assert len(ex.attached) == 1
    node = by_name(wf)["twin[0].work"]
    assert (node["phase"], node["message"]) == ("Error", "pod deleted")
