"""Controller API: retry, watch, delete, templateRef through a bundle, expressions."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

from hookbus.controller.argo.errors import ManifestError
from hookbus.controller.argo.manifest import Bundle
from hookbus.controller.engine.controller import WorkflowNotFound
from hookbus.controller.engine.memory_store import MemoryStore
from tests.support.engine import ScriptedExecutor, by_name, load, make_controller
from tests.support.waiting import wait_for

TWO = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: two}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: first
        template: first
    - - name: second
        template: second
  - name: first
    container: {image: alpine, args: ["echo one"]}
  - name: second
    container: {image: alpine, args: ["echo two"]}
"""


async def test_retry_reruns_only_what_did_not_succeed() -> None:
    ex = ScriptedExecutor(plan={"second": [1, 0]})
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(TWO))
        failed = await ctl.wait(key, timeout=5)
        assert failed["status"]["phase"] == "Failed"
        first_id = by_name(failed)["two[0].first"]["id"]
        await ctl.retry(key)
        wf = await ctl.wait(key, timeout=5)
    assert wf["status"]["phase"] == "Succeeded"
    assert ex.runs == ["two[0].first", "two[1].second", "two[1].second"]
    assert by_name(wf)["two[0].first"]["id"] == first_id


async def test_retry_refuses_running_or_succeeded() -> None:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(TWO))
        await ctl.wait(key, timeout=5)
        with pytest.raises(ValueError, match="only Failed or Error"):
            await ctl.retry(key)


async def test_watch_yields_until_done() -> None:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(TWO.replace('"echo one"', '"block"')))
        seen = []
        async for snapshot in ctl.watch(key):
            seen.append(snapshot["status"]["phase"])
            if "two[0].first" in ex.started:
                ex.release()
        assert seen[-1] == "Succeeded"
        assert len(seen) >= 2


async def test_delete_and_not_found() -> None:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(TWO))
        await ctl.wait(key, timeout=5)
        assert [w["metadata"]["name"] for w in ctl.list()] == ["two"]
        assert ctl.list(namespace="elsewhere") == []
        await ctl.delete(key)
        assert ctl.list() == []
        with pytest.raises(WorkflowNotFound):
            ctl.get(key)
        assert await ctl.store.load(key) is None


async def test_invalid_manifest_is_rejected_with_a_path() -> None:
    bad = load(TWO.replace("template: second\n", "template: nope\n", 1))
    async with make_controller(ScriptedExecutor()) as ctl:
        with pytest.raises(ManifestError, match="nope"):
            await ctl.submit(bad)


async def test_duplicate_name_is_rejected() -> None:
    async with make_controller(ScriptedExecutor()) as ctl:
        await ctl.submit(load(TWO))
        with pytest.raises(ManifestError, match="already exists"):
            await ctl.submit(load(TWO))


TEMPLATE = """
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata: {name: lib}
spec:
  templates:
  - name: greet
    inputs: {parameters: [{name: who}]}
    steps:
    - - name: inner
        template: say
        arguments: {parameters: [{name: m, value: "hello {{inputs.parameters.who}}"}]}
  - name: say
    inputs: {parameters: [{name: m}]}
    container: {image: alpine, args: ["echo {{inputs.parameters.m}}"]}
"""

USES_REF = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: ref}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: call
        templateRef: {name: lib, template: greet}
        arguments: {parameters: [{name: who, value: "{{=sprig.upper('bob')}}"}]}
"""


async def test_template_ref_from_bundle_and_expression_tag() -> None:
    bundle = Bundle()
    bundle.add(load(TEMPLATE))
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(USES_REF), bundle=bundle)
        wf = await ctl.wait(key, timeout=5)
    nodes = by_name(wf)
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
    assert nodes["ref[0].call"]["templateName"] == "greet"
    # the referenced template's own steps resolve inside the WorkflowTemplate
    assert nodes["ref[0].call[0].inner"]["outputs"]["result"] == "hello BOB"


SUSPEND_OUT = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: approve}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: ask
        template: ask
    - - name: use
        template: say
        arguments: {parameters: [{name: m, value: "{{steps.ask.outputs.parameters.answer}}"}]}
  - name: ask
    suspend: {}
    outputs:
      parameters:
      - name: answer
        valueFrom: {default: "yes", supplied: {}}
  - name: say
    inputs: {parameters: [{name: m}]}
    container: {image: alpine, args: ["echo {{inputs.parameters.m}}"]}
"""


