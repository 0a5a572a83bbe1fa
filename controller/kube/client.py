"""A thin client of the Kubernetes API over kubernetes_asyncio's ``ApiClient``.

Every request goes through :meth:`KubeClient.request`: JSON in, JSON out, errors as
:class:`~.errors.KubeError` subclasses, and throttling (429) or server errors (5xx, no
answer) sent again with exponential backoff (``Retry-After`` honoured). Custom resources
are patched with ``application/merge-patch+json`` only (kubernetes_asyncio's generated
methods would send a dict as json-patch); :meth:`KubeClient.update` writes conditionally on
``resourceVersion`` and, on 409, reads the object again and re-applies the change.

The process names itself in every request's ``User-Agent`` (``hookbus-controller/<version>``,
``hookbus-cli/<version>``: :func:`~.config.connect`), and :meth:`KubeClient.impersonating`
gives a client whose requests act as another identity (``Impersonate-User``), as ``resource``
templates act as their workflow's service account.
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
import structlog

from .errors import Conflict, KubeError, NotFound, error_for

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Mapping, Sequence

    from .resources import Resource

log = structlog.get_logger(__name__)

JSON_TYPE = "application/json"
MERGE_PATCH = "application/merge-patch+json"
IMPERSONATE_USER = "Impersonate-User"

Obj = dict[str, Any]


@dataclass(frozen=True)
class Backoff:
    """How requests the server refused for now (429, 5xx, no answer) are sent again."""

    first: float = 0.2
    """Seconds before the second attempt."""
    factor: float = 2.0
    """Each wait is this many times the one before ..."""
    limit: float = 5.0
    """... up to this many seconds."""
    attempts: int = 6
    """Attempts in all before the error is raised."""

    def delays(self) -> list[float]:
        """The waits between attempts, with jitter (±20 %)."""
        out: list[float] = []
        delay = self.first
        for _ in range(self.attempts - 1):
            out.append(delay * random.uniform(0.8, 1.2))
            delay = min(delay * self.factor, self.limit)
        return out


def resource_version(obj: Obj) -> str:
    """``metadata.resourceVersion`` of *obj* (empty when it has none)."""
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


class KubeClient:
    """Requests to one API server, made with *api* (a kubernetes_asyncio ``ApiClient``)."""

    def __init__(
        self, api: Any, *, backoff: Backoff | None = None, timeout: float = 30.0, headers: Mapping[str, str] | None = None
    ) -> None:
        self.api = api
        self.backoff = backoff or Backoff()
        self.timeout = timeout
        self.headers: dict[str, str] = dict(headers or {})
        """Headers sent with every request of this client (impersonation)."""

    async def close(self) -> None:
        """Close the underlying connections."""
        await self.api.close()

    def impersonating(self, user: str) -> KubeClient:
        """A client on the same connections whose requests act as *user*
        (``Impersonate-User``; for a service account ``system:serviceaccount:<ns>:<name>``, the
        API server gives it that account's groups). The API server first checks that this
        client's own identity may ``impersonate`` *user*. Close the original, not the copy."""
        return KubeClient(self.api, backoff=self.backoff, timeout=self.timeout, headers={**self.headers, IMPERSONATE_USER: user})

    @property
    def user_agent(self) -> str:
        """The ``User-Agent`` of every request (who is asking)."""
        return str(self.api.user_agent)

    @property
    def host(self) -> str:
        """The API server's URL."""
        return str(self.api.configuration.host)

    # ------------------------------------------------------------- requests

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]] = (),
        body: Any = None,
        content_type: str = JSON_TYPE,
        retry: bool = True,
    ) -> Obj:
        """Send one request and return the answer's JSON object (retrying per :attr:`backoff`)."""
        delays = self.backoff.delays() if retry else []
        while True:
            try:
                return await self._once(method, path, query, body, content_type)
            except KubeError as exc:
                if not exc.retryable or not delays:
                    raise
                delay = delays.pop(0)
                if exc.retry_after is not None:
                    delay = max(delay, min(exc.retry_after, self.backoff.limit))
                log.info("Kubernetes API refused for now; trying again", method=method, path=path, status=exc.status, delay=round(delay, 2))
                await asyncio.sleep(delay)

    async def _send(
        self, method: str, path: str, query: Sequence[tuple[str, str]], body: Any, content_type: str, timeout: Any
    ) -> Any:
        try:
            return await self.api.call_api(
                path,
                method,
                query_params=list(query),
                header_params={"Content-Type": content_type, "Accept": JSON_TYPE, **self.headers},
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=timeout,
            )
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise KubeError(0, type(exc).__name__, str(exc) or type(exc).__name__) from exc

    async def _once(self, method: str, path: str, query: Sequence[tuple[str, str]], body: Any, content_type: str) -> Obj:
        response = await self._send(method, path, query, body, content_type, self.timeout)
        try:
            data = await response.read()
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise KubeError(0, type(exc).__name__, str(exc)) from exc
        finally:
            response.release()
        if not 200 <= response.status < 300:
            raise error_for(response.status, data, response.headers.get("Retry-After"))
        try:
            result = json.loads(data) if data else {}
        except ValueError as exc:
            raise KubeError(response.status, "BadResponse", f"not JSON: {data[:80]!r}") from exc
        return result if isinstance(result, dict) else {"value": result}

    async def get_text(self, path: str, query: Sequence[tuple[str, str]] = ()) -> str:
        """GET *path* as text (``pods/<name>/log``), retried as :meth:`request` is."""
        delays = self.backoff.delays()
        while True:
            try:
                response = await self._send("GET", path, query, None, JSON_TYPE, self.timeout)
                try:
                    data = await response.read()
                except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                    raise KubeError(0, type(exc).__name__, str(exc)) from exc
                finally:
                    response.release()
                if not 200 <= response.status < 300:
                    raise error_for(response.status, data, response.headers.get("Retry-After"))
                return bytes(data).decode("utf-8", errors="replace")
            except KubeError as exc:
                if not exc.retryable or not delays:
                    raise
                await asyncio.sleep(delays.pop(0))

    # ------------------------------------------------------------------ verbs

    async def get(self, resource: Resource, namespace: str | None, name: str) -> Obj:
        return await self.request("GET", resource.path(namespace, name))

    async def list(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        label_selector: str = "",
        field_selector: str = "",
    ) -> tuple[list[Obj], str]:
        """Every object of *resource* (in *namespace*, or all) matching the selectors, and the
        list's ``resourceVersion`` (where a watch continues from)."""
        answer = await self.request("GET", resource.path(namespace), query=_selectors(label_selector, field_selector))
        items = [dict(i) for i in answer.get("items") or [] if isinstance(i, dict)]
        for item in items:  # list items carry no apiVersion/kind
            item.setdefault("apiVersion", resource.api_version)
            item.setdefault("kind", resource.kind)
        return items, resource_version(answer)

    async def create(self, resource: Resource, namespace: str | None, body: Obj) -> Obj:
        return await self.request("POST", resource.path(namespace), body=body)

    async def replace(self, resource: Resource, namespace: str | None, name: str, body: Obj) -> Obj:
        """PUT *body* as the object (conditional on its ``metadata.resourceVersion`` if set)."""
        return await self.request("PUT", resource.path(namespace, name), body=body)

    async def patch(self, resource: Resource, namespace: str | None, name: str, patch: Obj) -> Obj:
        """Patch with ``application/merge-patch+json`` (``None`` values delete keys; a
        ``metadata.resourceVersion`` in *patch* makes it conditional)."""
        return await self.request("PATCH", resource.path(namespace, name), body=patch, content_type=MERGE_PATCH)

    async def delete(self, resource: Resource, namespace: str | None, name: str, *, missing_ok: bool = True) -> Obj | None:
        """Delete the object; ``None`` when it was not there (and *missing_ok*)."""
        try:
            return await self.request("DELETE", resource.path(namespace, name))
        except NotFound:
            if not missing_ok:
                raise
            return None

    async def update(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        change: Callable[[Obj], Obj | None],
        *,
        current: Obj | None = None,
        attempts: int = 5,
    ) -> Obj | None:
        """Apply ``change(object)`` (a merge patch, or ``None``: nothing to do) conditionally on
        the object's ``resourceVersion``; on 409 read the object again and apply *change* to
        what is there now, so no other writer's update is lost. *current*: the object as last
        seen (saves a read). Returns the written object, or ``None`` if *change* wanted nothing."""
        obj = current if current is not None else await self.get(resource, namespace, name)
        for attempt in range(attempts):
            patch = change(obj)
            if patch is None:
                return None
            meta = dict(patch.get("metadata") or {})
            meta["resourceVersion"] = resource_version(obj)
            patch = {**patch, "metadata": meta}
            try:
                return await self.patch(resource, namespace, name, patch)
            except Conflict:
                if attempt + 1 == attempts:
                    raise
                log.debug("object changed meanwhile; reading it again", resource=str(resource), name=name)
                obj = await self.get(resource, namespace, name)
        return None  # pragma: no cover - the loop returns or raises

    # ------------------------------------------------------------------ watch

    async def watch(
        self,
        resource: Resource,
        namespace: str | None,
        resource_version: str,
        *,
        label_selector: str = "",
        field_selector: str = "",
        timeout_seconds: int = 300,
    ) -> AsyncIterator[Obj]:
        """The watch events (``{"type", "object"}``) of *resource* after *resource_version*
        until the server ends the stream. An ``ERROR`` event is raised as its
        :class:`~.errors.KubeError` (410 :class:`~.errors.Gone`: list again)."""
        query = [
            *_selectors(label_selector, field_selector),
            ("watch", "true"),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(timeout_seconds)),
        ]
        if resource_version:
            query.append(("resourceVersion", resource_version))
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.timeout, sock_read=timeout_seconds + 30)
        response = await self._send("GET", resource.path(namespace), query, None, JSON_TYPE, timeout)
        try:
            if not 200 <= response.status < 300:
                raise error_for(response.status, await response.read(), response.headers.get("Retry-After"))
            buffer = b""
            try:
                async for chunk in response.content.iter_any():
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        if line.strip():
                            yield _event(line)
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                raise KubeError(0, type(exc).__name__, str(exc) or "watch interrupted") from exc
            if buffer.strip():
                yield _event(buffer)
        finally:
            response.release()


def _event(line: bytes) -> Obj:
    try:
        event = json.loads(line)
    except ValueError as exc:
        raise KubeError(0, "BadWatchEvent", f"not JSON: {line[:80]!r}") from exc
    if not isinstance(event, dict):
        raise KubeError(0, "BadWatchEvent", "not an object")
    if event.get("type") == "ERROR":
        status = event.get("object") or {}
        code = int(status.get("code") or 500) if isinstance(status, dict) else 500
        raise error_for(code, json.dumps(status))
    return event


def _selectors(label_selector: str, field_selector: str) -> list[tuple[str, str]]:
    query: list[tuple[str, str]] = []
    if label_selector:
        query.append(("labelSelector", label_selector))
    if field_selector:
        query.append(("fieldSelector", field_selector))
    return query
