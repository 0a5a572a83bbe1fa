"""Event publishing in JetStream atomic batches: one acknowledgement per batch, and every
way a batch can fail ends with each event stored exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest
from nats.aio.msg import Msg

from hookbus.bus import EmbeddedServer, EventSettings, NatsSettings, pubwire, subjects
from hookbus.bus.connection import connect
from hookbus.bus.errors import EncodeError
from hookbus.bus.events import CloudEvent, EventPublisher, events_stream_config, node_event, replay
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from nats.aio.client import Client
    from nats.js.client import JetStreamContext

FAST = EventSettings(ack_timeout=0.5, retry_backoff=0.02, retry_backoff_max=0.2)


@pytest.fixture
async def fast_nc(nats_url: str) -> AsyncIterator[Client]:
    """A client that reconnects quickly (the default waits a second between attempts)."""
    client = await connect(NatsSettings(urls=(nats_url,), reconnect_wait=0.05))
    yield client
    await client.close()


def event(n: int, workflow: str = "wf", phase: str = "Succeeded") -> CloudEvent:
    node = {"id": f"{workflow}-{n}", "name": f"{workflow}[0].step({n})", "type": "Pod", "phase": phase}
    return node_event("default", workflow, "uid-1", node)


async def stored_ids(js: JetStreamContext) -> list[str]:
    async with replay(js) as reader:
        return [e.id async for e in reader]


async def stream_count(js: JetStreamContext) -> int:
    return int((await js.stream_info(subjects.EVENTS_STREAM)).state.messages)


def queue_all(publisher: EventPublisher, events: list[CloudEvent]) -> None:
    """Queue without yielding, so the background task finds them waiting together."""
    for e in events:
        assert publisher.try_publish(e)


# ----------------------------------------------------------------------------- wire format


def test_the_header_block_of_an_event_is_its_headers_on_the_wire() -> None:
    e = event(1)
    assert e.header_block() == pubwire.header_block(e.headers())
    assert e.header_block().startswith(b"NATS/1.0\r\nce-specversion: 1.0\r\n")
    broken = replace(e, ce_subject="nodes/a\r\nNats-Msg-Id: forged")
    with pytest.raises(EncodeError, match="line break"):
        broken.header_block()
    with pytest.raises(EncodeError, match="line break"):
        pubwire.header_block({"ce-id": "a\nb"})
    with pytest.raises(EncodeError, match="header name"):
        pubwire.header_block({"bad name": "x"})


def test_a_frame_counts_header_and_total_bytes_as_the_protocol_says() -> None:
    head = pubwire.header_block({"A": "1"})
    extra = pubwire.batch_headers("b-1", 2, commit=True)
    data = pubwire.frame(b"s.x", b"_INBOX.r.1", head, b"body", extra)
    line, rest = data.split(b"\r\n", 1)
    op, subject, reply, hlen, total = line.split(b" ")
    headers = head + extra + b"\r\n"
    assert (op, subject, reply) == (b"HPUB", b"s.x", b"_INBOX.r.1")
    assert int(hlen) == len(headers)
    assert int(total) == len(headers) + len(b"body")
    assert rest == headers + b"body\r\n"
    assert b"Nats-Batch-Sequence: 2\r\nNats-Batch-Commit: 1\r\n" in headers
    assert pubwire.pub_frame(b"kv.a", b"_INBOX.r.2", b"abc") == b"PUB kv.a _INBOX.r.2 3\r\nabc\r\n"
    assert pubwire.pub_frame(b"kv.a", b"", b"") == b"PUB kv.a 0\r\n\r\n"
    no_reply = pubwire.frame(b"s.x", b"", head, b"")
    assert no_reply.split(b"\r\n", 1)[0] == b"HPUB s.x %d %d" % (len(head) + 2, len(head) + 2)


def test_acknowledgements_are_read_without_raising() -> None:
    def msg(data: bytes, headers: dict[str, str] | None = None) -> Msg:
        return Msg(_client=None, subject="_INBOX.x.1", data=data, headers=headers)  # type: ignore[arg-type]

    ack = pubwire.parse_ack(msg(b'{"stream":"S","seq":7,"batch":"b-1","count":3}'))
    assert (ack.ok, ack.batch, ack.count, ack.duplicate) == (True, "b-1", 3, False)
    assert pubwire.parse_ack(msg(b'{"stream":"S","seq":7,"duplicate":true}')).duplicate
    assert pubwire.parse_ack(msg(b"")).empty
    refused = pubwire.parse_ack(msg(b'{"error":{"code":400,"err_code":10201,"description":"duplicate"},"stream":"S","seq":0}'))
    assert (refused.ok, refused.err_code) == (False, pubwire.ERR_BATCH_DUPLICATE)
    assert "10201" in refused.error()
    nobody = pubwire.parse_ack(msg(b"", {"Status": "503"}))
    assert (nobody.ok, nobody.code) == (False, 503)
    assert "no stream" in nobody.error()
    assert not pubwire.parse_ack(msg(b"\xff garbage")).ok
    assert not pubwire.parse_ack(msg(b"[1]")).ok


# ----------------------------------------------------------------------------- batches


async def test_events_waiting_together_are_committed_as_atomic_batches(nc: Client) -> None:
    js = nc.jetstream()
    sent = [event(n, f"wf{n % 3}") for n in range(1200)]
    async with EventPublisher(nc, replace(FAST, batch_size=500)) as publisher:
        queue_all(publisher, sent)
        await publisher.flush(timeout=30)
        stats = publisher.stats
    assert (await js.stream_info(subjects.EVENTS_STREAM)).config.allow_atomic
    assert stats.published == 1200
    assert 3 <= stats.batches <= 1200 // 2  # several events per acknowledgement
    assert stats.failed_attempts == 0
    assert sorted(await stored_ids(js)) == sorted(e.id for e in sent)
    last = sent[-1]
    msg = await js.get_last_msg(subjects.EVENTS_STREAM, last.subject)
    assert msg.headers is not None
    for name, value in last.headers().items():
        assert msg.headers[name] == value
    assert CloudEvent.from_message(msg.subject, msg.headers, msg.data or b"").data == last.data


async def test_events_that_trickle_in_wait_for_the_linger_and_go_as_one_batch(nc: Client) -> None:
    js = nc.jetstream()
    sent = [event(n) for n in range(20)]
    async with EventPublisher(nc, replace(FAST, linger=2.0)) as publisher:
        for e in sent:  # one at a time, the publisher task getting a turn in between
            await publisher.publish(e)
            await asyncio.sleep(0)
        assert await stream_count(js) == 0  # still lingering
        await wait_for(lambda: publisher.stats.published == 20, timeout=15)
        assert publisher.stats.batches == 1
    assert sorted(await stored_ids(js)) == sorted(e.id for e in sent)


async def test_a_full_batch_or_a_flush_does_not_wait_for_the_linger(nc: Client) -> None:
    js = nc.jetstream()
    async with EventPublisher(nc, replace(FAST, linger=60.0, batch_size=10)) as publisher:
        queue_all(publisher, [event(n) for n in range(10)])
        await wait_for(lambda: publisher.stats.published == 10, timeout=15)
        queue_all(publisher, [event(n) for n in range(10, 13)])
        await publisher.flush(timeout=15)
        assert publisher.stats.published == 13
    assert await stream_count(js) == 13


async def test_a_stream_without_atomic_batches_gets_every_event_one_by_one(nc: Client) -> None:
    js = nc.jetstream()
    config = events_stream_config(FAST)
    config.allow_atomic = None  # a stream an operator made, without atomic batches
    await js.add_stream(config)
    errors: list[Exception] = []
    sent = [event(n) for n in range(60)]
    publisher = EventPublisher(nc, FAST, create_streams=False, on_error=lambda _e, exc: errors.append(exc))
    async with publisher:
        queue_all(publisher, sent[:30])
        await publisher.flush(timeout=10)
        queue_all(publisher, sent[30:])  # later events do not try batches again
        await publisher.flush(timeout=10)
        stats = publisher.stats
    assert (stats.published, stats.batches, stats.failed_attempts) == (60, 0, 0)
    assert errors == []
    assert sorted(await stored_ids(js)) == sorted(e.id for e in sent)


async def test_a_batch_holding_an_event_already_stored_is_sent_again_event_by_event(nc: Client) -> None:
    js = nc.jetstream()
    async with EventPublisher(nc, FAST) as first:
        queue_all(first, [event(n) for n in range(10)])
        await first.flush(timeout=10)
    # A restarted controller publishes events 5..24 again: 5 are stored already.
    errors: list[Exception] = []
    async with EventPublisher(nc, FAST, on_error=lambda _e, exc: errors.append(exc)) as again:
        queue_all(again, [event(n) for n in range(5, 25)])
        await again.flush(timeout=10)
        stats = again.stats
    assert (stats.published, stats.duplicates) == (15, 5)
    assert stats.failed_attempts == 0 and errors == []  # a repeat is not a failure
    assert await stream_count(js) == 25
    assert sorted(await stored_ids(js)) == sorted(event(n).id for n in range(25))


async def test_an_unacknowledged_batch_is_retried_and_stored_exactly_once(nats_server: EmbeddedServer, nc: Client) -> None:
    errors: list[tuple[str, Exception]] = []
    publisher = EventPublisher(nc, FAST, on_error=lambda e, exc: errors.append((e.id, exc)))
    await publisher.start()
    sent = [event(n) for n in range(40)]
    assert nats_server.pid is not None
    os.kill(nats_server.pid, signal.SIGSTOP)  # connected, but nothing is acknowledged
    try:
        queue_all(publisher, sent)
        await wait_for(lambda: publisher.stats.failed_attempts >= len(sent), what="the batch to time out")
    finally:
        os.kill(nats_server.pid, signal.SIGCONT)
    async with publisher:
        await publisher.flush(timeout=20)
        stats = publisher.stats
    assert {event_id for event_id, exc in errors if isinstance(exc, TimeoutError)} == {e.id for e in sent}
    assert stats.published + stats.duplicates >= len(sent)
    assert stats.retried == stats.failed_attempts
    assert stats.dropped == 0
    js = nc.jetstream()
    assert await stream_count(js) == len(sent)
    assert sorted(await stored_ids(js)) == sorted(e.id for e in sent)


async def test_a_nats_restart_with_batches_in_flight_loses_and_repeats_nothing(
    nats_server: EmbeddedServer, fast_nc: Client
) -> None:
    port = int(nats_server.url.rsplit(":", 1)[1])
    publisher = EventPublisher(fast_nc, replace(FAST, batch_size=50, max_pending_acks=1000))
    await publisher.start()
    sent = [event(n, f"wf{n % 5}") for n in range(4000)]
    for e in sent:
        publisher.try_publish(e) or await publisher.publish(e)
    await nats_server.kill()  # batches queued, half sent, committed without an ack, stored
    server = EmbeddedServer(store_dir=nats_server.store_dir, port=port)
    await server.start()
    try:
        await publisher.flush(timeout=60)
        js = fast_nc.jetstream()
        assert await stream_count(js) == len(sent)
        assert sorted(await stored_ids(js)) == sorted(e.id for e in sent)
        stats = publisher.stats
        assert stats.published <= len(sent) <= stats.published + stats.duplicates
        assert (stats.queued, stats.pending, stats.dropped) == (0, 0, 0)
    finally:
        await publisher.close()
        await fast_nc.close()
        await server.stop()


async def test_without_the_raw_writer_the_public_client_call_sends_the_same_batches(
    nc: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pubwire.Writer, "available", staticmethod(lambda _nc: False))
    js = nc.jetstream()
    sent = [event(n) for n in range(30)]
    async with EventPublisher(nc, FAST) as publisher:
        queue_all(publisher, sent)
        await publisher.flush(timeout=10)
        stats = publisher.stats
    assert (stats.published, stats.failed_attempts) == (30, 0)
    assert stats.batches >= 1
    assert sorted(await stored_ids(js)) == sorted(e.id for e in sent)


async def test_a_batch_size_outside_the_servers_limit_is_refused(nc: Client) -> None:
    from hookbus.bus.errors import ConfigError

    for size in (0, pubwire.MAX_BATCH + 1):
        with pytest.raises(ConfigError, match="batch_size"):
            EventPublisher(nc, replace(FAST, batch_size=size))


async def test_progress_and_events_share_the_publisher_without_mixing_streams(nc: Client) -> None:
    js = nc.jetstream()
    sent = [event(n) for n in range(100)]
    async with EventPublisher(nc, FAST) as publisher:
        queue_all(publisher, sent)
        for done in range(50):
            publisher.publish_progress("default", "wf", {"done": done})
        await publisher.flush(timeout=10)
    assert await stream_count(js) == 100
    info: Any = await js.stream_info(subjects.PROGRESS_STREAM)
    assert info.state.messages == 1


async def test_one_event_the_stream_refuses_does_not_hold_back_its_batch(nc: Client) -> None:
    from hookbus.bus.events import PublishRefusedError

    js = nc.jetstream()
    config = events_stream_config(FAST)
    config.max_msg_size = 2000  # the stream refuses bigger messages
    await js.add_stream(config)
    errors: list[tuple[str, Exception]] = []
    good = [event(n) for n in range(20)]
    big = node_event("default", "wf", "uid-1", {"id": "big", "phase": "Running", "message": "x" * 4000})
    publisher = EventPublisher(nc, FAST, create_streams=False, on_error=lambda e, exc: errors.append((e.id, exc)))
    await publisher.start()
    try:
        queue_all(publisher, [*good[:10], big, *good[10:]])
        await wait_for(lambda: publisher.stats.published == len(good), what="the other events to be stored")
        await wait_for(lambda: sum(i == big.id for i, _ in errors) >= 2, what="the big event to be retried")
        assert publisher.stats.pending == 1  # still held for another try, not dropped
        refused = [exc for i, exc in errors if i == big.id]
        assert all(isinstance(exc, PublishRefusedError) for exc in refused)
        assert sorted(await stored_ids(js)) == sorted(e.id for e in good)
    finally:
        await publisher.close(timeout=0.1)
    assert publisher.stats.dropped == 1
