"""A run's timers: callbacks due at a time, and work deferred to the next pass.

Timers never call into the run themselves: when the earliest one is due, a wake-up
goes into the run's queue (``post(Wake())``) and the next pass runs what is due.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from .ports import Clock


@dataclass(frozen=True, slots=True)
class Wake:
    """A timer may be due (or deferred work waits for the next pass)."""


class Timers:
    """Due-time callbacks of one run, with one sleeping task for the earliest."""

    def __init__(self, clock: Clock, post: Callable[[Wake], None], name: str) -> None:
        self.clock = clock
        self._post = post
        self._name = name
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._task: asyncio.Task[None] | None = None
        self._at: float | None = None
        self._soon: list[Callable[[], None]] = []

    def call_at(self, when: float, callback: Callable[[], None]) -> None:
        """Run *callback* in the first pass at or after *when*."""
        heapq.heappush(self._timers, (when, next(self._seq), callback))
        if self._at is None or when < self._at:
            self._arm(when)

    def _arm(self, when: float) -> None:
        if self._task is not None:
            self._task.cancel()
        self._at = when

        async def sleeper() -> None:
            await self.clock.sleep_until(when)
            self._at = None
            self._task = None
            self._post(Wake())

        self._task = asyncio.create_task(sleeper(), name=f"hookbus-timer-{self._name}")

    def soon(self, callback: Callable[[], None]) -> None:
        """Run *callback* at the start of the next pass (work split over several passes)."""
        self._soon.append(callback)
        self._post(Wake())

    def run_due(self) -> None:
        """Run every callback whose time has come, and sleep until the next one."""
        now = self.clock.now()
        while self._timers and self._timers[0][0] <= now:
            _, _, callback = heapq.heappop(self._timers)
            callback()
        if self._timers and self._at is None:
            self._arm(self._timers[0][0])

    def run_soon(self) -> None:
        """Run the work deferred to this pass."""
        if self._soon:
            soon, self._soon = self._soon, []
            for callback in soon:
                callback()

    def clear(self) -> None:
        """Forget every timer (the workflow ended)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._timers.clear()

    def sleeper(self) -> asyncio.Task[None] | None:
        """The task sleeping until the earliest timer (to cancel on shutdown)."""
        task, self._task = self._task, None
        return task