async def test_suspend_outputs_default_on_resume() -> None:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(SUSPEND_OUT))
        await wait_for(lambda: "approve[0].ask" in by_name(ctl.get(key)), what="suspended")
        await ctl.resume(key)
        wf = await ctl.wait(key, timeout=5)
    assert by_name(wf)["approve[1].use"]["outputs"]["result"] == "yes"


DAG_HOOK = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: dh}
spec:
  entrypoint: main
  templates:
  - name: main
    outputs:
      parameters:
      - name: total
        valueFrom: {expression: "string(int(tasks.a.outputs.result) + 1)"}
    dag:
      tasks:
      - name: a
        template: num
        hooks: {exit: {template: bye}}
      - {name: b, dependencies: [a], template: bye}
  - name: num
    container: {image: alpine, args: ["echo 41"]}
  - name: bye
    container: {image: alpine, args: ["echo bye"]}
"""


async def test_dag_task_exit_hook_and_expression_output() -> None:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(DAG_HOOK))
        wf = await ctl.wait(key, timeout=5)
    nodes = by_name(wf)
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
    assert nodes["dh.a.onExit"]["phase"] == "Succeeded"
    # the dependant starts after the task's exit hook finished
    assert ex.runs.index("dh.a.onExit") < ex.runs.index("dh.b")
    assert nodes["dh"]["outputs"]["parameters"] == [{"name": "total", "value": "42"}]


FAN_OUT = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: wide}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: fan, template: work, withSequence: {count: "600"}}
    - - {name: after, template: work}
  - name: work
    container: {image: alpine, args: ["echo hi"]}
"""


class CountingStore(MemoryStore):
    """The in-memory store, remembering how many node records each pass wrote."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[int] = []

    async def put_nodes(self, key: Any, nodes: Any, revision: int) -> int:
        self.writes.append(len(nodes))
        return await super().put_nodes(key, nodes, revision)


async def test_a_fan_out_wider_than_one_pass_starts_in_slices_and_completes() -> None:
    ex = ScriptedExecutor(blocking=False)
    store = CountingStore()
    async with make_controller(ex, store=store, max_nodes_per_pass=50, max_nodes_per_pass_alone=50, max_running_nodes=1000) as ctl:
        key = await ctl.submit(load(FAN_OUT))
        done = await ctl.wait(key, timeout=30)
    assert done["status"]["phase"] == "Succeeded"
    pods = [n for n in done["status"]["nodes"].values() if n["type"] == "Pod"]
    assert len(pods) == 601
    assert len(ex.started) == 601, "each child started exactly once"
    group = by_name(done)["wide[0]"]
    assert len(group["children"]) == 600 and group["phase"] == "Succeeded"
    # A pass writes the children it started and the ones that ended: at most 50 of each.
    # One pass more: the one linking all 600 children to the next step, as Argo does.
    assert sorted(store.writes)[-2] <= 2 * 50 + 5, store.writes
    assert len(store.writes) >= 600 // 50


@pytest.mark.parametrize(("linger", "small"), [(3600.0, True), (0.0, False)])
async def test_beside_a_workflow_that_only_waits_a_fan_out_takes_small_passes_only_for_the_linger(
    linger: float, small: bool
) -> None:
    ex = ScriptedExecutor()  # "block" waits for release: the other workflow stays Running
    store = CountingStore()
    settings = {"max_nodes_per_pass": 20, "max_nodes_per_pass_alone": 1000, "max_running_nodes": 1000}
    async with make_controller(ex, store=store, shared_linger=linger, **settings) as ctl:
        waiting = await ctl.submit(load(BLOCKED))
        await wait_for(lambda: len(ex.started) == 1, what="the other workflow's pod running")
        before = len(store.writes)
        wide = await ctl.submit(load(FAN_OUT))
        await wait_for(lambda: ctl.counts(wide).get("Succeeded", 0) >= 300, timeout=30, what="half the fan-out")
        beside = store.writes[before:]
        assert ctl.get(waiting)["status"]["phase"] == "Running"  # in progress all along, with no work
        ex.release()
        await ctl.wait(waiting, timeout=30)
        await ctl.wait(wide, timeout=30)
    if small:  # within the linger of the other workflow's last pass, each pass stayed small
        assert sorted(beside)[-2] <= 2 * 20 + 5, beside
    else:  # a workflow that only waits for its pod leaves the loop to the fan-out
        assert max(beside) >= 600, beside


async def test_a_fan_out_takes_small_passes_while_another_workflow_has_work() -> None:
    ex = ScriptedExecutor(blocking=False)
    store = CountingStore()
    settings = {"max_nodes_per_pass": 20, "max_nodes_per_pass_alone": 1000, "max_running_nodes": 1000}
    async with make_controller(ex, store=store, shared_linger=0.0, **settings) as ctl:
        busy = await ctl.submit(load(LONG_CHAIN))
        await wait_for(lambda: ctl.counts(busy).get("Succeeded", 0) >= 5, what="the chain under way")
        before = len(store.writes)
        wide = await ctl.submit(load(FAN_OUT))
        done = await ctl.wait(wide, timeout=30)
        beside = store.writes[before:]
        chain = ctl.get(busy)
        await ctl.wait(busy, timeout=60)
    assert done["status"]["phase"] == "Succeeded"
    assert chain["status"]["phase"] == "Running", "the chain had work all along the fan-out"
    # no linger: only the other workflow's waiting events kept the passes small
    assert sorted(beside)[-2] <= 2 * 20 + 5, beside


LONG_CHAIN = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: chain}
spec:
  entrypoint: main
  templates:
  - name: work
    container: {image: alpine, args: ["echo hi"]}
  - name: main
    steps:
""" + "".join(f"    - - {{name: s{i}, template: work}}\n" for i in range(2000))


