"""TaskExecutor: the executor port around a ``run`` coroutine (start, cancel, attach, the sink)."""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

import pytest

from hookbus.controller.engine.ports import Executor, WorkflowKey
from hookbus.controller.executors.base import TaskExecutor, TaskResult, TaskSpec
from hookbus.controller.executors.local import LocalExecutor
from hookbus.controller.executors.simulate import SimulateExecutor
from tests.support.executors import proc, sh, task
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from pathlib import Path


class GatedExecutor(TaskExecutor):
    """Each node waits for its gate, then succeeds with its node id as ``result``."""

    name = "gated"

    def __init__(self) -> None:
        super().__init__()
        self.gates: dict[str, asyncio.Event] = {}
        self.cancelled: list[str] = []

    def gate(self, node_id: str) -> asyncio.Event:
        return self.gates.setdefault(node_id, asyncio.Event())

    async def run(self, task: TaskSpec) -> TaskResult:
        try:
            await self.gate(task.node_id).wait()
        except asyncio.CancelledError:
            self.cancelled.append(task.node_id)
            raise
        if task.node_id == "boom":
            raise RuntimeError("the executor broke")
        return TaskResult("Succeeded", 0, "", task.node_id, {}, None, 0.0, 0.0)


def collect(executor: TaskExecutor) -> list[TaskResult]:
    results: list[TaskResult] = []
    executor.bind(results.append)
    return results


async def test_in_process_executors_implement_the_port(tmp_path: Path) -> None:
    for executor in (GatedExecutor(), SimulateExecutor(), LocalExecutor(tmp_path)):
        assert isinstance(executor, Executor)
        await executor.close()


async def test_start_returns_before_the_node_ends_and_the_result_names_the_node() -> None:
    executor = GatedExecutor()
    results = collect(executor)
    spec = task(proc(["true"]), node_id="wf-1")
    await asyncio.wait_for(executor.start(spec), timeout=1)
    await asyncio.sleep(0.01)
    assert results == [], "the node is still running"
    executor.gate("wf-1").set()
    await wait_for(lambda: len(results) == 1, what="the result")
    (result,) = results
    assert (result.phase, result.result) == ("Succeeded", "wf-1")
    assert result.key == WorkflowKey("default", "wf") and result.node_id == "wf-1"


async def test_results_before_bind_are_reported_once_a_sink_is_bound() -> None:
    executor = SimulateExecutor()
    await executor.start(task(proc(["true"]), node_id="wf-1"))
    await executor.start(task(proc(["true"]), node_id="wf-2"))
    await asyncio.sleep(0.01)
    results = collect(executor)
    assert [(r.node_id, r.phase) for r in results] == [("wf-1", "Succeeded"), ("wf-2", "Succeeded")]
    await executor.start(task(proc(["true"]), node_id="wf-3"))
    await wait_for(lambda: len(results) == 3, what="the third result")
    assert results[2].key == WorkflowKey("default", "wf")


async def test_a_run_that_raises_reports_an_error_result() -> None:
    executor = GatedExecutor()
    results = collect(executor)
    await executor.start(task(proc(["true"]), node_id="boom"))
    executor.gate("boom").set()
    await wait_for(lambda: len(results) == 1, what="the error result")
    (result,) = results
    assert result.phase == "Error"
    assert result.message == "executor error: the executor broke"
    assert result.node_id == "boom" and result.key == WorkflowKey("default", "wf")


async def test_cancel_stops_the_node_at_once_and_reports_nothing() -> None:
    executor = GatedExecutor()
    results = collect(executor)
    stopped, running = task(proc(["true"]), node_id="wf-1"), task(proc(["true"]), node_id="wf-2")
    await executor.start(stopped)
    await executor.start(running)
    await asyncio.sleep(0)
    await asyncio.wait_for(executor.cancel(stopped), timeout=1)
    assert executor.cancelled == ["wf-1"], "the node's run was cancelled before cancel returned"
    await executor.cancel(stopped)  # a node that is no longer running: nothing happens
    executor.gate("wf-1").set()
    executor.gate("wf-2").set()
    await wait_for(lambda: len(results) == 1, what="the other node's result")
    await asyncio.sleep(0.01)
    assert [r.node_id for r in results] == ["wf-2"]


async def test_nodes_of_the_same_id_in_two_workflows_are_told_apart() -> None:
    executor = GatedExecutor()
    results = collect(executor)
    first = task(proc(["true"]), node_id="n")
    other = TaskSpec(**{**{f: getattr(first, f) for f in ("namespace", "node_id", "node_name", "template_name", "main")}, "workflow": "other"})
    await executor.start(first)
    await executor.start(other)
    await asyncio.sleep(0)
    await executor.cancel(other)
    executor.gate("n").set()
    await wait_for(lambda: len(results) == 1, what="the first workflow's result")
    assert results[0].key == WorkflowKey("default", "wf")


async def test_attach_finds_nothing_and_close_cancels_every_node() -> None:
    executor = GatedExecutor()
    results = collect(executor)
    assert await executor.attach(task(proc(["true"]), node_id="wf-1")) is False
    for node_id in ("wf-1", "wf-2"):
        await executor.start(task(proc(["true"]), node_id=node_id))
    await asyncio.sleep(0)
    await executor.close()
    assert sorted(executor.cancelled) == ["wf-1", "wf-2"]
    assert results == []
    await executor.close()


@pytest.mark.parametrize("make", [SimulateExecutor, LocalExecutor])
async def test_the_in_process_executors_never_attach(make: type[TaskExecutor]) -> None:
    executor = make()
    await executor.start(task(proc(["sh", "-c"], ["sleep 5"]), node_id="wf-1"))
    try:
        assert await executor.attach(task(proc(["true"]))) is False
    finally:
        await executor.close()


async def test_cancelling_a_local_node_kills_its_process_before_returning(tmp_path: Path) -> None:
    executor = LocalExecutor(tmp_path / "state", isolate=False)
    results = collect(executor)
    marker = tmp_path / "pid"
    spec = task(sh(f"echo $$ > {marker}.tmp; mv {marker}.tmp {marker}; exec sleep 30"))
    try:
        await executor.start(spec)
        await wait_for(marker.exists, what="the node's process")
        pid = int(marker.read_text())
        await asyncio.wait_for(executor.cancel(spec), timeout=5)
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        await asyncio.sleep(0.05)
        assert results == []
    finally:
        await executor.close()
