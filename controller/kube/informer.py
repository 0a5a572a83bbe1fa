"""List-then-watch: a cache of one resource's objects, kept current, with a callback per change.

:class:`Informer` lists the objects, then watches from the list's ``resourceVersion``.
When the server ends the stream or answers 410 Gone, it lists again and turns the
difference from its cache into events, so a handler sees every object's latest state
even across missed events. Errors the server may get over (429, 5xx, no answer) wait
with backoff and start again; the loop runs until cancelled (:meth:`Informer.stop`).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import structlog

from .client import Backoff, resource_version
from .errors import Gone, KubeError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from .client import KubeClient, Obj
    from .resources import Resource

    Handler = Callable[[str, Obj], Awaitable[None]]

log = structlog.get_logger(__name__)

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"

ObjKey = tuple[str, str]


def object_key(obj: Obj) -> ObjKey:
    """``(namespace, name)`` of *obj* (namespace empty for cluster-scoped objects)."""
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


class Informer:
    """The objects of *resource* in *namespace* (``None``: every namespace) matching the
    selectors, in :attr:`cache`, with *handler* awaited for each change in order."""

    def __init__(
        self,
        client: KubeClient,
        resource: Resource,
        namespace: str | None = None,
        *,
        label_selector: str = "",
        field_selector: str = "",
        handler: Handler | None = None,
        watch_seconds: int = 300,
        backoff: Backoff | None = None,
    ) -> None:
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.handler = handler
        self.watch_seconds = watch_seconds
        self.backoff = backoff or Backoff(first=0.5, limit=10.0)
        self.cache: dict[ObjKey, Obj] = {}
        self.synced = asyncio.Event()
        """Set once the first list is in :attr:`cache` (and its events handled)."""
        self.last_error = ""
        """The last error listing or watching met (empty once a list succeeded)."""
        self.lists = 0
        """How many times the objects were listed (a relist after 410 or a stream end adds one)."""
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Run the list-then-watch loop in a task."""
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name=f"hookbus-informer-{self.resource.plural}")

    async def stop(self) -> None:
        """Stop the loop (the cache keeps what it had)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def wait_synced(self, timeout: float | None = None) -> None:
        """Return once the first list is cached; :class:`KubeError` naming the resource (and
        the last error) when that takes longer than *timeout* seconds."""
        try:
            await asyncio.wait_for(self.synced.wait(), timeout)
        except TimeoutError:
            why = f": {self.last_error}" if self.last_error else ""
            raise KubeError(0, "Timeout", f"could not list {self.resource} within {timeout:.0f}s{why}") from None

    def get(self, namespace: str, name: str) -> Obj | None:
        return self.cache.get((namespace, name))

    async def run(self) -> None:
        """List, then watch, then list again, until cancelled."""
        failures = 0
        while True:
            try:
                version = await self._relist()
                self.last_error = ""
                self.synced.set()
                failures = 0
                await self._watch(version)
            except Gone:
                log.info("watch too old; listing again", resource=str(self.resource))
            except KubeError as exc:
                self.last_error = str(exc)
                delays = self.backoff.delays() or [self.backoff.limit]
                delay = delays[min(failures, len(delays) - 1)]
                failures += 1
                log.warning("listing or watching failed; trying again", resource=str(self.resource), error=str(exc), delay=round(delay, 2))
                await asyncio.sleep(delay)

    async def _relist(self) -> str:
        items, version = await self.client.list(
            self.resource, self.namespace, label_selector=self.label_selector, field_selector=self.field_selector
        )
        self.lists += 1
        seen = {object_key(i): i for i in items}
        for key, gone in list(self.cache.items()):
            if key not in seen:
                del self.cache[key]
                await self._emit(DELETED, gone)
        for key, obj in seen.items():
            old = self.cache.get(key)
            if old is not None and resource_version(old) == resource_version(obj) and resource_version(obj):
                continue
            self.cache[key] = obj
            await self._emit(ADDED if old is None else MODIFIED, obj)
        return version

    async def _watch(self, version: str) -> None:
        async for event in self.client.watch(
            self.resource,
            self.namespace,
            version,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            timeout_seconds=self.watch_seconds,
        ):
            kind = str(event.get("type") or "")
            obj = event.get("object")
            if not isinstance(obj, dict) or kind == "BOOKMARK":
                continue
            obj.setdefault("apiVersion", self.resource.api_version)
            obj.setdefault("kind", self.resource.kind)
            key = object_key(obj)
            if kind == DELETED:
                self.cache.pop(key, None)
            elif kind in (ADDED, MODIFIED):
                self.cache[key] = obj
            else:
                continue
            await self._emit(kind, obj)
        # the server ended the stream: list again (the caller's loop does)

    async def _emit(self, kind: str, obj: Obj) -> None:
        if self.handler is None:
            return
        try:
            await self.handler(kind, obj)
        except Exception:
            ns, name = object_key(obj)
            log.exception("handling a Kubernetes event failed", resource=str(self.resource), namespace=ns, name=name, event=kind)

