"""The control plane: requests to a running controller over NATS request/reply.

Every request goes to ``hookbus.control.v1.workflow.<verb>`` (built with
:func:`hookbus.bus.subjects.control`), carries a JSON map with ``"v": 1`` and
gets one JSON map back. JSON rather than msgpack so that anyone with the
``nats`` command line tool can drive a controller::

    nats req hookbus.control.v1.workflow.get '{"v":1,"namespace":"default","name":"hello-abc"}'

Verbs and their bodies (``namespace`` defaults to ``"default"`` everywhere):

============  =====================================================  ==========================================
verb          request                                                reply ``result``
============  =====================================================  ==========================================
submit        ``workflow``, ``parameters`` {name: value},             ``namespace``, ``name``, ``workflow``,
              ``documents`` (templates / ConfigMaps sent along)      ``warnings`` ["plugin: message"]
list          ``namespace`` (``null``: every namespace)              ``items``: workflows without ``status.nodes``
get           ``name``                                               ``workflow``
watch         ``name``, ``since`` (a fingerprint), ``wait`` (s)      ``workflow``, ``fingerprint``, ``done``
logs          ``name``, ``node`` (optional), ``offsets``             ``chunks`` [{node_id, node_name, pod_name,
              {node id: byte offset}, ``limit`` (bytes)              data, offset}], ``done``
suspend,      ``name``                                               ``workflow``
resume,
terminate,
retry
stop          ``name``, ``message``                                  ``workflow``
delete        ``name``                                               ``{}``
complete      ``name``, ``node`` (id or name), ``phase``             ``{}`` (409 if the node already ended)
              (Succeeded/Failed/Error), ``message``, ``outputs``
============  =====================================================  ==========================================

The ``warnings`` of a submit reply are what ``workflow.preOperate`` plugins said
about the workflow; they stay on the workflow as the annotation
``hookbus.io/warnings`` (see :mod:`hookbus.controller.engine.warnings`). A
workflow a plugin rejected is stored all the same and comes back already
``Failed``, the plugin's message in ``status.message``.

``watch`` is a long poll: the reply comes as soon as the workflow's snapshot
differs from the one the client last saw (``since``), when the workflow is
finished, or after ``wait`` seconds. No server-side state outlives a request.
With ``"nodes": false`` its snapshots leave ``status.nodes`` out (a progress
bar needs only the phase and ``status.progress``).

A request may say ``"accept": ["zlib"]``: replies over 64 KiB then come
zlib-compressed, marked with the header ``Hookbus-Encoding: zlib``, so that the
node tree of a big workflow fits in one NATS message. A reply still over the
server's ``max_payload`` is an error 413. (``hookbus server`` starts its
embedded NATS with an 8 MiB ``max_payload``.)

A success reply is ``{"v": 1, "ok": true, "result": {...}}``. An error reply is
``{"v": 1, "ok": false, "error": {"code": C, "message": M, "details": [...]}}``
and carries the NATS micro headers ``Nats-Service-Error-Code`` /
``Nats-Service-Error`` too. Codes follow HTTP: 400 bad input (``details``
lists lint messages), 404 no such workflow, node or verb, 409 not possible in
the workflow's current state, 413 reply too large, 500 a controller fault,
503 not ready (retry).
On the client, every error is an :class:`ApiError`; a request nobody answers
is a :class:`NoServerError` (NATS "no responders", detected at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import structlog
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from ..bus import subjects
from ..bus.codec import Encoding, decode_map, encode
from ..bus.errors import DecodeError
from .engine.warnings import warnings_of

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Mapping, Sequence
    from pathlib import Path

    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription

    from .argo.manifest import Bundle
    from .store import WorkflowKey

log = structlog.get_logger(__name__)

API_VERSION = 1
DEFAULT_NAMESPACE = "default"
QUEUE_GROUP = "hookbus-controller"
VERBS = (
    "submit",
    "list",
    "get",
    "watch",
    "logs",
    "suspend",
    "resume",
    "stop",
    "terminate",
    "retry",
    "delete",
    "complete",
)
FINAL_PHASES = frozenset({"Succeeded", "Failed", "Error"})
LOG_CHUNK_LIMIT = 256 * 1024
"""Most log bytes one ``logs`` reply carries, over all nodes."""
WATCH_WAIT_MAX = 30.0
"""Longest a ``watch`` request may wait for a change, in seconds."""

ERROR_CODE_HEADER = "Nats-Service-Error-Code"
ERROR_HEADER = "Nats-Service-Error"
ENCODING_HEADER = "Hookbus-Encoding"
"""Header of a reply whose body is compressed (value ``zlib``)."""
ZLIB = "zlib"
COMPRESS_OVER = 64 * 1024
"""Replies larger than this are compressed when the request's ``accept`` lists ``zlib``."""
MAX_REPLY = 1024 * 1024 * 1024
"""Largest decompressed reply a client accepts."""


