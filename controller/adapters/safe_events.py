"""An event sink that logs a failing notification instead of raising it."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

log = structlog.get_logger(__name__)


class SafeEvents:
    """Wraps an event sink so that a failing notification is logged, never raised.

    Notifications are published after the state they describe is persisted;
    a sink error must not fail the scheduling pass that sent them.
    """

    def __init__(self, sink: Any) -> None:
        self._sink = sink

    async def _call(self, method: str, *args: Any) -> None:
        try:
            await getattr(self._sink, method)(*args)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("event sink failed; notification dropped", hook=method)

    async def workflow_phase(self, workflow: Any, phase: str, message: str) -> None:
        """See :class:`hookbus.controller.engine.hooks.EventSink`."""
        await self._call("workflow_phase", workflow, phase, message)

    async def node_phases(self, workflow: Any, nodes: Sequence[Any]) -> None:
        """See :class:`hookbus.controller.engine.hooks.EventSink`."""
        await self._call("node_phases", workflow, nodes)

    async def pod_created(self, workflow: Any, pods: Sequence[Any]) -> None:
        """See :class:`hookbus.controller.engine.hooks.EventSink`."""
        await self._call("pod_created", workflow, pods)

    async def progress(
        self, workflow: Any, done: int, total: int, phases: Mapping[str, int]
    ) -> None:
        """See :class:`hookbus.controller.engine.hooks.EventSink`."""
        await self._call("progress", workflow, done, total, phases)
