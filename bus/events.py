"""Notifications: CloudEvents on durable JetStream streams, published off the reconcile path.

Every workflow, node, pod and plugin transition becomes a :class:`CloudEvent`
(CloudEvents 1.0, binary content mode over NATS: the attributes travel as
``ce-*`` headers, the body is the compact JSON of ``data``). The event id is
deterministic (:func:`event_id`) and copied to ``Nats-Msg-Id``, so a re-publish
of the same transition inside the stream's duplicate window (after a retry or
a controller restart) is dropped by JetStream.

:class:`EventPublisher` takes events from the controller without ever making it
wait for NATS: ``publish`` only enqueues (and waits only while the bounded queue
is full), ``try_publish`` and ``publish_progress`` never wait. One background
task moves events to JetStream under a window of unacknowledged events: events
waiting together go out as one atomic batch with one acknowledgement, encoded
once and written as ready protocol frames (:mod:`hookbus.bus.pubwire`); replies
come back on one wildcard subscription. A batch or publish that fails or is not
acknowledged in time is retried event by event with backoff until each is
acknowledged or the publisher is closed, so an event is never silently dropped.
During a NATS outage events stay queued.

Progress (done/total, phase counts) goes to a separate last-value stream and is
coalesced per workflow: only the newest pending value is kept.

With ``EventSettings.grouped``, :meth:`EventPublisher.publish_many` sends the node and
pod events of one pass that share a subject as one message (:class:`EventGroup`, a
CloudEvents JSON batch); :func:`events_from_message` and the readers below turn such a
message back into its events.

Retries may reorder events of one workflow; consumers that care order by
``ce-time`` (and by phase order within a node).

:class:`PublisherSink` is the controller's event sink on top of a publisher.
:func:`replay` reads the events back (from the start, only new ones, or resuming
a durable consumer) and decodes them into :class:`CloudEvent` objects;
:func:`latest_progress` reads a workflow's last progress value.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import heapq
import itertools
import json
import math
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Protocol

import orjson
import structlog
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import APIError, NotFoundError

from . import pubwire, subjects
from .errors import BusError, ConfigError, DecodeError, EncodeError, PayloadTooLarge

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
    from types import TracebackType

    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.js.client import JetStreamContext

    from .activity import Activity
    from .settings import EventSettings

log = structlog.get_logger("hookbus.bus.events")

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
H_CONTENT_TYPE: Final = "Content-Type"
H_MSG_ID: Final = "Nats-Msg-Id"
H_EVENT_COUNT: Final = "Hookbus-Event-Count"
"""Header of a grouped message: how many events it holds."""

# JetStream API error codes.
_STREAM_EXISTS: Final = 10058  # stream name already in use with a different configuration
_STREAM_NOT_FOUND: Final = 10059

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


class PublisherClosedError(BusError, RuntimeError):
    """The event publisher is closed (or closing): the event was not accepted.

    Retrying on the same publisher will not help.
    """


class StreamNotFoundError(BusError, NotFoundError):
    """The events stream does not exist yet: no controller has created it on this NATS.

    Retrying after a controller started (or :func:`ensure_streams` ran) helps.
    Also a ``nats.js.errors.NotFoundError``, for callers that catch that.
    """

    retryable = True

    def __init__(self, message: str) -> None:
        NotFoundError.__init__(self, code=404, err_code=_STREAM_NOT_FOUND, description=message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class PublishRefusedError(BusError, RuntimeError):
    """JetStream answered a publish with an error (or nothing stored it).

    The publisher retries it; retrying helps when the cause is passing (a
    stream not created yet, a server restarting).
    """

    retryable = True


class PublisherNotStartedError(BusError, RuntimeError):
    """:meth:`EventPublisher.flush` was called before :meth:`EventPublisher.start`.

    Start the publisher first; waiting will not help.
    """


# --------------------------------------------------------------------------- events


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
    """A plugin's verdict took effect (reject, short-circuit, veto, warning, take-over, hold)."""
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


# --------------------------------------------------------------------------- streams


def events_stream_config(settings: EventSettings) -> StreamConfig:
    """Configuration of the ``HOOKBUS_EVENTS`` stream."""
    return StreamConfig(
        name=subjects.EVENTS_STREAM,
        description="hookbus notifications (CloudEvents)",
        subjects=[f"{subjects.EVENT_ROOT}.>"],
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.OLD,
        storage=StorageType.FILE,
        max_age=settings.max_age,
        duplicate_window=settings.duplicate_window,
        num_replicas=settings.replicas,
        allow_atomic=True,  # harmless to publishers that send one by one; never switched off
    )


def progress_stream_config(settings: EventSettings) -> StreamConfig:
    """Configuration of the ``HOOKBUS_PROGRESS`` last-value stream (one message per workflow)."""
    return StreamConfig(
        name=subjects.PROGRESS_STREAM,
        description="hookbus workflow progress, latest value per workflow",
        subjects=[f"{subjects.PROGRESS_ROOT}.>"],
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.OLD,
        storage=StorageType.FILE,
        max_msgs_per_subject=1,
        max_age=settings.max_age,
        duplicate_window=min(settings.duplicate_window, settings.max_age),
        num_replicas=settings.replicas,
    )


