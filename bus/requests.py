"""Request/reply for hook calls: one wildcard inbox, counted tokens, ready frames.

``Client.request`` makes, for every request, a random token (a system call), a
future with a done callback, a ``wait_for`` with its own future and timer, and a
header encoding. A step of a workflow asks several plugins about one node, and on
a small machine that bookkeeping is a good part of what a request costs the
controller. :class:`Requester` keeps the wire exchange (a publish with a reply
subject, the reply on that subject, a ``503`` status when nobody listens) with
less of it: replies arrive on one wildcard subscription and are matched by a
counter, the constant headers are encoded once, and requests go out as ready
protocol frames (:mod:`hookbus.bus.pubwire`).
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from . import pubwire
from .wire import H_STATUS, STATUS_NO_RESPONDERS

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription


SEND_AT_ONCE_BYTES = 32 * 1024
"""Requests at least this large are written to the socket as they are published.

Written one by one, a thousand small requests of a busy moment cost a thousand system
calls and wake-ups where the flusher makes one; in measurements, many small calls at once
moved half as many workflows per second that way."""


@dataclass(slots=True, eq=False)
class Sent:
    """A request on the wire, waiting for its reply (see :meth:`Requester.send`)."""

    token: str
    future: asyncio.Future[Msg]
    timer: asyncio.TimerHandle
    timeout: float
    """Seconds it was given, from the moment it was sent."""


class Requester:
    """Sends requests on *nc* and waits for their replies, in two steps.

    ``sent = await requester.send(subject, data, headers={...}, extra={...}, timeout=5)``
    puts a request on the wire; ``msg = await requester.receive(sent)`` waits for its
    reply and raises :class:`nats.errors.NoRespondersError` when nobody is subscribed and
    :class:`nats.errors.TimeoutError` when no reply came in time. A caller can so put
    several requests on the wire before it waits for any; every ``send`` must be
    followed by ``receive`` or :meth:`discard`.
    """

    def __init__(self, nc: Client) -> None:
        self._nc = nc
        self._writer = pubwire.Writer(nc) if pubwire.Writer.available(nc) else None
        self._prefix = ""
        self._sub: Subscription | None = None
        self._starting: asyncio.Lock | None = None
        self._tokens = itertools.count(1)
        self._pending: dict[str, asyncio.Future[Msg]] = {}
        self._heads: dict[tuple[tuple[str, str], ...], bytes] = {}

    async def send(
        self,
        subject: str,
        data: bytes,
        *,
        timeout: float,
        headers: dict[str, str] | None = None,
        extra: dict[str, str] | None = None,
    ) -> Sent:
        """Publish *data* to *subject*; the reply is awaited with :meth:`receive`.

        *headers* are the ones that repeat from request to request (encoded once);
        *extra* the ones that change (a request id). The *timeout* runs from now.
        Publishing does not wait for the socket unless the client's buffer is full.
        """
        if self._sub is None:
            await self._start()
        token = str(next(self._tokens))
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Msg] = loop.create_future()
        self._pending[token] = future
        sent = Sent(token, future, loop.call_later(timeout, self._expire, token), timeout)
        try:
            await self._publish(subject, self._prefix + token, data, headers, extra)
        except BaseException:
            self.discard(sent)
            raise
        return sent

    async def receive(self, sent: Sent) -> Msg:
        """The reply to *sent*: ``NoRespondersError`` if nobody listens, ``TimeoutError`` if none came in time."""
        try:
            msg = await sent.future
        finally:
            self.discard(sent)
        if not msg.data and msg.headers and msg.headers.get(H_STATUS) == STATUS_NO_RESPONDERS:
            raise NoRespondersError
        return msg

    def discard(self, sent: Sent) -> None:
        """Stop waiting for the reply to *sent* (it is dropped if it still comes). Idempotent."""
        sent.timer.cancel()
        self._pending.pop(sent.token, None)
        sent.future.cancel()

    async def close(self) -> None:
        """Stop listening for replies; requests still waiting time out."""
        sub, self._sub = self._sub, None
        if sub is not None:
            try:
                await sub.unsubscribe()
            except Exception:  # the connection may be closed already
                return

    async def _start(self) -> None:
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._sub is None:
                inbox = self._nc.new_inbox()
                self._prefix = inbox + "."
                self._sub = await self._nc.subscribe(inbox + ".*", cb=self._on_reply)

    async def _publish(
        self, subject: str, reply: str, data: bytes, headers: dict[str, str] | None, extra: dict[str, str] | None
    ) -> None:
        if self._writer is None:
            await self._nc.publish(subject, data, reply=reply, headers={**(headers or {}), **(extra or {})} or None)
            return
        head = b""
        if headers or extra:
            head = self._head(headers or {})
        more = pubwire.header_lines(extra) if extra else b""
        if head or more:
            frame = pubwire.frame(subject.encode(), reply.encode(), head or pubwire.header_block({}), data, more)
        else:
            frame = pubwire.pub_frame(subject.encode(), reply.encode(), data)
        # A large request goes at once: its plugin can start on it while this process
        # prepares the next. Small ones are left to the flusher, which sends the many
        # that a busy moment queues in one write.
        await self._writer.write([frame], now=len(frame) >= SEND_AT_ONCE_BYTES)

    def _head(self, headers: dict[str, str]) -> bytes:
        key = tuple(headers.items())
        head = self._heads.get(key)
        if head is None:
            if len(self._heads) >= 256:
                self._heads.clear()
            head = self._heads[key] = pubwire.header_block(headers)
        return head

    async def _on_reply(self, msg: Msg) -> None:
        future = self._pending.get(msg.subject[len(self._prefix) :])
        if future is not None and not future.done():
            future.set_result(msg)

    def _expire(self, token: str) -> None:
        future = self._pending.get(token)
        if future is not None and not future.done():
            future.set_exception(NatsTimeoutError())
