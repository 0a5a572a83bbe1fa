"""Publishing to JetStream without nats-py's per-message bookkeeping.

``js.publish_async`` pays, for every message, a header encoding with a regular
expression per header, a future, a token and a reply parsed into a ``PubAck``.
For the many small messages the controller writes in one scheduling pass that
client-side work costs more than the server's. This module keeps the wire
format and drops the bookkeeping:

- :func:`header_block` encodes headers once, when a message is accepted;
  :func:`pub_frame` is a message without headers; :func:`frame` turns a subject, an optional reply subject, a header block and
  a body into one ``HPUB`` protocol frame (headers of an atomic batch are
  appended to a ready block, no re-encoding);
- :class:`Writer` sends many frames with one write, at once if asked;
- :func:`parse_ack` reads a JetStream reply (``PubAck``, error, status) without
  building nats-py objects; :func:`ack_error` says only whether a reply is a
  failure, and reads the common success without decoding it;
- :class:`AckPipe` publishes many records and waits for all their acknowledgements,
  with a bounded window of writes in flight (the workflow store's writes).

The event publisher (:mod:`hookbus.bus.events.publisher`) keeps acknowledgements of its
own: it sends atomic batches acknowledged once per batch and retries event by event,
so it matches replies to what it sent itself, under one wildcard subscription, and
reads them with :func:`parse_ack`.

Atomic batches (JetStream ``allow_atomic``, nats-server 2.12 and later): every
message of a batch carries ``Nats-Batch-Id`` and a contiguous
``Nats-Batch-Sequence`` starting at 1; the last also carries
``Nats-Batch-Commit: 1``. The server stores all of them or none, and answers
the commit with one ``PubAck`` naming the batch and its message count.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import nats.errors
from nats.errors import ConnectionClosedError

from .errors import BusError, EncodeError
from .wire import H_STATUS

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription
    from nats.js import JetStreamContext

H_BATCH_ID: Final = "Nats-Batch-Id"
H_BATCH_SEQUENCE: Final = "Nats-Batch-Sequence"
H_BATCH_COMMIT: Final = "Nats-Batch-Commit"
MAX_BATCH: Final = 1000
"""The most messages nats-server accepts in one atomic batch."""

ERR_BATCH_DISABLED: Final = 10174
"""Atomic batch publishing is not enabled on the stream (``allow_atomic``)."""
ERR_BATCH_DUPLICATE: Final = 10201
"""The atomic batch holds a message whose ``Nats-Msg-Id`` the stream already has."""

_STATUS: Final = H_STATUS
_DESCRIPTION: Final = "Description"
_HEADER_KEY = re.compile(r"^[!-9;-~]+$")  # printable ASCII without ':' and spaces
_CRLF: Final = b"\r\n"


def header_block(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> bytes:
    """``NATS/1.0`` and one ``Name: value`` line per header, without the closing blank line.

    :class:`EncodeError` names a header whose name or value cannot travel
    (an empty name, spaces or ``:`` in a name, a line break in a value).
    """
    pairs = headers.items() if hasattr(headers, "items") else headers
    lines = ["NATS/1.0"]
    for name, value in pairs:
        if not _HEADER_KEY.match(name):
            raise EncodeError(f"header name {name!r} is not a NATS header token")
        if "\r" in value or "\n" in value:
            raise EncodeError(f"header {name} has a line break in its value")
        lines.append(f"{name}: {value}")
    lines.append("")
    return "\r\n".join(lines).encode()


def header_lines(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> bytes:
    """The ``Name: value`` lines of *headers* alone, to go after a :func:`header_block`."""
    return header_block(headers)[len(b"NATS/1.0\r\n") :]


def batch_headers(batch_id: str, sequence: int, *, commit: bool) -> bytes:
    """The atomic batch header lines of message *sequence* (1-based) of batch *batch_id*."""
    if commit:
        return b"Nats-Batch-Id: %s\r\nNats-Batch-Sequence: %d\r\nNats-Batch-Commit: 1\r\n" % (batch_id.encode(), sequence)
    return b"Nats-Batch-Id: %s\r\nNats-Batch-Sequence: %d\r\n" % (batch_id.encode(), sequence)


def frame(subject: bytes, reply: bytes, head: bytes, body: bytes, extra: bytes = b"") -> bytes:
    """One ``HPUB`` frame: *head* (from :func:`header_block`) plus *extra* header lines, then *body*."""
    hlen = len(head) + len(extra) + 2
    if reply:
        line = b"HPUB %s %s %d %d\r\n" % (subject, reply, hlen, hlen + len(body))
    else:
        line = b"HPUB %s %d %d\r\n" % (subject, hlen, hlen + len(body))
    return b"".join((line, head, extra, _CRLF, body, _CRLF))


def pub_frame(subject: bytes, reply: bytes, body: bytes) -> bytes:
    """One ``PUB`` frame (a message without headers)."""
    if reply:
        return b"PUB %s %s %d\r\n%s\r\n" % (subject, reply, len(body), body)
    return b"PUB %s %d\r\n%s\r\n" % (subject, len(body), body)


class Writer:
    """Writes ready frames to a connected nats-py client, many per call.

    Uses the client's outgoing buffer directly (nats-py has no public call
    for pre-encoded frames); :meth:`available` says whether this client
    offers it, so callers can fall back to ``Client.publish``.
    """

    def __init__(self, nc: Client) -> None:
        self._nc = nc

    @staticmethod
    def available(nc: Client) -> bool:
        """True when *nc* has the buffer and flush calls this writer relies on."""
        return all(hasattr(nc, name) for name in ("_send_command", "_flush_pending", "_flush_queue"))

    async def write(self, frames: list[bytes], *, now: bool = False) -> None:
        """Queue *frames* for sending and wake the client's flusher.

        With *now*, what is queued goes to the socket at once instead, unless the
        socket already holds :data:`SEND_NOW_BUFFER` bytes it could not send (then
        the flusher sends it, waiting for the socket to drain). The flusher is a
        task of its own: it runs only after every task that was ready before it,
        which in a busy scheduling pass can be tens of milliseconds of other work.

        ``nats.errors.ConnectionClosedError`` once the client is closed;
        retrying on the same client will not help.
        """
        nc: Any = self._nc
        if nc.is_closed:
            raise ConnectionClosedError
        await nc._send_command(frames[0] if len(frames) == 1 else b"".join(frames))
        if now and _send_pending(nc):
            return
        queue = nc._flush_queue
        if queue is not None and queue.empty():
            await nc._flush_pending()


SEND_NOW_BUFFER: Final = 4 * 1024 * 1024
"""Bytes a socket may hold unsent before :meth:`Writer.write` with ``now`` leaves the
sending to the client's flusher, which waits for them to drain."""


