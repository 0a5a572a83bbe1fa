"""The event model: CloudEvents, grouped messages, deterministic ids, the event constructors.

Every workflow, node, pod and plugin transition becomes a :class:`CloudEvent`
(CloudEvents 1.0, binary content mode over NATS: the attributes travel as
``ce-*`` headers, the body is the compact JSON of ``data``). The event id is
deterministic (:func:`event_id`) and copied to ``Nats-Msg-Id``, so a re-publish
of the same transition inside the stream's duplicate window (after a retry or
a controller restart) is dropped by JetStream.

An :class:`EventGroup` is the node or pod events of one pass that share a subject,
sent as one message (a CloudEvents JSON batch); :func:`events_from_message` turns
either form back into its events.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import orjson

from .. import subjects, wire
from ..errors import ConfigError, DecodeError, EncodeError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


SPEC_VERSION: Final = "1.0"
"""The CloudEvents specification version every event declares."""
TYPE_PREFIX: Final = "io.hookbus"
"""Prefix of every event type (``io.hookbus.node.succeeded``)."""
CONTENT_TYPE: Final = "application/json"
BATCH_CONTENT_TYPE: Final = "application/cloudevents-batch+json"
"""``Content-Type`` of a grouped message: a JSON array of events in structured form."""
PROGRESS_TYPE: Final = f"{TYPE_PREFIX}.workflow.progress"

# Header names (CloudEvents NATS protocol binding, binary content mode).
H_SPECVERSION: Final = "ce-specversion"
H_ID: Final = "ce-id"
H_SOURCE: Final = "ce-source"
H_TYPE: Final = "ce-type"
H_TIME: Final = "ce-time"
H_SUBJECT: Final = "ce-subject"
H_CONTENT_TYPE: Final = wire.H_CONTENT_TYPE
H_MSG_ID: Final = "Nats-Msg-Id"
H_EVENT_COUNT: Final = "Hookbus-Event-Count"
"""Header of a grouped message: how many events it holds."""

NODE_FIELDS: Final = (
    "id",
    "name",
    "displayName",
    "type",
    "templateName",
    "phase",
    "message",
    "boundaryID",
    "startedAt",
    "finishedAt",
    "progress",
)
"""Node fields copied into node events. Inputs and outputs stay out: they may hold
secrets and can be large; consumers read them from the workflow's status."""

_VERDICT_TYPES: Final = {
    "reject": "rejected",
    "rejected": "rejected",
    "short-circuit": "short-circuited",
    "shortcircuit": "short-circuited",
    "short-circuited": "short-circuited",
    "veto": "vetoed",
    "vetoed": "vetoed",
    "warn": "warning",
    "warning": "warning",
    "take-over": "taken-over",
    "takeover": "taken-over",
    "taken-over": "taken-over",
    "hold": "held",
    "held": "held",
}



