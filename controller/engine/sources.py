"""An in-process :class:`~.ports.WorkflowSource`: submissions handed over through a queue.

A submitter awaits :meth:`SubmissionQueue.submit` and gets the key of the stored
workflow (or the error that refused it) once the controller following the queue
(:meth:`~.controller.Controller.follow`) has taken it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from .ports import Submission, WorkflowKey

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping

    from ..argo.manifest import Bundle
    from ..argo.types import JSON


class SubmissionQueue:
    """Workflows submitted in this process, in order, until :meth:`close`."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[tuple[Submission, asyncio.Future[WorkflowKey]] | None] = asyncio.Queue()
        self._waiting: dict[int, asyncio.Future[WorkflowKey]] = {}

    async def submit(
        self, workflow: JSON, *, parameters: Mapping[str, str] | None = None, bundle: Bundle | None = None
    ) -> WorkflowKey:
        """Hand *workflow* to the controller; its key once stored (the controller's error if refused)."""
        future: asyncio.Future[WorkflowKey] = asyncio.get_running_loop().create_future()
        await self._queue.put((Submission(workflow, parameters, bundle), future))
        return await future

    def close(self) -> None:
        """No more submissions: the controller stops following once it took the queued ones."""
        self._queue.put_nowait(None)

    async def submissions(self) -> AsyncIterator[Submission]:
        while (item := await self._queue.get()) is not None:
            submission, future = item
            self._waiting[id(submission)] = future
            yield submission

    async def accepted(self, submission: Submission, key: WorkflowKey) -> None:
        future = self._waiting.pop(id(submission))
        if not future.done():
            future.set_result(key)

    async def refused(self, submission: Submission, error: Exception) -> None:
        future = self._waiting.pop(id(submission))
        if not future.done():
            future.set_exception(error)
