"""Whether hook calls are in flight, for work that can wait until they are not.

The dispatcher enters an :class:`Activity` for the length of each hook call, weighted
by the items the call carries. The event publisher reads it to hold waiting
notifications back while calls carrying many items are in flight (for a bounded time,
see ``EventSettings.yield_to_hooks``): a workflow's pass waits for its plugins'
answers, and the CPU that encoding and storing notifications would take in the
meantime is CPU the plugins, on the same machine, do not get. What is held back goes
out as soon as those calls end.

``busy_s`` is the time at least one call was in flight (overlapping calls
count once).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


class Activity:
    """Work in progress, counted and weighted, with the time any was in progress and
    callbacks for when it starts, when a piece ends and when the last ends."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._count = 0
        self._load = 0
        self._since = 0.0
        self._busy_s = 0.0
        self._on_idle: list[Callable[[], object]] = []
        self._on_busy: list[Callable[[], object]] = []
        self._on_leave: list[Callable[[], object]] = []

    @property
    def busy(self) -> bool:
        """Whether any work is in progress."""
        return self._count > 0

    @property
    def load(self) -> int:
        """The weight of the work in progress (for the dispatcher: items in calls in flight)."""
        return self._load

    @property
    def busy_s(self) -> float:
        """Seconds at least one piece of work was in progress, including the one under way."""
        if self._count:
            return self._busy_s + self._clock() - self._since
        return self._busy_s

    def enter(self, weight: int = 1) -> None:
        """One more piece of work in progress, of *weight*."""
        if not self._count:
            for callback in self._on_busy:
                callback()
            self._since = self._clock()
        self._count += 1
        self._load += weight

    def leave(self, weight: int = 1) -> None:
        """A piece of work of *weight* (as it entered) ended: the leave callbacks run, and
        when it was the last, the idle callbacks."""
        if self._count <= 0:
            raise RuntimeError("Activity.leave() without a matching enter()")
        self._count -= 1
        self._load -= weight
        if not self._count:
            self._load = 0
            self._busy_s += self._clock() - self._since
        for callback in self._on_leave:
            callback()
        if not self._count:
            for callback in self._on_idle:
                callback()

    def on_idle(self, callback: Callable[[], object]) -> None:
        """Call *callback* (cheap, not raising) each time the last piece of work ends."""
        self._on_idle.append(callback)

    def on_leave(self, callback: Callable[[], object]) -> None:
        """Call *callback* (cheap, not raising) each time a piece of work ends."""
        self._on_leave.append(callback)

    def on_busy(self, callback: Callable[[], object]) -> None:
        """Call *callback* (cheap, not raising) each time work starts while none was in progress."""
        self._on_busy.append(callback)
