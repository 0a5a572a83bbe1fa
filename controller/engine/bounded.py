"""Run one coroutine per item with at most *limit* of them in flight."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

T = TypeVar("T")


async def run_bounded(items: Sequence[T], step: Callable[[T], Awaitable[None]], limit: int) -> None:
    """Await ``step(item)`` for every item, at most *limit* at once, in the items' order of start.

    A few workers take the next item as they become free (no task per item). With a
    *limit* of 1 the items run one after another in the caller's task. *step* is expected
    to handle its own errors: one that raises stops its worker's share and is raised here
    once the other workers are done. Cancelling the caller cancels the steps in flight and
    starts no further one.
    """
    pending = iter(items)
    if limit <= 1 or len(items) <= 1:
        for item in pending:
            await step(item)
        return

    async def worker() -> None:
        for item in pending:
            await step(item)

    workers = [asyncio.ensure_future(worker()) for _ in range(min(limit, len(items)))]
    try:
        outcomes = await asyncio.gather(*workers, return_exceptions=True)
    except BaseException:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        raise
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
