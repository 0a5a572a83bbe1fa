"""What every executor shares: result phases, Argo's result trimming, the engine's contract,
and :class:`TaskExecutor`, the port for executors whose nodes are coroutines.

The contract itself (:class:`Executor`, :class:`TaskSpec`, :class:`TaskResult`,
:class:`ProcessSpec`) belongs to the engine and is published by its ports module
(:mod:`..engine.ports`); it is re-exported here for the executors.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from dataclasses import replace
from typing import TYPE_CHECKING, Final

import structlog

from ..argo.types import Phase
from ..engine.ports import Executor, ProcessSpec, TaskResult, TaskSpec

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "ERROR",
    "FAILED",
    "PHASES",
    "RESULT_MAX_BYTES",
    "SUCCEEDED",
    "Executor",
    "ProcessSpec",
    "TaskExecutor",
    "TaskResult",
    "TaskSpec",
    "trim_result",
]

SUCCEEDED: Final = Phase.SUCCEEDED.value
"""The main process exited with code 0."""
FAILED: Final = Phase.FAILED.value
"""The main process (or an init process) exited with a non-zero code, or timed out."""
ERROR: Final = Phase.ERROR.value
"""The node could not run at all (a command that cannot start, an isolation failure)."""

PHASES: Final = frozenset({SUCCEEDED, FAILED, ERROR})

log = structlog.get_logger(__name__)

RESULT_MAX_BYTES: Final = 256 * 1024
"""Argo keeps at most the last 256 kB of the main container's stdout as ``outputs.result``."""


def trim_result(stdout: bytes) -> str:
    """Argo's ``outputs.result`` from captured stdout: last 256 kB, one trailing newline removed."""
    if stdout.endswith(b"\n"):
        stdout = stdout[:-1]
    if len(stdout) > RESULT_MAX_BYTES:
        stdout = stdout[-RESULT_MAX_BYTES:]
    return stdout.decode("utf-8", errors="replace")


_Ident = tuple[str, str, str]
"""A node's identity: namespace, workflow, node id."""


class TaskExecutor(ABC):
    """An :class:`Executor` whose nodes are coroutines of this process: subclasses write
    :meth:`run` (one node, start to end) and get the rest of the port.

    :meth:`start` runs :meth:`run` in a task of its own (named ``hookbus-node-<id>``);
    its result, stamped with the node's identity, goes to the bound sink from that task
    (kept until :meth:`bind` when none is bound yet). A :meth:`run` that raises reports an
    ``Error`` result naming the exception. :meth:`cancel` cancels the task (no result is
    reported for it). Nothing survives the process, so :meth:`attach` finds nothing.
    """

    name: str = "task"

    def __init__(self) -> None:
        self._nodes: dict[_Ident, asyncio.Task[None]] = {}
        self._sink: Callable[[TaskResult], None] | None = None
        self._unreported: list[TaskResult] = []
        """Results of nodes that ended before a sink was bound."""

    @abstractmethod
    async def run(self, task: TaskSpec) -> TaskResult:
        """Run *task* to completion and report how it ended (never raises for a node failure)."""

    def bind(self, sink: Callable[[TaskResult], None]) -> None:
        """Report results to *sink* from now on, those kept so far first."""
        self._sink = sink
        kept, self._unreported = self._unreported, []
        for result in kept:
            sink(result)

    async def start(self, task: TaskSpec) -> None:
        """Run *task* in a task of its own; its result goes to the sink."""
        ident = (task.namespace, task.workflow, task.node_id)
        self._nodes[ident] = asyncio.create_task(self._node(task, ident), name=f"hookbus-node-{task.node_id}")

    async def _node(self, task: TaskSpec, ident: _Ident) -> None:
        try:
            result = await self.run(task)
        except asyncio.CancelledError:
            self._nodes.pop(ident, None)
            raise
        except Exception as exc:
            log.exception("executor failed to run a node", executor=self.name, workflow=str(task.key), node=task.node_id)
            now = time.time()
            result = TaskResult(ERROR, None, f"executor error: {exc}", None, {}, None, now, now)
        self._nodes.pop(ident, None)
        self._deliver(task, result)

    def _deliver(self, task: TaskSpec, result: TaskResult) -> None:
        """Hand *task*'s *result* to the sink, stamped with the node's identity (kept until
        :meth:`bind` when no sink is bound yet)."""
        if result.key is None or result.node_id != task.node_id:
            result = replace(result, key=task.key, node_id=task.node_id)
        sink = self._sink
        if sink is None:
            self._unreported.append(result)
        else:
            sink(result)

    async def attach(self, task: TaskSpec) -> bool:
        """Nothing of a node outlives this process: never found."""
        return False

    async def cancel(self, task: TaskSpec) -> None:
        """Cancel the node's task and wait until it ended (its :meth:`run` cleans up)."""
        running = self._nodes.pop((task.namespace, task.workflow, task.node_id), None)
        if running is not None:
            running.cancel()
            await asyncio.wait([running])

    async def close(self) -> None:
        """Cancel every node still running and wait until they ended. Idempotent."""
        running = list(self._nodes.values())
        self._nodes.clear()
        for node in running:
            node.cancel()
        if running:
            await asyncio.wait(running)
