"""Crash and restart on the JetStream store: nothing that Succeeded runs again."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from hookbus.controller.adapters.store import WorkflowStore
from tests.support.engine import ScriptedExecutor, by_name, children_names, load, make_controller
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from nats.aio.client import Client

CRASH = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: crash}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: a
        template: ok
    - - name: fan
        template: ok
        withItems: [1, 2]
      - name: b
        template: slow
    - - name: c
        template: ok
  - name: ok
    container: {image: alpine, args: ["echo ok"]}
  - name: slow
    RETRY
    container: {image: alpine, args: ["block"]}
"""


async def _crash_and_restart(nc: Client, retry: str) -> tuple[dict, ScriptedExecutor]:  # type: ignore[type-arg]
    js = nc.jetstream()
    store1 = WorkflowStore(js, bucket="engine-crash")
    ex1 = ScriptedExecutor()
    ctl1 = make_controller(ex1, store=store1)
    await ctl1.start()
    key = await ctl1.submit(load(CRASH.replace("RETRY", retry)))
    await wait_for(lambda: len(ex1.runs) == 3 and len(ex1.started) == 4, what="a and fan done, b running")
    # the pass that started b has persisted it as Running: wait for the store to say so
    async def persisted() -> bool:
        stored = await store1.load(key)
        assert stored is not None
        phases = {n["name"]: n["phase"] for n in stored.nodes.values()}
        b = "crash[1].b(0)" if retry else "crash[1].b"
        return phases.get(b) == "Running" and phases.get("crash[1].fan(1:2)") == "Succeeded"

    await wait_for(persisted, what="b persisted as Running")
    await ctl1.stop()  # abrupt: tasks cancelled, nothing marked
    await store1.close()

    store2 = WorkflowStore(js, bucket="engine-crash")
    ex2 = ScriptedExecutor(blocking=False)
    async with make_controller(ex2, store=store2) as ctl2:
        wf = await ctl2.wait(key, timeout=10)
    await store2.close()
    return wf, ex2


async def test_restart_resumes_and_retries_lost_node(nc: Client) -> None:
    wf, ex2 = await _crash_and_restart(nc, "retryStrategy: {limit: 2, retryPolicy: Always}")
    nodes = by_name(wf)
    # nothing that Succeeded ran again
    assert "crash[0].a" not in ex2.runs
    assert not any(r.startswith("crash[1].fan") for r in ex2.runs)
    # the node that was running when the controller died: Error "pod deleted", then retried
    lost = nodes["crash[1].b(0)"]
    assert lost["phase"] == "Error" and lost["message"] == "pod deleted"
    assert nodes["crash[1].b(1)"]["phase"] == "Succeeded"
    assert ex2.runs == ["crash[1].b(1)", "crash[2].c"]
    assert wf["status"]["phase"] == "Succeeded"
    assert nodes["crash[1]"]["phase"] == "Succeeded"
    assert nodes["crash"]["phase"] == "Succeeded"


async def test_restart_without_retry_errors_the_lost_node(nc: Client) -> None:
    wf, ex2 = await _crash_and_restart(nc, "")
    nodes = by_name(wf)
    assert nodes["crash[1].b"]["phase"] == "Error"
    assert nodes["crash[1].b"]["message"] == "pod deleted"
    assert ex2.runs == []
    assert wf["status"]["phase"] == "Failed"
    assert "crash[2].c" not in nodes


async def test_finished_workflows_are_listed_after_restart(nc: Client) -> None:
    js = nc.jetstream()
    store = WorkflowStore(js, bucket="engine-list")
    ex = ScriptedExecutor()
    async with make_controller(ex, store=store) as ctl:
        key = await ctl.submit(load(CRASH.replace("RETRY", "").replace("block", "echo")))
        await ctl.wait(key, timeout=5)
    await store.close()
    store2 = WorkflowStore(js, bucket="engine-list")
    ex2 = ScriptedExecutor()
    async with make_controller(ex2, store=store2) as ctl2:
        listed = ctl2.list()
        wf = ctl2.get(key)
    await store2.close()
    assert [w["metadata"]["name"] for w in listed] == ["crash"]
    assert wf["status"]["phase"] == "Succeeded"
    # root, [0], a, [1], fan x2, b, [2], c
    assert len(wf["status"]["nodes"]) == 9
    assert ex2.runs == []


WIDE = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: wide}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: s
        template: ok
        withSequence: {count: "5000"}
  - name: ok
    container: {image: alpine, args: ["echo ok"]}
"""


async def test_wide_fan_out_round_trips_through_the_store(nc: Client) -> None:
    """A group with more children than fit one NATS message is stored in chunks."""
    js = nc.jetstream()
    store = WorkflowStore(js, bucket="engine-wide")
    ex = ScriptedExecutor()
    async with make_controller(ex, store=store, max_running_nodes=500) as ctl:
        key = await ctl.submit(load(WIDE))
        before = await ctl.wait(key, timeout=60)
    await store.close()
    store2 = WorkflowStore(js, bucket="engine-wide")
    async with make_controller(ScriptedExecutor(), store=store2) as ctl2:
        after = ctl2.get(key)
    await store2.close()
    group_before = by_name(before)["wide[0]"]
    group_after = by_name(after)["wide[0]"]
    assert len(group_after["children"]) == 5000
    assert group_after["children"] == group_before["children"]
    assert after["status"]["phase"] == "Succeeded"
    assert after["status"]["progress"] == "5000/5000"
    root_before = by_name(before)["wide"]
    root_after = by_name(after)["wide"]
    assert len(root_after["outboundNodes"]) == 5000
    assert root_after["outboundNodes"] == root_before["outboundNodes"]


DAG_CRASH = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: dcrash}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - {name: A, template: ok}
      - {name: fan, depends: A, template: ok, withItems: [x, y]}
      - {name: skip, depends: A, template: ok, when: "a == b"}
      - {name: B, depends: A, template: slow}
      - {name: C, depends: "B && fan && skip", template: ok}
      - {name: never, depends: "A.Failed", template: ok}
  - name: ok
    container: {image: alpine, args: ["echo ok"]}
  - name: slow
    retryStrategy: {limit: 1, retryPolicy: OnError}
    container: {image: alpine, args: ["block"]}
"""