@dataclass(frozen=True, slots=True)
class CloudEvent:
    """One notification, in CloudEvents 1.0 terms.

    ``subject`` is the NATS subject it is published on; the CloudEvents
    ``subject`` attribute (what inside the source it is about) is ``ce_subject``.
    """

    id: str
    """Deterministic id (see :func:`event_id`); also the ``Nats-Msg-Id``."""
    source: str
    """``/hookbus/namespaces/<namespace>/workflows/<name>``."""
    type: str
    """``io.hookbus.<kind>.<phase>``, e.g. ``io.hookbus.workflow.succeeded``."""
    subject: str
    """NATS subject (``hookbus.event.v1.<ns>.<workflow>.<kind>.<phase>``)."""
    time: str
    """When the transition happened, RFC 3339 in UTC."""
    data: dict[str, Any] = field(default_factory=dict)
    """JSON-able payload."""
    ce_subject: str | None = None
    """CloudEvents ``subject`` attribute (``nodes/<node id>``), when there is one."""

    def __hash__(self) -> int:
        return hash(self.id)

    def to_structured(self) -> dict[str, Any]:
        """The event in CloudEvents' structured JSON form (what ``hookbus events`` can print)."""
        out: dict[str, Any] = {
            "specversion": SPEC_VERSION,
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "time": self.time,
            "datacontenttype": CONTENT_TYPE,
        }
        if self.ce_subject is not None:
            out["subject"] = self.ce_subject
        out["data"] = self.data
        return out

    def headers(self) -> dict[str, str]:
        """NATS headers of the binary content mode, with ``Nats-Msg-Id`` for deduplication."""
        headers = {
            H_SPECVERSION: SPEC_VERSION,
            H_ID: self.id,
            H_SOURCE: self.source,
            H_TYPE: self.type,
            H_TIME: self.time,
            H_CONTENT_TYPE: CONTENT_TYPE,
            H_MSG_ID: self.id,
        }
        if self.ce_subject is not None:
            headers[H_SUBJECT] = self.ce_subject
        return headers

    def header_block(self) -> bytes:
        """:meth:`headers` encoded for the wire (the form :func:`hookbus.bus.pubwire.header_block` gives).

        :class:`EncodeError` if an attribute holds a line break (it would end the header).
        """
        text = (
            f"NATS/1.0\r\n{H_SPECVERSION}: {SPEC_VERSION}\r\n{H_ID}: {self.id}\r\n{H_SOURCE}: {self.source}\r\n"
            f"{H_TYPE}: {self.type}\r\n{H_TIME}: {self.time}\r\n{H_CONTENT_TYPE}: {CONTENT_TYPE}\r\n"
            f"{H_MSG_ID}: {self.id}\r\n"
        )
        lines = 8
        if self.ce_subject is not None:
            text += f"{H_SUBJECT}: {self.ce_subject}\r\n"
            lines = 9
        if text.count("\n") != lines or text.count("\r") != lines:
            raise EncodeError(f"event {self.id!r} ({self.type}) has a line break in an attribute")
        return text.encode()

    def body(self) -> bytes:
        """The compact JSON of ``data``; :class:`EncodeError` if it is not JSON-able."""
        try:
            return _dumps(self.data)
        except (TypeError, ValueError, RecursionError) as exc:
            raise EncodeError(f"data of event {self.id} ({self.type}) is not JSON: {exc}") from exc

    def structured_json(self) -> bytes:
        """:meth:`to_structured` as compact JSON (one element of a grouped message);
        :class:`EncodeError` if ``data`` is not JSON-able."""
        try:
            return _dumps(self.to_structured())
        except (TypeError, ValueError, RecursionError) as exc:
            raise EncodeError(f"data of event {self.id} ({self.type}) is not JSON: {exc}") from exc

    @classmethod
    def from_structured(cls, subject: str, value: object) -> CloudEvent:
        """Decode one event in structured form (an element of a grouped message on *subject*)."""
        if not isinstance(value, dict):
            raise DecodeError(f"grouped event must be a JSON object, got {type(value).__name__}", subject=subject)
        missing = [name for name in ("id", "source", "type", "time") if not isinstance(value.get(name), str) or not value[name]]
        if missing:
            raise DecodeError(f"not a CloudEvent: attribute(s) {', '.join(missing)} missing", subject=subject)
        if value.get("specversion") != SPEC_VERSION:
            raise DecodeError(
                f"unsupported specversion {value.get('specversion')!r} (expected {SPEC_VERSION})", subject=subject
            )
        data = value.get("data", {})
        if not isinstance(data, dict):
            raise DecodeError(f"event data must be a JSON object, got {type(data).__name__}", subject=subject)
        ce_subject = value.get("subject")
        return cls(
            id=value["id"],
            source=value["source"],
            type=value["type"],
            subject=subject,
            time=value["time"],
            data=data,
            ce_subject=ce_subject if isinstance(ce_subject, str) else None,
        )

    @classmethod
    def from_message(cls, subject: str, headers: Mapping[str, str] | None, body: bytes) -> CloudEvent:
        """Decode an event from a NATS message; :class:`DecodeError` names what is missing."""
        headers = headers or {}
        missing = [h for h in (H_ID, H_SOURCE, H_TYPE, H_TIME) if not headers.get(h)]
        if missing:
            raise DecodeError(f"not a CloudEvent: header(s) {', '.join(missing)} missing", subject=subject, data=body)
        version = headers.get(H_SPECVERSION)
        if version != SPEC_VERSION:
            raise DecodeError(f"unsupported ce-specversion {version!r} (expected {SPEC_VERSION})", subject=subject, data=body)
        data: Any = {}
        if body:
            try:
                data = json.loads(body)
            except ValueError as exc:
                raise DecodeError(f"event body is not JSON: {exc}", subject=subject, data=body) from exc
        if not isinstance(data, dict):
            raise DecodeError(f"event data must be a JSON object, got {type(data).__name__}", subject=subject, data=body)
        return cls(
            id=headers[H_ID],
            source=headers[H_SOURCE],
            type=headers[H_TYPE],
            subject=subject,
            time=headers[H_TIME],
            data=data,
            ce_subject=headers.get(H_SUBJECT),
        )


_JSON: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _not_json(value: object) -> object:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
# The C encoder json.dumps builds anew on every call, built once: compact separators, UTF-8
# kept, NaN refused, no circular-reference bookkeeping (a cycle ends in RecursionError).
_C_JSON: Final = (
    _c_make_encoder(None, _not_json, json.encoder.encode_basestring, None, ":", ",", False, False, False)
    if _c_make_encoder is not None
    else None
)


