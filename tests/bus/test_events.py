"""Notifications: CloudEvents on JetStream, deduplication, coalesced progress, backpressure, replay."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest
from nats.js.errors import NotFoundError

from hookbus.bus import EmbeddedServer, EventSettings, NatsSettings, subjects
from hookbus.bus.connection import connect
from hookbus.bus.errors import ConfigError, DecodeError, EncodeError
from hookbus.bus.events import (
    CloudEvent,
    EventPublisher,
    PublisherClosedError,
    PublisherNotStartedError,
    StreamNotFoundError,
    ensure_streams,
    event_id,
    latest_progress,
    node_event,
    plugin_event,
    pod_event,
    replay,
    workflow_event,
)
from hookbus.controller.adapters.events import PublisherSink
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from nats.aio.client import Client
    from nats.js.client import JetStreamContext

FAST = EventSettings(ack_timeout=0.5, retry_backoff=0.02, retry_backoff_max=0.2)
NODE = {
    "id": "hello-1234",
    "name": "hello.step-a",
    "displayName": "step-a",
    "type": "Pod",
    "templateName": "whalesay",
    "phase": "Running",
    "message": "",
    "outputs": {"parameters": [{"name": "token", "value": "s3cr3t"}]},
}


@pytest.fixture
async def fast_nc(nats_url: str) -> AsyncIterator[Client]:
    """A client that reconnects quickly (the default waits a second between attempts)."""
    client = await connect(NatsSettings(urls=(nats_url,), reconnect_wait=0.05))
    yield client
    await client.close()


async def stream_count(js: JetStreamContext, stream: str = subjects.EVENTS_STREAM) -> int:
    info = await js.stream_info(stream)
    return int(info.state.messages)


async def all_events(js: JetStreamContext, **filters: Any) -> list[CloudEvent]:
    async with replay(js, **filters) as reader:
        return [event async for event in reader]


def wf_event(n: int, workflow: str = "wf") -> CloudEvent:
    return node_event("default", workflow, "uid-1", {"id": f"{workflow}-{n}", "name": f"n{n}", "phase": "Succeeded"})


# ----------------------------------------------------------------------------- pure parts


def test_event_ids_are_deterministic_and_unambiguous() -> None:
    assert event_id("node", "ns", "wf", "uid", "n1", "Running", 0) == event_id("node", "ns", "wf", "uid", "n1", "Running", 0)
    assert event_id("ab", "c") != event_id("a", "bc")
    assert event_id(1) == event_id("1")
    first = workflow_event("default", "wf", "u1", "Succeeded")
    again = workflow_event("default", "wf", "u1", "Succeeded", time="2020-01-01T00:00:00Z")
    assert first.id == again.id  # a restart re-publishing the transition yields the same id
    assert first.id != workflow_event("default", "wf", "u2", "Succeeded").id  # resubmitted workflow
    assert first.id != workflow_event("default", "wf", "u1", "Succeeded", attempt=1).id  # after retry
    assert node_event("default", "wf", "u1", NODE).id != node_event("default", "wf", "u1", {**NODE, "phase": "Succeeded"}).id


def test_constructors_follow_the_subject_and_type_scheme() -> None:
    wf = workflow_event("team.a", "build", "u1", "Failed", message="boom", data={"progress": "1/2"})
    assert wf.subject == "hookbus.event.v1.team_a.build.workflow.Failed"
    assert wf.type == "io.hookbus.workflow.failed"
    assert wf.source == "/hookbus/namespaces/team.a/workflows/build"
    assert wf.data == {"namespace": "team.a", "workflow": "build", "uid": "u1", "phase": "Failed", "message": "boom", "progress": "1/2"}
    assert wf.time.endswith("Z") and "T" in wf.time

    node = node_event("default", "hello", "u1", NODE, attempt=2)
    assert node.subject == "hookbus.event.v1.default.hello.node.Running"
    assert node.type == "io.hookbus.node.running"
    assert node.ce_subject == "nodes/hello-1234"
    assert node.data["node"]["templateName"] == "whalesay"
    assert "outputs" not in node.data["node"]  # outputs may hold secrets: never in events
    assert node.data["attempt"] == 2

    pod = pod_event("default", "hello", "u1", "hello-1234", "hello-1234-pod", image="alpine:3")
    assert pod.type == "io.hookbus.pod.created"
    assert pod.subject == "hookbus.event.v1.default.hello.pod.created"
    assert pod.data["pod"] == {"name": "hello-1234-pod", "image": "alpine:3"}

    for verdict, expected in [("reject", "rejected"), ("short-circuit", "short-circuited"), ("veto", "vetoed"), ("warning", "warning")]:
        event = plugin_event("default", "hello", "u1", "image-allowlist", verdict, node_id="hello-1234", message="no")
        assert event.type == f"io.hookbus.plugin.{expected}"
        assert event.subject == f"hookbus.event.v1.default.hello.plugin.{expected}"
        assert event.data["plugin"] == "image-allowlist"
        assert event.data["nodeId"] == "hello-1234"


def test_a_node_without_phase_is_refused() -> None:
    with pytest.raises(ConfigError, match="phase"):
        node_event("default", "wf", "u1", {"id": "x"})


def test_headers_round_trip_and_bad_messages_are_decode_errors() -> None:
    event = node_event("default", "hello", "u1", NODE)
    decoded = CloudEvent.from_message(event.subject, event.headers(), event.body())
    assert decoded == event
    assert len({event, decoded}) == 1
    structured = event.to_structured()
    assert structured["specversion"] == "1.0"
    assert structured["subject"] == "nodes/hello-1234"
    assert structured["datacontenttype"] == "application/json"
    assert structured["data"] == event.data
    headers = event.headers()
    del headers["ce-type"]
    with pytest.raises(DecodeError, match="ce-type"):
        CloudEvent.from_message(event.subject, headers, event.body())
    with pytest.raises(DecodeError, match="specversion"):
        CloudEvent.from_message(event.subject, {**event.headers(), "ce-specversion": "0.3"}, event.body())
    with pytest.raises(DecodeError, match="JSON"):
        CloudEvent.from_message(event.subject, event.headers(), b"\xff")


# ----------------------------------------------------------------------------- streams


async def test_ensure_streams_is_idempotent_under_a_race_and_updates_settings(nc: Client) -> None:
    js = nc.jetstream()
    await asyncio.gather(*(ensure_streams(js, EventSettings()) for _ in range(4)))
    events = await js.stream_info(subjects.EVENTS_STREAM)
    assert events.config.subjects == ["hookbus.event.v1.>"]
    assert events.config.duplicate_window == pytest.approx(120.0)
    progress = await js.stream_info(subjects.PROGRESS_STREAM)
    assert progress.config.max_msgs_per_subject == 1
    await ensure_streams(js, EventSettings(max_age=3600.0, duplicate_window=30.0))
    events = await js.stream_info(subjects.EVENTS_STREAM)
    assert events.config.max_age == pytest.approx(3600.0)
    assert events.config.duplicate_window == pytest.approx(30.0)


async def test_a_duplicate_window_longer_than_max_age_is_refused(nc: Client) -> None:
    with pytest.raises(ConfigError, match="duplicate_window"):
        await ensure_streams(nc.jetstream(), EventSettings(max_age=10.0, duplicate_window=60.0))


# ----------------------------------------------------------------------------- publishing


async def test_events_land_in_the_stream_as_binary_cloudevents(nc: Client) -> None:
    event = node_event("default", "hello", "u1", NODE)
    async with EventPublisher(nc, FAST) as publisher:
        await publisher.publish(event)
        await publisher.flush(timeout=10)
        assert publisher.stats.published == 1
    msg = await nc.jetstream().get_last_msg(subjects.EVENTS_STREAM, event.subject)
    assert msg.headers is not None
    assert msg.headers["ce-specversion"] == "1.0"
    assert msg.headers["ce-id"] == event.id
    assert msg.headers["Nats-Msg-Id"] == event.id
    assert msg.headers["ce-source"] == "/hookbus/namespaces/default/workflows/hello"
    assert msg.headers["ce-type"] == "io.hookbus.node.running"
    assert msg.headers["ce-time"] == event.time
    assert msg.headers["ce-subject"] == "nodes/hello-1234"
    assert msg.headers["Content-Type"] == "application/json"
    assert json.loads(msg.data or b"") == event.data
    wf = workflow_event("default", "hello", "u1", "Running")
    assert "ce-subject" not in wf.headers()  # optional attribute left out when unset


async def test_a_republished_event_is_deduplicated_also_by_a_new_publisher(nc: Client) -> None:
    js = nc.jetstream()
    event = workflow_event("default", "wf", "u1", "Succeeded")
    async with EventPublisher(nc, FAST) as publisher:
        await publisher.publish(event)
        await publisher.publish(event)
        await publisher.flush(timeout=10)
        assert (publisher.stats.published, publisher.stats.duplicates) == (1, 1)
    # A restarted controller publishes the same transition again, with a new time.
    async with EventPublisher(nc, FAST) as publisher:
        await publisher.publish(workflow_event("default", "wf", "u1", "Succeeded", time="2030-01-01T00:00:00Z"))
        await publisher.flush(timeout=10)
        assert publisher.stats.duplicates == 1
    assert await stream_count(js) == 1


def test_event_bodies_are_compact_json_whatever_the_data_holds() -> None:
    # orjson writes the common case; what it refuses goes through the standard encoder
    for data in (
        {"a": "é\u2028", "n": [1, 2.5, None, True], "nested": {"x": {}}},
        {1: "int key"},
        {"big": 2**70},
    ):
        event = workflow_event("default", "wf", "u1", "Running", data=data)
        expected = {**data, "namespace": "default", "workflow": "wf", "uid": "u1", "phase": "Running", "message": ""}
        assert event.body() == json.dumps(expected, separators=(",", ":"), ensure_ascii=False).encode()


def test_event_bodies_hold_no_more_memory_than_their_bytes() -> None:
    # Bodies wait in the publisher's queue (10,000 by default) until JetStream acknowledges
    # them: each must cost its size, not the encoder's working buffer.
    import tracemalloc

    events = [node_event("default", "wf", "uid-1", {**NODE, "id": f"n-{n}"}) for n in range(1000)]
    tracemalloc.start()
    try:
        bodies = [event.body() for event in events]
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size = sum(len(body) for body in bodies)
    assert held < 2 * size + 64 * len(bodies), f"{held} bytes held for {size} bytes of bodies"


async def test_data_that_is_not_json_is_refused_at_publish(nc: Client) -> None:
    async with EventPublisher(nc, FAST) as publisher:
        with pytest.raises(EncodeError, match="not JSON"):
            await publisher.publish(workflow_event("default", "wf", "u1", "Running", data={"when": object()}))
        assert publisher.stats.queued == 0


async def test_progress_is_coalesced_to_the_last_value(nc: Client) -> None:
    js = nc.jetstream()
    async with EventPublisher(nc, FAST) as publisher:
        for done in range(1000):
            publisher.publish_progress("default", "wf", {"done": done, "total": 999})
        publisher.publish_progress("default", "other", {"done": 1, "total": 1})
        await publisher.flush(timeout=10)
        stats = publisher.stats
    assert await stream_count(js, subjects.PROGRESS_STREAM) == 2
    last = await latest_progress(js, "default", "wf")
    assert last is not None
    assert last.data == {"done": 999, "total": 999, "namespace": "default", "workflow": "wf"}
    assert last.type == "io.hookbus.workflow.progress"
    assert stats.coalesced > 900  # most updates never reached the wire
    assert stats.published + stats.coalesced == 1001
    assert await latest_progress(js, "default", "nothing") is None


async def test_a_missing_stream_is_retried_reported_and_then_published(nc: Client) -> None:
    errors: list[tuple[str, Exception]] = []
    publisher = EventPublisher(nc, FAST, on_error=lambda event, exc: errors.append((event.id, exc)), create_streams=False)
    event = workflow_event("default", "wf", "u1", "Running")
    async with publisher:
        await publisher.publish(event)
        await wait_for(lambda: publisher.stats.failed_attempts >= 2, what="retries against a missing stream")
        assert errors and errors[0][0] == event.id
        assert publisher.stats.pending == 1  # still held, not dropped
        await ensure_streams(nc.jetstream(), FAST)
        await publisher.flush(timeout=10)
        assert publisher.stats.published == 1
        assert publisher.stats.retried >= 2
    assert await stream_count(nc.jetstream()) == 1


async def test_backpressure_during_an_outage_then_every_event_exactly_once(
    nats_server: EmbeddedServer, fast_nc: Client
) -> None:
    settings = replace(FAST, queue_size=5, max_pending_acks=3)
    port = int(nats_server.url.rsplit(":", 1)[1])
    publisher = EventPublisher(fast_nc, settings)
    await publisher.start()
    sent = [wf_event(n) for n in range(3)]
    for event in sent:
        await publisher.publish(event)
    await publisher.flush(timeout=10)

    await nats_server.kill()
    await wait_for(lambda: not fast_nc.is_connected, what="the client to notice the outage")
    accepted = 0
    while publisher.try_publish(wf_event(100 + accepted)):
        sent.append(wf_event(100 + accepted))
        accepted += 1
    # The queue (5) and the unacknowledged window (3) hold events; then try_publish says no.
    assert 5 <= accepted <= 5 + 3
    assert publisher.try_publish(wf_event(999)) is False
    blocked = asyncio.create_task(publisher.publish(wf_event(1000)))
    sent.append(wf_event(1000))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not blocked.done()  # waits for room instead of dropping or failing

    server = EmbeddedServer(store_dir=nats_server.store_dir, port=port)
    await server.start()
    try:
        await asyncio.wait_for(blocked, 20)
        await publisher.flush(timeout=20)
        js = fast_nc.jetstream()
        assert await stream_count(js) == len(sent)
        stored = await all_events(js)
        assert sorted(e.id for e in stored) == sorted(e.id for e in sent)
        await publisher.close()
        assert publisher.stats.dropped == 0
    finally:
        await publisher.close()
        await fast_nc.close()
        await server.stop()


async def test_close_with_nats_down_reports_what_was_not_published(
    nats_server: EmbeddedServer, fast_nc: Client
) -> None:
    errors: list[tuple[str, Exception]] = []
    publisher = EventPublisher(fast_nc, FAST, on_error=lambda event, exc: errors.append((event.id, exc)))
    await publisher.start()
    await nats_server.kill()
    await wait_for(lambda: not fast_nc.is_connected, what="the client to notice the outage")
    events = [wf_event(n) for n in range(4)]
    for event in events:
        await publisher.publish(event)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await publisher.close(timeout=0.3)
    assert loop.time() - started < 5
    assert publisher.stats.dropped == 4
    given_up = {event_id for event_id, exc in errors if isinstance(exc, PublisherClosedError)}
    assert given_up == {event.id for event in events}
    with pytest.raises(PublisherClosedError):
        await publisher.flush()


async def test_close_is_idempotent_and_refuses_new_events(nc: Client) -> None:
    publisher = EventPublisher(nc, FAST)
    await publisher.start()
    await publisher.publish(wf_event(1))
    await asyncio.gather(publisher.close(), publisher.close())
    await publisher.close()
    assert publisher.closed
    assert publisher.stats.published == 1
    with pytest.raises(PublisherClosedError):
        await publisher.publish(wf_event(2))
    with pytest.raises(PublisherClosedError):
        publisher.try_publish(wf_event(2))
    with pytest.raises(PublisherClosedError):
        publisher.publish_progress("default", "wf", {"done": 1})
    never_started = EventPublisher(nc, FAST)
    await never_started.flush()  # nothing accepted: nothing to wait for
    await never_started.publish(wf_event(3))
    with pytest.raises(PublisherNotStartedError):
        await never_started.flush()
    await never_started.close()
    assert never_started.stats.dropped == 1
    await never_started.close()


async def test_a_publisher_waiting_for_room_is_released_by_close(nats_server: EmbeddedServer, fast_nc: Client) -> None:
    publisher = EventPublisher(fast_nc, replace(FAST, queue_size=1, max_pending_acks=1))
    await publisher.start()
    await nats_server.kill()
    await wait_for(lambda: not fast_nc.is_connected, what="the client to notice the outage")
    await publisher.publish(wf_event(1))  # fills the queue: nothing is taken while NATS is down
    blocked = asyncio.create_task(publisher.publish(wf_event(2)))
    await wait_for(lambda: len(publisher._putters) == 1, what="the publish to wait for room")
    await publisher.close(timeout=0.1)
    with pytest.raises(PublisherClosedError, match="waited for room"):
        await blocked


# ----------------------------------------------------------------------------- reading back


async def test_a_late_consumer_replays_what_it_missed(nc: Client) -> None:
    js = nc.jetstream()
    first = [wf_event(n, "alpha") for n in range(5)] + [wf_event(n, "beta") for n in range(3)]
    async with EventPublisher(nc, FAST) as publisher:
        for event in first:
            await publisher.publish(event)
        await publisher.flush(timeout=10)

        # An ephemeral reader from the start, and one filtered by workflow.
        assert [e.id for e in await all_events(js)] == [e.id for e in first]
        assert [e.id for e in await all_events(js, namespace="default", workflow="beta")] == [e.id for e in first[5:]]

        # A durable reader reads two, stops, and resumes after the last one it was given.
        async with replay(js, durable="cli") as reader:
            got = [await anext(reader), await anext(reader)]
        assert [e.id for e in got] == [e.id for e in first[:2]]
        later = [wf_event(n, "gamma") for n in range(2)]
        for event in later:
            await publisher.publish(event)
        await publisher.flush(timeout=10)
        resumed = await all_events(js, durable="cli")
        assert [e.id for e in resumed] == [e.id for e in first[2:] + later]
        assert await all_events(js, durable="cli") == []

        # deliver_new: only what arrives after the reader opened.
        async with replay(js, deliver_new=True, follow=True) as reader:
            fresh = wf_event(7, "delta")
            await publisher.publish(fresh)
            assert (await asyncio.wait_for(anext(reader), 10)).id == fresh.id
    assert (await all_events(js, workflow="alpha"))[0] == first[0]


async def test_events_in_flight_when_nats_dies_are_stored_exactly_once(
    nats_server: EmbeddedServer, fast_nc: Client
) -> None:
    port = int(nats_server.url.rsplit(":", 1)[1])
    publisher = EventPublisher(fast_nc, replace(FAST, max_pending_acks=500))
    await publisher.start()
    sent = [wf_event(n, f"wf{n % 7}") for n in range(3000)]
    for event in sent:
        publisher.try_publish(event) or await publisher.publish(event)
    await nats_server.kill()  # some are queued, some sent without an ack, some stored
    server = EmbeddedServer(store_dir=nats_server.store_dir, port=port)
    await server.start()
    try:
        await publisher.flush(timeout=60)
        js = fast_nc.jetstream()
        assert await stream_count(js) == len(sent)
        assert sorted(e.id for e in await all_events(js)) == sorted(e.id for e in sent)
        stats = publisher.stats
        assert stats.published <= len(sent) <= stats.published + stats.duplicates
        assert stats.retried == stats.failed_attempts  # every failed attempt was sent again
        assert (stats.queued, stats.pending, stats.dropped) == (0, 0, 0)
    finally:
        await publisher.close()
        await fast_nc.close()
        await server.stop()


async def test_a_failing_progress_update_is_replaced_by_a_newer_one(nc: Client) -> None:
    js = nc.jetstream()
    settings = replace(FAST, retry_backoff=0.05)
    publisher = EventPublisher(nc, settings, create_streams=False)
    async with publisher:
        publisher.publish_progress("default", "wf", {"done": 1})
        await wait_for(lambda: publisher.stats.failed_attempts >= 1, what="the progress stream to be missing")
        publisher.publish_progress("default", "wf", {"done": 2})
        publisher.publish_progress("default", "wf", {"done": 3})
        await ensure_streams(js, settings)
        await publisher.flush(timeout=10)
        stats = publisher.stats
    last = await latest_progress(js, "default", "wf")
    assert last is not None and last.data["done"] == 3
    assert stats.coalesced >= 2  # {"done": 2} and the failing {"done": 1} gave way to {"done": 3}
    assert await stream_count(js, subjects.PROGRESS_STREAM) == 1


async def test_the_sink_turns_controller_notifications_into_events(nc: Client) -> None:
    from hookbus.controller.engine.hooks import WorkflowInfo

    js = nc.jetstream()
    info = WorkflowInfo(namespace="default", name="hello", uid="u1")
    async with EventPublisher(nc, FAST) as publisher:
        sink = PublisherSink(publisher)
        await sink.workflow_phase(info, "Running", "")
        await sink.node_phases(info, [NODE, {**NODE, "id": "hello-2", "phase": "Pending"}])
        await sink.pod_created(info, [{"node": NODE, "pod": {"name": "hello-1234", "image": "alpine:3"}}])
        await sink.progress(info, 1, 3, {"Succeeded": 1, "Running": 2})
        await publisher.flush(timeout=10)
    types = [event.type for event in await all_events(js, workflow="hello")]
    assert types == ["io.hookbus.workflow.running", "io.hookbus.node.running", "io.hookbus.node.pending", "io.hookbus.pod.created"]
    progress = await latest_progress(js, "default", "hello")
    assert progress is not None
    assert progress.data["progress"] == "1/3"
    assert progress.data["phases"] == {"Succeeded": 1, "Running": 2}


async def test_the_sink_reads_the_pod_items_the_engine_sends(nc: Client) -> None:
    """The engine sends ``{"node": <id>, "name": <node name>, "image": <image>}`` per started process."""
    from hookbus.controller.engine.hooks import WorkflowInfo

    js = nc.jetstream()
    info = WorkflowInfo(namespace="default", name="hello", uid="u1")
    async with EventPublisher(nc, FAST) as publisher:
        await PublisherSink(publisher).pod_created(info, [{"node": "hello-1234", "name": "hello.step-a", "image": "alpine:3"}])
        await publisher.flush(timeout=10)
    (event,) = await all_events(js, workflow="hello")
    assert event.type == "io.hookbus.pod.created"
    assert event.ce_subject == "pods/hello-1234"
    assert event.data["node"] == {"id": "hello-1234", "name": "hello.step-a"}
    assert event.data["pod"] == {"name": "hello-1234", "image": "alpine:3"}


def test_a_node_run_again_gets_new_event_ids() -> None:
    first = node_event("default", "wf", "u1", {**NODE, "phase": "Failed", "startedAt": "2026-01-01T00:00:00Z"})
    rerun = node_event("default", "wf", "u1", {**NODE, "phase": "Failed", "startedAt": "2026-01-01T00:05:00Z"})
    assert first.id != rerun.id


async def test_events_in_flight_at_close_are_counted_and_reported(nats_server: EmbeddedServer, nc: Client) -> None:
    errors: list[tuple[str, Exception]] = []
    publisher = EventPublisher(nc, replace(FAST, ack_timeout=60.0), on_error=lambda event, exc: errors.append((event.id, exc)))
    await publisher.start()
    assert nats_server.pid is not None
    os.kill(nats_server.pid, signal.SIGSTOP)  # connected, but nothing is acknowledged
    try:
        events = [wf_event(n) for n in range(10)]
        for event in events:
            await publisher.publish(event)
        await wait_for(lambda: publisher.stats.queued == 0, what="every event to be sent")
        assert publisher.stats.pending == 10
        await publisher.close(timeout=0.2)
    finally:
        os.kill(nats_server.pid, signal.SIGCONT)
    stats = publisher.stats
    assert (stats.published, stats.dropped) == (0, 10)
    assert {event_id for event_id, exc in errors if isinstance(exc, PublisherClosedError)} == {e.id for e in events}


async def test_reading_before_any_controller_created_the_streams_says_so(nc: Client) -> None:
    js = nc.jetstream()
    with pytest.raises(StreamNotFoundError, match="HOOKBUS_EVENTS") as caught:
        await all_events(js)
    assert isinstance(caught.value, NotFoundError)  # callers catching nats' error still do
    assert caught.value.retryable
    with pytest.raises(StreamNotFoundError, match="HOOKBUS_PROGRESS"):
        await latest_progress(js, "default", "wf")


async def test_an_on_error_callback_that_raises_does_not_stop_publishing(nc: Client) -> None:
    calls: list[str] = []

    def broken(event: CloudEvent, exc: Exception) -> None:
        calls.append(event.id)
        raise RuntimeError("callback bug")

    publisher = EventPublisher(nc, FAST, on_error=broken, create_streams=False)
    async with publisher:
        await publisher.publish(wf_event(1))
        await wait_for(lambda: len(calls) >= 2, what="the callback to be called on each failed attempt")
        await ensure_streams(nc.jetstream(), FAST)
        await publisher.flush(timeout=10)
        assert publisher.stats.published == 1