_DISCONNECTED_POLL: Final = 0.05  # seconds between looks at a disconnected client
YIELD_MIN_ITEMS: Final = 256
"""Items in hook calls in flight from which waiting events are held back (see
:meth:`EventPublisher.yield_to`). Calls carrying fewer end within milliseconds; holding
events for them only gathers events into bursts that hold the event loop when they go (a
small workflow's step p99 beside a fan-out of 10-node passes rose from 24 to 27 ms)."""
_BURST: Final = 64  # messages sent before the background task yields to the event loop
_HEADROOM: Final = 1024  # bytes of max_payload left for the headers of an event
_UNIT_BYTES: Final = 1 << 20  # most body bytes in one atomic batch (grouped messages are large)
_GROUP_WINDOW: Final = 4  # grouped publishing builds this many groups' worth of events at a time
_MAX_BATCHES_IN_FLIGHT: Final = 8  # nats-server allows 50 unfinished atomic batches per stream, all publishers together


async def _ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    try:
        await js.add_stream(config)
        return
    except APIError as exc:
        if exc.err_code != _STREAM_EXISTS:
            raise
    # It exists with another configuration: bring it to ours. Two controllers
    # racing here both send the same configuration, so either order is fine.
    try:
        await js.update_stream(config)
    except APIError as exc:
        raise ConfigError(
            f"stream {config.name} exists with a configuration that cannot be updated "
            f"({exc.description}); fix or delete the stream, retrying will not help"
        ) from exc
    log.info("updated stream configuration", stream=config.name)


async def ensure_streams(js: JetStreamContext, settings: EventSettings) -> None:
    """Create or update the events and progress streams. Idempotent, safe under races."""
    if settings.duplicate_window > settings.max_age > 0:
        raise ConfigError(
            f"events duplicate_window ({settings.duplicate_window}s) must not exceed max_age ({settings.max_age}s)"
        )
    await _ensure_stream(js, events_stream_config(settings))
    await _ensure_stream(js, progress_stream_config(settings))


# --------------------------------------------------------------------------- publisher


@dataclass(frozen=True, slots=True)
class PublisherStats:
    """A snapshot of an :class:`EventPublisher`'s counters."""

    published: int
    """Events stored by JetStream (acknowledged, not duplicates)."""
    duplicates: int
    """Publishes JetStream acknowledged as duplicates of a stored event."""
    failed_attempts: int
    """Publishes that failed or were not acknowledged in time (each was retried)."""
    retried: int
    """Re-publishes after a failure."""
    coalesced: int
    """Progress updates replaced by a newer one before they were sent."""
    queued: int
    """Events and progress updates waiting to be sent."""
    pending: int
    """Events sent or waiting for a retry, not yet acknowledged."""
    dropped: int
    """Events given up when the publisher closed before they were acknowledged."""
    batches: int = 0
    """Atomic batches JetStream committed (each stored several messages at once)."""
    groups: int = 0
    """Grouped messages stored (see ``EventSettings.grouped``); their events count in ``published``."""


class _Item:
    """One event on its way: encoded once (body and header block), retried as is."""

    __slots__ = ("attempt", "body", "count", "event", "head", "progress_key", "single", "subject", "ticket")

    def __init__(self, event: CloudEvent | EventGroup, body: bytes, head: bytes, progress_key: str | None = None) -> None:
        self.event = event
        self.count = len(event.events) if isinstance(event, EventGroup) else 1
        """Events the message carries."""
        self.body = body
        self.head = head
        self.subject = event.subject.encode()
        self.progress_key = progress_key
        self.ticket = -1
        self.attempt = 0
        self.single = progress_key is not None
        """Sent on its own, never in an atomic batch (progress; retries; after a refused batch)."""


class _Unit:
    """What one reply subject answers for: one event, or one atomic batch of events."""

    __slots__ = ("batch_id", "deadline", "items", "settled", "token")

    def __init__(self, token: int, items: list[_Item], batch_id: str | None, deadline: float) -> None:
        self.token = token
        self.items = items
        self.batch_id = batch_id
        self.deadline = deadline
        self.settled = False