def _dumps(data: Any) -> bytes:
    """Compact JSON of *data* as UTF-8, key order kept.

    orjson first (an event body costs it about a microsecond, the standard encoder six);
    what orjson refuses (keys that are not strings, integers beyond 64 bits) goes through
    the standard encoder, which writes it as ``json.dumps`` would. NaN and infinities,
    which JSON cannot hold, become ``null``.
    """
    try:
        # orjson's result keeps the 4 KiB buffer it was written in; a queue of 10,000 event
        # bodies would hold 40 MB. The copy is exact-sized (and still 5x faster than json).
        return bytes(memoryview(orjson.dumps(data)))
    except TypeError:
        pass
    if _C_JSON is not None:
        return "".join(_C_JSON(data, 0)).encode()
    return _JSON.encode(data).encode()


@dataclass(frozen=True, slots=True)
class EventGroup:
    """Events with one NATS subject (one workflow, kind and phase) that travel as one message.

    The CloudEvents JSON batch format: the body is a JSON array of the events in structured
    form and ``Content-Type`` is :data:`BATCH_CONTENT_TYPE`; :data:`H_EVENT_COUNT` says how
    many there are. ``id`` (also the ``Nats-Msg-Id``) is derived from the events' ids, so the
    same group published again inside the duplicate window is dropped. Build groups with
    :func:`group_events`.
    """

    id: str
    subject: str
    """The NATS subject every event of the group has."""
    type: str
    """The ``ce-type`` every event of the group has."""
    events: tuple[CloudEvent, ...]
    encoded: bytes
    """The body (see :meth:`body`)."""

    def headers(self) -> dict[str, str]:
        """NATS headers of the message."""
        return {H_CONTENT_TYPE: BATCH_CONTENT_TYPE, H_EVENT_COUNT: str(len(self.events)), H_MSG_ID: self.id}

    def header_block(self) -> bytes:
        """:meth:`headers` encoded for the wire (the id is hex: nothing to check)."""
        return (
            f"NATS/1.0\r\n{H_CONTENT_TYPE}: {BATCH_CONTENT_TYPE}\r\n{H_EVENT_COUNT}: {len(self.events)}\r\n"
            f"{H_MSG_ID}: {self.id}\r\n"
        ).encode()

    def body(self) -> bytes:
        """The JSON array of the events in structured form."""
        return self.encoded


def group_events(events: Sequence[CloudEvent], *, size: int, max_bytes: int) -> list[CloudEvent | EventGroup]:
    """*events* with those that share a subject joined into :class:`EventGroup` messages.

    A group holds at most *size* events and *max_bytes* bytes of body; groups come in the
    order of their first event, and keep their events' order. An event alone on its subject
    (or too large to share a message) stays as it is: one message in binary mode.
    """
    by_subject: dict[str, list[CloudEvent]] = {}
    for event in events:
        by_subject.setdefault(event.subject, []).append(event)
    out: list[CloudEvent | EventGroup] = []
    for subject, members in by_subject.items():
        if len(members) == 1:
            out.extend(members)
            continue
        run: list[CloudEvent] = []
        parts: list[bytes] = []
        used = 2  # the brackets
        for event in members:
            part = event.structured_json()
            if run and (len(run) >= size or used + len(part) + 1 > max_bytes):
                out.append(_group(subject, run, parts))
                run, parts, used = [], [], 2
            run.append(event)
            parts.append(part)
            used += len(part) + 1
        out.append(_group(subject, run, parts))
    return out


def _group(subject: str, run: list[CloudEvent], parts: list[bytes]) -> CloudEvent | EventGroup:
    if len(run) == 1:
        return run[0]
    return EventGroup(
        id=event_id("group", *(event.id for event in run)),
        subject=subject,
        type=run[0].type,
        events=tuple(run),
        encoded=b"".join((b"[", b",".join(parts), b"]")),
    )


def _media_type(content_type: str | None) -> str:
    return (content_type or "").partition(";")[0].strip().lower()


def events_from_message(subject: str, headers: Mapping[str, str] | None, body: bytes) -> list[CloudEvent]:
    """The events of one message: one in binary mode, or those of a grouped message.

    :class:`DecodeError` names what is wrong with a message that is neither.
    """
    if _media_type((headers or {}).get(H_CONTENT_TYPE)) != BATCH_CONTENT_TYPE:
        return [CloudEvent.from_message(subject, headers, body)]
    try:
        values = json.loads(body)
    except ValueError as exc:
        raise DecodeError(f"grouped events are not JSON: {exc}", subject=subject, data=body) from exc
    if not isinstance(values, list):
        raise DecodeError(f"grouped events must be a JSON array, got {type(values).__name__}", subject=subject, data=body)
    return [CloudEvent.from_structured(subject, value) for value in values]


