"""The control plane: requests to a running controller over NATS request/reply.

Every request goes to ``hookbus.control.v1.<verb>`` (:func:`subject`): the
workflow verbs below to ``hookbus.control.v1.workflow.<verb>``, the plugin
verbs to ``hookbus.control.v1.plugin.<verb>``. A request carries a JSON map
with ``"v": 1`` and gets one JSON map back. JSON rather than msgpack so that
anyone with the ``nats`` command line tool can drive a controller::

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
complete      ``name``, ``node`` (id or name), ``phase``             ``{}`` (409 if the node already ended,
              (Succeeded/Failed/Error), ``message``, ``outputs``,    403 unless the caller took it over)
              ``capability``; sent by a plugin on
              ``hookbus.control.v1.plugin.<name>.complete``
plugin.list   (nothing)                                              ``plugins`` [{name, version, state, live,
                                                                     instances, hooks, breaker, last_error,
                                                                     last_error_at}]
============  =====================================================  ==========================================

The ``warnings`` of a submit reply are what ``workflow.preOperate`` plugins said
about the workflow; they stay on the workflow as the annotation
``hookbus.io/warnings``. A workflow a plugin rejected is stored all the same
and comes back already ``Failed``, the plugin's message in ``status.message``.

``watch`` is a long poll: the reply comes as soon as the workflow's snapshot
differs from the one the client last saw (``since``), when the workflow is
finished, or after ``wait`` seconds. No server-side state outlives a request.
With ``"nodes": false`` its snapshots leave ``status.nodes`` out (a progress
bar needs only the phase and ``status.progress``).

``plugin.list`` answers from the controller's view of the plugin registry and
its dispatcher: every plugin seen, whether it is live (a heartbeat within the
registry TTL and allowed by the operator's allow-list), its live instances and
hooks, the state of its circuit breaker and the last failed call.

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
502 a malformed reply, 503 not ready or nobody answering (retry), 504 no
answer in time (retry).

On the client (:class:`ControlClient`), every error is an :class:`ApiError`;
a request nobody answers is a :class:`NoServerError` (NATS "no responders",
detected at once). Plugins that took a node over report its end with
:meth:`ControlClient.complete_node` or the :func:`complete_node` shortcut.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from . import subjects
from .auth_takeover import CAPABILITY_FIELD, capabilities
from .codec import Encoding, decode_map, encode
from .errors import BusError, DecodeError
from .wire import H_ERROR_CODE, H_ERROR_TEXT, PROTOCOL_VERSION

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping, Sequence

    from nats.aio.client import Client
    from nats.aio.msg import Msg

    from .wire import EndPhase, Outputs

API_VERSION = PROTOCOL_VERSION
DEFAULT_NAMESPACE = "default"
QUEUE_GROUP = "hookbus-controller"
"""Queue group of the controller's control subscriptions: one controller answers each request."""
WORKFLOW_VERBS = (
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
"""Verbs on ``hookbus.control.v1.workflow.<verb>``."""
PLUGIN_VERBS = ("plugin.list",)
"""Verbs on ``hookbus.control.v1.plugin.<verb>``."""
VERBS = WORKFLOW_VERBS + PLUGIN_VERBS
ACTIONS = frozenset({"suspend", "resume", "stop", "terminate", "retry", "delete"})
"""Verbs that change a workflow's state; a ValueError from them means "not now" (409)."""
FINAL_PHASES = frozenset({"Succeeded", "Failed", "Error"})
"""Phases a completed node may be reported in."""

ERROR_CODE_HEADER = H_ERROR_CODE
ERROR_HEADER = H_ERROR_TEXT
ENCODING_HEADER = "Hookbus-Encoding"
"""Header of a reply whose body is compressed (value ``zlib``)."""
ZLIB = "zlib"
COMPRESS_OVER = 64 * 1024
"""Replies larger than this are compressed when the request's ``accept`` lists ``zlib``."""
MAX_REPLY = 1024 * 1024 * 1024
"""Largest decompressed reply a client accepts."""

WorkflowList = list[dict[str, Any]]
"""A list of Argo-like Workflow objects."""
PluginList = list[dict[str, Any]]
"""``plugin.list`` entries: one map per plugin."""


def subject(verb: str) -> str:
    """The request subject of one control *verb*.

    A workflow verb (``get``) -> ``hookbus.control.v1.workflow.get``; a dotted
    verb (``plugin.list``) -> ``hookbus.control.v1.plugin.list``.
    """
    return subjects.control(verb if "." in verb else f"workflow.{verb}")


def complete_verb(plugin: str) -> str:
    """The verb of *plugin*'s ``complete`` reports (``plugin.<name>.complete``): only that
    plugin's identity may publish on its subject."""
    return f"plugin.{subjects.validate_plugin_name(plugin)}.complete"


def plugin_of(verb: str) -> str | None:
    """The plugin a ``plugin.<name>.complete`` verb comes from, else ``None``."""
    parts = verb.split(".")
    if len(parts) == 3 and parts[0] == "plugin" and parts[2] == "complete":
        return parts[1]
    return None


def verb_of(request_subject: str) -> str:
    """The verb a request *request_subject* asks for (the inverse of :func:`subject`)."""
    tail = request_subject.removeprefix(subjects.control("workflow") + ".")
    if tail != request_subject:
        return tail
    return request_subject.removeprefix(subjects.CONTROL_ROOT + ".")


# --------------------------------------------------------------------------- errors


class ApiError(BusError):
    """A control request failed; ``code`` is HTTP-like, ``details`` lists e.g. lint messages."""

    def __init__(self, code: int, message: str, details: Sequence[str] = ()) -> None:
        self.code = code
        self.message = message
        self.details = list(details)
        self.retryable = code in (503, 504)
        super().__init__(message)

    def to_wire(self) -> dict[str, Any]:
        """The ``error`` member of an error reply."""
        return {"code": self.code, "message": self.message, "details": self.details}

    @staticmethod
    def from_wire(error: Mapping[str, Any]) -> ApiError:
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
        if code == 403:
            return Forbidden(message)
        return ApiError(code, message, details)


ControlError = ApiError
"""The name plugins have used for control-plane errors: the same class."""


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


class Forbidden(ApiError):
    """The caller may not do this (403): e.g. completing a node it did not take over."""

    def __init__(self, message: str) -> None:
        super().__init__(403, message)


class NoServerError(ApiError, ConnectionError):
    """No controller answered: none is running at that NATS URL. Retrying may help."""

    def __init__(self, message: str) -> None:
        super().__init__(503, message)


def error_from_wire(error: Mapping[str, Any]) -> ApiError:
    """The :class:`ApiError` subclass for an ``error`` member of a reply."""
    return ApiError.from_wire(error)


# --------------------------------------------------------------------------- replies


def unpack_reply(msg: Msg, limit: int = MAX_REPLY) -> bytes:
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


# --------------------------------------------------------------------------- client


@dataclass
class LogCursor:
    """Where a ``logs`` client is in each node's log."""

    offsets: dict[str, int] = field(default_factory=dict)


class ControlClient:
    """The client side of the control plane: the CLI's, and plugins' for taken-over nodes.

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
        except (NatsTimeoutError, TimeoutError):
            refused = str(self.nc.last_error or "")
            if "permissions violation" in refused.lower() and subject(verb).lower() in refused.lower():
                raise Forbidden(
                    f"this identity may not call {verb!r}: the NATS server refused to pass the request on "
                    "(connect with the credentials of a role that may, e.g. --nats-creds)"
                ) from None
            raise ApiError(
                504, f"the controller did not answer {verb!r} within {wait:g}s; retrying may help"
            ) from None
        try:
            reply = decode_map(unpack_reply(msg), Encoding.JSON, subject=msg.subject)
        except DecodeError as exc:
            raise ApiError(502, f"malformed reply to {verb!r}: {exc.reason}") from None
        if reply.get("ok") is True:
            result = reply.get("result")
            return result if isinstance(result, dict) else {}
        error_body = reply.get("error")
        if not isinstance(error_body, dict):
            raise ApiError(502, f"malformed reply to {verb!r}: neither a result nor an error")
        raise ApiError.from_wire(error_body)

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

    async def complete_node(
        self,
        workflow: str,
        node_id: str,
        phase: EndPhase,
        *,
        namespace: str | None = None,
        message: str = "",
        outputs: Mapping[str, Any] | None = None,
        plugin: str | None = None,
        capability: str | None = None,
    ) -> None:
        """Tell the controller that the node *node_id* of *workflow* ended in *phase*.

        For a plugin that answered ``node.preExecute`` with ``take_over()``: the
        controller finishes the node as if it had run it (its outputs feed
        downstream parameters, ``node.postExecute`` and the notifications follow).
        The report goes out as *plugin* with its take-over *capability*; both default
        to what the ``node.preExecute`` requests of that workflow gave a plugin of
        this process (:mod:`hookbus.bus.auth_takeover`).
        Raises :class:`NotFound` (unknown workflow or node), :class:`Conflict`
        (node already ended), :class:`Forbidden` (not taken over by this plugin, or
        no valid capability), :class:`BadRequest`, :class:`NoServerError` (retry).
        """
        body: dict[str, Any] = {**self._named(workflow, namespace), "node": node_id, "phase": phase}
        if message:
            body["message"] = message
        if outputs is not None:
            body["outputs"] = dict(outputs)
        if capability is None:
            held = capabilities.find(body["namespace"], workflow, plugin, connection=self.nc)
            if held is not None:
                plugin, capability = held
        if capability is not None:
            body[CAPABILITY_FIELD] = capability
        await self.request(complete_verb(plugin) if plugin else "complete", body)

    async def plugins(self) -> PluginList:
        """Every plugin the controller has seen, with its liveness, hooks and breaker state."""
        result = await self.request("plugin.list", {})
        return [p for p in result.get("plugins") or [] if isinstance(p, dict)]


async def complete_node(
    nc: Client,
    *,
    workflow: str,
    node_id: str,
    phase: EndPhase,
    namespace: str = DEFAULT_NAMESPACE,
    message: str = "",
    outputs: Outputs | Mapping[str, Any] | None = None,
    timeout: float = 5.0,
    plugin: str | None = None,
    capability: str | None = None,
) -> None:
    """:meth:`ControlClient.complete_node` on *nc*, for a plugin's own connection.

    Raises :class:`ControlError` (= :class:`ApiError`: 404 unknown workflow or
    node, 409 node already finished, 403 not taken over by this plugin, 503 no
    controller answering: retry).
    """
    client = ControlClient(nc, namespace=namespace, timeout=timeout)
    await client.complete_node(
        workflow, node_id, phase, message=message, outputs=outputs, plugin=plugin, capability=capability
    )
