"""The reactor: events routed by workflow to one serial worker each (kopf's queueing).

``post`` appends an event to the workflow's queue and starts its worker if none is
running. A worker drains its queue in batches (one scheduling pass per batch) and
exits when idle; at most ``limit`` workers operate at once, so workflows run in
parallel under a bound while each one's events are handled strictly in order.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

import structlog

log = structlog.get_logger(__name__)

K = TypeVar("K", bound=Hashable)
E = TypeVar("E")

Handler = Callable[[K, list[E]], Awaitable[None]]


class Reactor(Generic[K, E]):
    """Per-key serial workers under a concurrency limit."""

    def __init__(
        self,
        handler: Handler[K, E],
        *,
        limit: int,
        batch: int | Callable[[K], int],
        slow_pass: float = 0.25,
        pause: float = 0.01,
    ) -> None:
        """*batch*: events handed to one pass, or a function giving it per key and pass.

        After a pass longer than *slow_pass* seconds (its work held the event loop), the
        worker waits *pause* seconds before its next one, so other workflows' passes and
        their executors' results get more than one turn of the loop in between."""
        self._handler = handler
        self._batch: Callable[[K], int]
        self._limit = asyncio.Semaphore(limit)
        if callable(batch):
            self._batch = batch
        else:
            fixed = batch
            self._batch = lambda _key: fixed
        self._slow_pass = slow_pass
        self._pause = pause
        self._queues: dict[K, deque[E]] = {}
        self._workers: dict[K, asyncio.Task[None]] = {}
        self._closed = False

    def post(self, key: K, event: E) -> None:
        """Queue *event* for *key*'s worker (starting it if needed)."""
        if self._closed:
            return
        self._queues.setdefault(key, deque()).append(event)
        if key not in self._workers:
            self._workers[key] = asyncio.create_task(self._work(key), name=f"hookbus-worker-{key}")

    def busy(self, key: K) -> bool:
        return key in self._workers

    def working(self) -> int:
        """How many keys have a worker: events waiting or a pass under way."""
        return len(self._workers)

    async def _work(self, key: K) -> None:
        try:
            async with self._limit:
                queue = self._queues[key]
                loop = asyncio.get_running_loop()
                while queue:
                    size = max(1, self._batch(key))
                    batch = [queue.popleft() for _ in range(min(len(queue), size))]
                    started = loop.time()
                    try:
                        await self._handler(key, batch)
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        log.exception("workflow pass failed", workflow=str(key))
                    # let other workflows' passes in between (for a while after a long pass)
                    await asyncio.sleep(self._pause if loop.time() - started > self._slow_pass else 0)
        finally:
            if self._workers.get(key) is asyncio.current_task():
                del self._workers[key]
            if not self._queues.get(key):
                self._queues.pop(key, None)

    def forget(self, key: K) -> None:
        """Drop queued events of *key* (a deleted workflow)."""
        self._queues.pop(key, None)

    async def close(self) -> None:
        """Cancel every worker (no graceful phase: state is already persisted per pass)."""
        self._closed = True
        workers = list(self._workers.values())
        for task in workers:
            task.cancel()
        for task in workers:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._workers.clear()
        self._queues.clear()