_CACHE_LIMIT: Final = 4096  # entries per memo below; cleared when full (workflows come and go)


def _length_prefixed(parts: tuple[str | int, ...]) -> bytes:
    """``<byte length>:<utf-8 bytes>`` of each part, concatenated."""
    text = "".join([f"{len(part)}:{part}" for part in map(str, parts)])
    if text.isascii():  # then every character is one byte: the lengths above are byte lengths
        return text.encode()
    return b"".join([b"%d:%s" % (len(data), data) for data in (part.encode() for part in map(str, parts))])


def event_id(*parts: str | int) -> str:
    """A deterministic event id: the same parts always give the same id.

    Parts are length-prefixed before hashing, so ``("ab", "c")`` and
    ``("a", "bc")`` differ. 32 hex characters (blake2b, 128 bits).
    """
    return hashlib.blake2b(_length_prefixed(parts), digest_size=16).hexdigest()


_ID_HASHERS: dict[tuple[str, ...], Any] = {}


def _event_id(prefix: tuple[str, ...], rest: tuple[str | int, ...]) -> str:
    """``event_id(*prefix, *rest)``, hashing the per-workflow *prefix* once."""
    hasher = _ID_HASHERS.get(prefix)
    if hasher is None:
        if len(_ID_HASHERS) >= _CACHE_LIMIT:
            _ID_HASHERS.clear()
        hasher = _ID_HASHERS[prefix] = hashlib.blake2b(_length_prefixed(prefix), digest_size=16)
    digest = hasher.copy()
    digest.update(_length_prefixed(rest))
    return str(digest.hexdigest())


_NAMES: dict[tuple[str, str, str, str], tuple[str, str, str]] = {}


def _event_names(namespace: str, workflow: str, kind: str, phase: str) -> tuple[str, str, str]:
    """(NATS subject, ``ce-source``, ``ce-type``) of an event, remembered: validating the
    names for the subject costs more than the rest of an event."""
    key = (namespace, workflow, kind, phase)
    names = _NAMES.get(key)
    if names is None:
        if len(_NAMES) >= _CACHE_LIMIT:
            _NAMES.clear()
        names = _NAMES[key] = (
            subjects.event(namespace, workflow, kind, phase),
            workflow_source(namespace, workflow),
            _type(kind, phase),
        )
    return names


_clock_second = -1
_clock_prefix = ""


def now_rfc3339() -> str:
    """The current UTC time as RFC 3339 with microseconds and a ``Z``."""
    global _clock_second, _clock_prefix
    now = time.time()
    second = int(now)
    if second != _clock_second:
        _clock_prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _clock_second = second
    return f"{_clock_prefix}.{int((now - second) * 1_000_000):06d}Z"


def workflow_source(namespace: str, workflow: str) -> str:
    """The ``ce-source`` of every event about one workflow."""
    return f"/hookbus/namespaces/{namespace}/workflows/{workflow}"


def _type(kind: str, what: str) -> str:
    return f"{TYPE_PREFIX}.{kind}.{what.lower()}"


def _base(namespace: str, workflow: str, uid: str) -> dict[str, Any]:
    return {"namespace": namespace, "workflow": workflow, "uid": uid}


def workflow_event(
    namespace: str,
    workflow: str,
    uid: str,
    phase: str,
    *,
    message: str = "",
    data: Mapping[str, Any] | None = None,
    attempt: int = 0,
    time: str | None = None,
) -> CloudEvent:
    """A workflow reached *phase* (``Submitted``, ``Running``, ``Succeeded``, ``Failed``, ``Error``).

    *attempt* tells apart the same phase reached again (after ``retry``), so
    that it is not deduplicated; *data* adds fields (it cannot replace the
    identity fields).
    """
    payload: dict[str, Any] = dict(data or {})
    payload.update(_base(namespace, workflow, uid), phase=phase, message=message)
    return CloudEvent(
        id=event_id("workflow", namespace, workflow, uid, phase, attempt),
        source=workflow_source(namespace, workflow),
        type=_type("workflow", phase),
        subject=subjects.event(namespace, workflow, "workflow", phase),
        time=time or now_rfc3339(),
        data=payload,
    )


