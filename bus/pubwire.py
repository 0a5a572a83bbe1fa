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
  building nats-py objects.

Acknowledgements are the caller's business: it sets reply subjects under one
wildcard subscription of its own and matches replies to what it sent.

Atomic batches (JetStream ``allow_atomic``, nats-server 2.12 and later): every
message of a batch carries ``Nats-Batch-Id`` and a contiguous
``Nats-Batch-Sequence`` starting at 1; the last also carries
``Nats-Batch-Commit: 1``. The server stores all of them or none, and answers
the commit with one ``PubAck`` naming the batch and its message count.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from nats.errors import ConnectionClosedError

from .errors import EncodeError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from nats.aio.client import Client
    from nats.aio.msg import Msg

H_BATCH_ID: Final = "Nats-Batch-Id"
H_BATCH_SEQUENCE: Final = "Nats-Batch-Sequence"
H_BATCH_COMMIT: Final = "Nats-Batch-Commit"
MAX_BATCH: Final = 1000
"""The most messages nats-server accepts in one atomic batch."""

ERR_BATCH_DISABLED: Final = 10174
"""Atomic batch publishing is not enabled on the stream (``allow_atomic``)."""
ERR_BATCH_DUPLICATE: Final = 10201
"""The atomic batch holds a message whose ``Nats-Msg-Id`` the stream already has."""

_STATUS: Final = "Status"
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
