"""Reading events back: :func:`replay` (an :class:`EventReader`) and :func:`latest_progress`.

A reader reads from the start of the stream, only new events, or resumes a durable
consumer, and decodes every message (single or grouped) into :class:`CloudEvent` objects.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from typing import TYPE_CHECKING

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import APIError, NotFoundError

from .. import subjects
from .model import CloudEvent, events_from_message
from .streams import STREAM_NOT_FOUND, StreamNotFoundError

if TYPE_CHECKING:
    from types import TracebackType

    from nats.aio.msg import Msg
    from nats.js.client import JetStreamContext


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
        if exc.err_code == STREAM_NOT_FOUND:
            raise StreamNotFoundError(f"stream {subjects.PROGRESS_STREAM} does not exist") from exc
        return None
    return CloudEvent.from_message(subject, msg.headers, msg.data or b"")