def node_event(
    namespace: str,
    workflow: str,
    uid: str,
    node: Mapping[str, Any],
    *,
    attempt: int = 0,
    time: str | None = None,
) -> CloudEvent:
    """A node reached its ``phase`` (``node`` is an Argo status node: id, name, type, phase, ...).

    Only :data:`NODE_FIELDS` are copied. The id covers the node's ``startedAt``,
    so a node run again (a workflow ``retry`` resets failed nodes) yields new
    ids; *attempt* tells apart repeats the caller knows of otherwise.
    """
    try:
        node_id = str(node["id"])
        phase = str(node["phase"])
    except KeyError as exc:
        raise ConfigError(f"node of workflow {namespace}/{workflow} has no {exc.args[0]!r} field") from None
    projected = {key: node[key] for key in NODE_FIELDS if key in node}
    payload = {"namespace": namespace, "workflow": workflow, "uid": uid, "phase": phase, "node": projected, "attempt": attempt}
    started = str(node.get("startedAt") or "")
    subject, source, type_ = _event_names(namespace, workflow, "node", phase)
    return CloudEvent(
        id=_event_id(("node", namespace, workflow, uid), (node_id, phase, started, attempt)),
        source=source,
        type=type_,
        subject=subject,
        time=time or now_rfc3339(),
        data=payload,
        ce_subject=f"nodes/{node_id}",
    )


def pod_event(
    namespace: str,
    workflow: str,
    uid: str,
    node_id: str,
    pod_name: str,
    *,
    phase: str = "created",
    node_name: str | None = None,
    template_name: str | None = None,
    image: str | None = None,
    attempt: int = 0,
    time: str | None = None,
) -> CloudEvent:
    """A pod (or local process) of a node was created (or reached another *phase*)."""
    node: dict[str, Any] = {"id": node_id}
    if node_name is not None:
        node["name"] = node_name
    if template_name is not None:
        node["templateName"] = template_name
    pod: dict[str, Any] = {"name": pod_name}
    if image is not None:
        pod["image"] = image
    payload = {"namespace": namespace, "workflow": workflow, "uid": uid, "phase": phase, "node": node, "pod": pod, "attempt": attempt}
    subject, source, type_ = _event_names(namespace, workflow, "pod", phase)
    return CloudEvent(
        id=_event_id(("pod", namespace, workflow, uid), (node_id, pod_name, phase, attempt)),
        source=source,
        type=type_,
        subject=subject,
        time=time or now_rfc3339(),
        data=payload,
        ce_subject=f"pods/{pod_name}",
    )


def verdict_type(verdict: str) -> str:
    """The event phase of a plugin *verdict*: ``reject`` -> ``rejected``, ``veto`` -> ``vetoed``, ..."""
    key = verdict.strip().lower().replace("_", "-")
    return _VERDICT_TYPES.get(key, key)


def plugin_event(
    namespace: str,
    workflow: str,
    uid: str,
    plugin: str,
    verdict: str,
    *,
    node_id: str | None = None,
    message: str = "",
    hook: str | None = None,
    attempt: int = 0,
    time: str | None = None,
) -> CloudEvent:
    """What a plugin's answer did: *verdict* (reject, fail, short-circuit, take-over, hold,
    veto, warning; ``shadow`` for a shadow plugin's answer, which took no effect) becomes
    the event's phase through :func:`verdict_type` (see :data:`hookbus.bus.wire.PluginEventPhase`)."""
    phase = verdict_type(verdict)
    payload = _base(namespace, workflow, uid)
    payload.update(plugin=plugin, verdict=phase, message=message)
    if hook is not None:
        payload["hook"] = hook
    if node_id is not None:
        payload["nodeId"] = node_id
    return CloudEvent(
        id=event_id("plugin", namespace, workflow, uid, plugin, phase, hook or "", node_id or "", message, attempt),
        source=workflow_source(namespace, workflow),
        type=_type("plugin", phase),
        subject=subjects.event(namespace, workflow, "plugin", phase),
        time=time or now_rfc3339(),
        data=payload,
        ce_subject=f"nodes/{node_id}" if node_id is not None else None,
    )


def progress_event(namespace: str, workflow: str, data: Mapping[str, Any], *, time: str | None = None) -> CloudEvent:
    """A progress snapshot of a workflow for the last-value stream.

    Its id is random: the same progress value may legitimately repeat, and
    only retries of this very publish must deduplicate.
    """
    payload = dict(data)
    payload.update(namespace=namespace, workflow=workflow)
    return CloudEvent(
        id=uuid.uuid4().hex,
        source=workflow_source(namespace, workflow),
        type=PROGRESS_TYPE,
        subject=subjects.progress(namespace, workflow),
        time=time or now_rfc3339(),
        data=payload,
    )

