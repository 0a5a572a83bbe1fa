"""Mutexes and semaphores of one controller, shared by all its workflows (Argo's sync manager).

A lock is known by Argo's key: ``<namespace>/Mutex/<name>`` (a semaphore of limit 1) or
``<namespace>/ConfigMap/<configmap>/<key>`` (a semaphore whose limit is the ConfigMap's
value). Holders are Argo's holder keys: ``<namespace>/<workflow>`` for a workflow-level
lock, ``<namespace>/<workflow>/<node id>`` for a template's. Whoever cannot take a lock
waits in the lock's queue, ordered by the workflow's ``priority`` (higher first), then
its creation time, then arrival; when a holder releases, the first waiters are woken
(their ``wake`` callback) to try again, as Argo requeues the next workflows.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..argo.errors import ArgoError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["LockItem", "LockManager", "SyncError"]


class SyncError(ArgoError):
    """A ``synchronization`` that cannot be used (Argo's lock errors, with Argo's words)."""


@dataclass(frozen=True, slots=True)
class LockItem:
    """One lock a workflow or template asks for."""

    kind: str
    """``mutex`` or ``semaphore`` (how it shows in ``status.synchronization``)."""
    key: str
    limit: int | None
    """Holders allowed at once; ``None`` when the limit cannot be read now."""


@dataclass(slots=True)
class _Waiter:
    order: tuple[int, float, int]
    wake: Callable[[], None]


class _Lock:
    __slots__ = ("heap", "holders", "key", "limit", "pending")

    def __init__(self, key: str, limit: int) -> None:
        self.key = key
        self.limit = limit
        self.holders: dict[str, None] = {}
        self.pending: dict[str, _Waiter] = {}
        self.heap: list[tuple[tuple[int, float, int], str]] = []
        """The waiters in order; entries of holders no longer waiting (or re-ordered) are dropped lazily."""

    def wait(self, holder: str, order: tuple[int, float, int], wake: Callable[[], None]) -> None:
        waiter = self.pending.get(holder)
        if waiter is None or waiter.order != order:
            heapq.heappush(self.heap, (order, holder))
        self.pending[holder] = _Waiter(order, wake)

    def front(self) -> str:
        """The first waiter (there is one)."""
        heap, pending = self.heap, self.pending
        while True:
            order, holder = heap[0]
            waiter = pending.get(holder)
            if waiter is not None and waiter.order == order:
                return holder
            heapq.heappop(heap)

    def first(self, count: int) -> list[_Waiter]:
        """The first *count* waiters, in order."""
        if count == 1:
            return [self.pending[self.front()]]
        return heapq.nsmallest(count, self.pending.values(), key=lambda w: w.order)

    def free(self) -> int:
        return self.limit - len(self.holders)


def _same_workflow(first: str, second: str) -> bool:
    """Argo's ``isSameWorkflowNodeKeys``: both keys of the same kind and workflow."""
    a, b = first.split("/"), second.split("/")
    return len(a) == len(b) and a[1] == b[1]


class LockManager:
    """Every lock of one controller: holders, queues and who to wake."""

    def __init__(self) -> None:
        self._locks: dict[str, _Lock] = {}
        self._seq = itertools.count()

    def try_acquire(
        self, holder: str, items: Sequence[LockItem], priority: int, created: float, wake: Callable[[], None]
    ) -> tuple[bool, str, str]:
        """Take every lock of *items* for *holder*, or none: ``(acquired, message, lock waited for)``.

        A holder that cannot take them all stays queued on each and is woken through *wake*
        when its turn may have come. Raises :class:`SyncError` for a semaphore whose limit
        was never known (Argo: ``failed to initialize semaphore <key> with limit``).
        """
        locks: list[_Lock] = []
        for item in items:
            lock = self._locks.get(item.key)
            if lock is None:
                if not item.limit:
                    raise SyncError(f"failed to initialize semaphore {item.key} with limit")
                lock = self._locks[item.key] = _Lock(item.key, item.limit)
            elif item.limit is not None:
                lock.limit = item.limit
            locks.append(lock)
        for lock in locks:
            if holder in lock.holders:
                continue
            waiter = lock.pending.get(holder)
            lock.wait(holder, (-priority, created, waiter.order[2] if waiter else next(self._seq)), wake)
        for lock in locks:
            ok, message = self._check(lock, holder)
            if not ok:
                return False, message, lock.key
        for lock in locks:
            if holder not in lock.holders:
                lock.holders[holder] = None
                lock.pending.pop(holder, None)
                self._notify(lock)
        return True, "", ""

    def _check(self, lock: _Lock, holder: str) -> tuple[bool, str]:
        """Argo's ``checkAcquire``: whether *holder* may take *lock* now, else the waiting message."""
        if holder in lock.holders:
            return True, ""
        limit = lock.limit
        if limit <= 0:
            return False, f"Failed to get semaphore limit for {lock.key}"
        message = f"Waiting for {lock.key} lock. Lock status: {lock.free()}/{limit}"
        if lock.pending:
            front = lock.front()
            if not _same_workflow(holder, front):
                if lock.free() > 0:
                    lock.pending[front].wake()
                return False, message
        return lock.free() > 0, message

    def _notify(self, lock: _Lock) -> None:
        """Wake the first waiters, as many as the lock has room for."""
        room = lock.free()
        if room <= 0 or not lock.pending:
            return
        for waiter in lock.first(room):
            waiter.wake()

    def release(self, holder: str, keys: Sequence[str]) -> None:
        """*holder* no longer holds nor waits for the locks *keys*; the next waiters are woken."""
        for key in keys:
            lock = self._locks.get(key)
            if lock is None:
                continue
            held = holder in lock.holders
            lock.holders.pop(holder, None)
            if lock.pending.pop(holder, None) is not None or held:
                self._notify(lock)

    def restore(self, holder: str, item: LockItem) -> None:
        """Record *holder* as holding *item* again (a controller restart), whatever the limit."""
        lock = self._locks.get(item.key)
        if lock is None:
            lock = self._locks[item.key] = _Lock(item.key, item.limit or 0)
        lock.holders[holder] = None

    def holders(self, key: str) -> list[str]:
        """The current holders of the lock *key* (none if it is unknown)."""
        lock = self._locks.get(key)
        return list(lock.holders) if lock is not None else []