WorkflowList = list[dict[str, Any]]
"""A list of Argo-like Workflow objects."""


def subject(verb: str) -> str:
    """The request subject of one control *verb* (``get`` -> ``hookbus.control.v1.workflow.get``)."""
    return subjects.control(f"workflow.{verb}")


# --------------------------------------------------------------------------- errors


class ApiError(Exception):
    """A request failed; ``code`` is HTTP-like, ``details`` lists e.g. lint messages."""

    retryable = False

    def __init__(self, code: int, message: str, details: Sequence[str] = ()) -> None:
        self.code = code
        self.message = message
        self.details = list(details)
        super().__init__(message)

    def to_wire(self) -> dict[str, Any]:
        """The ``error`` member of an error reply."""
        return {"code": self.code, "message": self.message, "details": self.details}


class BadRequest(ApiError):
    """The request or the manifest in it is invalid; fix the input (400)."""

    def __init__(self, message: str, details: Sequence[str] = ()) -> None:
        super().__init__(400, message, details)


class NotFound(ApiError, LookupError):
    """No such workflow, node or verb (404)."""

    def __init__(self, message: str) -> None:
        super().__init__(404, message)


class Conflict(ApiError):
    """Not possible in the workflow's current state (409)."""

    def __init__(self, message: str) -> None:
        super().__init__(409, message)


class NoServerError(ApiError, ConnectionError):
    """No controller answered: none is running at that NATS URL. Retrying may help."""

    retryable = True

    def __init__(self, message: str) -> None:
        super().__init__(503, message)


def error_from_wire(error: Mapping[str, Any]) -> ApiError:
    """The :class:`ApiError` subclass for an ``error`` member of a reply."""
    code = int(error.get("code") or 500)
    message = str(error.get("message") or "unknown error")
    details = [str(d) for d in error.get("details") or ()]
    if code == 400:
        return BadRequest(message, details)
    if code == 404:
        return NotFound(message)
    if code == 409:
        return Conflict(message)
    exc = ApiError(code, message, details)
    exc.retryable = code == 503
    return exc


ACTIONS = frozenset({"suspend", "resume", "stop", "terminate", "retry", "delete"})
"""Verbs that change a workflow's state; a ValueError from them means "not now" (409)."""


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


# --------------------------------------------------------------------------- helpers


