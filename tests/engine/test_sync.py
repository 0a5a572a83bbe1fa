"""synchronization: mutexes and semaphores, workflow- and template-level, as Argo v4 runs them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hookbus.controller.argo.manifest import Bundle
from hookbus.controller.engine.memory_store import MemoryStore
from tests.support.engine import ScriptedExecutor, by_name, load, make_controller
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from hookbus.controller.executors.base import TaskSpec

WF_MUTEX = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: NAME}
spec:
  entrypoint: main
  PRIORITY
  synchronization:
    mutexes: [{name: m}]
  templates:
  - name: main
    container: {image: alpine, args: ["block"]}
"""

MUTEX_MSG = "Waiting for default/Mutex/m lock. Lock status: 0/1"


def _wf(name: str, priority: int | None = None) -> dict[str, Any]:
    return load(WF_MUTEX.replace("NAME", name).replace("PRIORITY", f"priority: {priority}" if priority is not None else ""))


async def test_workflow_mutex_queues_the_second_workflow_pending_with_argos_message() -> None:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        first = await ctl.submit(_wf("one"))
        await wait_for(lambda: ex.started == ["one"], what="one running")
        second = await ctl.submit(_wf("two"))
        await wait_for(lambda: ctl.get(second)["status"].get("message") == MUTEX_MSG, what="two waiting")
        waiting = ctl.get(second)
        assert waiting["status"]["phase"] == "Pending"
        assert waiting["status"].get("nodes", {}) == {}
        assert waiting["status"]["synchronization"] == {
            "mutex": {"waiting": [{"mutex": "default/Mutex/m", "holder": "default/one"}]}
        }
        assert ctl.get(first)["status"]["synchronization"] == {
            "mutex": {"holding": [{"mutex": "default/Mutex/m", "holder": "default/one"}]}
        }
        assert ex.started == ["one"]
        ex.release("one")
        done_one = await ctl.wait(first, timeout=5)
        await wait_for(lambda: "two" in ex.started, what="two started once one ended")
        ex.release("two")
        done_two = await ctl.wait(second, timeout=5)
    assert done_one["status"]["phase"] == done_two["status"]["phase"] == "Succeeded"
    assert "synchronization" not in done_one["status"] and "synchronization" not in done_two["status"]
    assert not done_two["status"].get("message")


async def test_workflow_mutex_goes_by_priority_then_creation_time() -> None:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        keys = [await ctl.submit(_wf("first"))]
        await wait_for(lambda: ex.started == ["first"], what="first running")
        keys.append(await ctl.submit(_wf("low")))
        keys.append(await ctl.submit(_wf("high", priority=5)))
        keys.append(await ctl.submit(_wf("later")))
        await wait_for(lambda: all(ctl.get(k)["status"].get("message") == MUTEX_MSG for k in keys[1:]), what="all wait")
        for name in ("first", "high", "low", "later"):
            await wait_for(lambda name=name: ex.started[-1] == name, what=f"{name} running")
            ex.release(name)
        for key in keys:
            assert (await ctl.wait(key, timeout=5))["status"]["phase"] == "Succeeded"
    assert ex.started == ["first", "high", "low", "later"]


async def test_workflow_lock_is_released_when_the_holder_fails_and_a_waiting_one_is_terminated() -> None:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        first = await ctl.submit(_wf("one"))
        await wait_for(lambda: ex.started == ["one"], what="one running")
        second = await ctl.submit(_wf("two"))
        third = await ctl.submit(_wf("three"))
        await wait_for(lambda: ctl.get(third)["status"].get("message") == MUTEX_MSG, what="three waiting")
        await ctl.terminate(third)
        ended = await ctl.wait(third, timeout=5)
        assert ended["status"]["phase"] == "Failed"
        assert ended["status"]["message"] == "Stopped with strategy 'Terminate'"
        await ctl.terminate(first)
        assert (await ctl.wait(first, timeout=5))["status"]["phase"] == "Failed"
        await wait_for(lambda: ex.started == ["one", "two"], what="two runs once one was terminated")
        ex.release("two")
        assert (await ctl.wait(second, timeout=5))["status"]["phase"] == "Succeeded"


TEMPLATE_LOCK = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: NAME}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: work
        template: locked
        withItems: [a, b, c]
  - name: locked
    synchronization:
      LOCK
    container: {image: alpine, args: ["block"]}
