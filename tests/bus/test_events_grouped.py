"""Grouped events (``EventSettings.grouped``): the events of a pass that share a subject
travel as one CloudEvents JSON batch, and every reader gets them back one by one."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from hookbus.bus import EventSettings, subjects
from hookbus.bus.errors import ConfigError, DecodeError
from hookbus.bus.events import (
    BATCH_CONTENT_TYPE,
    H_EVENT_COUNT,
    CloudEvent,
    EventGroup,
    EventPublisher,
    events_from_message,
    group_events,
    node_event,
    replay,
)
from hookbus.bus.settings import from_env
from hookbus.controller.adapters.events import PublisherSink

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js.client import JetStreamContext

GROUPED = EventSettings(grouped=True, ack_timeout=0.5, retry_backoff=0.02, retry_backoff_max=0.2)


def event(n: int, phase: str = "Succeeded", workflow: str = "wf") -> CloudEvent:
    node = {"id": f"{workflow}-{n}", "name": f"{workflow}[0].step({n})", "type": "Pod", "phase": phase}
    return node_event("default", workflow, "uid-1", node, time="2026-01-02T03:04:05.000000Z")


async def stream_messages(js: JetStreamContext) -> int:
    return int((await js.stream_info(subjects.EVENTS_STREAM)).state.messages)


async def read_all(js: JetStreamContext, **options: Any) -> list[CloudEvent]:
    async with replay(js, **options) as reader:
        return [e async for e in reader]


# ----------------------------------------------------------------------------- grouping


def test_events_sharing_a_subject_are_grouped_in_order_and_lone_ones_stay_single() -> None:
    events = [event(0), event(1, "Running"), event(2), event(3)]
    out = group_events(events, size=10, max_bytes=1 << 20)
    assert [type(m).__name__ for m in out] == ["EventGroup", "CloudEvent"]
    group, lone = out
    assert isinstance(group, EventGroup)
    assert group.events == (events[0], events[2], events[3])
    assert group.subject == events[0].subject and group.type == "io.hookbus.node.succeeded"
    assert lone is events[1]
    # the body is the structured form of each event, in order
    assert json.loads(group.body()) == [e.to_structured() for e in group.events]
    headers = group.headers()
    assert headers["Content-Type"] == BATCH_CONTENT_TYPE and headers[H_EVENT_COUNT] == "3"
    assert group.header_block() == ("NATS/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())).encode()


def test_groups_respect_the_size_and_byte_limits_and_ids_are_deterministic() -> None:
    events = [event(n) for n in range(7)]
    by_count = group_events(events, size=3, max_bytes=1 << 20)
    assert [len(m.events) if isinstance(m, EventGroup) else 1 for m in by_count] == [3, 3, 1]
    one = len(events[0].structured_json())
    by_bytes = group_events(events, size=100, max_bytes=2 * one + 10)  # room for two
    assert all(isinstance(m, EventGroup) and len(m.events) == 2 for m in by_bytes[:3])
    assert all(len(m.body()) <= 2 * one + 10 for m in by_bytes if isinstance(m, EventGroup))
    # the same events always make the same group id; other events another one
    again = group_events([event(n) for n in range(7)], size=3, max_bytes=1 << 20)
    assert [m.id for m in again] == [m.id for m in by_count]
    assert len({m.id for m in by_count}) == 3


def test_a_grouped_message_decodes_back_to_its_events() -> None:
    (group,) = group_events([event(0), event(1)], size=10, max_bytes=1 << 20)
    assert isinstance(group, EventGroup)
    assert events_from_message(group.subject, group.headers(), group.body()) == list(group.events)
    # a single event in binary mode is one event
    single = event(5)
    assert events_from_message(single.subject, single.headers(), single.body()) == [single]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"[{", "not JSON"),
        (b'{"id": "x"}', "must be a JSON array"),
        (b'[{"specversion": "1.0", "source": "s", "type": "t", "time": "now"}]', "id missing"),
        (b'[{"specversion": "0.3", "id": "i", "source": "s", "type": "t", "time": "now"}]', "specversion"),
        (b'[{"specversion": "1.0", "id": "i", "source": "s", "type": "t", "time": "now", "data": [1]}]', "JSON object"),
        (b"[7]", "must be a JSON object"),
    ],
)
def test_a_malformed_grouped_message_is_a_clear_error(body: bytes, words: str) -> None:
    with pytest.raises(DecodeError, match=words) as caught:
        events_from_message("hookbus.event.v1.default.wf.node.Succeeded", {"Content-Type": BATCH_CONTENT_TYPE}, body)
    assert "hookbus.event.v1.default.wf.node.Succeeded" in str(caught.value)


def test_a_group_size_below_two_is_refused(nc: Client) -> None:
    with pytest.raises(ConfigError, match="group_size must be at least 2"):
        EventPublisher(nc, EventSettings(grouped=True, group_size=1))


def test_grouping_is_switched_on_by_environment() -> None:
    assert from_env({}).events.grouped is False
    assert from_env({"HOOKBUS_EVENTS_GROUPED": "1"}).events.grouped is True
    assert from_env({"HOOKBUS_EVENTS_GROUPED": "off"}).events.grouped is False
    with pytest.raises(ConfigError, match="HOOKBUS_EVENTS_GROUPED='sometimes'"):
        from_env({"HOOKBUS_EVENTS_GROUPED": "sometimes"})


# ----------------------------------------------------------------------------- on JetStream


async def test_a_pass_of_events_is_stored_as_few_messages_and_read_back_whole(nc: Client) -> None:
    js = nc.jetstream()
    events = [event(n) for n in range(120)] + [event(n, "Running") for n in range(120, 125)] + [event(999, "Failed")]
    async with EventPublisher(nc, GROUPED) as publisher:
        await publisher.publish_many(events)
        await publisher.flush(timeout=10)
        stats = publisher.stats
    assert stats.published == len(events)
    assert stats.groups == 2  # 120 Succeeded, 5 Running; the Failed event travels alone
    assert await stream_messages(js) == 3
    back = await read_all(js)
    assert sorted(back, key=lambda e: e.id) == sorted(events, key=lambda e: e.id)
    # each message keeps its events' subject, so subject filters still pick phases
    last = await js.get_last_msg(subjects.EVENTS_STREAM, "hookbus.event.v1.default.wf.node.Running")
    assert last.headers is not None and last.headers[H_EVENT_COUNT] == "5"


async def test_the_same_group_published_again_is_dropped_as_a_duplicate(nc: Client) -> None:
    js = nc.jetstream()
    events = [event(n) for n in range(10)]
    async with EventPublisher(nc, GROUPED) as publisher:
        await publisher.publish_many(events)
        await publisher.flush(timeout=10)
        await publisher.publish_many(events)  # a controller restarted and emitted the pass again
        await publisher.flush(timeout=10)
        stats = publisher.stats
    assert (stats.published, stats.duplicates) == (10, 10)
    assert await stream_messages(js) == 1


async def test_the_sink_groups_node_and_pod_events_of_a_pass(nc: Client) -> None:
    class Wf:
        namespace, name, uid = "default", "wf", "uid-1"

    js = nc.jetstream()
    nodes = [{"id": f"wf-{n}", "name": f"wf[0].s({n})", "phase": "Running", "templateName": "t"} for n in range(30)]
    pods = [{"node": node, "pod": {"name": node["id"], "image": "alpine"}} for node in nodes]
    async with EventPublisher(nc, GROUPED) as publisher:
        sink = PublisherSink(publisher)
        await sink.node_phases(Wf(), nodes)
        await sink.pod_created(Wf(), pods)
        await publisher.flush(timeout=10)
    assert await stream_messages(js) == 2
    back = await read_all(js)
    assert sorted(e.ce_subject or "" for e in back) == sorted([f"nodes/wf-{n}" for n in range(30)] + [f"pods/wf-{n}" for n in range(30)])


async def test_a_durable_reader_that_stops_inside_a_group_gets_the_whole_group_again(nc: Client) -> None:
    js = nc.jetstream()
    events = [event(n) for n in range(5)]
    async with EventPublisher(nc, GROUPED) as publisher:
        await publisher.publish_many(events)
        await publisher.flush(timeout=10)
    async with replay(js, durable="reader") as reader:
        first = [await reader.__anext__(), await reader.__anext__()]
    assert first == events[:2]
    # the message was not acknowledged: the next reader starts at the group's first event
    assert await read_all(js, durable="reader") == events
    # now it was: nothing is left
    assert await read_all(js, durable="reader") == []


async def test_ungrouped_publishing_is_one_message_per_event(nc: Client) -> None:
    js = nc.jetstream()
    events = [event(n) for n in range(6)]
    async with EventPublisher(nc, EventSettings()) as publisher:
        await publisher.publish_many(events)
        await publisher.flush(timeout=10)
        assert publisher.stats.groups == 0
    assert await stream_messages(js) == 6
    assert await read_all(js) == events