def fingerprint(workflow: Mapping[str, Any]) -> str:
    """A short digest of a workflow snapshot's status, to tell whether it changed."""
    status = workflow.get("status") or {}
    data = json.dumps(status, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.blake2b(data, digest_size=12).hexdigest()


def is_finished(workflow: Mapping[str, Any]) -> bool:
    """Whether the workflow reached a final phase."""
    return (workflow.get("status") or {}).get("phase") in FINAL_PHASES


def without_nodes(workflow: Mapping[str, Any]) -> dict[str, Any]:
    """A shallow copy of *workflow* whose status has no ``nodes`` (for listings)."""
    copy = dict(workflow)
    status = dict(copy.get("status") or {})
    status.pop("nodes", None)
    copy["status"] = status
    return copy


def pod_name(workflow_name: str, node: Mapping[str, Any]) -> str:
    """The Argo (v2 pod names) pod name of a node: ``<workflow>-<template>-<hash>``.

    The hash is the node id's suffix (both are fnv-32a of the node name); the
    root node's pod is the workflow's name. A ``podName`` the engine recorded wins.
    """
    if node.get("podName"):
        return str(node["podName"])
    node_id = str(node.get("id") or "")
    if node_id == workflow_name or not node_id.startswith(workflow_name + "-"):
        return node_id
    suffix = node_id[len(workflow_name) + 1 :]
    ref = node.get("templateRef")
    template = (
        node.get("templateName") or (ref.get("template") if isinstance(ref, dict) else "") or ""
    )
    return f"{workflow_name}-{template}-{suffix}" if template else node_id


SUMMARY_POLL = 0.2
"""Seconds between looks at a workflow's summary while following it without its nodes."""


def workflow_summary(controller: ControllerApi, key: WorkflowKey) -> dict[str, Any]:
    """The workflow without its nodes, from ``Controller.list``: cheap however big it is.

    (A full snapshot costs time in proportion to the node count; following a
    100k-node workflow by snapshots would cost more than running it.)
    """
    for workflow in controller.list(key.namespace):
        if (workflow.get("metadata") or {}).get("name") == key.name:
            return without_nodes(workflow)
    raise NotFound(f"workflow {key.namespace}/{key.name} not found")


def find_node(workflow: Mapping[str, Any], wanted: str) -> dict[str, Any] | None:
    """The node named *wanted* by id, pod name, full name or display name."""
    name = (workflow.get("metadata") or {}).get("name", "")
    nodes: dict[str, dict[str, Any]] = (workflow.get("status") or {}).get("nodes") or {}
    if wanted in nodes:
        return nodes[wanted]
    for node in nodes.values():
        if wanted in (pod_name(name, node), node.get("name")):
            return node
    matches = [n for n in nodes.values() if n.get("displayName") == wanted]
    return matches[0] if len(matches) == 1 else None


def documents_of(bundle: Bundle) -> list[dict[str, Any]]:
    """The templates and ConfigMaps of *bundle*, as documents to send along with a submit."""
    docs: list[dict[str, Any]] = []
    docs.extend(bundle.workflow_templates.values())
    docs.extend(bundle.cluster_workflow_templates.values())
    docs.extend(bundle.config_maps.values())
    return docs


# --------------------------------------------------------------------------- server


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


class ApiServer:
    """Serves the control verbs for one controller on a NATS connection.

    ``async with ApiServer(controller, nc):`` subscribes (queue group
    ``hookbus-controller``) and answers each request in its own task, so a
    long-polling ``watch`` never holds up a ``get``; leaving stops it.
    """

    def __init__(
        self,
        controller: ControllerApi,
        nc: Client,
        *,
        default_namespace: str = DEFAULT_NAMESPACE,
        key_factory: Callable[[str, str], WorkflowKey] | None = None,
        templates: Bundle | None = None,
    ) -> None:
        self.controller = controller
        self.nc = nc
        self.default_namespace = default_namespace
        self.key_factory = key_factory or _key
        self.templates = templates
        """WorkflowTemplates, ClusterWorkflowTemplates and ConfigMaps every submit may use
        (the documents a request sends along win over same-named ones)."""
        self._sub: Subscription | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Subscribe to every control verb."""
        if self._sub is None:
            self._sub = await self.nc.subscribe(
                subjects.control("workflow") + ".*", queue=QUEUE_GROUP, cb=self._on_request
            )
            await self.nc.flush()

    async def stop(self) -> None:
        """Unsubscribe and cancel requests still in progress. Idempotent."""
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        tasks = list(self._tasks)
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
        verb = msg.subject.rsplit(".", 1)[-1]
        task = asyncio.create_task(self._answer(verb, msg), name=f"hookbus-api-{verb}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, verb: str, msg: Msg) -> None:
        headers: dict[str, str] | None = None
        body: Any = None
        try:
            body = decode_map(msg.data, Encoding.JSON, subject=msg.subject)
            if body.get("v") not in (None, API_VERSION):
                raise BadRequest(
                    f"API version {body.get('v')!r} is not supported (expected {API_VERSION})"
                )
            handler = getattr(self, f"_do_{verb}", None)
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
            from .argo.manifest import Bundle

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
            budget -= len(data)
            if data:
                chunks.append(
                    {
                        "node_id": node_id,
                        "node_name": node.get("name"),
                        "pod_name": pod_name(key.name, node),
                        "data": data.decode(errors="replace"),
                        "offset": offset + len(data),
                    }
                )
            if budget <= 0:
                complete = False
                break
        return {"chunks": chunks, "done": complete and is_finished(workflow)}

    async def _do_complete(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """A plugin that took a node over reports its end (``hookbus.bus.complete_node``)."""
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
        if node.get("phase") in FINAL_PHASES or node.get("phase") in ("Skipped", "Omitted"):
            raise Conflict(f"node {node.get('name')!r} already ended {node.get('phase')}")
        outputs = body.get("outputs")
        if outputs is not None and not isinstance(outputs, dict):
            raise BadRequest("outputs must be a map like {'parameters': [{'name': ..., 'value': ...}]}")
        message = body.get("message") or ""
        await self.controller.complete_node(key, str(node["id"]), phase, message=str(message), outputs=outputs)
        return {}

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
        return {}


async def _pack_reply(reply: Mapping[str, Any], *, compress: bool) -> tuple[bytes, bool]:
    """The JSON of *reply*, zlib-compressed when allowed and over :data:`COMPRESS_OVER` bytes."""
    data = encode(reply, Encoding.JSON)
    if not compress or len(data) <= COMPRESS_OVER:
        return data, False
    if len(data) > 1024 * 1024:
        return await asyncio.to_thread(zlib.compress, data, 1), True
    return zlib.compress(data, 1), True


def _unpack_reply(msg: Msg, limit: int = MAX_REPLY) -> bytes:
    """The reply's JSON bytes, decompressed when the server compressed them."""
    if (msg.headers or {}).get(ENCODING_HEADER) != ZLIB:
        return bytes(msg.data)
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(msg.data, limit)
    except zlib.error as exc:
        raise DecodeError(f"bad zlib reply: {exc}", subject=msg.subject, data=msg.data) from exc
    if inflater.unconsumed_tail:
        raise DecodeError(
            f"reply inflates to over {limit} bytes", subject=msg.subject, data=msg.data[:64]
        )
    return data


def _read_from(path: Path, offset: int, limit: int) -> bytes:
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            return handle.read(max(limit, 0))
    except FileNotFoundError:
        return b""


# --------------------------------------------------------------------------- client


@dataclass
class LogCursor:
    """Where a ``logs`` client is in each node's log."""

    offsets: dict[str, int] = field(default_factory=dict)


class ApiClient:
    """The client side of the control plane, used by the CLI.

    Every method raises :class:`ApiError` (a subclass per code) on an error
    reply and :class:`NoServerError` when no controller is listening.
    """

    def __init__(
        self, nc: Client, *, namespace: str = DEFAULT_NAMESPACE, timeout: float = 15.0
    ) -> None:
        self.nc = nc
        self.namespace = namespace
        self.timeout = timeout

    async def request(
        self, verb: str, body: Mapping[str, Any], *, timeout: float | None = None
    ) -> dict[str, Any]:
        """Send one request and return its ``result``; raise on an error reply."""
        payload = encode({"v": API_VERSION, "accept": [ZLIB], **body}, Encoding.JSON)
        wait = self.timeout if timeout is None else timeout
        try:
            msg = await self.nc.request(subject(verb), payload, timeout=wait)
        except NoRespondersError:
            raise NoServerError(
                "no hookbus controller is answering at this NATS server: start one with 'hookbus server' "
                "and point --nats-url / HOOKBUS_NATS_URL at the URL it prints"
            ) from None
        except NatsTimeoutError:
            error = ApiError(
                504, f"the controller did not answer {verb!r} within {wait:g}s; retrying may help"
            )
            error.retryable = True
            raise error from None
        reply = decode_map(_unpack_reply(msg), Encoding.JSON, subject=msg.subject)
        if reply.get("ok") is True:
            result = reply.get("result")
            return result if isinstance(result, dict) else {}
        error_body = reply.get("error")
        if not isinstance(error_body, dict):
            raise ApiError(502, f"malformed reply to {verb!r}: neither a result nor an error")
        raise error_from_wire(error_body)

    def _named(self, name: str, namespace: str | None) -> dict[str, Any]:
        return {"namespace": namespace or self.namespace, "name": name}

    async def submit(
        self,
        workflow: Mapping[str, Any],
        *,
        parameters: Mapping[str, str] | None = None,
        documents: Sequence[Mapping[str, Any]] = (),
        namespace: str | None = None,
    ) -> dict[str, Any]:
        """Submit a workflow; returns ``{namespace, name, workflow}``."""
        body = {
            "namespace": namespace or self.namespace,
            "workflow": dict(workflow),
            "parameters": dict(parameters or {}),
            "documents": [dict(d) for d in documents],
        }
        return await self.request("submit", body, timeout=max(self.timeout, 60.0))

    async def list(
        self, namespace: str | None = None, *, all_namespaces: bool = False
    ) -> WorkflowList:
        """Workflows (without their nodes) of one namespace, or of all."""
        result = await self.request(
            "list", {"namespace": None if all_namespaces else namespace or self.namespace}
        )
        items = result.get("items") or []
        return [i for i in items if isinstance(i, dict)]

    async def get(self, name: str, namespace: str | None = None) -> dict[str, Any]:
        """The Argo-like Workflow object."""
        result = await self.request("get", self._named(name, namespace))
        return dict(result["workflow"])

    async def watch(
        self, name: str, namespace: str | None = None, *, wait: float = 10.0, nodes: bool = True
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield the workflow now and after every change, ending after it finished.

        With ``nodes=False`` the snapshots leave ``status.nodes`` out (enough
        for a progress bar, and small however big the workflow is).
        """
        since: str | None = None
        while True:
            body = {**self._named(name, namespace), "since": since, "wait": wait, "nodes": nodes}
            result = await self.request("watch", body, timeout=wait + self.timeout)
            workflow = dict(result["workflow"])
            if result.get("fingerprint") != since:
                yield workflow
            since = str(result.get("fingerprint"))
            if result.get("done"):
                return

    async def logs(
        self,
        name: str,
        node: str | None = None,
        namespace: str | None = None,
        *,
        cursor: LogCursor | None = None,
    ) -> tuple[WorkflowList, bool]:
        """New log chunks since *cursor* (updated in place) and whether the logs are complete."""
        cursor = cursor if cursor is not None else LogCursor()
        body = {**self._named(name, namespace), "node": node, "offsets": cursor.offsets}
        result = await self.request("logs", body)
        chunks = [c for c in result.get("chunks") or [] if isinstance(c, dict)]
        for chunk in chunks:
            cursor.offsets[str(chunk["node_id"])] = int(chunk["offset"])
        return chunks, bool(result.get("done"))

    async def action(
        self, verb: str, name: str, namespace: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        """``suspend``, ``resume``, ``stop``, ``terminate``, ``retry`` or ``delete`` one workflow."""
        if verb not in ACTIONS:
            raise ValueError(f"{verb!r} is not a workflow action")
        return await self.request(verb, {**self._named(name, namespace), **extra})