"""


async def test_template_mutex_runs_one_node_at_a_time_the_others_pending_with_argos_message() -> None:
    ex = ScriptedExecutor()
    manifest = TEMPLATE_LOCK.replace("NAME", "tm").replace("LOCK", "mutexes: [{name: m}]")
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(manifest))
        await wait_for(lambda: len(ex.started) == 1, what="one node running")

        def waiting() -> list[dict[str, Any]]:
            return [n for n in by_name(ctl.get(key)).values() if n.get("synchronizationStatus")]

        await wait_for(lambda: len(waiting()) == 2, what="two nodes waiting")
        for node in waiting():
            assert node["phase"] == "Pending"
            assert node["message"] == MUTEX_MSG
            assert node["synchronizationStatus"] == {"waiting": "default/Mutex/m"}
        holder = ctl.get(key)["status"]["synchronization"]["mutex"]["holding"]
        assert holder == [{"mutex": "default/Mutex/m", "holder": f"default/tm/{by_name(ctl.get(key))[ex.started[0]]['id']}"}]
        for count in (1, 2, 3):
            await wait_for(lambda count=count: len(ex.started) == count, what=f"{count} started")
            assert len(ex.started) - len(ex.runs) == 1  # never two at once
            ex.release(ex.started[-1])
        wf = await ctl.wait(key, timeout=5)
    assert wf["status"]["phase"] == "Succeeded"
    for node in by_name(wf).values():
        assert node["phase"] == "Succeeded"
        assert "synchronizationStatus" not in node and not node.get("message")
    assert "synchronization" not in wf["status"]


CONFIG = {("default", "my-config"): {"namespace": "default", "name": "my-config", "data": {"template": "2"}}}


async def test_template_semaphore_takes_its_limit_from_a_configmap_key() -> None:
    ex = ScriptedExecutor()
    lock = "semaphores: [{configMapKeyRef: {name: my-config, key: template}}]"
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(TEMPLATE_LOCK.replace("NAME", "ts").replace("LOCK", lock)), bundle=Bundle(config_maps=CONFIG))
        await wait_for(lambda: len(ex.started) == 2, what="two nodes running")
        await wait_for(
            lambda: any(n.get("synchronizationStatus") for n in by_name(ctl.get(key)).values()), what="third waiting"
        )
        [pending] = [n for n in by_name(ctl.get(key)).values() if n.get("synchronizationStatus")]
        assert pending["phase"] == "Pending"
        assert pending["message"] == "Waiting for default/ConfigMap/my-config/template lock. Lock status: 0/2"
        holding = ctl.get(key)["status"]["synchronization"]["semaphore"]["holding"]
        assert holding[0]["semaphore"] == "default/ConfigMap/my-config/template" and len(holding[0]["holders"]) == 2
        ex.release(ex.started[0])
        await wait_for(lambda: len(ex.started) == 3, what="third started once one ended")
        ex.release()
        wf = await ctl.wait(key, timeout=5)
    assert wf["status"]["phase"] == "Succeeded"


async def test_semaphore_without_its_configmap_fails_as_argo() -> None:
    wf_level = load(WF_MUTEX.replace("NAME", "nocm").replace("PRIORITY", ""))
    wf_level["spec"]["synchronization"] = {"semaphores": [{"configMapKeyRef": {"name": "nope", "key": "k"}}]}
    lock = "semaphores: [{configMapKeyRef: {name: nope, key: k}}]"
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        wf = await ctl.wait(await ctl.submit(wf_level), timeout=5)
        tpl = await ctl.wait(await ctl.submit(load(TEMPLATE_LOCK.replace("NAME", "nocm2").replace("LOCK", lock))), timeout=5)
    assert wf["status"]["phase"] == "Failed"
    assert wf["status"]["message"] == (
        "Failed to acquire the synchronization lock. failed to initialize semaphore default/ConfigMap/nope/k with limit"
    )
    assert tpl["status"]["phase"] == "Failed"
    item = by_name(tpl)["nocm2[0].work(0:a)"]
    assert item["phase"] == "Error"
    assert item["message"] == "failed to initialize semaphore default/ConfigMap/nope/k with limit"
    assert ex.started == []


STEPS_LOCK = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: NAME}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: inner
        template: inner
  - name: inner
    synchronization:
      mutexes: [{name: steps-m}]
    steps:
    - - name: leaf
        template: leaf
  - name: leaf
    container: {image: alpine, args: ["block"]}
"""