def _send_pending(nc: Any) -> bool:
    """Write the client's outgoing buffer to its socket now, as its flusher would; True if done.

    False (the flusher will send it) when the client is not connected, when the
    socket has :data:`SEND_NOW_BUFFER` bytes or more still to send, or when this
    nats-py keeps its socket elsewhere than where this looks.
    """
    if not nc.is_connected or not getattr(nc, "_pending_data_size", 0):
        return False
    transport: Any = getattr(nc, "_transport", None)  # nats-py's wrapper around the stream
    stream = getattr(getattr(transport, "_io_writer", None), "transport", None)  # asyncio's
    if stream is None or not hasattr(transport, "writelines"):
        return False
    if stream.get_write_buffer_size() >= SEND_NOW_BUFFER:
        return False
    transport.writelines(nc._pending)
    nc._pending = []
    nc._pending_data_size = 0
    return True


@dataclass(frozen=True, slots=True)
class Ack:
    """A JetStream reply to a publish, read without nats-py's ``PubAck``."""

    ok: bool
    """Stored (or a duplicate of a stored message)."""
    empty: bool = False
    """A zero-byte reply: the server took a batch message that is not the commit."""
    duplicate: bool = False
    batch: str | None = None
    """The batch id of a committed atomic batch."""
    count: int = 0
    """Messages in the committed batch."""
    code: int = 0
    """HTTP-like status or error code (503: nothing answers on that subject)."""
    err_code: int = 0
    """JetStream error code (``10201``, ...)."""
    description: str = ""

    def error(self) -> str:
        """What went wrong, for logs and exceptions."""
        if self.err_code:
            return f"{self.description} (JetStream error {self.err_code})"
        return self.description or f"status {self.code}"


def parse_ack(msg: Msg) -> Ack:
    """Read a reply to a JetStream publish (never raises: garbage is a failed ack)."""
    headers = msg.headers
    if headers and _STATUS in headers:
        status = headers[_STATUS]
        if status == "503":
            description = "no stream answers on this subject (is the stream created?)"
        else:
            description = headers.get(_DESCRIPTION) or f"status {status}"
        return Ack(ok=False, code=int(status) if status.isdigit() else 0, description=description)
    data = msg.data
    if not data:
        return Ack(ok=True, empty=True)
    try:
        reply = json.loads(data)
    except ValueError:
        return Ack(ok=False, description=f"unreadable acknowledgement {data[:80]!r}")
    if not isinstance(reply, dict):
        return Ack(ok=False, description=f"unreadable acknowledgement {data[:80]!r}")
    error = reply.get("error")
    if isinstance(error, dict):
        return Ack(
            ok=False,
            code=int(error.get("code") or 0),
            err_code=int(error.get("err_code") or 0),
            description=str(error.get("description") or "error"),
        )
    if "seq" not in reply:
        return Ack(ok=False, description=f"unexpected acknowledgement {data[:80]!r}")
    batch = reply.get("batch")
    return Ack(
        ok=True,
        duplicate=bool(reply.get("duplicate")),
        batch=str(batch) if batch else None,
        count=int(reply.get("count") or 0),
    )


def ack_error(msg: Msg) -> str | None:
    """``None`` when *msg* acknowledges a stored message, else what went wrong.

    A success (``{"stream": ..., "seq": ...}`` without headers) is recognised without
    decoding it: a store writes thousands of records a pass and reads every reply.
    Anything else is read by :func:`parse_ack`.
    """
    data = msg.data
    if not msg.headers and data and b'"error"' not in data:
        return None
    ack = parse_ack(msg)
    return None if ack.ok else ack.error()


