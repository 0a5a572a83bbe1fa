"""Status back on the Workflow objects: an ``EventSink`` that writes Argo-shaped status.

:class:`KubeStatusWriter` passes every notification on to the sink it wraps and marks the
workflow it is about as changed; a writer task then writes, per changed workflow that
came from the cluster, one merge patch of ``status`` (``phase``, ``startedAt``,
``finishedAt``, ``message``, ``progress``, ``nodes`` ...) and the
``workflows.argoproj.io/phase`` and ``workflows.argoproj.io/completed`` labels. Writes
are coalesced (the changes of a pass, and of every pass while a write is under way, make
one write), carry only what changed since the object as last seen, and are conditional on ``metadata.resourceVersion``; on 409 the object is read
again and the status applied to it, so other writers' changes are kept.

Argo's minimal Workflow CRD has no status subresource, so the status goes through the
main object, which is limited to about 1 MiB. A status above :attr:`max_bytes` keeps
everything but ``nodes`` and sets ``offloadNodeStatusVersion``, as Argo marks a node map
it offloaded; the nodes stay in the JetStream store, where ``hookbus get`` reads them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from typing import TYPE_CHECKING, Any

import orjson
import structlog

from ..argo.labels import COMPLETED_LABEL, PHASE_LABEL
from ..engine.controller import WorkflowNotFound
from ..engine.ports import WorkflowKey
from ..kube.errors import KubeError, NotFound
from ..kube.resources import WORKFLOWS

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence

    from ..argo.types import JSON
    from ..engine.hooks import Verdict, WorkflowInfo
    from ..engine.ports import EventSink
    from ..kube.client import KubeClient, Obj

log = structlog.get_logger(__name__)

MAX_STATUS_BYTES = 1_000_000
"""Largest status written with its node map (etcd's object limit is about 1.5 MiB, the
apiserver's request limit 3 MiB; Argo offloads above about 1 MiB)."""
FINAL = frozenset({"Succeeded", "Failed", "Error"})


def kube_status(workflow: JSON, max_bytes: int = MAX_STATUS_BYTES) -> tuple[Obj, bool]:
    """The status to write for the snapshot *workflow*, and whether its nodes were left out."""
    status = {k: v for k, v in (workflow.get("status") or {}).items() if not k.startswith("x-")}
    status.pop("storedTemplates", None)
    if len(orjson.dumps(status)) <= max_bytes:
        return status, False
    nodes = status.pop("nodes", None) or {}
    digest = hashlib.sha256(orjson.dumps(nodes, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]
    status["offloadNodeStatusVersion"] = f"hookbus-{digest}"
    return status, True


def status_patch(current: Obj, status: Obj) -> Obj | None:
    """The merge patch that makes *current* carry *status* and its phase labels (``None``:
    it does already). Only what differs is sent, field by field: the nodes and fields that
    changed, ``None`` for what is gone (nodes dropped, a node map offloaded now, keys no
    longer set)."""
    old = current.get("status") or {}
    diff = merge_diff({k: v for k, v in old.items() if not k.startswith("x-")}, status)
    phase = str(status.get("phase") or "")
    labels = {PHASE_LABEL: phase, COMPLETED_LABEL: "true" if phase in FINAL else "false"}
    have = (current.get("metadata") or {}).get("labels") or {}
    if diff is None and all(have.get(k) == v for k, v in labels.items()):
        return None
    patch: Obj = {"metadata": {"labels": labels}}
    if diff is not None:
        patch["status"] = diff
    return patch


def merge_diff(old: Any, new: Any) -> Any:
    """The RFC 7386 merge patch turning *old* into *new* (``None``: they are equal). Objects
    are compared key by key (``None`` deletes a key); anything else is replaced whole."""
    if old == new:
        return None
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    patch: Obj = {key: None for key in old if key not in new}
    for key, value in new.items():
        if key not in old:
            patch[key] = value
        elif old[key] != value:
            patch[key] = merge_diff(old[key], value) if isinstance(value, dict) else value
    return patch


def _uid(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("uid") or "")


class KubeStatusWriter:
    """An ``EventSink`` that forwards to *inner* and writes workflows' status to their objects.

    :meth:`bind` gives it what it needs once the controller exists: *read* (the
    controller's snapshot of a workflow) and *target* (the Workflow object the workflow
    came from, as last seen; ``None``: it did not come from the cluster).
    """

    def __init__(
        self, inner: EventSink | None, *, max_bytes: int = MAX_STATUS_BYTES, linger: float = 0.02, parallel: int = 8
    ) -> None:
        self.inner = inner
        self._slots = asyncio.Semaphore(parallel)
        """Writes of different workflows under way at once (one workflow's are never concurrent)."""
        self.max_bytes = max_bytes
        self.linger = linger
        self.client: KubeClient | None = None
        self.may_write: Callable[[], bool] = lambda: True
        """Checked before every write: False (leadership lost) and nothing is written."""
        self._read: Callable[[WorkflowKey], Awaitable[JSON]] | None = None
        self._target: Callable[[WorkflowKey], Obj | None] | None = None
        self._dirty: dict[WorkflowKey, None] = {}
        self._last: dict[WorkflowKey, Obj] = {}
        """The object each last write returned: newer than the watch's copy until the watch catches up."""
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.writes = 0
        """Status writes sent (tests and metrics)."""
        self.on_phase: list[Callable[[WorkflowKey, str], None]] = []
        """Called with each workflow phase the engine announces (Kubernetes mode collects pods on it)."""
        self.status_extras: list[Callable[[WorkflowKey, Obj], Mapping[str, Any]]] = []
        """Status fields kept outside the engine (the workflow's claims), from the key and the
        object written to; merged over the engine's status in every write."""

    def bind(self, client: KubeClient, read: Callable[[WorkflowKey], Awaitable[JSON]], target: Callable[[WorkflowKey], Obj | None]) -> None:
        """Start writing: *client* to the API server, *read* and *target* as above."""
        self.client, self._read, self._target = client, read, target
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="hookbus-kube-status")

    def mark(self, key: WorkflowKey) -> None:
        """Write *key*'s status soon (once, however often it is marked meanwhile)."""
        self._dirty[key] = None
        self._wake.set()

    async def flush(self) -> None:
        """Write every marked workflow now (several workflows at once)."""
        while self._dirty:
            keys = list(self._dirty)
            self._dirty.clear()
            await asyncio.gather(*(self._write_in_slot(key) for key in keys))

    async def _write_in_slot(self, key: WorkflowKey) -> None:
        async with self._slots:
            try:
                await self._write(key)
            except Exception:
                log.exception("writing a workflow's status failed", workflow=key.name, namespace=key.namespace)

    async def close(self) -> None:
        """Write what is marked, then stop."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            with contextlib.suppress(Exception):
                await self.flush()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self.linger:
                await asyncio.sleep(self.linger)  # the rest of the pass's notifications
            await self.flush()

    async def _write(self, key: WorkflowKey) -> None:
        if self.client is None or self._read is None or self._target is None or not self.may_write():
            return
        current = self._target(key)
        if current is None:
            self._last.pop(key, None)
            return
        last = self._last.get(key)
        if last is not None and _uid(last) == _uid(current):
            current = last
        try:
            snapshot = await self._read(key)
        except WorkflowNotFound:
            return
        status, _ = kube_status(snapshot, self.max_bytes)
        uid = _uid(current)

        def change(obj: Obj) -> Obj | None:
            if _uid(obj) != uid:
                return None  # a new object under the same name: not ours to write
            full = status
            for extra in self.status_extras:
                full = {**full, **extra(key, obj)}
            return status_patch(obj, full)

        try:
            written = await self.client.update(WORKFLOWS, key.namespace, key.name, change, current=current)
        except NotFound:
            self._last.pop(key, None)
            return
        except KubeError as exc:
            log.warning("writing a workflow's status failed", workflow=key.name, namespace=key.namespace, error=str(exc))
            if exc.retryable:
                self._dirty.setdefault(key, None)
            return
        if written is not None:
            self.writes += 1
            self._last[key] = written

    # ------------------------------------------------------------- EventSink

    async def workflow_phase(self, workflow: WorkflowInfo, phase: str, message: str) -> None:
        key = WorkflowKey(workflow.namespace, workflow.name)
        self.mark(key)
        for call in self.on_phase:
            call(key, phase)
        if self.inner is not None:
            await self.inner.workflow_phase(workflow, phase, message)

    async def node_phases(self, workflow: WorkflowInfo, nodes: Sequence[JSON]) -> None:
        self.mark(WorkflowKey(workflow.namespace, workflow.name))
        if self.inner is not None:
            await self.inner.node_phases(workflow, nodes)

    async def pod_created(self, workflow: WorkflowInfo, pods: Sequence[JSON]) -> None:
        if self.inner is not None:
            await self.inner.pod_created(workflow, pods)

    async def progress(self, workflow: WorkflowInfo, done: int, total: int, phases: Mapping[str, int]) -> None:
        self.mark(WorkflowKey(workflow.namespace, workflow.name))
        if self.inner is not None:
            await self.inner.progress(workflow, done, total, phases)

    async def plugin_verdicts(self, workflow: WorkflowInfo, verdicts: Sequence[Verdict]) -> None:
        if self.inner is not None:
            await self.inner.plugin_verdicts(workflow, verdicts)