BLOCKED = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: waiting}
spec:
  entrypoint: main
  templates:
  - name: main
    container: {image: alpine, args: ["block"]}
"""


async def _tracked_objects_beside_a_waiting_fan_out(width: int, shape: str) -> int:
    """Objects the garbage collector tracks while a fan-out of *width* waits, 10 children running
    (the template's ``parallelism``: the others wait in their group for their turn)."""
    if shape == "dag":
        main = f"dag: {{tasks: [{{name: fan, template: work, withSequence: {{count: '{width}'}}}}]}}"
    else:
        main = f"steps: [[{{name: fan, template: work, withSequence: {{count: '{width}'}}}}]]"
    manifest = f"""
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {{name: waiting-{shape}-{width}}}
spec:
  entrypoint: main
  templates:
  - name: main
    parallelism: 10
    {main}
  - name: work
    container: {{image: alpine, args: ["block"]}}
"""
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(manifest))
        await wait_for(lambda: len(ex.started) == 10, what="the first 10 children running")
        gc.collect()
        tracked = len(gc.get_objects())
        ex.blocking = False
        ex.release()
        done = await ctl.wait(key, timeout=30)
    assert done["status"]["phase"] == "Succeeded"
    assert len(ex.started) == width
    return tracked


@pytest.mark.parametrize("shape", ["steps", "dag"])
async def test_children_waiting_their_turn_cost_the_garbage_collector_nothing(shape: str) -> None:
    # A loop's waiting children are kept as tuples of strings, which the collector stops
    # tracking: 3,000 more of them must not add an object per child to every collection
    # (a closure each did: a function and its cells, about eight objects per child).
    small = await _tracked_objects_beside_a_waiting_fan_out(200, shape)
    large = await _tracked_objects_beside_a_waiting_fan_out(3200, shape)
    assert large - small < 3000 // 2, f"{(large - small) / 3000:.1f} tracked objects per waiting child"


WIDE_BLOCKING = FAN_OUT.replace('args: ["echo hi"]', 'args: ["block"]')


@pytest.mark.parametrize(("linger", "stays_small"), [(3600.0, True), (0.0, False)])
async def test_passes_stay_small_for_a_while_after_the_other_workflow_ends(linger: float, stays_small: bool) -> None:
    ex = ScriptedExecutor()
    store = CountingStore()
    settings = {"max_nodes_per_pass": 20, "max_nodes_per_pass_alone": 1000, "max_running_nodes": 1000}
    async with make_controller(ex, store=store, shared_linger=linger, **settings) as ctl:
        waiting = await ctl.submit(load(BLOCKED))
        await wait_for(lambda: len(ex.started) == 1, what="the other workflow's pod running")
        wide = await ctl.submit(load(WIDE_BLOCKING))
        await wait_for(lambda: len(ex.started) == 601, timeout=30, what="the fan-out's first step running")
        ex.release("waiting")
        assert (await ctl.wait(waiting, timeout=30))["status"]["phase"] == "Succeeded"
        before = len(store.writes)
        ex.blocking = False
        ex.release()  # 600 pods end at once, now that the fan-out is alone
        assert (await ctl.wait(wide, timeout=30))["status"]["phase"] == "Succeeded"
    after = store.writes[before:]
    if stays_small:  # 600 results applied 20 a pass (one pass more links all 600 to the next step)
        assert len(after) >= 600 // 20 and sorted(after)[-2] <= 2 * 20 + 5, after
    else:  # applied together, as soon as the fan-out was alone
        assert len(after) < 600 // 20 and max(after) > 100, after


