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
from tests.conftest import wait_for
from tests.engine.helpers import ScriptedExecutor, by_name, load, make_controller

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

    async def put_nodes(self, key: Any, nodes: Any) -> None:
        self.writes.append(len(nodes))
        await super().put_nodes(key, nodes)


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
    assert sorted(beside)[-2] <= 2 * 20 + 5 + 10, beside


LONG_CHAIN = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: chain}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: s, template: work, withSequence: {count: "1"}}
    - - {name: s0, template: work}
    - - {name: s1, template: work}
    - - {name: s2, template: work}
    - - {name: s3, template: work}
    - - {name: s4, template: work}
    - - {name: s5, template: work}
    - - {name: s6, template: work}
    - - {name: s7, template: work}
    - - {name: s8, template: work}
    - - {name: s9, template: work}
    - - {name: s10, template: work}
    - - {name: s11, template: work}
    - - {name: s12, template: work}
    - - {name: s13, template: work}
    - - {name: s14, template: work}
    - - {name: s15, template: work}
    - - {name: s16, template: work}
    - - {name: s17, template: work}
    - - {name: s18, template: work}
    - - {name: s19, template: work}
    - - {name: s20, template: work}
    - - {name: s21, template: work}
    - - {name: s22, template: work}
    - - {name: s23, template: work}
    - - {name: s24, template: work}
    - - {name: s25, template: work}
    - - {name: s26, template: work}
    - - {name: s27, template: work}
    - - {name: s28, template: work}
    - - {name: s29, template: work}
    - - {name: s30, template: work}
    - - {name: s31, template: work}
    - - {name: s32, template: work}
    - - {name: s33, template: work}
    - - {name: s34, template: work}
    - - {name: s35, template: work}
    - - {name: s36, template: work}
    - - {name: s37, template: work}
    - - {name: s38, template: work}
    - - {name: s39, template: work}
    - - {name: s40, template: work}
    - - {name: s41, template: work}
    - - {name: s42, template: work}
    - - {name: s43, template: work}
    - - {name: s44, template: work}
    - - {name: s45, template: work}
    - - {name: s46, template: work}
    - - {name: s47, template: work}
    - - {name: s48, template: work}
    - - {name: s49, template: work}
    - - {name: s50, template: work}
    - - {name: s51, template: work}
    - - {name: s52, template: work}
    - - {name: s53, template: work}
    - - {name: s54, template: work}
    - - {name: s55, template: work}
    - - {name: s56, template: work}
    - - {name: s57, template: work}
    - - {name: s58, template: work}
    - - {name: s59, template: work}
    - - {name: s60, template: work}
    - - {name: s61, template: work}
    - - {name: s62, template: work}
    - - {name: s63, template: work}
    - - {name: s64, template: work}
    - - {name: s65, template: work}
    - - {name: s66, template: work}
    - - {name: s67, template: work}
    - - {name: s68, template: work}
    - - {name: s69, template: work}
    - - {name: s70, template: work}
    - - {name: s71, template: work}
    - - {name: s72, template: work}
    - - {name: s73, template: work}
    - - {name: s74, template: work}
    - - {name: s75, template: work}
    - - {name: s76, template: work}
    - - {name: s77, template: work}
    - - {name: s78, template: work}
    - - {name: s79, template: work}
    - - {name: s80, template: work}
    - - {name: s81, template: work}
    - - {name: s82, template: work}
    - - {name: s83, template: work}
    - - {name: s84, template: work}
    - - {name: s85, template: work}
    - - {name: s86, template: work}
    - - {name: s87, template: work}
    - - {name: s88, template: work}
    - - {name: s89, template: work}
    - - {name: s90, template: work}
    - - {name: s91, template: work}
    - - {name: s92, template: work}
    - - {name: s93, template: work}
    - - {name: s94, template: work}
    - - {name: s95, template: work}
    - - {name: s96, template: work}
    - - {name: s97, template: work}
    - - {name: s98, template: work}
    - - {name: s99, template: work}
    - - {name: s100, template: work}
    - - {name: s101, template: work}
    - - {name: s102, template: work}
    - - {name: s103, template: work}
    - - {name: s104, template: work}
    - - {name: s105, template: work}
    - - {name: s106, template: work}
    - - {name: s107, template: work}
    - - {name: s108, template: work}
    - - {name: s109, template: work}
    - - {name: s110, template: work}
    - - {name: s111, template: work}
    - - {name: s112, template: work}
    - - {name: s113, template: work}
    - - {name: s114, template: work}
    - - {name: s115, template: work}
    - - {name: s116, template: work}
    - - {name: s117, template: work}
    - - {name: s118, template: work}
    - - {name: s119, template: work}
    - - {name: s120, template: work}
    - - {name: s121, template: work}
    - - {name: s122, template: work}
    - - {name: s123, template: work}
    - - {name: s124, template: work}
    - - {name: s125, template: work}
    - - {name: s126, template: work}
    - - {name: s127, template: work}
    - - {name: s128, template: work}
    - - {name: s129, template: work}
    - - {name: s130, template: work}
    - - {name: s131, template: work}
    - - {name: s132, template: work}
    - - {name: s133, template: work}
    - - {name: s134, template: work}
    - - {name: s135, template: work}
    - - {name: s136, template: work}
    - - {name: s137, template: work}
    - - {name: s138, template: work}
    - - {name: s139, template: work}
    - - {name: s140, template: work}
    - - {name: s141, template: work}
    - - {name: s142, template: work}
    - - {name: s143, template: work}
    - - {name: s144, template: work}
    - - {name: s145, template: work}
    - - {name: s146, template: work}
    - - {name: s147, template: work}
    - - {name: s148, template: work}
    - - {name: s149, template: work}
    - - {name: s150, template: work}
    - - {name: s151, template: work}
    - - {name: s152, template: work}
    - - {name: s153, template: work}
    - - {name: s154, template: work}
    - - {name: s155, template: work}
    - - {name: s156, template: work}
    - - {name: s157, template: work}
    - - {name: s158, template: work}
    - - {name: s159, template: work}
    - - {name: s160, template: work}
    - - {name: s161, template: work}
    - - {name: s162, template: work}
    - - {name: s163, template: work}
    - - {name: s164, template: work}
    - - {name: s165, template: work}
    - - {name: s166, template: work}
    - - {name: s167, template: work}
    - - {name: s168, template: work}
    - - {name: s169, template: work}
    - - {name: s170, template: work}
    - - {name: s171, template: work}
    - - {name: s172, template: work}
    - - {name: s173, template: work}
    - - {name: s174, template: work}
    - - {name: s175, template: work}
    - - {name: s176, template: work}
    - - {name: s177, template: work}
    - - {name: s178, template: work}
    - - {name: s179, template: work}
    - - {name: s180, template: work}
    - - {name: s181, template: work}
    - - {name: s182, template: work}
    - - {name: s183, template: work}
    - - {name: s184, template: work}
    - - {name: s185, template: work}
    - - {name: s186, template: work}
    - - {name: s187, template: work}
    - - {name: s188, template: work}
    - - {name: s189, template: work}
    - - {name: s190, template: work}
    - - {name: s191, template: work}
    - - {name: s192, template: work}
    - - {name: s193, template: work}
    - - {name: s194, template: work}
    - - {name: s195, template: work}
    - - {name: s196, template: work}
    - - {name: s197, template: work}
    - - {name: s198, template: work}
    - - {name: s199, template: work}
    - - {name: s200, template: work}
    - - {name: s201, template: work}
    - - {name: s202, template: work}
    - - {name: s203, template: work}
    - - {name: s204, template: work}
    - - {name: s205, template: work}
    - - {name: s206, template: work}
    - - {name: s207, template: work}
    - - {name: s208, template: work}
    - - {name: s209, template: work}
    - - {name: s210, template: work}
    - - {name: s211, template: work}
    - - {name: s212, template: work}
    - - {name: s213, template: work}
    - - {name: s214, template: work}
    - - {name: s215, template: work}
    - - {name: s216, template: work}
    - - {name: s217, template: work}
    - - {name: s218, template: work}
    - - {name: s219, template: work}
    - - {name: s220, template: work}
    - - {name: s221, template: work}
    - - {name: s222, template: work}
    - - {name: s223, template: work}
    - - {name: s224, template: work}
    - - {name: s225, template: work}
    - - {name: s226, template: work}
    - - {name: s227, template: work}
    - - {name: s228, template: work}
    - - {name: s229, template: work}
    - - {name: s230, template: work}
    - - {name: s231, template: work}
    - - {name: s232, template: work}
    - - {name: s233, template: work}
    - - {name: s234, template: work}
    - - {name: s235, template: work}
    - - {name: s236, template: work}
    - - {name: s237, template: work}
    - - {name: s238, template: work}
    - - {name: s239, template: work}
    - - {name: s240, template: work}
    - - {name: s241, template: work}
    - - {name: s242, template: work}
    - - {name: s243, template: work}
    - - {name: s244, template: work}
    - - {name: s245, template: work}
    - - {name: s246, template: work}
    - - {name: s247, template: work}
    - - {name: s248, template: work}
    - - {name: s249, template: work}
    - - {name: s250, template: work}
    - - {name: s251, template: work}
    - - {name: s252, template: work}
    - - {name: s253, template: work}
    - - {name: s254, template: work}
    - - {name: s255, template: work}
    - - {name: s256, template: work}
    - - {name: s257, template: work}
    - - {name: s258, template: work}
    - - {name: s259, template: work}
    - - {name: s260, template: work}
    - - {name: s261, template: work}
    - - {name: s262, template: work}
    - - {name: s263, template: work}
    - - {name: s264, template: work}
    - - {name: s265, template: work}
    - - {name: s266, template: work}
    - - {name: s267, template: work}
    - - {name: s268, template: work}
    - - {name: s269, template: work}
    - - {name: s270, template: work}
    - - {name: s271, template: work}
    - - {name: s272, template: work}
    - - {name: s273, template: work}
    - - {name: s274, template: work}
    - - {name: s275, template: work}
    - - {name: s276, template: work}
    - - {name: s277, template: work}
    - - {name: s278, template: work}
    - - {name: s279, template: work}
    - - {name: s280, template: work}
    - - {name: s281, template: work}
    - - {name: s282, template: work}
    - - {name: s283, template: work}
    - - {name: s284, template: work}
    - - {name: s285, template: work}
    - - {name: s286, template: work}
    - - {name: s287, template: work}
    - - {name: s288, template: work}
    - - {name: s289, template: work}
    - - {name: s290, template: work}
    - - {name: s291, template: work}
    - - {name: s292, template: work}
    - - {name: s293, template: work}
    - - {name: s294, template: work}
    - - {name: s295, template: work}
    - - {name: s296, template: work}
    - - {name: s297, template: work}
    - - {name: s298, template: work}
    - - {name: s299, template: work}
    - - {name: s300, template: work}
    - - {name: s301, template: work}
    - - {name: s302, template: work}
    - - {name: s303, template: work}
    - - {name: s304, template: work}
    - - {name: s305, template: work}
    - - {name: s306, template: work}
    - - {name: s307, template: work}
    - - {name: s308, template: work}
    - - {name: s309, template: work}
    - - {name: s310, template: work}
    - - {name: s311, template: work}
    - - {name: s312, template: work}
    - - {name: s313, template: work}
    - - {name: s314, template: work}
    - - {name: s315, template: work}
    - - {name: s316, template: work}
    - - {name: s317, template: work}
    - - {name: s318, template: work}
    - - {name: s319, template: work}
    - - {name: s320, template: work}
    - - {name: s321, template: work}
    - - {name: s322, template: work}
    - - {name: s323, template: work}
    - - {name: s324, template: work}
    - - {name: s325, template: work}
    - - {name: s326, template: work}
    - - {name: s327, template: work}
    - - {name: s328, template: work}
    - - {name: s329, template: work}
    - - {name: s330, template: work}
    - - {name: s331, template: work}
    - - {name: s332, template: work}
    - - {name: s333, template: work}
    - - {name: s334, template: work}
    - - {name: s335, template: work}
    - - {name: s336, template: work}
    - - {name: s337, template: work}
    - - {name: s338, template: work}
    - - {name: s339, template: work}
    - - {name: s340, template: work}
    - - {name: s341, template: work}
    - - {name: s342, template: work}
    - - {name: s343, template: work}
    - - {name: s344, template: work}
    - - {name: s345, template: work}
    - - {name: s346, template: work}
    - - {name: s347, template: work}
    - - {name: s348, template: work}
    - - {name: s349, template: work}
    - - {name: s350, template: work}
    - - {name: s351, template: work}
    - - {name: s352, template: work}
    - - {name: s353, template: work}
    - - {name: s354, template: work}
    - - {name: s355, template: work}
    - - {name: s356, template: work}
    - - {name: s357, template: work}
    - - {name: s358, template: work}
    - - {name: s359, template: work}
    - - {name: s360, template: work}
    - - {name: s361, template: work}
    - - {name: s362, template: work}
    - - {name: s363, template: work}
    - - {name: s364, template: work}
    - - {name: s365, template: work}
    - - {name: s366, template: work}
    - - {name: s367, template: work}
    - - {name: s368, template: work}
    - - {name: s369, template: work}
    - - {name: s370, template: work}
    - - {name: s371, template: work}
    - - {name: s372, template: work}
    - - {name: s373, template: work}
    - - {name: s374, template: work}
    - - {name: s375, template: work}
    - - {name: s376, template: work}
    - - {name: s377, template: work}
    - - {name: s378, template: work}
    - - {name: s379, template: work}
    - - {name: s380, template: work}
    - - {name: s381, template: work}
    - - {name: s382, template: work}
    - - {name: s383, template: work}
    - - {name: s384, template: work}
    - - {name: s385, template: work}
    - - {name: s386, template: work}
    - - {name: s387, template: work}
    - - {name: s388, template: work}
    - - {name: s389, template: work}
    - - {name: s390, template: work}
    - - {name: s391, template: work}
    - - {name: s392, template: work}
    - - {name: s393, template: work}
    - - {name: s394, template: work}
    - - {name: s395, template: work}
    - - {name: s396, template: work}
    - - {name: s397, template: work}
    - - {name: s398, template: work}
    - - {name: s399, template: work}
    - - {name: s400, template: work}
    - - {name: s401, template: work}
    - - {name: s402, template: work}
    - - {name: s403, template: work}
    - - {name: s404, template: work}
    - - {name: s405, template: work}
    - - {name: s406, template: work}
    - - {name: s407, template: work}
    - - {name: s408, template: work}
    - - {name: s409, template: work}
    - - {name: s410, template: work}
    - - {name: s411, template: work}
    - - {name: s412, template: work}
    - - {name: s413, template: work}
    - - {name: s414, template: work}
    - - {name: s415, template: work}
    - - {name: s416, template: work}
    - - {name: s417, template: work}
    - - {name: s418, template: work}
    - - {name: s419, template: work}
    - - {name: s420, template: work}
    - - {name: s421, template: work}
    - - {name: s422, template: work}
    - - {name: s423, template: work}
    - - {name: s424, template: work}
    - - {name: s425, template: work}
    - - {name: s426, template: work}
    - - {name: s427, template: work}
    - - {name: s428, template: work}
    - - {name: s429, template: work}
    - - {name: s430, template: work}
    - - {name: s431, template: work}
    - - {name: s432, template: work}
    - - {name: s433, template: work}
    - - {name: s434, template: work}
    - - {name: s435, template: work}
    - - {name: s436, template: work}
    - - {name: s437, template: work}
    - - {name: s438, template: work}
    - - {name: s439, template: work}
    - - {name: s440, template: work}
    - - {name: s441, template: work}
    - - {name: s442, template: work}
    - - {name: s443, template: work}
    - - {name: s444, template: work}
    - - {name: s445, template: work}
    - - {name: s446, template: work}
    - - {name: s447, template: work}
    - - {name: s448, template: work}
    - - {name: s449, template: work}
    - - {name: s450, template: work}
    - - {name: s451, template: work}
    - - {name: s452, template: work}
    - - {name: s453, template: work}
    - - {name: s454, template: work}
    - - {name: s455, template: work}
    - - {name: s456, template: work}
    - - {name: s457, template: work}
    - - {name: s458, template: work}
    - - {name: s459, template: work}
    - - {name: s460, template: work}
    - - {name: s461, template: work}
    - - {name: s462, template: work}
    - - {name: s463, template: work}
    - - {name: s464, template: work}
    - - {name: s465, template: work}
    - - {name: s466, template: work}
    - - {name: s467, template: work}
    - - {name: s468, template: work}
    - - {name: s469, template: work}
    - - {name: s470, template: work}
    - - {name: s471, template: work}
    - - {name: s472, template: work}
    - - {name: s473, template: work}
    - - {name: s474, template: work}
    - - {name: s475, template: work}
    - - {name: s476, template: work}
    - - {name: s477, template: work}
    - - {name: s478, template: work}
    - - {name: s479, template: work}
    - - {name: s480, template: work}
    - - {name: s481, template: work}
    - - {name: s482, template: work}
    - - {name: s483, template: work}
    - - {name: s484, template: work}
    - - {name: s485, template: work}
    - - {name: s486, template: work}
    - - {name: s487, template: work}
    - - {name: s488, template: work}
    - - {name: s489, template: work}
    - - {name: s490, template: work}
    - - {name: s491, template: work}
    - - {name: s492, template: work}
    - - {name: s493, template: work}
    - - {name: s494, template: work}
    - - {name: s495, template: work}
    - - {name: s496, template: work}
    - - {name: s497, template: work}
    - - {name: s498, template: work}
    - - {name: s499, template: work}
    - - {name: s500, template: work}
    - - {name: s501, template: work}
    - - {name: s502, template: work}
    - - {name: s503, template: work}
    - - {name: s504, template: work}
    - - {name: s505, template: work}
    - - {name: s506, template: work}
    - - {name: s507, template: work}
    - - {name: s508, template: work}
    - - {name: s509, template: work}
    - - {name: s510, template: work}
    - - {name: s511, template: work}
    - - {name: s512, template: work}
    - - {name: s513, template: work}
    - - {name: s514, template: work}
    - - {name: s515, template: work}
    - - {name: s516, template: work}
    - - {name: s517, template: work}
    - - {name: s518, template: work}
    - - {name: s519, template: work}
    - - {name: s520, template: work}
    - - {name: s521, template: work}
    - - {name: s522, template: work}
    - - {name: s523, template: work}
    - - {name: s524, template: work}
    - - {name: s525, template: work}
    - - {name: s526, template: work}
    - - {name: s527, template: work}
    - - {name: s528, template: work}
    - - {name: s529, template: work}
    - - {name: s530, template: work}
    - - {name: s531, template: work}
    - - {name: s532, template: work}
    - - {name: s533, template: work}
    - - {name: s534, template: work}
    - - {name: s535, template: work}
    - - {name: s536, template: work}
    - - {name: s537, template: work}
    - - {name: s538, template: work}
    - - {name: s539, template: work}
    - - {name: s540, template: work}
    - - {name: s541, template: work}
    - - {name: s542, template: work}
    - - {name: s543, template: work}
    - - {name: s544, template: work}
    - - {name: s545, template: work}
    - - {name: s546, template: work}
    - - {name: s547, template: work}
    - - {name: s548, template: work}
    - - {name: s549, template: work}
    - - {name: s550, template: work}
    - - {name: s551, template: work}
    - - {name: s552, template: work}
    - - {name: s553, template: work}
    - - {name: s554, template: work}
    - - {name: s555, template: work}
    - - {name: s556, template: work}
    - - {name: s557, template: work}
    - - {name: s558, template: work}
    - - {name: s559, template: work}
    - - {name: s560, template: work}
    - - {name: s561, template: work}
    - - {name: s562, template: work}
    - - {name: s563, template: work}
    - - {name: s564, template: work}
    - - {name: s565, template: work}
    - - {name: s566, template: work}
    - - {name: s567, template: work}
    - - {name: s568, template: work}
    - - {name: s569, template: work}
    - - {name: s570, template: work}
    - - {name: s571, template: work}
    - - {name: s572, template: work}
    - - {name: s573, template: work}
    - - {name: s574, template: work}
    - - {name: s575, template: work}
    - - {name: s576, template: work}
    - - {name: s577, template: work}
    - - {name: s578, template: work}
    - - {name: s579, template: work}
    - - {name: s580, template: work}
    - - {name: s581, template: work}
    - - {name: s582, template: work}
    - - {name: s583, template: work}
    - - {name: s584, template: work}
    - - {name: s585, template: work}
    - - {name: s586, template: work}
    - - {name: s587, template: work}
    - - {name: s588, template: work}
    - - {name: s589, template: work}
    - - {name: s590, template: work}
    - - {name: s591, template: work}
    - - {name: s592, template: work}
    - - {name: s593, template: work}
    - - {name: s594, template: work}
    - - {name: s595, template: work}
    - - {name: s596, template: work}
    - - {name: s597, template: work}
    - - {name: s598, template: work}
    - - {name: s599, template: work}
    - - {name: s600, template: work}
    - - {name: s601, template: work}
    - - {name: s602, template: work}
    - - {name: s603, template: work}
    - - {name: s604, template: work}
    - - {name: s605, template: work}
    - - {name: s606, template: work}
    - - {name: s607, template: work}
    - - {name: s608, template: work}
    - - {name: s609, template: work}
    - - {name: s610, template: work}
    - - {name: s611, template: work}
    - - {name: s612, template: work}
    - - {name: s613, template: work}
    - - {name: s614, template: work}
    - - {name: s615, template: work}
    - - {name: s616, template: work}
    - - {name: s617, template: work}
    - - {name: s618, template: work}
    - - {name: s619, template: work}
    - - {name: s620, template: work}
    - - {name: s621, template: work}
    - - {name: s622, template: work}
    - - {name: s623, template: work}
    - - {name: s624, template: work}
    - - {name: s625, template: work}
    - - {name: s626, template: work}
    - - {name: s627, template: work}
    - - {name: s628, template: work}
    - - {name: s629, template: work}
    - - {name: s630, template: work}
    - - {name: s631, template: work}
    - - {name: s632, template: work}
    - - {name: s633, template: work}
    - - {name: s634, template: work}
    - - {name: s635, template: work}
    - - {name: s636, template: work}
    - - {name: s637, template: work}
    - - {name: s638, template: work}
    - - {name: s639, template: work}
    - - {name: s640, template: work}
    - - {name: s641, template: work}
    - - {name: s642, template: work}
    - - {name: s643, template: work}
    - - {name: s644, template: work}
    - - {name: s645, template: work}
    - - {name: s646, template: work}
    - - {name: s647, template: work}
    - - {name: s648, template: work}
    - - {name: s649, template: work}
    - - {name: s650, template: work}
    - - {name: s651, template: work}
    - - {name: s652, template: work}
    - - {name: s653, template: work}
    - - {name: s654, template: work}
    - - {name: s655, template: work}
    - - {name: s656, template: work}
    - - {name: s657, template: work}
    - - {name: s658, template: work}
    - - {name: s659, template: work}
    - - {name: s660, template: work}
    - - {name: s661, template: work}
    - - {name: s662, template: work}
    - - {name: s663, template: work}
    - - {name: s664, template: work}
    - - {name: s665, template: work}
    - - {name: s666, template: work}
    - - {name: s667, template: work}
    - - {name: s668, template: work}
    - - {name: s669, template: work}
    - - {name: s670, template: work}
    - - {name: s671, template: work}
    - - {name: s672, template: work}
    - - {name: s673, template: work}
    - - {name: s674, template: work}
    - - {name: s675, template: work}
    - - {name: s676, template: work}
    - - {name: s677, template: work}
    - - {name: s678, template: work}
    - - {name: s679, template: work}
    - - {name: s680, template: work}
    - - {name: s681, template: work}
    - - {name: s682, template: work}
    - - {name: s683, template: work}
    - - {name: s684, template: work}
    - - {name: s685, template: work}
    - - {name: s686, template: work}
    - - {name: s687, template: work}
    - - {name: s688, template: work}
    - - {name: s689, template: work}
    - - {name: s690, template: work}
    - - {name: s691, template: work}
    - - {name: s692, template: work}
    - - {name: s693, template: work}
    - - {name: s694, template: work}
    - - {name: s695, template: work}
    - - {name: s696, template: work}
    - - {name: s697, template: work}
    - - {name: s698, template: work}
    - - {name: s699, template: work}
    - - {name: s700, template: work}
    - - {name: s701, template: work}
    - - {name: s702, template: work}
    - - {name: s703, template: work}
    - - {name: s704, template: work}
    - - {name: s705, template: work}
    - - {name: s706, template: work}
    - - {name: s707, template: work}
    - - {name: s708, template: work}
    - - {name: s709, template: work}
    - - {name: s710, template: work}
    - - {name: s711, template: work}
    - - {name: s712, template: work}
    - - {name: s713, template: work}
    - - {name: s714, template: work}
    - - {name: s715, template: work}
    - - {name: s716, template: work}
    - - {name: s717, template: work}
    - - {name: s718, template: work}
    - - {name: s719, template: work}
    - - {name: s720, template: work}
    - - {name: s721, template: work}
    - - {name: s722, template: work}
    - - {name: s723, template: work}
    - - {name: s724, template: work}
    - - {name: s725, template: work}
    - - {name: s726, template: work}
    - - {name: s727, template: work}
    - - {name: s728, template: work}
    - - {name: s729, template: work}
    - - {name: s730, template: work}
    - - {name: s731, template: work}
    - - {name: s732, template: work}
    - - {name: s733, template: work}
    - - {name: s734, template: work}
    - - {name: s735, template: work}
    - - {name: s736, template: work}
    - - {name: s737, template: work}
    - - {name: s738, template: work}
    - - {name: s739, template: work}
    - - {name: s740, template: work}
    - - {name: s741, template: work}
    - - {name: s742, template: work}
    - - {name: s743, template: work}
    - - {name: s744, template: work}
    - - {name: s745, template: work}
    - - {name: s746, template: work}
    - - {name: s747, template: work}
    - - {name: s748, template: work}
    - - {name: s749, template: work}
    - - {name: s750, template: work}
    - - {name: s751, template: work}
    - - {name: s752, template: work}
    - - {name: s753, template: work}
    - - {name: s754, template: work}
    - - {name: s755, template: work}
    - - {name: s756, template: work}
    - - {name: s757, template: work}
    - - {name: s758, template: work}
    - - {name: s759, template: work}
    - - {name: s760, template: work}
    - - {name: s761, template: work}
    - - {name: s762, template: work}
    - - {name: s763, template: work}
    - - {name: s764, template: work}
    - - {name: s765, template: work}
    - - {name: s766, template: work}
    - - {name: s767, template: work}
    - - {name: s768, template: work}
    - - {name: s769, template: work}
    - - {name: s770, template: work}
    - - {name: s771, template: work}
    - - {name: s772, template: work}
    - - {name: s773, template: work}
    - - {name: s774, template: work}
    - - {name: s775, template: work}
    - - {name: s776, template: work}
    - - {name: s777, template: work}
    - - {name: s778, template: work}
    - - {name: s779, template: work}
    - - {name: s780, template: work}
    - - {name: s781, template: work}
    - - {name: s782, template: work}
    - - {name: s783, template: work}
    - - {name: s784, template: work}
    - - {name: s785, template: work}
    - - {name: s786, template: work}
    - - {name: s787, template: work}
    - - {name: s788, template: work}
    - - {name: s789, template: work}
    - - {name: s790, template: work}
    - - {name: s791, template: work}
    - - {name: s792, template: work}
    - - {name: s793, template: work}
    - - {name: s794, template: work}
    - - {name: s795, template: work}
    - - {name: s796, template: work}
    - - {name: s797, template: work}
    - - {name: s798, template: work}
    - - {name: s799, template: work}
    - - {name: s800, template: work}
    - - {name: s801, template: work}
    - - {name: s802, template: work}
    - - {name: s803, template: work}
    - - {name: s804, template: work}
    - - {name: s805, template: work}
    - - {name: s806, template: work}
    - - {name: s807, template: work}
    - - {name: s808, template: work}
    - - {name: s809, template: work}
    - - {name: s810, template: work}
    - - {name: s811, template: work}
    - - {name: s812, template: work}
    - - {name: s813, template: work}
    - - {name: s814, template: work}
    - - {name: s815, template: work}
    - - {name: s816, template: work}
    - - {name: s817, template: work}
    - - {name: s818, template: work}
    - - {name: s819, template: work}
    - - {name: s820, template: work}
    - - {name: s821, template: work}
    - - {name: s822, template: work}
    - - {name: s823, template: work}
    - - {name: s824, template: work}
    - - {name: s825, template: work}
    - - {name: s826, template: work}
    - - {name: s827, template: work}
    - - {name: s828, template: work}
    - - {name: s829, template: work}
    - - {name: s830, template: work}
    - - {name: s831, template: work}
    - - {name: s832, template: work}
    - - {name: s833, template: work}
    - - {name: s834, template: work}
    - - {name: s835, template: work}
    - - {name: s836, template: work}
    - - {name: s837, template: work}
    - - {name: s838, template: work}
    - - {name: s839, template: work}
    - - {name: s840, template: work}
    - - {name: s841, template: work}
    - - {name: s842, template: work}
    - - {name: s843, template: work}
    - - {name: s844, template: work}
    - - {name: s845, template: work}
    - - {name: s846, template: work}
    - - {name: s847, template: work}
    - - {name: s848, template: work}
    - - {name: s849, template: work}
    - - {name: s850, template: work}
    - - {name: s851, template: work}
    - - {name: s852, template: work}
    - - {name: s853, template: work}
    - - {name: s854, template: work}
    - - {name: s855, template: work}
    - - {name: s856, template: work}
    - - {name: s857, template: work}
    - - {name: s858, template: work}
    - - {name: s859, template: work}
    - - {name: s860, template: work}
    - - {name: s861, template: work}
    - - {name: s862, template: work}
    - - {name: s863, template: work}
    - - {name: s864, template: work}
    - - {name: s865, template: work}
    - - {name: s866, template: work}
    - - {name: s867, template: work}
    - - {name: s868, template: work}
    - - {name: s869, template: work}
    - - {name: s870, template: work}
    - - {name: s871, template: work}
    - - {name: s872, template: work}
    - - {name: s873, template: work}
    - - {name: s874, template: work}
    - - {name: s875, template: work}
    - - {name: s876, template: work}
    - - {name: s877, template: work}
    - - {name: s878, template: work}
    - - {name: s879, template: work}
    - - {name: s880, template: work}
    - - {name: s881, template: work}
    - - {name: s882, template: work}
    - - {name: s883, template: work}
    - - {name: s884, template: work}
    - - {name: s885, template: work}
    - - {name: s886, template: work}
    - - {name: s887, template: work}
    - - {name: s888, template: work}
    - - {name: s889, template: work}
    - - {name: s890, template: work}
    - - {name: s891, template: work}
    - - {name: s892, template: work}
    - - {name: s893, template: work}
    - - {name: s894, template: work}
    - - {name: s895, template: work}
    - - {name: s896, template: work}
    - - {name: s897, template: work}
    - - {name: s898, template: work}
    - - {name: s899, template: work}
    - - {name: s900, template: work}
    - - {name: s901, template: work}
    - - {name: s902, template: work}
    - - {name: s903, template: work}
    - - {name: s904, template: work}
    - - {name: s905, template: work}
    - - {name: s906, template: work}
    - - {name: s907, template: work}
    - - {name: s908, template: work}
    - - {name: s909, template: work}
    - - {name: s910, template: work}
    - - {name: s911, template: work}
    - - {name: s912, template: work}
    - - {name: s913, template: work}
    - - {name: s914, template: work}
    - - {name: s915, template: work}
    - - {name: s916, template: work}
    - - {name: s917, template: work}
    - - {name: s918, template: work}
    - - {name: s919, template: work}
    - - {name: s920, template: work}
    - - {name: s921, template: work}
    - - {name: s922, template: work}
    - - {name: s923, template: work}
    - - {name: s924, template: work}
    - - {name: s925, template: work}
    - - {name: s926, template: work}
    - - {name: s927, template: work}
    - - {name: s928, template: work}
    - - {name: s929, template: work}
    - - {name: s930, template: work}
    - - {name: s931, template: work}
    - - {name: s932, template: work}
    - - {name: s933, template: work}
    - - {name: s934, template: work}
    - - {name: s935, template: work}
    - - {name: s936, template: work}
    - - {name: s937, template: work}
    - - {name: s938, template: work}
    - - {name: s939, template: work}
    - - {name: s940, template: work}
    - - {name: s941, template: work}
    - - {name: s942, template: work}
    - - {name: s943, template: work}
    - - {name: s944, template: work}
    - - {name: s945, template: work}
    - - {name: s946, template: work}
    - - {name: s947, template: work}
    - - {name: s948, template: work}
    - - {name: s949, template: work}
    - - {name: s950, template: work}
    - - {name: s951, template: work}
    - - {name: s952, template: work}
    - - {name: s953, template: work}
    - - {name: s954, template: work}
    - - {name: s955, template: work}
    - - {name: s956, template: work}
    - - {name: s957, template: work}
    - - {name: s958, template: work}
    - - {name: s959, template: work}
    - - {name: s960, template: work}
    - - {name: s961, template: work}
    - - {name: s962, template: work}
    - - {name: s963, template: work}
    - - {name: s964, template: work}
    - - {name: s965, template: work}
    - - {name: s966, template: work}
    - - {name: s967, template: work}
    - - {name: s968, template: work}
    - - {name: s969, template: work}
    - - {name: s970, template: work}
    - - {name: s971, template: work}
    - - {name: s972, template: work}
    - - {name: s973, template: work}
    - - {name: s974, template: work}
    - - {name: s975, template: work}
    - - {name: s976, template: work}
    - - {name: s977, template: work}
    - - {name: s978, template: work}
    - - {name: s979, template: work}
    - - {name: s980, template: work}
    - - {name: s981, template: work}
    - - {name: s982, template: work}
    - - {name: s983, template: work}
    - - {name: s984, template: work}
    - - {name: s985, template: work}
    - - {name: s986, template: work}
    - - {name: s987, template: work}
    - - {name: s988, template: work}
    - - {name: s989, template: work}
    - - {name: s990, template: work}
    - - {name: s991, template: work}
    - - {name: s992, template: work}
    - - {name: s993, template: work}
    - - {name: s994, template: work}
    - - {name: s995, template: work}
    - - {name: s996, template: work}
    - - {name: s997, template: work}
    - - {name: s998, template: work}
    - - {name: s999, template: work}
    - - {name: s1000, template: work}
    - - {name: s1001, template: work}
    - - {name: s1002, template: work}
    - - {name: s1003, template: work}
    - - {name: s1004, template: work}
    - - {name: s1005, template: work}
    - - {name: s1006, template: work}
    - - {name: s1007, template: work}
    - - {name: s1008, template: work}
    - - {name: s1009, template: work}
    - - {name: s1010, template: work}
    - - {name: s1011, template: work}
    - - {name: s1012, template: work}
    - - {name: s1013, template: work}
    - - {name: s1014, template: work}
    - - {name: s1015, template: work}
    - - {name: s1016, template: work}
    - - {name: s1017, template: work}
    - - {name: s1018, template: work}
    - - {name: s1019, template: work}
    - - {name: s1020, template: work}
    - - {name: s1021, template: work}
    - - {name: s1022, template: work}
    - - {name: s1023, template: work}
    - - {name: s1024, template: work}
    - - {name: s1025, template: work}
    - - {name: s1026, template: work}
    - - {name: s1027, template: work}
    - - {name: s1028, template: work}
    - - {name: s1029, template: work}
    - - {name: s1030, template: work}
    - - {name: s1031, template: work}
    - - {name: s1032, template: work}
    - - {name: s1033, template: work}
    - - {name: s1034, template: work}
    - - {name: s1035, template: work}
    - - {name: s1036, template: work}
    - - {name: s1037, template: work}
    - - {name: s1038, template: work}
    - - {name: s1039, template: work}
    - - {name: s1040, template: work}
    - - {name: s1041, template: work}
    - - {name: s1042, template: work}
    - - {name: s1043, template: work}
    - - {name: s1044, template: work}
    - - {name: s1045, template: work}
    - - {name: s1046, template: work}
    - - {name: s1047, template: work}
    - - {name: s1048, template: work}
    - - {name: s1049, template: work}
    - - {name: s1050, template: work}
    - - {name: s1051, template: work}
    - - {name: s1052, template: work}
    - - {name: s1053, template: work}
    - - {name: s1054, template: work}
    - - {name: s1055, template: work}
    - - {name: s1056, template: work}
    - - {name: s1057, template: work}
    - - {name: s1058, template: work}
    - - {name: s1059, template: work}
    - - {name: s1060, template: work}
    - - {name: s1061, template: work}
    - - {name: s1062, template: work}
    - - {name: s1063, template: work}
    - - {name: s1064, template: work}
    - - {name: s1065, template: work}
    - - {name: s1066, template: work}
    - - {name: s1067, template: work}
    - - {name: s1068, template: work}
    - - {name: s1069, template: work}
    - - {name: s1070, template: work}
    - - {name: s1071, template: work}
    - - {name: s1072, template: work}
    - - {name: s1073, template: work}
    - - {name: s1074, template: work}
    - - {name: s1075, template: work}
    - - {name: s1076, template: work}
    - - {name: s1077, template: work}
    - - {name: s1078, template: work}
    - - {name: s1079, template: work}
    - - {name: s1080, template: work}
    - - {name: s1081, template: work}
    - - {name: s1082, template: work}
    - - {name: s1083, template: work}
    - - {name: s1084, template: work}
    - - {name: s1085, template: work}
    - - {name: s1086, template: work}
    - - {name: s1087, template: work}
    - - {name: s1088, template: work}
    - - {name: s1089, template: work}
    - - {name: s1090, template: work}
    - - {name: s1091, template: work}
    - - {name: s1092, template: work}
    - - {name: s1093, template: work}
    - - {name: s1094, template: work}
    - - {name: s1095, template: work}
    - - {name: s1096, template: work}
    - - {name: s1097, template: work}
    - - {name: s1098, template: work}
    - - {name: s1099, template: work}
    - - {name: s1100, template: work}
    - - {name: s1101, template: work}
    - - {name: s1102, template: work}
    - - {name: s1103, template: work}
    - - {name: s1104, template: work}
    - - {name: s1105, template: work}
    - - {name: s1106, template: work}
    - - {name: s1107, template: work}
    - - {name: s1108, template: work}
    - - {name: s1109, template: work}
    - - {name: s1110, template: work}
    - - {name: s1111, template: work}
    - - {name: s1112, template: work}
    - - {name: s1113, template: work}
    - - {name: s1114, template: work}
    - - {name: s1115, template: work}
    - - {name: s1116, template: work}
    - - {name: s1117, template: work}
    - - {name: s1118, template: work}
    - - {name: s1119, template: work}
    - - {name: s1120, template: work}
    - - {name: s1121, template: work}
    - - {name: s1122, template: work}
    - - {name: s1123, template: work}
    - - {name: s1124, template: work}
    - - {name: s1125, template: work}
    - - {name: s1126, template: work}
    - - {name: s1127, template: work}
    - - {name: s1128, template: work}
    - - {name: s1129, template: work}
    - - {name: s1130, template: work}
    - - {name: s1131, template: work}
    - - {name: s1132, template: work}
    - - {name: s1133, template: work}
    - - {name: s1134, template: work}
    - - {name: s1135, template: work}
    - - {name: s1136, template: work}
    - - {name: s1137, template: work}
    - - {name: s1138, template: work}
    - - {name: s1139, template: work}
    - - {name: s1140, template: work}
    - - {name: s1141, template: work}
    - - {name: s1142, template: work}
    - - {name: s1143, template: work}
    - - {name: s1144, template: work}
    - - {name: s1145, template: work}
    - - {name: s1146, template: work}
    - - {name: s1147, template: work}
    - - {name: s1148, template: work}
    - - {name: s1149, template: work}
    - - {name: s1150, template: work}
    - - {name: s1151, template: work}
    - - {name: s1152, template: work}
    - - {name: s1153, template: work}
    - - {name: s1154, template: work}
    - - {name: s1155, template: work}
    - - {name: s1156, template: work}
    - - {name: s1157, template: work}
    - - {name: s1158, template: work}
    - - {name: s1159, template: work}
    - - {name: s1160, template: work}
    - - {name: s1161, template: work}
    - - {name: s1162, template: work}
    - - {name: s1163, template: work}
    - - {name: s1164, template: work}
    - - {name: s1165, template: work}
    - - {name: s1166, template: work}
    - - {name: s1167, template: work}
    - - {name: s1168, template: work}
    - - {name: s1169, template: work}
    - - {name: s1170, template: work}
    - - {name: s1171, template: work}
    - - {name: s1172, template: work}
    - - {name: s1173, template: work}
    - - {name: s1174, template: work}
    - - {name: s1175, template: work}
    - - {name: s1176, template: work}
    - - {name: s1177, template: work}
    - - {name: s1178, template: work}
    - - {name: s1179, template: work}
    - - {name: s1180, template: work}
    - - {name: s1181, template: work}
    - - {name: s1182, template: work}
    - - {name: s1183, template: work}
    - - {name: s1184, template: work}
    - - {name: s1185, template: work}
    - - {name: s1186, template: work}
    - - {name: s1187, template: work}
    - - {name: s1188, template: work}
    - - {name: s1189, template: work}
    - - {name: s1190, template: work}
    - - {name: s1191, template: work}
    - - {name: s1192, template: work}
    - - {name: s1193, template: work}
    - - {name: s1194, template: work}
    - - {name: s1195, template: work}
    - - {name: s1196, template: work}
    - - {name: s1197, template: work}
    - - {name: s1198, template: work}
    - - {name: s1199, template: work}
    - - {name: s1200, template: work}
    - - {name: s1201, template: work}
    - - {name: s1202, template: work}
    - - {name: s1203, template: work}
    - - {name: s1204, template: work}
    - - {name: s1205, template: work}
    - - {name: s1206, template: work}
    - - {name: s1207, template: work}
    - - {name: s1208, template: work}
    - - {name: s1209, template: work}
    - - {name: s1210, template: work}
    - - {name: s1211, template: work}
    - - {name: s1212, template: work}
    - - {name: s1213, template: work}
    - - {name: s1214, template: work}
    - - {name: s1215, template: work}
    - - {name: s1216, template: work}
    - - {name: s1217, template: work}
    - - {name: s1218, template: work}
    - - {name: s1219, template: work}
    - - {name: s1220, template: work}
    - - {name: s1221, template: work}
    - - {name: s1222, template: work}
    - - {name: s1223, template: work}
    - - {name: s1224, template: work}
    - - {name: s1225, template: work}
    - - {name: s1226, template: work}
    - - {name: s1227, template: work}
    - - {name: s1228, template: work}
    - - {name: s1229, template: work}
    - - {name: s1230, template: work}
    - - {name: s1231, template: work}
    - - {name: s1232, template: work}
    - - {name: s1233, template: work}
    - - {name: s1234, template: work}
    - - {name: s1235, template: work}
    - - {name: s1236, template: work}
    - - {name: s1237, template: work}
    - - {name: s1238, template: work}
    - - {name: s1239, template: work}
    - - {name: s1240, template: work}
    - - {name: s1241, template: work}
    - - {name: s1242, template: work}
    - - {name: s1243, template: work}
    - - {name: s1244, template: work}
    - - {name: s1245, template: work}
    - - {name: s1246, template: work}
    - - {name: s1247, template: work}
    - - {name: s1248, template: work}
    - - {name: s1249, template: work}
    - - {name: s1250, template: work}
    - - {name: s1251, template: work}
    - - {name: s1252, template: work}
    - - {name: s1253, template: work}
    - - {name: s1254, template: work}
    - - {name: s1255, template: work}
    - - {name: s1256, template: work}
    - - {name: s1257, template: work}
    - - {name: s1258, template: work}
    - - {name: s1259, template: work}
    - - {name: s1260, template: work}
    - - {name: s1261, template: work}
    - - {name: s1262, template: work}
    - - {name: s1263, template: work}
    - - {name: s1264, template: work}
    - - {name: s1265, template: work}
    - - {name: s1266, template: work}
    - - {name: s1267, template: work}
    - - {name: s1268, template: work}
    - - {name: s1269, template: work}
    - - {name: s1270, template: work}
    - - {name: s1271, template: work}
    - - {name: s1272, template: work}
    - - {name: s1273, template: work}
    - - {name: s1274, template: work}
    - - {name: s1275, template: work}
    - - {name: s1276, template: work}
    - - {name: s1277, template: work}
    - - {name: s1278, template: work}
    - - {name: s1279, template: work}
    - - {name: s1280, template: work}
    - - {name: s1281, template: work}
    - - {name: s1282, template: work}
    - - {name: s1283, template: work}
    - - {name: s1284, template: work}
    - - {name: s1285, template: work}
    - - {name: s1286, template: work}
    - - {name: s1287, template: work}
    - - {name: s1288, template: work}
    - - {name: s1289, template: work}
    - - {name: s1290, template: work}
    - - {name: s1291, template: work}
    - - {name: s1292, template: work}
    - - {name: s1293, template: work}
    - - {name: s1294, template: work}
    - - {name: s1295, template: work}
    - - {name: s1296, template: work}
    - - {name: s1297, template: work}
    - - {name: s1298, template: work}
    - - {name: s1299, template: work}
    - - {name: s1300, template: work}
    - - {name: s1301, template: work}
    - - {name: s1302, template: work}
    - - {name: s1303, template: work}
    - - {name: s1304, template: work}
    - - {name: s1305, template: work}
    - - {name: s1306, template: work}
    - - {name: s1307, template: work}
    - - {name: s1308, template: work}
    - - {name: s1309, template: work}
    - - {name: s1310, template: work}
    - - {name: s1311, template: work}
    - - {name: s1312, template: work}
    - - {name: s1313, template: work}
    - - {name: s1314, template: work}
    - - {name: s1315, template: work}
    - - {name: s1316, template: work}
    - - {name: s1317, template: work}
    - - {name: s1318, template: work}
    - - {name: s1319, template: work}
    - - {name: s1320, template: work}
    - - {name: s1321, template: work}
    - - {name: s1322, template: work}
    - - {name: s1323, template: work}
    - - {name: s1324, template: work}
    - - {name: s1325, template: work}
    - - {name: s1326, template: work}
    - - {name: s1327, template: work}
    - - {name: s1328, template: work}
    - - {name: s1329, template: work}
    - - {name: s1330, template: work}
    - - {name: s1331, template: work}
    - - {name: s1332, template: work}
    - - {name: s1333, template: work}
    - - {name: s1334, template: work}
    - - {name: s1335, template: work}
    - - {name: s1336, template: work}
    - - {name: s1337, template: work}
    - - {name: s1338, template: work}
    - - {name: s1339, template: work}
    - - {name: s1340, template: work}
    - - {name: s1341, template: work}
    - - {name: s1342, template: work}
    - - {name: s1343, template: work}
    - - {name: s1344, template: work}
    - - {name: s1345, template: work}
    - - {name: s1346, template: work}
    - - {name: s1347, template: work}
    - - {name: s1348, template: work}
    - - {name: s1349, template: work}
    - - {name: s1350, template: work}
    - - {name: s1351, template: work}
    - - {name: s1352, template: work}
    - - {name: s1353, template: work}
    - - {name: s1354, template: work}
    - - {name: s1355, template: work}
    - - {name: s1356, template: work}
    - - {name: s1357, template: work}
    - - {name: s1358, template: work}
    - - {name: s1359, template: work}
    - - {name: s1360, template: work}
    - - {name: s1361, template: work}
    - - {name: s1362, template: work}
    - - {name: s1363, template: work}
    - - {name: s1364, template: work}
    - - {name: s1365, template: work}
    - - {name: s1366, template: work}
    - - {name: s1367, template: work}
    - - {name: s1368, template: work}
    - - {name: s1369, template: work}
    - - {name: s1370, template: work}
    - - {name: s1371, template: work}
    - - {name: s1372, template: work}
    - - {name: s1373, template: work}
    - - {name: s1374, template: work}
    - - {name: s1375, template: work}
    - - {name: s1376, template: work}
    - - {name: s1377, template: work}
    - - {name: s1378, template: work}
    - - {name: s1379, template: work}
    - - {name: s1380, template: work}
    - - {name: s1381, template: work}
    - - {name: s1382, template: work}
    - - {name: s1383, template: work}
    - - {name: s1384, template: work}
    - - {name: s1385, template: work}
    - - {name: s1386, template: work}
    - - {name: s1387, template: work}
    - - {name: s1388, template: work}
    - - {name: s1389, template: work}
    - - {name: s1390, template: work}
    - - {name: s1391, template: work}
    - - {name: s1392, template: work}
    - - {name: s1393, template: work}
    - - {name: s1394, template: work}
    - - {name: s1395, template: work}
    - - {name: s1396, template: work}
    - - {name: s1397, template: work}
    - - {name: s1398, template: work}
    - - {name: s1399, template: work}
    - - {name: s1400, template: work}
    - - {name: s1401, template: work}
    - - {name: s1402, template: work}
    - - {name: s1403, template: work}
    - - {name: s1404, template: work}
    - - {name: s1405, template: work}
    - - {name: s1406, template: work}
    - - {name: s1407, template: work}
    - - {name: s1408, template: work}
    - - {name: s1409, template: work}
    - - {name: s1410, template: work}
    - - {name: s1411, template: work}
    - - {name: s1412, template: work}
    - - {name: s1413, template: work}
    - - {name: s1414, template: work}
    - - {name: s1415, template: work}
    - - {name: s1416, template: work}
    - - {name: s1417, template: work}
    - - {name: s1418, template: work}
    - - {name: s1419, template: work}
    - - {name: s1420, template: work}
    - - {name: s1421, template: work}
    - - {name: s1422, template: work}
    - - {name: s1423, template: work}
    - - {name: s1424, template: work}
    - - {name: s1425, template: work}
    - - {name: s1426, template: work}
    - - {name: s1427, template: work}
    - - {name: s1428, template: work}
    - - {name: s1429, template: work}
    - - {name: s1430, template: work}
    - - {name: s1431, template: work}
    - - {name: s1432, template: work}
    - - {name: s1433, template: work}
    - - {name: s1434, template: work}
    - - {name: s1435, template: work}
    - - {name: s1436, template: work}
    - - {name: s1437, template: work}
    - - {name: s1438, template: work}
    - - {name: s1439, template: work}
    - - {name: s1440, template: work}
    - - {name: s1441, template: work}
    - - {name: s1442, template: work}
    - - {name: s1443, template: work}
    - - {name: s1444, template: work}
    - - {name: s1445, template: work}
    - - {name: s1446, template: work}
    - - {name: s1447, template: work}
    - - {name: s1448, template: work}
    - - {name: s1449, template: work}
    - - {name: s1450, template: work}
    - - {name: s1451, template: work}
    - - {name: s1452, template: work}
    - - {name: s1453, template: work}
    - - {name: s1454, template: work}
    - - {name: s1455, template: work}
    - - {name: s1456, template: work}
    - - {name: s1457, template: work}
    - - {name: s1458, template: work}
    - - {name: s1459, template: work}
    - - {name: s1460, template: work}
    - - {name: s1461, template: work}
    - - {name: s1462, template: work}
    - - {name: s1463, template: work}
    - - {name: s1464, template: work}
    - - {name: s1465, template: work}
    - - {name: s1466, template: work}
    - - {name: s1467, template: work}
    - - {name: s1468, template: work}
    - - {name: s1469, template: work}
    - - {name: s1470, template: work}
    - - {name: s1471, template: work}
    - - {name: s1472, template: work}
    - - {name: s1473, template: work}
    - - {name: s1474, template: work}
    - - {name: s1475, template: work}
    - - {name: s1476, template: work}
    - - {name: s1477, template: work}
    - - {name: s1478, template: work}
    - - {name: s1479, template: work}
    - - {name: s1480, template: work}
    - - {name: s1481, template: work}
    - - {name: s1482, template: work}
    - - {name: s1483, template: work}
    - - {name: s1484, template: work}
    - - {name: s1485, template: work}
    - - {name: s1486, template: work}
    - - {name: s1487, template: work}
    - - {name: s1488, template: work}
    - - {name: s1489, template: work}
    - - {name: s1490, template: work}
    - - {name: s1491, template: work}
    - - {name: s1492, template: work}
    - - {name: s1493, template: work}
    - - {name: s1494, template: work}
    - - {name: s1495, template: work}
    - - {name: s1496, template: work}
    - - {name: s1497, template: work}
    - - {name: s1498, template: work}
    - - {name: s1499, template: work}
    - - {name: s1500, template: work}
    - - {name: s1501, template: work}
    - - {name: s1502, template: work}
    - - {name: s1503, template: work}
    - - {name: s1504, template: work}
    - - {name: s1505, template: work}
    - - {name: s1506, template: work}
    - - {name: s1507, template: work}
    - - {name: s1508, template: work}
    - - {name: s1509, template: work}
    - - {name: s1510, template: work}
    - - {name: s1511, template: work}
    - - {name: s1512, template: work}
    - - {name: s1513, template: work}
    - - {name: s1514, template: work}
    - - {name: s1515, template: work}
    - - {name: s1516, template: work}
    - - {name: s1517, template: work}
    - - {name: s1518, template: work}
    - - {name: s1519, template: work}
    - - {name: s1520, template: work}
    - - {name: s1521, template: work}
    - - {name: s1522, template: work}
    - - {name: s1523, template: work}
    - - {name: s1524, template: work}
    - - {name: s1525, template: work}
    - - {name: s1526, template: work}
    - - {name: s1527, template: work}
    - - {name: s1528, template: work}
    - - {name: s1529, template: work}
    - - {name: s1530, template: work}
    - - {name: s1531, template: work}
    - - {name: s1532, template: work}
    - - {name: s1533, template: work}
    - - {name: s1534, template: work}
    - - {name: s1535, template: work}
    - - {name: s1536, template: work}
    - - {name: s1537, template: work}
    - - {name: s1538, template: work}
    - - {name: s1539, template: work}
    - - {name: s1540, template: work}
    - - {name: s1541, template: work}
    - - {name: s1542, template: work}
    - - {name: s1543, template: work}
    - - {name: s1544, template: work}
    - - {name: s1545, template: work}
    - - {name: s1546, template: work}
    - - {name: s1547, template: work}
    - - {name: s1548, template: work}
    - - {name: s1549, template: work}
    - - {name: s1550, template: work}
    - - {name: s1551, template: work}
    - - {name: s1552, template: work}
    - - {name: s1553, template: work}
    - - {name: s1554, template: work}
    - - {name: s1555, template: work}
    - - {name: s1556, template: work}
    - - {name: s1557, template: work}
    - - {name: s1558, template: work}
    - - {name: s1559, template: work}
    - - {name: s1560, template: work}
    - - {name: s1561, template: work}
    - - {name: s1562, template: work}
    - - {name: s1563, template: work}
    - - {name: s1564, template: work}
    - - {name: s1565, template: work}
    - - {name: s1566, template: work}
    - - {name: s1567, template: work}
    - - {name: s1568, template: work}
    - - {name: s1569, template: work}
    - - {name: s1570, template: work}
    - - {name: s1571, template: work}
    - - {name: s1572, template: work}
    - - {name: s1573, template: work}
    - - {name: s1574, template: work}
    - - {name: s1575, template: work}
    - - {name: s1576, template: work}
    - - {name: s1577, template: work}
    - - {name: s1578, template: work}
    - - {name: s1579, template: work}
    - - {name: s1580, template: work}
    - - {name: s1581, template: work}
    - - {name: s1582, template: work}
    - - {name: s1583, template: work}
    - - {name: s1584, template: work}
    - - {name: s1585, template: work}
    - - {name: s1586, template: work}
    - - {name: s1587, template: work}
    - - {name: s1588, template: work}
    - - {name: s1589, template: work}
    - - {name: s1590, template: work}
    - - {name: s1591, template: work}
    - - {name: s1592, template: work}
    - - {name: s1593, template: work}
    - - {name: s1594, template: work}
    - - {name: s1595, template: work}
    - - {name: s1596, template: work}
    - - {name: s1597, template: work}
    - - {name: s1598, template: work}
    - - {name: s1599, template: work}
    - - {name: s1600, template: work}
    - - {name: s1601, template: work}
    - - {name: s1602, template: work}
    - - {name: s1603, template: work}
    - - {name: s1604, template: work}
    - - {name: s1605, template: work}
    - - {name: s1606, template: work}
    - - {name: s1607, template: work}
    - - {name: s1608, template: work}
    - - {name: s1609, template: work}
    - - {name: s1610, template: work}
    - - {name: s1611, template: work}
    - - {name: s1612, template: work}
    - - {name: s1613, template: work}
    - - {name: s1614, template: work}
    - - {name: s1615, template: work}
    - - {name: s1616, template: work}
    - - {name: s1617, template: work}
    - - {name: s1618, template: work}
    - - {name: s1619, template: work}
    - - {name: s1620, template: work}
    - - {name: s1621, template: work}
    - - {name: s1622, template: work}
    - - {name: s1623, template: work}
    - - {name: s1624, template: work}
    - - {name: s1625, template: work}
    - - {name: s1626, template: work}
    - - {name: s1627, template: work}
    - - {name: s1628, template: work}
    - - {name: s1629, template: work}
    - - {name: s1630, template: work}
    - - {name: s1631, template: work}
    - - {name: s1632, template: work}
    - - {name: s1633, template: work}
    - - {name: s1634, template: work}
    - - {name: s1635, template: work}
    - - {name: s1636, template: work}
    - - {name: s1637, template: work}
    - - {name: s1638, template: work}
    - - {name: s1639, template: work}
    - - {name: s1640, template: work}
    - - {name: s1641, template: work}
    - - {name: s1642, template: work}
    - - {name: s1643, template: work}
    - - {name: s1644, template: work}
    - - {name: s1645, template: work}
    - - {name: s1646, template: work}
    - - {name: s1647, template: work}
    - - {name: s1648, template: work}
    - - {name: s1649, template: work}
    - - {name: s1650, template: work}
    - - {name: s1651, template: work}
    - - {name: s1652, template: work}
    - - {name: s1653, template: work}
    - - {name: s1654, template: work}
    - - {name: s1655, template: work}
    - - {name: s1656, template: work}
    - - {name: s1657, template: work}
    - - {name: s1658, template: work}
    - - {name: s1659, template: work}
    - - {name: s1660, template: work}
    - - {name: s1661, template: work}
    - - {name: s1662, template: work}
    - - {name: s1663, template: work}
    - - {name: s1664, template: work}
    - - {name: s1665, template: work}
    - - {name: s1666, template: work}
    - - {name: s1667, template: work}
    - - {name: s1668, template: work}
    - - {name: s1669, template: work}
    - - {name: s1670, template: work}
    - - {name: s1671, template: work}
    - - {name: s1672, template: work}
    - - {name: s1673, template: work}
    - - {name: s1674, template: work}
    - - {name: s1675, template: work}
    - - {name: s1676, template: work}
    - - {name: s1677, template: work}
    - - {name: s1678, template: work}
    - - {name: s1679, template: work}
    - - {name: s1680, template: work}
    - - {name: s1681, template: work}
    - - {name: s1682, template: work}
    - - {name: s1683, template: work}
    - - {name: s1684, template: work}
    - - {name: s1685, template: work}
    - - {name: s1686, template: work}
    - - {name: s1687, template: work}
    - - {name: s1688, template: work}
    - - {name: s1689, template: work}
    - - {name: s1690, template: work}
    - - {name: s1691, template: work}
    - - {name: s1692, template: work}
    - - {name: s1693, template: work}
    - - {name: s1694, template: work}
    - - {name: s1695, template: work}
    - - {name: s1696, template: work}
    - - {name: s1697, template: work}
    - - {name: s1698, template: work}
    - - {name: s1699, template: work}
    - - {name: s1700, template: work}
    - - {name: s1701, template: work}
    - - {name: s1702, template: work}
    - - {name: s1703, template: work}
    - - {name: s1704, template: work}
    - - {name: s1705, template: work}
    - - {name: s1706, template: work}
    - - {name: s1707, template: work}
    - - {name: s1708, template: work}
    - - {name: s1709, template: work}
    - - {name: s1710, template: work}
    - - {name: s1711, template: work}
    - - {name: s1712, template: work}
    - - {name: s1713, template: work}
    - - {name: s1714, template: work}
    - - {name: s1715, template: work}
    - - {name: s1716, template: work}
    - - {name: s1717, template: work}
    - - {name: s1718, template: work}
    - - {name: s1719, template: work}
    - - {name: s1720, template: work}
    - - {name: s1721, template: work}
    - - {name: s1722, template: work}
    - - {name: s1723, template: work}
    - - {name: s1724, template: work}
    - - {name: s1725, template: work}
    - - {name: s1726, template: work}
    - - {name: s1727, template: work}
    - - {name: s1728, template: work}
    - - {name: s1729, template: work}
    - - {name: s1730, template: work}
    - - {name: s1731, template: work}
    - - {name: s1732, template: work}
    - - {name: s1733, template: work}
    - - {name: s1734, template: work}
    - - {name: s1735, template: work}
    - - {name: s1736, template: work}
    - - {name: s1737, template: work}
    - - {name: s1738, template: work}
    - - {name: s1739, template: work}
    - - {name: s1740, template: work}
    - - {name: s1741, template: work}
    - - {name: s1742, template: work}
    - - {name: s1743, template: work}
    - - {name: s1744, template: work}
    - - {name: s1745, template: work}
    - - {name: s1746, template: work}
    - - {name: s1747, template: work}
    - - {name: s1748, template: work}
    - - {name: s1749, template: work}
    - - {name: s1750, template: work}
    - - {name: s1751, template: work}
    - - {name: s1752, template: work}
    - - {name: s1753, template: work}
    - - {name: s1754, template: work}
    - - {name: s1755, template: work}
    - - {name: s1756, template: work}
    - - {name: s1757, template: work}
    - - {name: s1758, template: work}
    - - {name: s1759, template: work}
    - - {name: s1760, template: work}
    - - {name: s1761, template: work}
    - - {name: s1762, template: work}
    - - {name: s1763, template: work}
    - - {name: s1764, template: work}
    - - {name: s1765, template: work}
    - - {name: s1766, template: work}
    - - {name: s1767, template: work}
    - - {name: s1768, template: work}
    - - {name: s1769, template: work}
    - - {name: s1770, template: work}
    - - {name: s1771, template: work}
    - - {name: s1772, template: work}
    - - {name: s1773, template: work}
    - - {name: s1774, template: work}
    - - {name: s1775, template: work}
    - - {name: s1776, template: work}
    - - {name: s1777, template: work}
    - - {name: s1778, template: work}
    - - {name: s1779, template: work}
    - - {name: s1780, template: work}
    - - {name: s1781, template: work}
    - - {name: s1782, template: work}
    - - {name: s1783, template: work}
    - - {name: s1784, template: work}
    - - {name: s1785, template: work}
    - - {name: s1786, template: work}
    - - {name: s1787, template: work}
    - - {name: s1788, template: work}
    - - {name: s1789, template: work}
    - - {name: s1790, template: work}
    - - {name: s1791, template: work}
    - - {name: s1792, template: work}
    - - {name: s1793, template: work}
    - - {name: s1794, template: work}
    - - {name: s1795, template: work}
    - - {name: s1796, template: work}
    - - {name: s1797, template: work}
    - - {name: s1798, template: work}
    - - {name: s1799, template: work}
    - - {name: s1800, template: work}
    - - {name: s1801, template: work}
    - - {name: s1802, template: work}
    - - {name: s1803, template: work}
    - - {name: s1804, template: work}
    - - {name: s1805, template: work}
    - - {name: s1806, template: work}
    - - {name: s1807, template: work}
    - - {name: s1808, template: work}
    - - {name: s1809, template: work}
    - - {name: s1810, template: work}
    - - {name: s1811, template: work}
    - - {name: s1812, template: work}
    - - {name: s1813, template: work}
    - - {name: s1814, template: work}
    - - {name: s1815, template: work}
    - - {name: s1816, template: work}
    - - {name: s1817, template: work}
    - - {name: s1818, template: work}
    - - {name: s1819, template: work}
    - - {name: s1820, template: work}
    - - {name: s1821, template: work}
    - - {name: s1822, template: work}
    - - {name: s1823, template: work}
    - - {name: s1824, template: work}
    - - {name: s1825, template: work}
    - - {name: s1826, template: work}
    - - {name: s1827, template: work}
    - - {name: s1828, template: work}
    - - {name: s1829, template: work}
    - - {name: s1830, template: work}
    - - {name: s1831, template: work}
    - - {name: s1832, template: work}
    - - {name: s1833, template: work}
    - - {name: s1834, template: work}
    - - {name: s1835, template: work}
    - - {name: s1836, template: work}
    - - {name: s1837, template: work}
    - - {name: s1838, template: work}
    - - {name: s1839, template: work}
    - - {name: s1840, template: work}
    - - {name: s1841, template: work}
    - - {name: s1842, template: work}
    - - {name: s1843, template: work}
    - - {name: s1844, template: work}
    - - {name: s1845, template: work}
    - - {name: s1846, template: work}
    - - {name: s1847, template: work}
    - - {name: s1848, template: work}
    - - {name: s1849, template: work}
    - - {name: s1850, template: work}
    - - {name: s1851, template: work}
    - - {name: s1852, template: work}
    - - {name: s1853, template: work}
    - - {name: s1854, template: work}
    - - {name: s1855, template: work}
    - - {name: s1856, template: work}
    - - {name: s1857, template: work}
    - - {name: s1858, template: work}
    - - {name: s1859, template: work}
    - - {name: s1860, template: work}
    - - {name: s1861, template: work}
    - - {name: s1862, template: work}
    - - {name: s1863, template: work}
    - - {name: s1864, template: work}
    - - {name: s1865, template: work}
    - - {name: s1866, template: work}
    - - {name: s1867, template: work}
    - - {name: s1868, template: work}
    - - {name: s1869, template: work}
    - - {name: s1870, template: work}
    - - {name: s1871, template: work}
    - - {name: s1872, template: work}
    - - {name: s1873, template: work}
    - - {name: s1874, template: work}
    - - {name: s1875, template: work}
    - - {name: s1876, template: work}
    - - {name: s1877, template: work}
    - - {name: s1878, template: work}
    - - {name: s1879, template: work}
    - - {name: s1880, template: work}
    - - {name: s1881, template: work}
    - - {name: s1882, template: work}
    - - {name: s1883, template: work}
    - - {name: s1884, template: work}
    - - {name: s1885, template: work}
    - - {name: s1886, template: work}
    - - {name: s1887, template: work}
    - - {name: s1888, template: work}
    - - {name: s1889, template: work}
    - - {name: s1890, template: work}
    - - {name: s1891, template: work}
    - - {name: s1892, template: work}
    - - {name: s1893, template: work}
    - - {name: s1894, template: work}
    - - {name: s1895, template: work}
    - - {name: s1896, template: work}
    - - {name: s1897, template: work}
    - - {name: s1898, template: work}
    - - {name: s1899, template: work}
    - - {name: s1900, template: work}
    - - {name: s1901, template: work}
    - - {name: s1902, template: work}
    - - {name: s1903, template: work}
    - - {name: s1904, template: work}
    - - {name: s1905, template: work}
    - - {name: s1906, template: work}
    - - {name: s1907, template: work}
    - - {name: s1908, template: work}
    - - {name: s1909, template: work}
    - - {name: s1910, template: work}
    - - {name: s1911, template: work}
    - - {name: s1912, template: work}
    - - {name: s1913, template: work}
    - - {name: s1914, template: work}
    - - {name: s1915, template: work}
    - - {name: s1916, template: work}
    - - {name: s1917, template: work}
    - - {name: s1918, template: work}
    - - {name: s1919, template: work}
    - - {name: s1920, template: work}
    - - {name: s1921, template: work}
    - - {name: s1922, template: work}
    - - {name: s1923, template: work}
    - - {name: s1924, template: work}
    - - {name: s1925, template: work}
    - - {name: s1926, template: work}
    - - {name: s1927, template: work}
    - - {name: s1928, template: work}
    - - {name: s1929, template: work}
    - - {name: s1930, template: work}
    - - {name: s1931, template: work}
    - - {name: s1932, template: work}
    - - {name: s1933, template: work}
    - - {name: s1934, template: work}
    - - {name: s1935, template: work}
    - - {name: s1936, template: work}
    - - {name: s1937, template: work}
    - - {name: s1938, template: work}
    - - {name: s1939, template: work}
    - - {name: s1940, template: work}
    - - {name: s1941, template: work}
    - - {name: s1942, template: work}
    - - {name: s1943, template: work}
    - - {name: s1944, template: work}
    - - {name: s1945, template: work}
    - - {name: s1946, template: work}
    - - {name: s1947, template: work}
    - - {name: s1948, template: work}
    - - {name: s1949, template: work}
    - - {name: s1950, template: work}
    - - {name: s1951, template: work}
    - - {name: s1952, template: work}
    - - {name: s1953, template: work}
    - - {name: s1954, template: work}
    - - {name: s1955, template: work}
    - - {name: s1956, template: work}
    - - {name: s1957, template: work}
    - - {name: s1958, template: work}
    - - {name: s1959, template: work}
    - - {name: s1960, template: work}
    - - {name: s1961, template: work}
    - - {name: s1962, template: work}
    - - {name: s1963, template: work}
    - - {name: s1964, template: work}
    - - {name: s1965, template: work}
    - - {name: s1966, template: work}
    - - {name: s1967, template: work}
    - - {name: s1968, template: work}
    - - {name: s1969, template: work}
    - - {name: s1970, template: work}
    - - {name: s1971, template: work}
    - - {name: s1972, template: work}
    - - {name: s1973, template: work}
    - - {name: s1974, template: work}
    - - {name: s1975, template: work}
    - - {name: s1976, template: work}
    - - {name: s1977, template: work}
    - - {name: s1978, template: work}
    - - {name: s1979, template: work}
    - - {name: s1980, template: work}
    - - {name: s1981, template: work}
    - - {name: s1982, template: work}
    - - {name: s1983, template: work}
    - - {name: s1984, template: work}
    - - {name: s1985, template: work}
    - - {name: s1986, template: work}
    - - {name: s1987, template: work}
    - - {name: s1988, template: work}
    - - {name: s1989, template: work}
    - - {name: s1990, template: work}
    - - {name: s1991, template: work}
    - - {name: s1992, template: work}
    - - {name: s1993, template: work}
    - - {name: s1994, template: work}
    - - {name: s1995, template: work}
    - - {name: s1996, template: work}
    - - {name: s1997, template: work}
    - - {name: s1998, template: work}
    - - {name: s1999, template: work}
  - name: work
    container: {image: alpine, args: ["echo hi"]}
"""


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
    from hookbus.controller.engine.run import SNAPSHOT_SLICE

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