class AckRejected(BusError):
    """The server answered writes of one :meth:`AckPipe.publish_all` with an error.

    Retrying helps when the cause passes (a stream being created, a server restarting).
    """

    retryable = True


class _Writes:
    """The writes of one :meth:`AckPipe.publish_all`, counted as their acks come back."""

    __slots__ = ("acked", "done", "errors", "sent", "total")

    def __init__(self, total: int) -> None:
        self.total = total
        self.sent = 0
        self.acked = 0
        self.errors: list[str] = []
        self.done = asyncio.Event()


class AckPipe:
    """Pipelined JetStream publishes with one reply subscription and a bounded window.

    ``js.publish_async`` creates a future, a token and a callback per message; for the
    many small writes of one pass that client-side work is most of the cost. Here every
    message of one :meth:`publish_all` shares a reply subject and acks are counted, and
    the messages go out as ready protocol frames, many per write (:class:`Writer`), so
    the only per-message work is one frame and the ack callback. At most *window*
    writes wait for their acks at any time (backpressure).
    """

    def __init__(self, js: JetStreamContext, window: int = 4000) -> None:
        self.nc: Client = js._nc  # the context's connection; nats-py has no public accessor
        self._window = window
        self._in_flight = 0
        self._room = asyncio.Event()
        self._room.set()
        self._writes: dict[str, _Writes] = {}
        self._prefix = ""
        self._sub: Subscription | None = None
        self._ids = 0
        self._writer = Writer(self.nc) if Writer.available(self.nc) else None

    async def start(self) -> None:
        """Subscribe for acknowledgements. Idempotent; :meth:`publish_all` calls it too."""
        if self._sub is None:
            self._prefix = self.nc.new_inbox()
            self._sub = await self.nc.subscribe(self._prefix + ".*", cb=self._on_ack)

    async def stop(self) -> None:
        """Stop listening for acknowledgements (the connection stays open). Idempotent."""
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(nats.errors.Error):
                await sub.unsubscribe()

    async def publish_all(
        self,
        records: list[tuple[str, bytes]],
        headers: dict[str, str] | None,
        deadline: float,
    ) -> None:
        """Publish *records* (subject, payload), each with *headers*; return once all are acknowledged.

        ``TimeoutError`` when they are not within *deadline* seconds;
        ``nats.errors.MaxPayloadError`` for a record over the server's limit, before
        anything is sent; :class:`AckRejected` when the server refused any of them.
        """
        await self.start()
        self._ids += 1
        reply = f"{self._prefix}.{self._ids}"
        writes = _Writes(len(records))
        self._writes[reply] = writes
        try:
            async with asyncio.timeout(deadline):
                if self._writer is not None:
                    await self._write_frames(records, headers, reply, writes, self._writer)
                else:
                    await self._publish_each(records, headers, reply, writes)
                await writes.done.wait()
        finally:
            del self._writes[reply]
            self._in_flight -= writes.sent - writes.acked
            self._room.set()
        if writes.errors:
            raise AckRejected(f"{len(writes.errors)} of {writes.total} writes failed, first: {writes.errors[0]}")

    async def _room_for_one(self) -> None:
        while self._in_flight >= self._window:
            self._room.clear()
            await self._room.wait()

    async def _publish_each(
        self, records: list[tuple[str, bytes]], headers: dict[str, str] | None, reply: str, writes: _Writes
    ) -> None:
        publish = self.nc.publish
        for subject, payload in records:
            await self._room_for_one()
            self._in_flight += 1
            writes.sent += 1
            await publish(subject, payload, reply=reply, headers=headers)

    async def _write_frames(
        self,
        records: list[tuple[str, bytes]],
        headers: dict[str, str] | None,
        reply: str,
        writes: _Writes,
        writer: Writer,
    ) -> None:
        """The same messages as ready frames, as many per write as the window has room for."""
        limit = self.nc.max_payload
        for _subject, payload in records:
            if len(payload) > limit:
                raise nats.errors.MaxPayloadError
        head = header_block(headers) if headers else None
        reply_b = reply.encode()
        done = 0
        while done < len(records):
            await self._room_for_one()
            count = min(self._window - self._in_flight, len(records) - done)
            chunk = records[done : done + count]
            if head is None:
                frames = [pub_frame(subject.encode(), reply_b, payload) for subject, payload in chunk]
            else:
                frames = [frame(subject.encode(), reply_b, head, payload) for subject, payload in chunk]
            self._in_flight += count
            writes.sent += count
            done += count
            await writer.write(frames)

    async def _on_ack(self, msg: Msg) -> None:
        writes = self._writes.get(msg.subject)
        if writes is None:
            return  # a late ack of writes that timed out
        writes.acked += 1
        self._in_flight -= 1
        if self._in_flight < self._window:
            self._room.set()
        error = ack_error(msg)
        if error is not None:
            writes.errors.append(error[:200])
        if writes.acked >= writes.total:
            writes.done.set()
