"""The control API server: answers the control-plane verbs for one controller over NATS.

The protocol (subjects, verbs, bodies, errors) is :mod:`hookbus.bus.control`;
this module is the controller's side of it. ``plugin.list`` is answered from
the registry view and dispatcher the server is given (:class:`PluginStatus`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import zlib
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from ...bus import subjects
from ...bus.auth_takeover import CAPABILITY_FIELD
from ...bus.codec import Encoding, decode_map, encode
from ...bus.control import (
    ACTIONS,
    API_VERSION,
    COMPRESS_OVER,
    DEFAULT_NAMESPACE,
    ENCODING_HEADER,
    ERROR_CODE_HEADER,
    ERROR_HEADER,
    FINAL_PHASES,
    QUEUE_GROUP,
    VERBS,
    ZLIB,
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    WorkflowList,
    plugin_of,
    verb_of,
)
from ...bus.errors import DecodeError
from ..argo.types import FULFILLED
from ..engine.refs import redact_text
from ..engine.warnings import warnings_of
from ..workflows import (
    SUMMARY_POLL,
    find_node,
    fingerprint,
    is_finished,
    node_pod_name,
    without_nodes,
    workflow_summary,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Mapping
    from pathlib import Path

    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription

    from ...bus.auth_takeover import TakeOverGuard
    from ..argo.manifest import Bundle
    from .store import WorkflowKey

log = structlog.get_logger(__name__)

LOG_CHUNK_LIMIT = 256 * 1024
"""Most log bytes one ``logs`` reply carries, over all nodes."""
WATCH_WAIT_MAX = 30.0
"""Longest a ``watch`` request may wait for a change, in seconds."""


def error_for_exception(exc: BaseException, verb: str = "") -> ApiError:
    """Map an exception the controller raised while serving *verb* to the error sent back."""
    if isinstance(exc, ApiError):
        return exc
    if verb in ACTIONS and isinstance(exc, ValueError) and getattr(exc, "errors", None) is None:
        return Conflict(str(exc))
    errors = getattr(exc, "errors", None)
    if isinstance(exc, ValueError) and isinstance(errors, list):  # ManifestError
        return BadRequest(
            str(exc).splitlines()[0] if str(exc) else "invalid manifest", [str(e) for e in errors]
        )
    if isinstance(exc, LookupError):
        message = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
        return NotFound(message)
    if isinstance(exc, ValueError | TypeError):
        return BadRequest(str(exc))
    if isinstance(exc, RuntimeError):
        return Conflict(str(exc))
    return ApiError(500, f"{type(exc).__name__}: {exc}")




# --------------------------------------------------------------------------- server


class PluginStatus(Protocol):
    """What ``plugin.list`` reports: one map per plugin the controller has seen."""

    def plugin_list(self) -> list[dict[str, Any]]: ...


class RegistryStatus(Protocol):
    """The parts of :class:`hookbus.bus.RegistryView` that ``plugin.list`` reads."""

    def snapshot(self) -> dict[str, dict[str, Any]]: ...


class DispatcherStatus(Protocol):
    """The parts of :class:`hookbus.bus.Dispatcher` that ``plugin.list`` reads."""

    def breaker_state(self, plugin: str) -> str: ...

    def last_error(self, plugin: str) -> tuple[float, str] | None: ...


class PluginsView:
    """:class:`PluginStatus` from a registry view and the dispatcher calling its plugins."""

    def __init__(self, registry: RegistryStatus, dispatcher: DispatcherStatus) -> None:
        self.registry = registry
        self.dispatcher = dispatcher

    def plugin_list(self) -> list[dict[str, Any]]:
        """Every plugin seen, by name: version, state, live, instances, hooks, breaker, last error."""
        out: list[dict[str, Any]] = []
        for name, seen in sorted(self.registry.snapshot().items()):
            failed = self.dispatcher.last_error(name)
            out.append(
                {
                    "name": name,
                    "version": seen.get("version"),
                    "state": seen.get("state"),
                    "live": seen.get("state") == "ok",
                    "instances": int(seen.get("instances") or 0),
                    "hooks": list(seen.get("hooks") or ()),
                    "breaker": self.dispatcher.breaker_state(name),
                    "last_error": failed[1] if failed else seen.get("error"),
                    "last_error_at": _rfc3339(failed[0]) if failed else None,
                }
            )
        return out


def _rfc3339(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


class ControllerApi(Protocol):
    """The parts of :class:`hookbus.controller.engine.controller.Controller` the API serves."""

    async def submit(
        self,
        workflow: dict[str, Any],
        *,
        parameters: Mapping[str, str] | None = None,
        bundle: Bundle | None = None,
    ) -> WorkflowKey: ...

    def exists(self, key: WorkflowKey) -> bool: ...

    async def read(self, key: WorkflowKey) -> dict[str, Any]: ...

    def node(self, key: WorkflowKey, wanted: str) -> dict[str, Any] | None: ...

    def list(self, namespace: str | None = None) -> WorkflowList: ...

    def watch(self, key: WorkflowKey) -> AsyncIterator[dict[str, Any]]: ...

    async def suspend(self, key: WorkflowKey) -> None: ...

    async def resume(self, key: WorkflowKey) -> None: ...

    async def stop_workflow(self, key: WorkflowKey, message: str = "") -> None: ...

    async def terminate(self, key: WorkflowKey) -> None: ...

    async def retry(self, key: WorkflowKey) -> None: ...

    async def delete(self, key: WorkflowKey) -> None: ...

    def log_path(self, key: WorkflowKey, node_id: str) -> Path | None: ...

    def secret_values(self, key: WorkflowKey) -> set[str]: ...

    async def complete_node(
        self, key: WorkflowKey, node_id: str, phase: str, *, message: str = "", outputs: dict[str, Any] | None = None
    ) -> None: ...


def _key(namespace: str, name: str) -> WorkflowKey:
    from .store import WorkflowKey

    return WorkflowKey(namespace=namespace, name=name)


def _text(body: Mapping[str, Any], name: str, *, default: str | None = None) -> str:
    value = body.get(name, default)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"request field {name!r} must be a non-empty string")
    return value


TAKE_OVER_WAIT = 2.0
"""Seconds a ``complete`` report with a valid capability waits for its take-over to be recorded."""
MAX_QUEUED = 256
"""Requests (other than ``watch``) waiting for a worker; past this, a request is answered
503 at once ("busy; retry")."""
WORKERS = 4
"""Requests (other than ``watch``) answered at once, in the order they arrived."""
MAX_WATCHES = 256
"""Long-polling ``watch`` requests held at once; past this, a watch is answered 503."""


class ApiServer:
    """Serves the control verbs for one controller on a NATS connection.

    ``async with ApiServer(controller, nc):`` subscribes (queue group
    ``hookbus-controller``); leaving stops it. Requests are answered in the order they
    arrive by :data:`WORKERS` workers from a queue of at most :data:`MAX_QUEUED`, so a
    flood of requests costs the controller's loop a bounded share and running workflows
    keep going; what does not fit is told 503 at once and may retry. A long-polling
    ``watch`` has its own bound (:data:`MAX_WATCHES`), so it never holds up a ``get``.
    """

    def __init__(
        self,
        controller: ControllerApi,
        nc: Client,
        *,
        default_namespace: str = DEFAULT_NAMESPACE,
        key_factory: Callable[[str, str], WorkflowKey] | None = None,
        templates: Bundle | None = None,
        plugins: PluginStatus | None = None,
        takeovers: TakeOverGuard | None = None,
    ) -> None:
        self.controller = controller
        self.nc = nc
        self.default_namespace = default_namespace
        self.key_factory = key_factory or _key
        self.templates = templates
        """WorkflowTemplates, ClusterWorkflowTemplates and ConfigMaps every submit may use
        (the documents a request sends along win over same-named ones)."""
        self.plugins = plugins
        """The plugins' registry view and dispatcher (``plugin.list``); ``None``: plugins are off."""
        self.takeovers = takeovers
        """Who took which node over, and their capabilities (the dispatcher's); ``None``: no
        plugins here, so no node is taken over and every ``complete`` is refused."""
        self._sub: Subscription | None = None
        self._plugin_sub: Subscription | None = None
        self._complete_sub: Subscription | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._queue: asyncio.Queue[tuple[str, Msg]] = asyncio.Queue(MAX_QUEUED)
        self._workers: list[asyncio.Task[None]] = []
        self.refused = 0
        """Requests answered 503 because the queue (or the watches) were full."""

    async def start(self) -> None:
        """Subscribe to every control verb."""
        if self._sub is None:
            self._workers = [
                asyncio.create_task(self._work(), name=f"hookbus-api-worker-{i}") for i in range(WORKERS)
            ]
            self._sub = await self.nc.subscribe(
                subjects.control("workflow") + ".*", queue=QUEUE_GROUP, cb=self._on_request
            )
            self._plugin_sub = await self.nc.subscribe(
                subjects.control("plugin") + ".*", queue=QUEUE_GROUP, cb=self._on_request
            )
            self._complete_sub = await self.nc.subscribe(
                subjects.control("plugin") + ".*.complete", queue=QUEUE_GROUP, cb=self._on_request
            )
            await self.nc.flush()

    async def stop(self) -> None:
        """Unsubscribe and cancel requests still in progress. Idempotent."""
        for sub in (self._sub, self._plugin_sub, self._complete_sub):
            if sub is not None:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
        self._sub = self._plugin_sub = self._complete_sub = None
        tasks = [*self._tasks, *self._workers]
        self._workers = []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    async def __aenter__(self) -> ApiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _on_request(self, msg: Msg) -> None:
        verb = verb_of(msg.subject)
        if verb == "watch":
            if len(self._tasks) >= MAX_WATCHES:
                await self._busy(msg, f"{MAX_WATCHES} watches are already held")
                return
            task = asyncio.create_task(self._answer(verb, msg), name="hookbus-api-watch")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        try:
            self._queue.put_nowait((verb, msg))
        except asyncio.QueueFull:
            await self._busy(msg, f"{MAX_QUEUED} requests are already waiting")

    async def _work(self) -> None:
        while True:
            verb, msg = await self._queue.get()
            try:
                await self._answer(verb, msg)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("control request could not be answered", verb=verb)

    async def _busy(self, msg: Msg, why: str) -> None:
        """Answer 503 at once: the caller may retry (the CLI says so)."""
        self.refused += 1
        if msg.reply:
            reply, headers = self._error(ApiError(503, f"the controller is busy ({why}); retry"))
            await self.nc.publish(msg.reply, encode(reply, Encoding.JSON), headers=headers)

    async def _answer(self, verb: str, msg: Msg) -> None:
        headers: dict[str, str] | None = None
        body: Any = None
        try:
            body = decode_map(msg.data, Encoding.JSON, subject=msg.subject)
            if body.get("v") not in (None, API_VERSION):
                raise BadRequest(
                    f"API version {body.get('v')!r} is not supported (expected {API_VERSION})"
                )
            caller = plugin_of(verb)
            if caller is not None:
                result = await self._do_complete(body, caller)
            else:
                handler = getattr(self, f"_do_{verb.replace('.', '_')}", None)
                if verb not in VERBS or handler is None:
                    raise NotFound(f"unknown control verb {verb!r}; known: {', '.join(VERBS)}")
                result = await handler(body)
            reply: dict[str, Any] = {"v": API_VERSION, "ok": True, "result": result}
        except asyncio.CancelledError:
            raise
        except DecodeError as exc:
            reply, headers = self._error(BadRequest(str(exc)))
        except Exception as exc:
            error = error_for_exception(exc, verb)
            if error.code >= 500:
                log.exception("control request failed", verb=verb)
            reply, headers = self._error(error)
        if not msg.reply:
            return
        accepts_zlib = ZLIB in (body.get("accept") or ()) if isinstance(body, dict) else False
        try:
            data, encoded = await _pack_reply(reply, compress=accepts_zlib)
            if len(data) > self.nc.max_payload:
                raise ApiError(
                    413,
                    f"the reply to {verb!r} is {len(data)} bytes, over the NATS server's max_payload "
                    f"of {self.nc.max_payload}; raise max_payload on the server"
                    + ("" if accepts_zlib else " or ask for zlib replies"),
                )
            if encoded:
                headers = {**(headers or {}), ENCODING_HEADER: ZLIB}
        except Exception as exc:
            error = (
                exc if isinstance(exc, ApiError) else ApiError(500, f"reply cannot be sent: {exc}")
            )
            reply, headers = self._error(error)
            data = encode(reply, Encoding.JSON)
        await self.nc.publish(msg.reply, data, headers=headers)

    @staticmethod
    def _error(error: ApiError) -> tuple[dict[str, Any], dict[str, str]]:
        headers = {
            ERROR_CODE_HEADER: str(error.code),
            ERROR_HEADER: error.message.splitlines()[0][:200],
        }
        return {"v": API_VERSION, "ok": False, "error": error.to_wire()}, headers

    def _key_of(self, body: Mapping[str, Any]) -> WorkflowKey:
        namespace = _text(body, "namespace", default=self.default_namespace)
        return self.key_factory(namespace, _text(body, "name"))

    def _require(self, key: WorkflowKey) -> None:
        """:class:`NotFound` unless the controller knows *key* (without building it)."""
        if not self.controller.exists(key):
            raise NotFound(f"workflow {key.namespace}/{key.name} not found")

    async def _get(self, key: WorkflowKey) -> dict[str, Any]:
        try:
            workflow = await self.controller.read(key)
        except LookupError:
            raise NotFound(f"workflow {key.namespace}/{key.name} not found") from None
        if workflow is None:
            raise NotFound(f"workflow {key.namespace}/{key.name} not found")
        return workflow

    async def _do_submit(self, body: Mapping[str, Any]) -> dict[str, Any]:
        workflow = body.get("workflow")
        if not isinstance(workflow, dict):
            raise BadRequest("request field 'workflow' must be a Workflow object")
        parameters = body.get("parameters") or {}
        if not isinstance(parameters, dict) or not all(
            isinstance(v, str) for v in parameters.values()
        ):
            raise BadRequest("request field 'parameters' must map names to strings")
        documents = body.get("documents") or []
        if not isinstance(documents, list) or not all(isinstance(d, dict) for d in documents):
            raise BadRequest("request field 'documents' must be a list of objects")
        bundle: Bundle | None = None
        if documents or self.templates is not None:
            from ..argo.manifest import Bundle

            bundle = Bundle()
            if self.templates is not None:
                bundle.merge(self.templates)
            for doc in documents:
                bundle.add(doc)
        metadata = workflow.setdefault("metadata", {})
        if isinstance(metadata, dict) and body.get("namespace") and not metadata.get("namespace"):
            metadata["namespace"] = body["namespace"]
        key = await self.controller.submit(workflow, parameters=parameters, bundle=bundle)
        submitted = await self._get(key)
        return {
            "namespace": key.namespace,
            "name": key.name,
            "workflow": submitted,
            "warnings": warnings_of(submitted),
        }

    async def _do_list(self, body: Mapping[str, Any]) -> dict[str, Any]:
        namespace = body.get("namespace")
        if namespace is not None and not isinstance(namespace, str):
            raise BadRequest("request field 'namespace' must be a string or null")
        return {"items": [without_nodes(w) for w in self.controller.list(namespace)]}

    async def _do_get(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return {"workflow": await self._get(self._key_of(body))}

    async def _do_watch(self, body: Mapping[str, Any]) -> dict[str, Any]:
        key = self._key_of(body)
        since = body.get("since")
        wait = min(max(float(body.get("wait") or 0.0), 0.0), WATCH_WAIT_MAX)
        with_nodes = body.get("nodes", True) is not False

        def shown(workflow: dict[str, Any]) -> dict[str, Any]:
            return workflow if with_nodes else without_nodes(workflow)

        def reply(workflow: dict[str, Any]) -> dict[str, Any]:
            return {
                "workflow": workflow,
                "fingerprint": fingerprint(workflow),
                "done": is_finished(workflow),
            }

        if not with_nodes:
            return reply(await self._summary_change(key, since, wait))
        current = shown(await self._get(key))
        if since != fingerprint(current) or is_finished(current) or wait <= 0:
            return reply(current)
        snapshots = self.controller.watch(key)
        try:
            async with asyncio.timeout(wait):
                async for snapshot in snapshots:
                    current = shown(snapshot)
                    if fingerprint(current) != since or is_finished(current):
                        return reply(current)
        except TimeoutError:
            pass
        finally:
            aclose = getattr(snapshots, "aclose", None)
            if aclose is not None:
                await aclose()
        return reply(current)  # the last one taken: built again, it would say the same

    async def _summary_change(self, key: WorkflowKey, since: Any, wait: float) -> dict[str, Any]:
        """The workflow's summary once it differs from *since*, it finished, or *wait* passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            current = workflow_summary(self.controller, key)
            if since != fingerprint(current) or is_finished(current) or loop.time() >= deadline:
                return current
            await asyncio.sleep(min(SUMMARY_POLL, max(deadline - loop.time(), 0.0)))

    async def _do_logs(self, body: Mapping[str, Any]) -> dict[str, Any]:
        key = self._key_of(body)
        workflow = await self._get(key)
        nodes: dict[str, dict[str, Any]] = (workflow.get("status") or {}).get("nodes") or {}
        wanted = body.get("node")
        if wanted:
            node = find_node(workflow, str(wanted))
            if node is None:
                raise NotFound(f"workflow {key.namespace}/{key.name} has no node {wanted!r}")
            selected = [node]
        else:
            selected = sorted(
                (n for n in nodes.values() if n.get("type") == "Pod"),
                key=lambda n: (n.get("startedAt") or "~", n.get("name") or ""),
            )
        offsets = body.get("offsets") or {}
        if not isinstance(offsets, dict):
            raise BadRequest("request field 'offsets' must map node ids to byte offsets")
        budget = min(int(body.get("limit") or LOG_CHUNK_LIMIT), LOG_CHUNK_LIMIT)
        secrets = self.controller.secret_values(key)
        chunks: list[dict[str, Any]] = []
        complete = True
        for node in selected:
            node_id = str(node.get("id"))
            path = self.controller.log_path(key, node_id)
            if path is None:
                continue
            offset = int(offsets.get(node_id) or 0)
            data = await asyncio.to_thread(_read_from, path, offset, budget)
            if len(data) >= budget:
                complete = False
            if secrets:
                data = _whole_lines(data, cut=len(data) >= budget or not node.get("finishedAt"))
            budget -= len(data)
            if data:
                chunks.append(
                    {
                        "node_id": node_id,
                        "node_name": node.get("name"),
                        "pod_name": node_pod_name(key.name, node),
                        "data": redact_text(data.decode(errors="replace"), secrets) if secrets else data.decode(errors="replace"),
                        "offset": offset + len(data),
                    }
                )
            if budget <= 0:
                complete = False
                break
        return {"chunks": chunks, "done": complete and is_finished(workflow)}

    async def _do_plugin_list(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """The plugins the controller has seen and how they are doing (``[]`` with plugins off)."""
        return {"plugins": self.plugins.plugin_list() if self.plugins is not None else []}

    async def _do_complete(self, body: Mapping[str, Any], caller: str | None = None) -> dict[str, Any]:
        """A plugin that took a node over reports its end (``hookbus.bus.complete_node``), on
        ``plugin.<caller>.complete``: only the plugin that took the node over, with its
        capability, while the node still runs (``workflow.complete`` names no plugin: refused)."""
        key = self._key_of(body)
        wanted = _text(body, "node")
        try:
            # by id or full name without a snapshot: a fan-out of taken-over nodes completes
            # each of them, and building the whole workflow every time would be quadratic
            node = self.controller.node(key, wanted)
        except LookupError:
            raise NotFound(f"workflow {key.namespace}/{key.name} not found") from None
        if node is None:
            node = find_node(await self._get(key), wanted)  # a pod or display name
        if node is None:
            raise NotFound(f"workflow {key.name!r} has no node {wanted!r}")
        phase = _text(body, "phase")
        if phase not in FINAL_PHASES:
            raise BadRequest(f"phase must be one of {', '.join(sorted(FINAL_PHASES))}, not {phase!r}")
        if node.get("phase") in FULFILLED:
            raise Conflict(f"node {node.get('name')!r} already ended {node.get('phase')}")
        outputs = body.get("outputs")
        if outputs is not None and not isinstance(outputs, dict):
            raise BadRequest("outputs must be a map like {'parameters': [{'name': ..., 'value': ...}]}")
        message = body.get("message") or ""
        node_id = str(node["id"])
        await self._check_owner(key, node_id, str(node.get("name") or node_id), caller, body.get(CAPABILITY_FIELD))
        await self.controller.complete_node(key, node_id, phase, message=str(message), outputs=outputs)
        if self.takeovers is not None:
            self.takeovers.release(key.namespace, key.name, node_id)
        return {}

    async def _check_owner(self, key: WorkflowKey, node_id: str, shown: str, caller: str | None, capability: Any) -> None:
        """:class:`Forbidden` unless *caller* took the node over and holds its capability."""
        takeovers = self.takeovers
        owner: str | None = None
        if takeovers is not None and caller is not None:
            # a valid capability may be a step ahead of the take-over's record: wait a moment for it
            valid = takeovers.valid(caller, key.namespace, key.name, capability)
            owner = await takeovers.wait_owner(key.namespace, key.name, node_id, TAKE_OVER_WAIT if valid else 0.0)
        problem = ""
        if caller is None:
            problem = (
                f"node {shown!r} can be completed only by the plugin that took it over, on "
                f"{subjects.control('plugin')}.<plugin>.complete with its capability"
            )
        elif owner is None:
            problem = f"node {shown!r} is not taken over by a plugin; only a plugin that took a node over may complete it"
        elif owner != caller:
            problem = f"node {shown!r} is taken over by another plugin; plugin {caller!r} may not complete it"
        elif self.takeovers is None or not self.takeovers.valid(caller, key.namespace, key.name, capability):
            problem = f"plugin {caller!r} sent no valid take-over capability for workflow {key.namespace}/{key.name}"
        if problem:
            log.warning(
                "completion refused", workflow=f"{key.namespace}/{key.name}", node=node_id, plugin=caller or "-", reason=problem
            )
            raise Forbidden(problem)

    async def _do_suspend(self, body: Mapping[str, Any]) -> dict[str, Any]:
        key = self._key_of(body)
        self._require(key)
        await self.controller.suspend(key)
        return {"workflow": await self._get(key)}

    async def _do_resume(self, body: Mapping[str, Any]) -> dict[str, Any]:
        key = self._key_of(body)
        self._require(key)
        await self.controller.resume(key)
        return {"workflow": await self._get(key)}

    async def _do_stop(self, body: Mapping[str, Any]) -> dict[str, Any]:
        key = self._key_of(body)
        self._require(key)
        message = body.get("message") or ""
        await self.controller.stop_workflow(key, message=str(message))
        return {"workflow": await self._get(key)}

    async def _do_terminate(self, body: Mapping[str, Any]) -> dict[str, Any]:
        key = self._key_of(body)
        self._require(key)
        await self.controller.terminate(key)
        return {"workflow": await self._get(key)}

    async def _do_retry(self, body: Mapping[str, Any]) -> dict[str, Any]:
        key = self._key_of(body)
        self._require(key)
        await self.controller.retry(key)
        return {"workflow": await self._get(key)}

    async def _do_delete(self, body: Mapping[str, Any]) -> dict[str, Any]:
        key = self._key_of(body)
        self._require(key)
        await self.controller.delete(key)
        if self.takeovers is not None:
            self.takeovers.forget(key.namespace, key.name)
        return {}


async def _pack_reply(reply: Mapping[str, Any], *, compress: bool) -> tuple[bytes, bool]:
    """The JSON of *reply*, zlib-compressed when allowed and over :data:`COMPRESS_OVER` bytes."""
    data = encode(reply, Encoding.JSON)
    if not compress or len(data) <= COMPRESS_OVER:
        return data, False
    if len(data) > 1024 * 1024:
        return await asyncio.to_thread(zlib.compress, data, 1), True
    return zlib.compress(data, 1), True



def _read_from(path: Path, offset: int, limit: int) -> bytes:
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            return handle.read(max(limit, 0))
    except FileNotFoundError:
        return b""


def _whole_lines(data: bytes, *, cut: bool) -> bytes:
    """*data* up to its last newline when *cut* (more follows): a secret is redacted only
    when a line holds all of it, so lines are never split between two replies."""
    if not cut or data.endswith(b"\n"):
        return data
    end = data.rfind(b"\n")
    return data[: end + 1] if end >= 0 else data
