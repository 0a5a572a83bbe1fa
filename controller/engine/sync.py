"""A workflow's ``synchronization``: its workflow-level and template-level locks.

Follows Argo's ``workflow/sync`` and ``operator.go``. A workflow with
``spec.synchronization`` starts only once it holds every lock it names; until then it is
Pending with Argo's message (``Waiting for <ns>/Mutex/<name> lock. Lock status: 0/1``).
A template with ``synchronization`` takes its locks before its node runs (a Retry node
takes them once for all its attempts); a node that waits is Pending with the same message
and ``synchronizationStatus.waiting`` naming the lock. Locks are released when the node
(or the workflow) ends, however it ends. What a workflow holds and waits for is kept in
``status.synchronization`` (Argo's shape); a restarted controller takes the holders
back from there (:meth:`RunSync.restore`).

Locks themselves are shared by the controller's workflows: :mod:`.locks`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .locks import LockItem, SyncError
from .model import DAG, FAILED, PENDING, RETRY, RUNNING, STEPS, Node, parse_timestamp

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from ..argo.types import JSON
    from .locks import LockManager
    from .nodes import NodeTable
    from .ports import WorkflowKey

__all__ = ["RunSync", "lock_items"]


class SyncHost(Protocol):
    """What the synchronization of a run needs of the run."""

    key: WorkflowKey
    wf: JSON
    spec: JSON
    status: JSON
    config_maps: dict[tuple[str, str], JSON]
    table: NodeTable

    def soon(self, callback: Callable[[], None]) -> None: ...

    def finish(self, node: Node, phase: str, message: str = "", outputs: JSON | None = None) -> None: ...

    def workflow_changed(self) -> None: ...


def lock_items(sync: Mapping[str, Any], namespace: str, config_maps: Mapping[tuple[str, str], JSON]) -> list[LockItem]:
    """The locks a ``synchronization`` names (semaphores first, as Argo), with their limits now.

    Raises :class:`SyncError` with Argo's message for what Argo refuses.
    """
    items: list[LockItem] = []
    for sem in sync.get("semaphores") or []:
        ns = str(sem.get("namespace") or namespace)
        ref = sem.get("configMapKeyRef")
        if ref and sem.get("database"):
            raise SyncError("requested configuration is invalid: invalid semaphore with both ConfigMapKeyRef and Database")
        if sem.get("database"):
            raise SyncError("synchronization database session is not available")
        if not ref:
            raise SyncError(
                "requested configuration is invalid: cannot get LockName for a Semaphore without a ConfigMapRef or Database"
            )
        name, key = str(ref.get("name", "")), str(ref.get("key", ""))
        doc = config_maps.get((ns, name)) or config_maps.get(("", name)) or {}
        raw = (doc.get("data") or {}).get(key)
        try:
            limit: int | None = int(str(raw)) if raw is not None else None
        except ValueError:
            limit = None
        items.append(LockItem("semaphore", f"{ns}/ConfigMap/{name}/{key}", limit))
    for mutex in sync.get("mutexes") or []:
        if mutex.get("database"):
            raise SyncError("synchronization database session is not available")
        ns = str(mutex.get("namespace") or namespace)
        items.append(LockItem("mutex", f"{ns}/Mutex/{mutex.get('name', '')}", 1))
    if len({i.key for i in items}) != len(items):
        raise SyncError("requested configuration is invalid: duplicate synchronization item found")
    return items


@dataclass(slots=True)
class _Parked:
    """A node waiting for its locks: how to go on once it may have them."""

    node: Node
    resume: Callable[[], Any]
    on_exit: bool


class RunSync:
    """The locks one workflow holds and waits for."""

    def __init__(
        self,
        host: SyncHost,
        manager: LockManager,
        *,
        start: Callable[[], None],
        fail: Callable[[str, str], None],
    ) -> None:
        """*start*: operate the workflow (once its own locks are held); *fail*: end it with a phase and message."""
        self.host = host
        self.manager = manager
        self._start = start
        self._fail = fail
        self.prefix = f"{host.key.namespace}/{host.key.name}"
        self.priority = _int(host.spec.get("priority"))
        self.created = parse_timestamp((host.wf.get("metadata") or {}).get("creationTimestamp")) or 0.0
        self.holding: dict[str, list[LockItem]] = {}
        """Holder key → the locks it holds."""
        self.waiting: dict[str, tuple[LockItem, list[LockItem]]] = {}
        """Holder key → the lock it waits for, and every lock it asked for."""
        self._waited: dict[str, tuple[LockItem, int]] = {}
        """Lock key → the lock and how many of this workflow's holders wait for it."""
        self.nodes: dict[str, str] = {}
        """Node id → holder key, for nodes that hold or wait for locks (released when they end)."""
        self.parked: dict[str, _Parked] = {}
        self._due: set[str] = set()
        self._workflow_waiting = False
        self._message = ""
        self._parking = ""
        """The holder key :meth:`blocks` just found waiting (for :meth:`park`)."""

    # ------------------------------------------------------------ workflow

    def admit_workflow(self) -> bool:
        """Whether the workflow may start: it holds its ``spec.synchronization`` locks (if any).

        A workflow that must wait stays Pending with Argo's message and starts when woken;
        one whose locks cannot be used ends Failed."""
        sync = self.host.spec.get("synchronization")
        if not sync:
            return True
        status = self.host.status
        try:
            acquired = self._acquire(self.prefix, sync)
        except SyncError as exc:
            self._fail(FAILED, f"Failed to acquire the synchronization lock. {exc}")
            return False
        self._workflow_waiting = not acquired
        if acquired:
            if status.get("message"):
                status["message"] = None
            return True
        status["phase"] = status.get("phase") or PENDING
        status["message"] = self._message
        self.host.workflow_changed()
        return False

    # --------------------------------------------------------------- nodes

    def blocks(self, name: str, tmpl: Mapping[str, Any], retry_attempt: int | None) -> bool:
        """Whether node *name* must wait for the locks of its template (then :meth:`park` it).

        A node that was waiting and now holds its locks leaves the wait (its message and
        ``synchronizationStatus`` go; a Retry, steps or DAG node becomes Running). An
        attempt of a Retry node does not lock again: its Retry node holds the locks."""
        sync = tmpl.get("synchronization")
        if not sync or retry_attempt is not None:
            return False
        table = self.host.table
        node = table.by_name.get(name)
        node_id = node.id if node is not None else table.node_id(name)
        holder = f"{self.prefix}/{node_id}"
        if not self._acquire(holder, sync):
            self._parking = holder
            return True
        self.nodes[node_id] = holder
        if node is not None:
            if node.extra and node.extra.pop("synchronizationStatus", None) is not None:
                node.message = ""
                if node.type in (RETRY, STEPS, DAG):
                    table.set_phase(node, RUNNING)
                table.touch(node)
        return False

    def park(self, node: Node, resume: Callable[[], Any], on_exit: bool) -> None:
        """*node* waits for the lock :meth:`blocks` named: Pending with Argo's message; *resume* when woken."""
        holder = self._parking
        waited = self.waiting[holder][0]
        node.message = self._message
        node.extra = {**(node.extra or {}), "synchronizationStatus": {"waiting": waited.key}}
        self.host.table.touch(node)
        self.nodes[node.id] = holder
        self.parked[holder] = _Parked(node, resume, on_exit)

    def node_done(self, node_id: str) -> None:
        """A node that held or waited for locks ended: release them (and leave the queues)."""
        holder = self.nodes.pop(node_id)
        self.parked.pop(holder, None)
        self._release(holder)

    def fail_waiting(self, message: str, *, include_exit: bool, terminate: bool) -> None:
        """Shutdown: nodes waiting for a lock end Failed with *message* (exit handlers' only with
        *include_exit*); a workflow still waiting for its own locks ends Failed on terminate."""
        for parked in list(self.parked.values()):
            if include_exit or not parked.on_exit:
                self.host.finish(parked.node, FAILED, message)
        if terminate and self._workflow_waiting:
            self._workflow_waiting = False
            self._release(self.prefix)
            self._fail(FAILED, message)

    # ---------------------------------------------------------- all of it

    def release_all(self) -> None:
        """The workflow ended (or is gone): every lock it holds or waits for is let go."""
        for holder in [*self.holding, *self.waiting]:
            self._release(holder)
        self.nodes.clear()
        self.parked.clear()
        self._workflow_waiting = False
        if self.host.status.pop("synchronization", None) is not None:
            self.host.workflow_changed()

    def restore(self) -> None:
        """After a restart: take back the locks ``status.synchronization`` says the workflow
        held, for holders that have not ended (the workflow itself, or a node not finished)."""
        status = self.host.status.get("synchronization") or {}
        by_id = self.host.table.nodes
        held: list[tuple[str, LockItem]] = []
        for entry in (status.get("mutex") or {}).get("holding") or []:
            held.append((str(entry.get("holder", "")), LockItem("mutex", str(entry.get("mutex", "")), 1)))
        for entry in (status.get("semaphore") or {}).get("holding") or []:
            for holder in entry.get("holders") or []:
                held.append((str(holder), LockItem("semaphore", str(entry.get("semaphore", "")), None)))
        for holder, item in held:
            node_id = holder[len(self.prefix) + 1 :] if holder.startswith(self.prefix + "/") else None
            if holder != self.prefix and (node_id is None or node_id not in by_id or by_id[node_id].fulfilled):
                continue
            self.manager.restore(holder, item)
            self.holding.setdefault(holder, []).append(item)
            if node_id is not None:
                self.nodes[node_id] = holder

    # ------------------------------------------------------------ internal

    def _acquire(self, holder: str, sync: Mapping[str, Any]) -> bool:
        """Try *holder*'s locks; record what it holds or waits for (``self._message``: why it waits)."""
        items = lock_items(sync, self.host.key.namespace, self.host.config_maps)
        ok, message, waited = self.manager.try_acquire(holder, items, self.priority, self.created, lambda: self._wake(holder))
        self._stop_waiting(holder)
        if ok:
            self.holding[holder] = items
        else:
            self._message = message
            item = next(i for i in items if i.key == waited)
            self.waiting[holder] = (item, items)
            self._waited[item.key] = (item, self._waited.get(item.key, (item, 0))[1] + 1)
        self._write_status()
        return ok

    def _stop_waiting(self, holder: str) -> tuple[LockItem, list[LockItem]] | None:
        waited = self.waiting.pop(holder, None)
        if waited is not None:
            key = waited[0].key
            count = self._waited[key][1] - 1
            if count:
                self._waited[key] = (waited[0], count)
            else:
                del self._waited[key]
        return waited

    def _release(self, holder: str) -> None:
        keys = [i.key for i in self.holding.pop(holder, [])]
        waited = self._stop_waiting(holder)
        if waited is not None:
            keys.extend(i.key for i in waited[1])
        self.manager.release(holder, keys)
        self._write_status()

    def _wake(self, holder: str) -> None:
        if not self._due:
            self.host.soon(self._resume_due)
        self._due.add(holder)

    def _resume_due(self) -> None:
        due, self._due = self._due, set()
        for holder in sorted(due):
            if holder == self.prefix:
                if self._workflow_waiting:
                    self._start()
                continue
            parked = self.parked.pop(holder, None)
            if parked is not None and not parked.node.fulfilled:
                parked.resume()

    def _write_status(self) -> None:
        """``status.synchronization`` as Argo writes it: what is held, and by whom what is waited for."""
        mutex: dict[str, list[JSON]] = {"holding": [], "waiting": []}
        semaphore: dict[str, list[JSON]] = {"holding": [], "waiting": []}
        sem_holding: dict[str, list[str]] = {}
        for holder, items in self.holding.items():
            for item in items:
                if item.kind == "mutex":
                    mutex["holding"].append({"mutex": item.key, "holder": holder})
                else:
                    sem_holding.setdefault(item.key, []).append(holder)
        semaphore["holding"] = [{"semaphore": k, "holders": v} for k, v in sem_holding.items()]
        for item, _ in self._waited.values():
            current = self.manager.holders(item.key)
            if item.kind == "mutex" and current:
                mutex["waiting"].append({"mutex": item.key, "holder": current[0]})
            elif item.kind == "semaphore":
                semaphore["waiting"].append({"semaphore": item.key, "holders": current})
        out = {
            kind: {k: v for k, v in section.items() if v}
            for kind, section in (("mutex", mutex), ("semaphore", semaphore))
            if any(section.values())
        }
        status = self.host.status
        if out != (status.get("synchronization") or {}):
            if out:
                status["synchronization"] = out
            else:
                status.pop("synchronization", None)
            self.host.workflow_changed()


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0