async def test_reading_a_large_workflow_gives_the_event_loop_back_and_makes_no_pass() -> None:
    from hookbus.controller.engine.snapshot import SNAPSHOT_SLICE

    width = 4 * SNAPSHOT_SLICE
    ex = ScriptedExecutor()  # every pod blocks: the workflow stays Running
    async with make_controller(ex, max_running_nodes=width) as ctl:
        key = await ctl.submit(load(FAN_OUT.replace('"600"', f'"{width}"').replace('args: ["echo hi"]', 'args: ["block"]')))
        await wait_for(lambda: len(ex.started) == width, timeout=30, what="every pod of the fan-out running")
        watch = ctl.watch(key)
        first = await anext(watch)
        turns = 0
        reading = asyncio.create_task(ctl.read(key))
        while not reading.done():
            turns += 1
            await asyncio.sleep(0)
        read = reading.result()
        assert read == ctl.get(key) == first
        assert len(read["status"]["nodes"]) > width
        # one turn of the loop at least per slice of nodes (built at once: about three in all)
        assert turns >= 4, turns
        # a read is no change: watchers are not woken by it (each would read again, and again)
        changed = ctl._run(key).changed
        changed.clear()
        await ctl.read(key)
        assert not changed.is_set(), "a read woke the watchers"
        ex.blocking = False
        ex.release()
        latest = await asyncio.wait_for(anext(watch), 30)
        assert latest["status"]["nodes"] != first["status"]["nodes"]
        await watch.aclose()
        assert (await ctl.wait(key, timeout=30))["status"]["phase"] == "Succeeded"


async def test_a_controller_follows_a_workflow_source() -> None:
    from hookbus.controller.engine.sources import SubmissionQueue

    source = SubmissionQueue()
    ex = ScriptedExecutor(blocking=False)
    async with make_controller(ex) as ctl:
        following = asyncio.create_task(ctl.follow(source))
        key = await source.submit(load(ONE_STEP.replace("NAME", "queued")))
        assert key.name == "queued"
        with pytest.raises(ManifestError):  # the same name again: refused, the source goes on
            await source.submit(load(ONE_STEP.replace("NAME", "queued")))
        other = await source.submit(load(ONE_STEP.replace("NAME", "next")))
        source.close()
        await asyncio.wait_for(following, 5)
        for done in (key, other):
            assert (await ctl.wait(done, timeout=5))["status"]["phase"] == "Succeeded"
    assert sorted(ex.runs) == ["next", "queued"]


ONE_STEP = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: NAME}
spec:
  entrypoint: main
  templates:
  - name: main
    container: {image: alpine, args: ["echo hi"]}
"""


async def test_a_run_whose_stored_workflow_changed_under_it_stops_writing() -> None:
    store = MemoryStore()
    ex = ScriptedExecutor()
    async with make_controller(ex, store=store) as ctl:
        key = await ctl.submit(load(ONE_STEP.replace("NAME", "taken").replace("echo hi", "block")))
        await wait_for(lambda: ex.started == ["taken"], what="the node to start")
        stored = await store.load(key)
        assert stored is not None
        # another controller takes the workflow over: it writes the record anew
        taken = {**stored.workflow, "metadata": {**stored.workflow["metadata"], "annotations": {"owner": "other"}}}
        await store.put_workflow(key, taken, stored.revision)
        ex.release()
        await wait_for(lambda: ctl._run(key).deleting, what="the stale run to stop")
        assert ex.runs == ["taken"]
    after = await store.load(key)
    assert after is not None
    assert after.workflow["metadata"]["annotations"] == {"owner": "other"}
    (node,) = after.nodes.values()
    assert node["phase"] == "Running", "a write based on the stale revision reached the store"
