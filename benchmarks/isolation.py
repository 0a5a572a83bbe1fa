"""Isolation: does a big fan-out slow down a small workflow on the same controller?

One embedded controller with P no-op plugin processes (``node.preExecute`` and
``pod.preCreate``, as in the fan-out). A small S-step sequential workflow runs first on the
idle controller (a warm-up, then R measured runs one after another), then a fan-out of N
nodes is submitted and the small workflow runs again and again, one run after another,
until the fan-out ends. A step gap counts as "under fan-out" when it began before the
fan-out ended (and ended after it was submitted); the gaps of the last run that fell
wholly after the fan-out's end are dropped and counted (``gaps_after_fanout_dropped``).

``loop_lag`` shows the cause: how late the controller's event loop woke a task sleeping
5 ms, on the idle controller and during the fan-out.

``cpu_contention`` is the floor any design meets on this machine: the same small workflow,
on the same idle controller, while H busy-loop processes that have nothing to do with
hookbus (pure Python arithmetic) compete for the CPU, as the fan-out's controller work,
nats-server, plugin processes and event counter do. Its ``p99_ratio`` is what sharing the
cores alone costs.

Step-to-step latency is measured as in :mod:`benchmarks.latency` (a pod's ``finishedAt``
to the next pod's ``startedAt``, the engine's float timestamps as stored), read from the
store after the fan-out ended so that reading it never adds load during the measurement.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from typing import TYPE_CHECKING

from benchmarks.harness import (
    FANOUT_HOOKS,
    JSON,
    Rig,
    RigSettings,
    events_figures,
    fanout_workflow,
    latency_figures,
    peak_rss_mb,
    sequential_workflow,
    step_gaps,
    step_intervals,
)

if TYPE_CHECKING:
    from hookbus.controller.adapters.store import WorkflowKey


class LoopLag:
    """Samples how late the controller's event loop wakes a task that sleeps 5 ms.

    A late wake-up means the loop was busy with something that did not yield (a long
    synchronous stretch of a pass): the time every other workflow waited, whatever it
    was waiting for. ``async with LoopLag() as lag: ...; lag.figures(since, until)``.
    """

    INTERVAL = 0.005

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        """``(epoch seconds at wake-up, lateness in seconds)``."""
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LoopLag:
        self._task = asyncio.create_task(self._sample(), name="isolation-loop-lag")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _sample(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(self.INTERVAL)
            self.samples.append((time.time(), max(0.0, time.perf_counter() - before - self.INTERVAL)))

    def figures(self, since: float, until: float) -> JSON:
        """p50/p99/max lateness (ms) of the wake-ups between two epoch times."""
        return latency_figures([lag for at, lag in self.samples if since <= at <= until])


async def _run_small(rig: Rig, name: str, steps: int) -> tuple[WorkflowKey, JSON, float]:
    started = time.perf_counter()
    key = await rig.controller.submit(sequential_workflow(name, steps))
    done = await rig.controller.wait(key, timeout=1800)
    return key, done, time.perf_counter() - started


_BUSY_LOOP = "n = 0\nwhile True:\n    n += 1\n"


async def run_isolation(
    fanout_nodes: int = 100_000, steps: int = 10, idle_runs: int = 150, plugins: int = 5, in_flight: int = 8, cpu_hogs: int = 4,
    auth: bool = True,
) -> JSON:
    """Small-workflow step latency on an idle controller and under a fan-out; its figures."""
    settings = RigSettings(
        plugins=plugins, hooks=FANOUT_HOOKS, max_in_flight=in_flight, count_events="hookbus.event.v1.default.*.node.>", auth=auth
    )
    async with Rig(settings) as rig, LoopLag() as lag:
        finished: list[JSON] = []
        _, warm, _ = await _run_small(rig, "warm-up", steps)
        finished.append(warm)
        idle_since = time.time()
        idle_keys: list[WorkflowKey] = []
        idle_walls: list[float] = []
        for i in range(idle_runs):
            key, done, wall = await _run_small(rig, f"idle-{i}", steps)
            idle_keys.append(key)
            idle_walls.append(wall)
            finished.append(done)

        contended_keys: list[WorkflowKey] = []
        hogs = [await asyncio.create_subprocess_exec(sys.executable, "-c", _BUSY_LOOP) for _ in range(cpu_hogs)]
        try:
            for i in range(idle_runs if cpu_hogs else 0):
                key, done, _ = await _run_small(rig, f"contended-{i}", steps)
                contended_keys.append(key)
                finished.append(done)
        finally:
            for hog in hogs:
                hog.kill()
                await hog.wait()

        started_epoch = time.time()
        started = time.perf_counter()
        fan_key = await rig.controller.submit(fanout_workflow("fanout", fanout_nodes))
        fan_wait = asyncio.create_task(rig.controller.wait(fan_key, timeout=1800), name="isolation-fanout-wait")
        fan_end: list[float] = []
        fan_wait.add_done_callback(lambda _: fan_end.append(time.time()))
        busy_keys: list[WorkflowKey] = []
        try:
            while not fan_wait.done():
                key, done, _ = await _run_small(rig, f"busy-{len(busy_keys)}", steps)
                busy_keys.append(key)
                finished.append(done)
            fan_done = await fan_wait
        finally:
            if not fan_wait.done():
                fan_wait.cancel()
        fanout_wall = time.perf_counter() - started
        fan_end_epoch = fan_end[0] if fan_end else time.time()  # the callback may not have run yet
        loop_lag = {"idle": lag.figures(idle_since, started_epoch), "under_fanout": lag.figures(started_epoch, fan_end_epoch)}
        finished.append(fan_done)
        idle_gaps = [gap for key in idle_keys for gap in step_gaps(await rig.stored_nodes(key))]
        contended_gaps = [gap for key in contended_keys for gap in step_gaps(await rig.stored_nodes(key))]
        busy_gaps: list[float] = []
        after = 0
        for key in busy_keys:
            for prev_finished, next_started in step_intervals(await rig.stored_nodes(key)):
                if prev_finished < fan_end_epoch and next_started > started_epoch:
                    busy_gaps.append(next_started - prev_finished)
                else:
                    after += 1
        events = await rig.count_finals(finished)
    idle = latency_figures(idle_gaps)
    busy = latency_figures(busy_gaps)
    ratio = round(busy["p99_ms"] / idle["p99_ms"], 2) if busy_gaps and idle_gaps and idle["p99_ms"] > 0 else None
    contended = latency_figures(contended_gaps)
    floor = round(contended["p99_ms"] / idle["p99_ms"], 2) if contended_gaps and idle_gaps and idle["p99_ms"] > 0 else None
    return {
        "fanout_nodes": fanout_nodes,
        "fanout_phase": fan_done["status"]["phase"],
        "fanout_wall_s": round(fanout_wall, 3),
        "steps": steps,
        "plugins": plugins,
        "hooks": list(FANOUT_HOOKS) if plugins else [],
        "idle": {"runs": len(idle_keys), "mean_run_s": _mean(idle_walls), **idle},
        "under_fanout": {"runs": len(busy_keys), "gaps_after_fanout_dropped": after, **busy},
        "p99_ratio": ratio,
        "cpu_contention": {"busy_loop_processes": cpu_hogs, "runs": len(contended_keys), **contended, "p99_ratio": floor},
        "loop_lag": loop_lag,
        "small_phases": sorted({wf["status"]["phase"] for wf in finished if wf["metadata"]["name"] != "fanout"}),
        "peak_rss_mb": peak_rss_mb(),
        **events_figures(events, started_epoch),
    }


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None