async def test_dag_restart_adopts_finished_tasks(nc: Client) -> None:
    js = nc.jetstream()
    store1 = WorkflowStore(js, bucket="engine-dcrash")
    ex1 = ScriptedExecutor()
    ctl1 = make_controller(ex1, store=store1)
    await ctl1.start()
    key = await ctl1.submit(load(DAG_CRASH))
    await wait_for(lambda: len(ex1.runs) == 3 and "dcrash.B(0)" in ex1.started, what="A, fan done; B running")

    async def persisted() -> bool:
        stored = await store1.load(key)
        assert stored is not None
        phases = {n["name"]: n.get("phase") for n in stored.nodes.values() if "name" in n}
        return phases.get("dcrash.B(0)") == "Running" and phases.get("dcrash.fan") == "Succeeded"

    await wait_for(persisted, what="state persisted")
    await ctl1.stop()
    await store1.close()

    store2 = WorkflowStore(js, bucket="engine-dcrash")
    ex2 = ScriptedExecutor(blocking=False)
    async with make_controller(ex2, store=store2) as ctl2:
        wf = await ctl2.wait(key, timeout=10)
    await store2.close()
    nodes = by_name(wf)
    assert ex2.runs == ["dcrash.B(1)", "dcrash.C"]
    assert nodes["dcrash.B(0)"]["message"] == "pod deleted"
    assert nodes["dcrash.skip"]["phase"] == "Skipped"
    assert nodes["dcrash.never"]["phase"] == "Omitted"
    assert nodes["dcrash.fan"]["type"] == "TaskGroup"
    assert sorted(children_names(wf, "dcrash.fan")) == ["dcrash.fan(0:x)", "dcrash.fan(1:y)"]
    assert wf["status"]["phase"] == "Succeeded"


SLICED = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: sliced}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: fan, template: ok, withSequence: {count: "120"}}
  - name: ok
    retryStrategy: {limit: 2, retryPolicy: Always}
    container: {image: alpine, args: ["echo ok"]}
"""


class StalledStore(WorkflowStore):
    """The JetStream store, whose writes of node records hang from the *after*-th on:
    the controller stops in the middle of a sliced fan-out, as if it had crashed there."""

    def __init__(self, js: Any, bucket: str, after: int) -> None:
        super().__init__(js, bucket=bucket)
        self.after = after
        self.calls = 0
        self.stalled = asyncio.Event()

    async def put_nodes(self, key: Any, nodes: Any, revision: int) -> int:
        self.calls += 1
        if self.calls >= self.after:
            self.stalled.set()
            await asyncio.Event().wait()  # never returns: the stop cancels it
        return await super().put_nodes(key, nodes, revision)


async def test_restart_in_the_middle_of_a_sliced_fan_out_completes_it_without_rerunning(nc: Client) -> None:
    js = nc.jetstream()
    store1 = StalledStore(js, "engine-sliced", after=4)
    ex1 = ScriptedExecutor(blocking=False)
    ctl1 = make_controller(ex1, store=store1, max_nodes_per_pass=20, max_nodes_per_pass_alone=20)
    await ctl1.start()
    key = await ctl1.submit(load(SLICED))
    await wait_for(store1.stalled.is_set, what="three passes stored, the fourth stuck")
    await ctl1.stop()
    await store1.close()
    before = await WorkflowStore(js, bucket="engine-sliced").load(key)
    assert before is not None
    done_before = {n["name"] for n in before.nodes.values() if n.get("phase") == "Succeeded" and n["type"] == "Pod"}
    assert 0 < len(done_before) < 120, "stopped in the middle of the fan-out"

    store2 = WorkflowStore(js, bucket="engine-sliced")
    ex2 = ScriptedExecutor(blocking=False)
    async with make_controller(ex2, store=store2, max_nodes_per_pass=20, max_nodes_per_pass_alone=20) as ctl2:
        wf = await ctl2.wait(key, timeout=20)
    await store2.close()
    bad = {n["name"]: (n["phase"], n.get("message")) for n in wf["status"]["nodes"].values() if n["phase"] != "Succeeded"}
    assert wf["status"]["phase"] == "Succeeded", (wf["status"].get("message"), list(bad.items())[:5])
    children = children_names(wf, "sliced[0]")
    assert sorted(children) == sorted(f"sliced[0].fan({i}:{i})" for i in range(120))
    # a pod stored as Succeeded never runs again; one lost while running is retried
    # ("pod deleted", as Argo); each child ends with exactly one Succeeded pod
    assert not done_before & set(ex2.runs), "what was stored as Succeeded never runs again"
    assert len(ex2.runs) == len(set(ex2.runs)), "nothing started twice after the restart"
    pods = [n for n in wf["status"]["nodes"].values() if n["type"] == "Pod" and n["phase"] == "Succeeded"]
    assert sorted(p["name"].rsplit("(", 1)[0] for p in pods) == sorted(children)
