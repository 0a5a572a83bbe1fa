"""A pass starts its ready nodes with bounded concurrency (``start_concurrency``)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import pytest

from hookbus.controller.engine.bounded import run_bounded
from hookbus.controller.executors.base import TaskExecutor, TaskResult, TaskSpec
from hookbus.controller.settings import ExecutorSettings
from tests.support.engine import by_name, load, make_controller
from tests.support.waiting import wait_for

FANOUT = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: wide}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: fan
        template: work
        withSequence: {count: "COUNT"}
  - name: work
    container: {image: alpine, args: [run]}
"""


class SlowStarts(TaskExecutor):
    """Each start waits at a gate before its node runs (a pod create waiting for the API
    server); records the starts in flight, the most at once, and every start per node."""

    name = "slow-starts"

    def __init__(self, *, failing: str | None = None) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.in_flight = 0
        self.peak = 0
        self.starts: Counter[str] = Counter()
        self.failing = failing

    async def start(self, task: TaskSpec) -> None:
        self.starts[task.node_name] += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await self.gate.wait()
        finally:
            self.in_flight -= 1
        if task.node_name == self.failing:
            raise RuntimeError("the API server refused the pod")
        await super().start(task)

    async def run(self, task: TaskSpec) -> TaskResult:
        now = time.time()
        return TaskResult("Succeeded", 0, "", "", {}, None, now, now)


def fanout(count: int) -> dict[str, Any]:
    return load(FANOUT.replace("COUNT", str(count)))


async def settle() -> None:
    """Let every task that is ready run (no time passes: nothing waits on a clock)."""
    for _ in range(20):
        await asyncio.sleep(0)


async def test_a_pass_starts_at_most_start_concurrency_nodes_at_once() -> None:
    ex = SlowStarts()
    async with make_controller(ex, start_concurrency=8) as ctl:
        key = await ctl.submit(fanout(40))
        await wait_for(lambda: ex.in_flight == 8, what="eight starts in flight")
        await settle()
        assert ex.in_flight == 8  # the others wait for a free place
        ex.gate.set()
        wf = await ctl.wait(key, timeout=10)
    assert wf["status"]["phase"] == "Succeeded"
    assert ex.peak == 8
    assert len(ex.starts) == 40 and set(ex.starts.values()) == {1}  # each node started once


async def test_one_start_at_a_time_by_default() -> None:
    ex = SlowStarts()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(fanout(5))
        await wait_for(lambda: ex.in_flight == 1, what="a start in flight")
        await settle()
        assert ex.in_flight == 1
        ex.gate.set()
        wf = await ctl.wait(key, timeout=10)
    assert wf["status"]["phase"] == "Succeeded"
    assert ex.peak == 1


async def test_a_failed_start_fails_its_node_alone() -> None:
    ex = SlowStarts(failing="wide[0].fan(2:2)")
    ex.gate.set()
    async with make_controller(ex, start_concurrency=4) as ctl:
        key = await ctl.submit(fanout(6))
        wf = await ctl.wait(key, timeout=10)
    nodes = by_name(wf)
    failed = nodes["wide[0].fan(2:2)"]
    assert failed["phase"] == "Error"
    assert "the API server refused the pod" in failed["message"]
    others = [n for name, n in nodes.items() if name.startswith("wide[0].fan(") and name != "wide[0].fan(2:2)"]
    assert len(others) == 5 and {n["phase"] for n in others} == {"Succeeded"}
    assert set(ex.starts.values()) == {1}


async def test_cancelling_the_starts_starts_nothing_more() -> None:
    gate = asyncio.Event()
    begun: list[int] = []
    finished: list[int] = []

    async def step(item: int) -> None:
        begun.append(item)
        await gate.wait()
        finished.append(item)

    runner = asyncio.create_task(run_bounded(list(range(10)), step, 3))
    await wait_for(lambda: len(begun) == 3, what="three steps in flight")
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner
    gate.set()
    await settle()
    assert begun == [0, 1, 2] and finished == []


async def test_a_raising_step_leaves_the_others_running() -> None:
    done: list[int] = []

    async def step(item: int) -> None:
        await asyncio.sleep(0)
        if item == 1:
            raise ValueError("boom")
        done.append(item)

    with pytest.raises(ValueError, match="boom"):
        await run_bounded(list(range(6)), step, 3)
    assert sorted(done) == [0, 2, 3, 4, 5]


def test_kubernetes_starts_32_pods_at_once_and_other_executors_one() -> None:
    assert ExecutorSettings(kind="kubernetes").starts_at_once == 32
    assert ExecutorSettings(kind="local").starts_at_once == 1
    assert ExecutorSettings(kind="local", start_concurrency=4).starts_at_once == 4


def test_start_concurrency_from_the_environment_and_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    from hookbus.controller.cli import build_parser, settings_from_args
    from hookbus.controller.settings import from_env

    assert from_env({"HOOKBUS_START_CONCURRENCY": "16"}).executor.start_concurrency == 16
    for text in ("0", "many"):
        with pytest.raises(ValueError, match=f"HOOKBUS_START_CONCURRENCY: '{text}' is not a positive number"):
            from_env({"HOOKBUS_START_CONCURRENCY": text})
    monkeypatch.setenv("HOOKBUS_START_CONCURRENCY", "16")
    settings = settings_from_args(build_parser().parse_args(["server", "--start-concurrency", "64"]))
    assert settings.executor.start_concurrency == 64
