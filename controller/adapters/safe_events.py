"""An event sink that logs a failing notification instead of raising it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

log = structlog.get_logger(__name__)


class SafeEvents:
    """Wraps an event sink so that a failing notification is logged, never raised.

    Notifications are published after the state they describe is persisted;
    a sink error must not fail the scheduling pass that sent them.
    """

    def __init__(self, sink: Any) -> None:
        self._sink = sink

    async def workflow_phase(self, workflow: Any, phase: str, message: str) -> None:
        """See :class:`hookbus.controller.engine.ports.EventSink`."""
        try:
            await self._sink.workflow_phase(workflow, phase, message)
        except Exception:
            _dropped("workflow_phase")

    async def node_phases(self, workflow: Any, nodes: Sequence[Any]) -> None:
        """See :class:`hookbus.controller.engine.ports.EventSink`."""
        try:
            await self._sink.node_phases(workflow, nodes)
        except Exception:
            _dropped("node_phases")

    async def pod_created(self, workflow: Any, pods: Sequence[Any]) -> None:
        """See :class:`hookbus.controller.engine.ports.EventSink`."""
        try:
            await self._sink.pod_created(workflow, pods)
        except Exception:
            _dropped("pod_created")

    async def plugin_verdicts(self, workflow: Any, verdicts: Sequence[Any]) -> None:
        """See :class:`hookbus.controller.engine.ports.EventSink`."""
        try:
            await self._sink.plugin_verdicts(workflow, verdicts)
        except Exception:
            _dropped("plugin_verdicts")

    async def restored(self, workflow: Any, phase: str, message: str, nodes: Iterable[Any]) -> None:
        """See :meth:`hookbus.controller.adapters.events.PublisherSink.restored` (a sink without it is skipped)."""
        restored = getattr(self._sink, "restored", None)
        if restored is None:
            return
        try:
            await restored(workflow, phase, message, nodes)
        except Exception:
            _dropped("restored")

    async def progress(
        self, workflow: Any, done: int, total: int, phases: Mapping[str, int]
    ) -> None:
        """See :class:`hookbus.controller.engine.ports.EventSink`."""
        try:
            await self._sink.progress(workflow, done, total, phases)
        except Exception:
            _dropped("progress")


def _dropped(hook: str) -> None:
    """Log the exception being handled: a notification the sink failed to take."""
    log.exception("event sink failed; notification dropped", hook=hook)
