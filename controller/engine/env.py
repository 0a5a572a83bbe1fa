"""What a workflow's run is given by its controller: the ports and shared state it uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .locks import LockManager
    from .ports import Clock, Cluster, EventSink, Executor, HookPoints, WorkflowStore
    from .resolver import Memo
    from .settings import ControllerSettings

__all__ = ["RunEnv"]


@dataclass
class RunEnv:
    """What a run needs from its controller (one per controller, shared by its runs)."""

    settings: ControllerSettings
    executor: Executor
    hooks: HookPoints
    events: EventSink
    store: WorkflowStore
    clock: Clock
    memo: Memo
    locks: LockManager
    """The controller's mutexes and semaphores (``synchronization``)."""
    cluster: Cluster | None = None
    """The Kubernetes API ``resource`` templates act on (``None``: not in Kubernetes mode)."""