async def test_a_steps_template_holds_its_mutex_until_all_its_children_end() -> None:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        one = await ctl.submit(load(STEPS_LOCK.replace("NAME", "sa")))
        await wait_for(lambda: ex.started == ["sa[0].inner[0].leaf"], what="sa's leaf running")
        two = await ctl.submit(load(STEPS_LOCK.replace("NAME", "sb")))
        await wait_for(lambda: "sb[0].inner" in by_name(ctl.get(two)), what="sb's steps node")
        inner = by_name(ctl.get(two))["sb[0].inner"]
        assert inner["type"] == "Steps" and inner["phase"] == "Pending"
        assert inner["message"] == "Waiting for default/Mutex/steps-m lock. Lock status: 0/1"
        assert not inner.get("children")
        ex.release("sa[0].inner[0].leaf")
        await ctl.wait(one, timeout=5)
        await wait_for(lambda: "sb[0].inner[0].leaf" in ex.started, what="sb's leaf running")
        assert by_name(ctl.get(two))["sb[0].inner"]["phase"] == "Running"
        ex.release()
        wf = await ctl.wait(two, timeout=5)
    assert wf["status"]["phase"] == "Succeeded"
    assert not by_name(wf)["sb[0].inner"].get("message")


class AttachingExecutor(ScriptedExecutor):
    """Finds every node it is asked about after a restart still running (and runs it again)."""

    async def attach(self, task: TaskSpec) -> bool:
        await self.start(task)
        return True


class NewestFirstStore(MemoryStore):
    """Gives the stored workflows back newest first: the waiting workflow resumes before the holder."""

    async def load_all(self) -> list[Any]:
        return list(reversed(await super().load_all()))


async def test_holders_survive_a_controller_restart() -> None:
    store = NewestFirstStore()
    ex1 = ScriptedExecutor()
    manifest = TEMPLATE_LOCK.replace("LOCK", "mutexes: [{name: m}]").replace("withItems: [a, b, c]", "withItems: [a]")
    ctl1 = make_controller(ex1, store=store)
    await ctl1.start()
    one = await ctl1.submit(load(manifest.replace("NAME", "r1")))
    await wait_for(lambda: len(ex1.started) == 1, what="r1 holds the mutex")
    two = await ctl1.submit(load(manifest.replace("NAME", "r2")))
    await wait_for(
        lambda: by_name(ctl1.get(two)).get("r2[0].work(0:a)", {}).get("message") == MUTEX_MSG, what="r2 waiting"
    )

    async def persisted() -> bool:
        stored = await store.load(two)
        return stored is not None and any(n.get("synchronizationStatus") for n in stored.nodes.values())

    await wait_for(persisted, what="r2's wait persisted")
    await ctl1.stop()

    ex2 = AttachingExecutor()
    async with make_controller(ex2, store=store) as ctl2:
        await wait_for(lambda: ex2.started == ["r1[0].work(0:a)"], what="r1's node re-attached")
        await wait_for(lambda: ctl2.get(two)["status"].get("synchronization") is not None, what="r2 asked again")
        assert by_name(ctl2.get(two))["r2[0].work(0:a)"]["phase"] == "Pending"
        assert ctl2.get(one)["status"]["synchronization"]["mutex"]["holding"][0]["mutex"] == "default/Mutex/m"
        assert ex2.started == ["r1[0].work(0:a)"]
        ex2.release("r1[0].work(0:a)")
        assert (await ctl2.wait(one, timeout=5))["status"]["phase"] == "Succeeded"
        await wait_for(lambda: "r2[0].work(0:a)" in ex2.started, what="r2 runs once r1 ended")
        ex2.release()
        assert (await ctl2.wait(two, timeout=5))["status"]["phase"] == "Succeeded"


async def test_stop_fails_nodes_waiting_for_a_lock_and_delete_releases_the_holders_locks() -> None:
    ex = ScriptedExecutor()
    manifest = TEMPLATE_LOCK.replace("LOCK", "mutexes: [{name: m}]").replace("withItems: [a, b, c]", "withItems: [a]")
    async with make_controller(ex) as ctl:
        one = await ctl.submit(load(manifest.replace("NAME", "d1")))
        await wait_for(lambda: ex.started == ["d1[0].work(0:a)"], what="d1 holds the mutex")
        two = await ctl.submit(load(manifest.replace("NAME", "d2")))
        three = await ctl.submit(load(manifest.replace("NAME", "d3")))
        await wait_for(
            lambda: by_name(ctl.get(two)).get("d2[0].work(0:a)", {}).get("message") == MUTEX_MSG, what="d2 waiting"
        )
        await ctl.stop_workflow(two)
        stopped = await ctl.wait(two, timeout=5)
        waiter = by_name(stopped)["d2[0].work(0:a)"]
        assert waiter["phase"] == "Failed" and waiter["message"] == "Stopped with strategy 'Stop'"
        assert stopped["status"]["phase"] == "Failed"
        assert "synchronization" not in stopped["status"]
        await ctl.delete(one)
        await wait_for(lambda: "d3[0].work(0:a)" in ex.started, what="d3 runs once d1 is deleted")
        ex.release("d3[0].work(0:a)")
        assert (await ctl.wait(three, timeout=5))["status"]["phase"] == "Succeeded"
    assert "d2[0].work(0:a)" not in ex.started
