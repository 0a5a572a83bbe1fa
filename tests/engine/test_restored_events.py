"""A restarted controller hands its event sink what the stored state implies, so events a
crash kept from being published go out after all."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hookbus.controller.engine.controller import Controller
from hookbus.controller.engine.memory_store import MemoryStore
from hookbus.controller.engine.settings import ControllerSettings
from tests.support.engine import ScriptedExecutor, load
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from hookbus.controller.engine.hooks import Verdict, WorkflowInfo

TWO_STEPS = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: two}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: a, template: work}
    - - {name: b, template: work}
  - name: work
    container: {image: alpine, args: ["echo hi"]}
"""


class Silent:
    """A sink that loses every notification (the process died right after each save)."""

    async def workflow_phase(self, workflow: WorkflowInfo, phase: str, message: str) -> None:
        return None

    async def node_phases(self, workflow: WorkflowInfo, nodes: Sequence[Any]) -> None:
        return None

    async def pod_created(self, workflow: WorkflowInfo, pods: Sequence[Any]) -> None:
        return None

    async def progress(self, workflow: WorkflowInfo, done: int, total: int, phases: Mapping[str, int]) -> None:
        return None

    async def plugin_verdicts(self, workflow: WorkflowInfo, verdicts: Sequence[Verdict]) -> None:
        return None


class Restoring(Silent):
    """A sink that records what a restarted controller hands it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, str]]] = []

    async def restored(self, workflow: WorkflowInfo, phase: str, message: str, nodes: Sequence[Any]) -> None:
        self.calls.append((workflow.name, phase, {n["displayName"]: n["phase"] for n in nodes}))


def _controller(store: MemoryStore, events: Silent) -> Controller:
    return Controller(ControllerSettings(executor="x"), store=store, executor=ScriptedExecutor(blocking=False), events=events)


async def test_a_restarted_controller_announces_the_stored_phases_again() -> None:
    store = MemoryStore()
    async with _controller(store, Silent()) as ctl:
        await ctl.wait(await ctl.submit(load(TWO_STEPS)), timeout=10)
    sink = Restoring()
    async with _controller(store, sink):
        await wait_for(lambda: bool(sink.calls), timeout=10, what="the restored events")
    [(name, phase, nodes)] = sink.calls
    assert (name, phase) == ("two", "Succeeded")
    assert set(nodes.values()) == {"Succeeded"}
    assert {"two", "a", "b"} <= set(nodes)


async def test_a_sink_without_restored_is_not_asked() -> None:
    store = MemoryStore()
    async with _controller(store, Silent()) as ctl:
        key = await ctl.submit(load(TWO_STEPS))
        await ctl.wait(key, timeout=10)
    async with _controller(store, Silent()) as ctl:
        assert (await ctl.wait(key, timeout=10))["status"]["phase"] == "Succeeded"
