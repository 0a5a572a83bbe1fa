"""Publishing events: :class:`EventPublisher`, off the reconcile path.

:class:`EventPublisher` takes events from the controller without ever making it
wait for NATS: ``publish`` only enqueues (and waits only while the bounded queue
is full), ``try_publish`` and ``publish_progress`` never wait. One background
task moves events to JetStream under a window of unacknowledged events: events
waiting together go out as one atomic batch with one acknowledgement, encoded
once and written as ready protocol frames (:mod:`hookbus.bus.pubwire`); replies
come back on one wildcard subscription and are read with :func:`hookbus.bus.pubwire.parse_ack`.
A batch or publish that fails or is not acknowledged in time is retried event by
event with backoff until each is acknowledged or the publisher is closed, so an
event is never silently dropped. During a NATS outage events stay queued.

Progress (done/total, phase counts) goes to a separate last-value stream and is
coalesced per workflow: only the newest pending value is kept.

With ``EventSettings.grouped``, :meth:`EventPublisher.publish_many` sends the node and
pod events of one pass that share a subject as one message (:class:`EventGroup`).

Retries may reorder events of one workflow; consumers that care order by
``ce-time`` (and by phase order within a node).

The queue, the batching, the acknowledgement window and the retries share the
publisher's state at every step, so they are one class in one module.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import heapq
import itertools
import math
import random
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import structlog

from .. import pubwire
from ..errors import BusError, ConfigError, PayloadTooLarge
from .model import CloudEvent, EventGroup, group_events, progress_event
from .streams import ensure_streams

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from types import TracebackType

    from nats.aio.client import Client
    from nats.aio.msg import Msg

    from ..activity import Activity
    from ..settings import EventSettings

log = structlog.get_logger("hookbus.bus.events")

class PublisherClosedError(BusError, RuntimeError):
    """The event publisher is closed (or closing): the event was not accepted.

    Retrying on the same publisher will not help.
    """


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