class EventPublisher:
    """Publishes CloudEvents to JetStream in the background, with backpressure and retries.

    ``async with EventPublisher(nc, settings) as events: await events.publish(e)``.
    *on_error* is called (synchronously, in the publisher's task) for every
    failed attempt and for each event given up at close; it must not block.

    Events waiting together go out as one JetStream atomic batch (up to
    ``settings.batch_size``, one acknowledgement for all of them); a batch the
    server refuses, or one that is not acknowledged in time, is retried event
    by event, so one bad event (or one already stored) never holds back the
    others. Progress updates go out one by one. Replies come back on one
    wildcard subscription of the publisher.
    """

    def __init__(
        self,
        nc: Client,
        settings: EventSettings,
        *,
        on_error: Callable[[CloudEvent, Exception], None] | None = None,
        create_streams: bool = True,
    ) -> None:
        if settings.queue_size < 1 or settings.max_pending_acks < 1:
            raise ConfigError("events queue_size and max_pending_acks must be at least 1")
        if not 1 <= settings.batch_size <= pubwire.MAX_BATCH:
            raise ConfigError(f"events batch_size must be between 1 and {pubwire.MAX_BATCH}, got {settings.batch_size}")
        if not 0 <= settings.yield_to_hooks < math.inf:
            raise ConfigError(f"events yield_to_hooks must be 0 (off) or a finite number of seconds, got {settings.yield_to_hooks}")
        if settings.group_size < 2:
            raise ConfigError(f"events group_size must be at least 2 (a group of one is a single event), got {settings.group_size}")
        self._nc = nc
        self._settings = settings
        self._on_error = on_error
        self._create_streams = create_streams
        self._capacity = settings.queue_size
        self._window = settings.max_pending_acks
        self._batching = settings.batch_size > 1
        self._writer: pubwire.Writer | None = pubwire.Writer(nc) if pubwire.Writer.available(nc) else None
        self._inbox = ""
        self._batch_prefix = uuid.uuid4().hex[:16]
        self._sub: Any = None
        self._task: asyncio.Task[None] | None = None
        self._wakeup = asyncio.Event()
        # Waiting to be sent.
        self._events: collections.deque[_Item] = collections.deque()
        self._putters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._progress: dict[str, _Item] = {}
        self._progress_ready: collections.deque[str] = collections.deque()
        self._progress_busy: set[str] = set()
        # Taken, not yet acknowledged: sent (in flight) or waiting for a retry.
        self._outstanding = 0
        self._units: dict[int, _Unit] = {}
        self._deadlines: collections.deque[_Unit] = collections.deque()
        self._batches_in_flight = 0
        self._first_at: float | None = None
        """When the oldest event waiting to be sent became ready (for ``linger``)."""
        self._activity: Activity | None = None
        self._tokens = itertools.count(1)
        self._resend: collections.deque[_Item] = collections.deque()
        self._retry: list[tuple[float, int, _Item]] = []
        # Flush bookkeeping: tickets in acceptance order, the finished ones, waiters.
        self._tickets = itertools.count()
        self._next_ticket = 0
        self._open: collections.deque[int] = collections.deque()
        self._done: set[int] = set()
        self._flushers: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()
        self._take_progress = False
        self._failing = False
        self._closing = False
        self._stopped = False
        self._closed = asyncio.Event()
        self._failure: BaseException | None = None
        self._published = 0
        self._duplicates = 0
        self._failed_attempts = 0
        self._retried = 0
        self._coalesced = 0
        self._dropped = 0
        self._batches = 0
        self._groups = 0

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Create the streams (unless told not to) and start the background task. Idempotent."""
        if self._closing:
            raise PublisherClosedError("event publisher is closed; create a new one")
        if self._task is not None:
            return
        if self._create_streams:
            await ensure_streams(self._nc.jetstream(), self._settings)
        if self._sub is None:
            self._inbox = self._nc.new_inbox()
            self._sub = await self._nc.subscribe(self._inbox + ".*", cb=self._on_reply)
        self._task = asyncio.create_task(self._run(), name="hookbus-events-publisher")

    def yield_to(self, activity: Activity) -> None:
        """Hold waiting events back while *activity* (the dispatcher's) has calls carrying at
        least :data:`YIELD_MIN_ITEMS` items in flight, for up to ``settings.yield_to_hooks``
        seconds; they go as soon as those calls end.

        A pass waits for its plugins' answers; sending and storing events meanwhile takes
        CPU the plugins, on the same machine, then do not have. Publishing never waits for
        this: the queue's second half is not held back.
        """
        if self._settings.yield_to_hooks > 0:
            self._activity = activity
            activity.on_leave(self._wakeup.set)

    async def flush(self, timeout: float | None = None) -> None:
        """Return once every event accepted so far is acknowledged by JetStream.

        Raises :class:`TimeoutError` after *timeout* seconds (the events stay
        queued; calling again may succeed) and :class:`PublisherClosedError`
        if the publisher stopped before they went out.
        """
        target = self._next_ticket
        if self._low() >= target:
            return
        if self._stopped:
            raise PublisherClosedError(f"event publisher closed with {self._unacked()} event(s) not published")
        if self._failure is not None:
            raise PublisherClosedError("event publisher task failed") from self._failure
        if self._task is None:
            raise PublisherNotStartedError(f"{self._unacked()} event(s) queued but the event publisher is not started")
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._flushers.append((target, waiter))
        self._wakeup.set()  # what waits (linger, hook calls in flight) goes now
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            raise TimeoutError(
                f"{self._unacked()} event(s) not acknowledged by JetStream within {timeout}s; they stay queued"
            ) from None

    async def close(self, timeout: float | None = 10.0) -> None:
        """Stop accepting events, flush for up to *timeout* seconds, then stop. Idempotent.

        Events still unacknowledged at the deadline are counted as ``dropped``,
        logged and reported to ``on_error``.
        """
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        for putter in self._putters:
            if not putter.done():
                putter.set_result(None)
        try:
            if self._task is not None and not self._task.done():
                with contextlib.suppress(TimeoutError, PublisherClosedError):
                    await self.flush(timeout)
        finally:
            self._stopped = True
            task, self._task = self._task, None
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            dropped = self._dropped
            self._give_up()
            sub, self._sub = self._sub, None
            if sub is not None:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
            if self._dropped > dropped:
                log.error("event publisher closed before events were acknowledged", dropped=self._dropped - dropped)
            self._closed.set()

    async def __aenter__(self) -> EventPublisher:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has begun."""
        return self._closing

    @property
    def stats(self) -> PublisherStats:
        """Counters and queue sizes right now."""
        return PublisherStats(
            published=self._published,
            duplicates=self._duplicates,
            failed_attempts=self._failed_attempts,
            retried=self._retried,
            coalesced=self._coalesced,
            queued=len(self._events) + len(self._progress),
            pending=self._outstanding,
            dropped=self._dropped,
            batches=self._batches,
            groups=self._groups,
        )

    # ----------------------------------------------------------------- accepting

    def _prepare(self, event: CloudEvent | EventGroup, progress_key: str | None = None) -> _Item:
        if self._closing:
            raise PublisherClosedError(f"event publisher is closed; event {event.id} ({event.type}) not accepted")
        body = event.body()
        if len(body) > self._nc.max_payload - _HEADROOM:
            raise PayloadTooLarge(len(body), self._nc.max_payload - _HEADROOM, what=f"event {event.id} ({event.type})")
        return _Item(event, body, event.header_block(), progress_key)

    def _accept(self, item: _Item) -> None:
        ticket = next(self._tickets)
        self._next_ticket = ticket + 1
        item.ticket = ticket
        self._open.append(ticket)
        self._events.append(item)
        self._wakeup.set()

    async def publish(self, event: CloudEvent) -> None:
        """Queue *event*; waits only while the queue is full. Never loses it.

        :class:`EncodeError`/:class:`PayloadTooLarge` if it cannot be sent at
        all; :class:`PublisherClosedError` once closing has begun.
        """
        await self._put(self._prepare(event))

    async def _put(self, item: _Item) -> None:
        while len(self._events) >= self._capacity:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._putters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                # If we were handed a free slot, pass it on.
                if waiter.done() and not waiter.cancelled():
                    self._wake_putter()
                raise
            finally:
                with contextlib.suppress(ValueError):
                    self._putters.remove(waiter)
            if self._closing:
                raise PublisherClosedError(f"event publisher closed while event {item.event.id} waited for room")
        self._accept(item)

    async def publish_many(self, events: Iterable[CloudEvent]) -> None:
        """Queue the events of one scheduling pass, in order; waits only while the queue is full.

        With ``EventSettings.grouped``, events that share a subject travel as
        :class:`EventGroup` messages (see :func:`group_events`).

        *events* is read as it is queued, so a large pass never builds more events than
        the queue holds (grouped: a window of a few groups more).
        """
        if not self._settings.grouped:
            for event in events:
                item = self._prepare(event)
                if not self._accept_now(item):
                    await self._put(item)
            return
        size = self._settings.group_size
        window = iter(events)
        while chunk := list(itertools.islice(window, size * _GROUP_WINDOW)):
            for message in group_events(chunk, size=size, max_bytes=self._nc.max_payload - _HEADROOM):
                item = self._prepare(message)
                if not self._accept_now(item):
                    await self._put(item)

    def _accept_now(self, item: _Item) -> bool:
        """Queue *item* if there is room and nobody waits for it; whether it was queued."""
        if len(self._events) >= self._capacity or self._putters:
            return False
        self._accept(item)
        return True

    def try_publish(self, event: CloudEvent) -> bool:
        """Queue *event* if there is room now; return False (event not taken) when full
        (or when earlier ``publish`` calls wait for room: they go first)."""
        if len(self._events) >= self._capacity or self._putters:
            if self._closing:
                raise PublisherClosedError(f"event publisher is closed; event {event.id} ({event.type}) not accepted")
            return False
        item = self._prepare(event)
        self._accept(item)
        return True

    def publish_progress(self, namespace: str, workflow: str, data: Mapping[str, Any]) -> None:
        """Set the latest progress of a workflow; never waits.

        Only the newest value waiting to be sent is kept per workflow, and one
        publish per workflow is in flight at a time, so the stream ends with
        the last value.
        """
        event = progress_event(namespace, workflow, data)
        key = event.subject
        item = self._prepare(event, key)
        waiting = self._progress.get(key)
        if waiting is not None:
            item.ticket = waiting.ticket  # the newest value answers for the older one
            self._progress[key] = item
            self._coalesced += 1
            return
        ticket = next(self._tickets)
        self._next_ticket = ticket + 1
        item.ticket = ticket
        self._open.append(ticket)
        self._progress[key] = item
        if key not in self._progress_busy:
            self._progress_ready.append(key)
        self._wakeup.set()

    def _wake_putter(self) -> None:
        while self._putters:
            putter = self._putters.popleft()
            if not putter.done():
                putter.set_result(None)
                return

    # ----------------------------------------------------------------- background

    async def _run(self) -> None:
        try:
            await self._drain()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self._failure = exc
            log.exception("event publisher task failed; events are no longer sent")
            for _, waiter in self._flushers:
                if not waiter.done():
                    waiter.set_exception(PublisherClosedError("event publisher task failed"))
            raise

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        burst = 0
        while True:
            self._wakeup.clear()
            now = loop.time()
            self._expire(now)
            if not self._nc.is_connected:
                # Keep events queued until the client is back; poll its state.
                await asyncio.sleep(_DISCONNECTED_POLL)
                continue
            hold = self._hold(now)
            if hold is not None:
                await self._sleep(hold)
                continue
            items = self._take(now)
            if not items:
                burst = 0
                await self._sleep(self._next_deadline(now))
                continue
            await self._send(items, loop.time())
            burst += len(items)
            if burst >= _BURST:
                # Sending does not suspend; give the controller's tasks a turn.
                burst = 0
                await asyncio.sleep(0)

    def _hold(self, now: float) -> float | None:
        """Seconds to wait before sending what is waiting (``None``: send now).

        The oldest waiting event waits ``linger`` for others to share its batch, unless a
        full batch is waiting; while large hook calls are in flight (see :meth:`yield_to`)
        it waits up to ``yield_to_hooks``, unless half the queue is taken (publishing must
        never wait for this). Once it has waited long enough, everything waiting goes,
        batch after batch. A retry, a flush or closing sends at once.
        """
        if not (self._events or self._progress_ready):
            self._first_at = None
            return None
        if self._first_at is None:
            self._first_at = now
        if self._resend or self._closing or self._flushers:
            return None
        settings = self._settings
        activity = self._activity
        if activity is not None and activity.load >= YIELD_MIN_ITEMS and len(self._events) < self._capacity // 2:
            left = self._first_at + settings.yield_to_hooks - now
            if left > 0:
                return left
        if len(self._events) >= settings.batch_size:
            return None
        left = self._first_at + settings.linger - now
        return left if left > 0 else None

    async def _sleep(self, delay: float | None) -> None:
        if delay is None:
            await self._wakeup.wait()
            return
        handle = asyncio.get_running_loop().call_later(max(delay, 0.0), self._wakeup.set)
        try:
            await self._wakeup.wait()
        finally:
            handle.cancel()

    def _next_deadline(self, now: float) -> float | None:
        deadlines = []
        if self._retry:
            deadlines.append(self._retry[0][0])
        if self._deadlines:
            deadlines.append(self._deadlines[0].deadline)
        return min(deadlines) - now if deadlines else None

    def _take(self, now: float) -> list[_Item]:
        if self._resend:
            return [self._resend.popleft()]
        while self._retry and self._retry[0][0] <= now:
            item = heapq.heappop(self._retry)[2]
            if item.progress_key is not None and item.progress_key in self._progress:
                # A newer progress value is waiting: send that one instead.
                self._coalesced += 1
                self._finish(item)
                continue
            self._retried += 1
            return [item]
        room = self._window - self._outstanding
        if room <= 0:
            return []
        # Alternate between events and progress so that neither starves the other.
        self._take_progress = not self._take_progress
        order = (self._take_progress, not self._take_progress)
        for progress in order:
            if progress and self._progress_ready:
                key = self._progress_ready.popleft()
                item = self._progress.pop(key)
                self._progress_busy.add(key)
                self._outstanding += 1
                return [item]
            if not progress and self._events:
                size = 1
                if self._batching and self._batches_in_flight < _MAX_BATCHES_IN_FLIGHT:
                    size = min(room, self._settings.batch_size, len(self._events))
                events = self._events
                items = [events.popleft()]
                used = len(items[0].body)
                while len(items) < size and used + len(events[0].body) <= _UNIT_BYTES:
                    used += len(events[0].body)
                    items.append(events.popleft())
                for _ in items:
                    self._wake_putter()
                self._outstanding += len(items)
                return items
        return []

    async def _send(self, items: list[_Item], now: float) -> None:
        token = next(self._tokens)
        batch_id = f"{self._batch_prefix}-{token}" if len(items) > 1 else None
        unit = _Unit(token, items, batch_id, now + self._settings.ack_timeout)
        reply = f"{self._inbox}.{token}"
        try:
            if self._writer is not None:
                await self._writer.write(self._frames(unit, reply.encode()))
            else:
                await self._publish_each(unit, reply)
        except Exception as exc:  # connection closed or buffer full: retry later
            for item in items:
                self._failed(item, exc)
            return
        self._units[token] = unit
        self._deadlines.append(unit)
        if batch_id is not None:
            self._batches_in_flight += 1

    def _frames(self, unit: _Unit, reply: bytes) -> list[bytes]:
        items = unit.items
        if unit.batch_id is None:
            item = items[0]
            return [pubwire.frame(item.subject, reply, item.head, item.body)]
        last = len(items)
        frame = pubwire.frame
        extra = pubwire.batch_headers
        batch_id = unit.batch_id
        # The first message starts the batch (a request, as the server expects) and the
        # last commits it; both reply to the unit's subject, the others need no reply.
        out = [frame(items[0].subject, reply, items[0].head, items[0].body, extra(batch_id, 1, commit=last == 1))]
        for n in range(1, last - 1):
            item = items[n]
            out.append(frame(item.subject, b"", item.head, item.body, extra(batch_id, n + 1, commit=False)))
        item = items[-1]
        out.append(frame(item.subject, reply, item.head, item.body, extra(batch_id, last, commit=True)))
        return out

    async def _publish_each(self, unit: _Unit, reply: str) -> None:
        """The same messages through ``Client.publish`` (clients without a raw writer)."""
        last = len(unit.items)
        for n, item in enumerate(unit.items, 1):
            headers = item.event.headers()
            if unit.batch_id is not None:
                headers[pubwire.H_BATCH_ID] = unit.batch_id
                headers[pubwire.H_BATCH_SEQUENCE] = str(n)
                if n == last:
                    headers[pubwire.H_BATCH_COMMIT] = "1"
            answer = reply if unit.batch_id is None or n in (1, last) else ""
            await self._nc.publish(item.event.subject, item.body, reply=answer, headers=headers)

    async def _on_reply(self, msg: Msg) -> None:
        token = msg.subject.rpartition(".")[2]
        unit = self._units.get(int(token)) if token.isdigit() else None
        if unit is None or unit.settled or self._stopped:
            return  # late: the unit timed out (and was retried) or the publisher stopped
        ack = pubwire.parse_ack(msg)
        if ack.empty and unit.batch_id is not None:
            return  # the server took the batch's first message; the commit answers for all
        self._settle(unit)
        if unit.batch_id is None:
            item = unit.items[0]
            if ack.ok and not ack.empty:
                self._acked(item, duplicate=ack.duplicate)
            else:
                self._failed(item, PublishRefusedError(ack.error() if not ack.empty else "empty acknowledgement"))
            return
        if ack.ok and ack.batch == unit.batch_id and ack.count == len(unit.items):
            self._batches += 1
            for item in unit.items:
                self._acked(item, duplicate=False)
            return
        if ack.ok or ack.err_code == pubwire.ERR_BATCH_DISABLED:
            # Stored without batch semantics (a server before 2.12), or the stream does not
            # allow batches: publish one by one from now on; deduplication drops repeats.
            if self._batching:
                self._batching = False
                log.info("JetStream atomic batches unavailable; publishing events one by one", reason=ack.error())
            self._resend_singly(unit.items)
            return
        if ack.err_code == pubwire.ERR_BATCH_DUPLICATE:
            # Some events are already stored (a re-publish after a restart): each on its own
            # is acknowledged as a duplicate or stored.
            self._resend_singly(unit.items)
            return
        error = PublishRefusedError(f"atomic batch of {len(unit.items)} events refused: {ack.error()}")
        for item in unit.items:
            self._failed(item, error)

    def _settle(self, unit: _Unit) -> None:
        unit.settled = True
        del self._units[unit.token]
        if unit.batch_id is not None:
            self._batches_in_flight -= 1

    def _resend_singly(self, items: list[_Item]) -> None:
        for item in items:
            item.single = True
        self._resend.extend(items)
        self._wakeup.set()

    def _expire(self, now: float) -> None:
        deadlines = self._deadlines
        while deadlines:
            unit = deadlines[0]
            if not unit.settled and unit.deadline > now:
                break
            deadlines.popleft()
            if not unit.settled:
                self._settle(unit)
                error = TimeoutError(f"no acknowledgement within {self._settings.ack_timeout}s")
                for item in unit.items:
                    self._failed(item, error)

    def _acked(self, item: _Item, *, duplicate: bool) -> None:
        if duplicate:
            self._duplicates += item.count
        else:
            self._published += item.count
            if item.count > 1:
                self._groups += 1
        if self._failing:
            self._failing = False
            log.info("event publishing recovered", failed_attempts=self._failed_attempts)
        self._finish(item)

    def _failed(self, item: _Item, exc: Exception) -> None:
        self._failed_attempts += 1
        item.attempt += 1
        item.single = True
        event = item.event
        error = str(exc) or type(exc).__name__
        if not self._failing:
            self._failing = True
            log.warning("event publish failed; retrying", event_id=event.id, type=event.type, subject=event.subject, error=error)
        else:
            log.debug("event publish failed; retrying", event_id=event.id, type=event.type, attempt=item.attempt, error=error)
        self._report(event, exc)
        key = item.progress_key
        if key is not None and key in self._progress:
            # A newer progress value is waiting: it replaces this one.
            self._coalesced += 1
            self._finish(item)
            return
        backoff = self._settings.retry_backoff * (2 ** min(item.attempt - 1, 16))
        delay = min(backoff, self._settings.retry_backoff_max) * random.uniform(0.8, 1.2)
        heapq.heappush(self._retry, (asyncio.get_running_loop().time() + delay, item.ticket, item))
        self._wakeup.set()

    def _report(self, message: CloudEvent | EventGroup, exc: Exception) -> None:
        if self._on_error is None:
            return
        for event in message.events if isinstance(message, EventGroup) else (message,):
            try:
                self._on_error(event, exc)
            except Exception:
                log.exception("event publisher on_error callback failed", event_id=event.id)

    def _finish(self, item: _Item) -> None:
        self._outstanding -= 1
        key = item.progress_key
        if key is not None:
            self._progress_busy.discard(key)
            if key in self._progress:
                self._progress_ready.append(key)
        self._done.add(item.ticket)
        while self._open and self._open[0] in self._done:
            self._done.discard(self._open.popleft())
        low = self._low()
        while self._flushers and self._flushers[0][0] <= low:
            _, waiter = self._flushers.popleft()
            if not waiter.done():
                waiter.set_result(None)
        self._wakeup.set()

    def _low(self) -> int:
        """Every ticket below this one is finished."""
        return self._open[0] if self._open else self._next_ticket

    def _unacked(self) -> int:
        return len(self._open)

    def _give_up(self) -> None:
        leftovers: list[_Item] = list(self._events)
        leftovers.extend(self._progress.values())
        leftovers.extend(item for _, _, item in self._retry)
        leftovers.extend(self._resend)
        for unit in self._units.values():
            leftovers.extend(unit.items)
        self._events.clear()
        self._progress.clear()
        self._progress_ready.clear()
        self._retry.clear()
        self._resend.clear()
        self._units.clear()
        self._deadlines.clear()
        self._batches_in_flight = 0
        for putter in self._putters:
            if not putter.done():
                putter.set_result(None)
        for _, waiter in self._flushers:
            if not waiter.done():
                waiter.set_exception(PublisherClosedError("event publisher closed before every event was published"))
        self._flushers.clear()
        self._dropped += sum(item.count for item in leftovers)
        error = PublisherClosedError("event publisher closed before the event was acknowledged")
        for item in leftovers:
            self._report(item.event, error)


class WorkflowRef(Protocol):
    """What :class:`PublisherSink` needs to know of a workflow (the engine's ``WorkflowInfo`` fits)."""

    @property
    def namespace(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def uid(self) -> str: ...


class PublisherSink:
    """The controller's event sink (``workflow_phase``, ``node_phases``, ``pod_created``,
    ``progress``) on top of an :class:`EventPublisher`.

    Each method only queues: it waits only while the publisher's queue is full.
    """

    def __init__(self, publisher: EventPublisher) -> None:
        self.publisher = publisher

    async def workflow_phase(self, workflow: WorkflowRef, phase: str, message: str) -> None:
        """The workflow's phase changed."""
        await self.publisher.publish(
            workflow_event(workflow.namespace, workflow.name, workflow.uid, phase, message=message)
        )

    async def node_phases(self, workflow: WorkflowRef, nodes: Sequence[Mapping[str, Any]]) -> None:
        """Nodes whose phase changed in one scheduling pass (one ``ce-time``: the pass's)."""
        namespace, name, uid = workflow.namespace, workflow.name, workflow.uid
        stamp = now_rfc3339()
        await self.publisher.publish_many(node_event(namespace, name, uid, node, time=stamp) for node in nodes)

    async def pod_created(self, workflow: WorkflowRef, pods: Sequence[Mapping[str, Any]]) -> None:
        """Processes started in one pass: ``{"node": {...}, "pod": {"name", "image", ...}}`` each."""
        stamp = now_rfc3339()
        await self.publisher.publish_many(self._pod_events(workflow, pods, stamp))

    @staticmethod
    def _pod_events(workflow: WorkflowRef, pods: Sequence[Mapping[str, Any]], stamp: str) -> Iterator[CloudEvent]:
        for item in pods:
            raw_node = item.get("node") or {}
            # Also accept the flat form {"node": "<id>", "name": ..., "image": ...}.
            node: Mapping[str, Any] = raw_node if isinstance(raw_node, dict) else {"id": raw_node, "name": item.get("name")}
            pod: Mapping[str, Any] = item.get("pod") or {"image": item.get("image")}
            node_id = str(node.get("id", ""))
            yield pod_event(
                workflow.namespace,
                workflow.name,
                workflow.uid,
                node_id,
                str(pod.get("name") or node_id),
                node_name=node.get("name"),
                template_name=node.get("templateName"),
                image=pod.get("image"),
                time=stamp,
            )

    async def progress(self, workflow: WorkflowRef, done: int, total: int, phases: Mapping[str, int]) -> None:
        """Coalesced progress after a pass (never waits)."""
        self.publisher.publish_progress(
            workflow.namespace,
            workflow.name,
            {"uid": workflow.uid, "progress": f"{done}/{total}", "done": done, "total": total, "phases": dict(phases)},
        )


# --------------------------------------------------------------------------- reading


class EventReader:
    """Reads CloudEvents back from ``HOOKBUS_EVENTS``; create it with :func:`replay`.

    ``async with replay(js, namespace="ns") as reader: async for event in reader: ...``.
    Without *follow* the iteration ends once the reader has caught up with the
    stream; with it, it waits for new events until closed. A durable reader
    acknowledges an event when the next one is asked for (or on close), so a
    reader that crashes mid-event sees it again. The events of a grouped message
    (see :class:`EventGroup`) come one by one; the message is acknowledged once
    all of them were handed out.
    """

    def __init__(
        self,
        js: JetStreamContext,
        *,
        namespace: str | None = None,
        workflow: str | None = None,
        durable: str | None = None,
        deliver_new: bool = False,
        follow: bool = False,
        batch: int = 256,
        poll: float = 1.0,
    ) -> None:
        self._js = js
        self._filter = subjects.events_filter(namespace, workflow)
        self._durable = durable
        self._deliver_new = deliver_new
        self._follow = follow
        self._batch = batch
        self._poll = poll
        self._sub: JetStreamContext.PullSubscription | None = None
        self._consumer: str | None = None
        self._buffer: collections.deque[Msg] = collections.deque()
        self._events: collections.deque[CloudEvent] = collections.deque()
        """The events of the last message not handed out yet (a grouped message holds several)."""
        self._last: Msg | None = None
        self._caught_up = False
        self._at_tail = False

    async def open(self) -> EventReader:
        """Create (or resume) the consumer."""
        if self._sub is not None:
            return self
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.NEW if self._deliver_new else DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT if self._durable else AckPolicy.NONE,
            inactive_threshold=None if self._durable else 60.0,
            max_ack_pending=-1 if not self._durable else 10_000,
        )
        try:
            self._sub = await self._js.pull_subscribe(
                self._filter, durable=self._durable, stream=subjects.EVENTS_STREAM, config=config
            )
        except NotFoundError as exc:
            raise StreamNotFoundError(
                f"stream {subjects.EVENTS_STREAM} does not exist: start the controller "
                "(it creates the stream) or call ensure_streams"
            ) from exc
        info = await self._sub.consumer_info()
        self._consumer = info.name
        self._caught_up = not self._follow and not info.num_pending and not info.num_ack_pending
        return self

    async def _nothing_left(self) -> bool:
        """True when the consumer has neither undelivered nor unacknowledged events."""
        assert self._sub is not None
        info = await self._sub.consumer_info()
        return not info.num_pending and not info.num_ack_pending

    async def close(self) -> None:
        """Acknowledge the last event read (durable), stop, delete an ephemeral consumer. Idempotent."""
        sub, self._sub = self._sub, None
        if sub is None:
            return
        if self._events:  # a grouped message not handed out whole: the next reader gets it again
            self._events.clear()
            last, self._last = self._last, None
            if last is not None and self._durable:
                await last.nak()
        await self._ack_last()
        if self._durable:
            # Fetched but not handed out: give them back for the next reader, now.
            for msg in self._buffer:
                await msg.nak()
        self._buffer.clear()
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
        if not self._durable and self._consumer:
            with contextlib.suppress(NotFoundError, APIError, asyncio.TimeoutError):
                await self._js.delete_consumer(subjects.EVENTS_STREAM, self._consumer)

    async def _ack_last(self) -> None:
        last, self._last = self._last, None
        if last is not None and self._durable:
            await last.ack()

    async def __aenter__(self) -> EventReader:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __aiter__(self) -> EventReader:
        return self

    async def __anext__(self) -> CloudEvent:
        # A message is acknowledged once every event in it was handed out (a grouped
        # message holds several) and the next one is asked for.
        while not self._events:
            await self._ack_last()
            msg = await self._next_message()
            self._last = msg
            self._events.extend(events_from_message(msg.subject, msg.headers, msg.data))
        return self._events.popleft()

    async def _next_message(self) -> Msg:
        """The next message of the consumer; ``StopAsyncIteration`` once there is none to wait for."""
        while not self._buffer:
            if self._caught_up or self._sub is None:
                raise StopAsyncIteration
            if self._at_tail and await self._nothing_left():
                self._caught_up = True
                continue
            try:
                messages = await self._sub.fetch(self._batch, timeout=self._poll)
            except TimeoutError:
                if not self._follow:
                    self._caught_up = True
                continue
            self._buffer.extend(messages)
            self._at_tail = not self._follow and bool(messages) and messages[-1].metadata.num_pending == 0
        return self._buffer.popleft()


def replay(
    js: JetStreamContext,
    *,
    namespace: str | None = None,
    workflow: str | None = None,
    durable: str | None = None,
    deliver_new: bool = False,
    follow: bool = False,
    batch: int = 256,
) -> EventReader:
    """An :class:`EventReader` over the events of *namespace*/*workflow* (``None``: all).

    From the start of the stream, or only new events with *deliver_new*; a
    *durable* name resumes where that consumer left off.
    """
    return EventReader(
        js,
        namespace=namespace,
        workflow=workflow,
        durable=durable,
        deliver_new=deliver_new,
        follow=follow,
        batch=batch,
    )


async def latest_progress(js: JetStreamContext, namespace: str, workflow: str) -> CloudEvent | None:
    """The last progress event of a workflow, or None if it has none."""
    subject = subjects.progress(namespace, workflow)
    try:
        msg = await js.get_last_msg(subjects.PROGRESS_STREAM, subject)
    except NotFoundError as exc:
        if exc.err_code == _STREAM_NOT_FOUND:
            raise StreamNotFoundError(f"stream {subjects.PROGRESS_STREAM} does not exist") from exc
        return None
    return CloudEvent.from_message(subject, msg.headers, msg.data or b"")
