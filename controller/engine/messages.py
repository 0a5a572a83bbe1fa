"""What goes into a workflow's queue: results, wake-ups, commands, the start."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .launcher import TaskFinished
from .timers import Wake

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Mapping

__all__ = ["QUIESCE", "READ", "Command", "Event", "Start", "TaskFinished", "Wake", "answer_deleted"]

QUIESCE = "quiesce"
"""The command a ``delete`` waits for: once the worker reaches it, no pass of the workflow
is under way and, the run being marked deleting, none will start (none writes it back)."""
READ = "read"
"""The command that builds a snapshot in the workflow's own worker (see :func:`.snapshot.snapshot_in_slices`)."""


@dataclass(slots=True)
class Command:
    """An operation on the workflow (``suspend``, ``stop``, ``complete`` ...), answered through *future*."""

    op: str
    args: Mapping[str, Any] = field(default_factory=dict)
    future: asyncio.Future[Any] | None = None


@dataclass(frozen=True, slots=True)
class Start:
    """Operate on the workflow (first time, or resume after a restart)."""


Event = TaskFinished | Wake | Command | Start


def answer_deleted(events: list[Event], message: str) -> None:
    """Answer the commands among *events* of a deleted workflow: :data:`QUIESCE` is done,
    any other fails with *message* (a ``LookupError``)."""
    for event in events:
        if isinstance(event, Command) and event.future is not None and not event.future.done():
            if event.op == QUIESCE:
                event.future.set_result(None)
            else:
                event.future.set_exception(LookupError(message))
