"""PublisherSink.restored: after a restart, the events the stored state implies reach the
stream, each once, whether or not they went out before the crash."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hookbus.bus import subjects
from hookbus.bus.events import CloudEvent, EventPublisher, replay
from hookbus.bus.settings import EventSettings
from hookbus.controller.adapters.events import PublisherSink
from hookbus.controller.engine.hooks import WorkflowInfo

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js.client import JetStreamContext

FAST = EventSettings(ack_timeout=0.5, retry_backoff=0.02, retry_backoff_max=0.2)
INFO = WorkflowInfo(namespace="default", name="wf", uid="u1")
STARTED = "2026-01-01T00:00:00Z"


def _node(n: int, phase: str) -> dict[str, Any]:
    return {"id": f"wf-{n}", "name": f"wf.s{n}", "displayName": f"s{n}", "type": "Pod", "phase": phase, "startedAt": STARTED}


async def _events(js: JetStreamContext) -> list[CloudEvent]:
    async with replay(js, workflow="wf") as reader:
        return [event async for event in reader]


async def _count(js: JetStreamContext) -> int:
    return int((await js.stream_info(subjects.EVENTS_STREAM)).state.messages)


async def test_events_lost_in_a_crash_are_published_once_after_the_restart(nc: Client) -> None:
    js = nc.jetstream()
    nodes = [_node(1, "Succeeded"), _node(2, "Succeeded")]
    async with EventPublisher(nc, FAST) as publisher:
        sink = PublisherSink(publisher, js=js)
        # before the crash: the first node's event went out, the rest never did
        await sink.node_phases(INFO, nodes[:1])
        await publisher.flush(timeout=10)
        await sink.restored(INFO, "Succeeded", "", nodes)
        await publisher.flush(timeout=10)
        assert publisher.stats.duplicates == 1
    events = await _events(js)
    assert sorted(e.type for e in events) == ["io.hookbus.node.succeeded", "io.hookbus.node.succeeded", "io.hookbus.workflow.succeeded"]
    assert {e.data["node"]["id"] for e in events if e.type.startswith("io.hookbus.node")} == {"wf-1", "wf-2"}


async def test_a_finished_workflow_whose_final_event_is_stored_is_not_published_again(nc: Client) -> None:
    js = nc.jetstream()
    nodes = [_node(1, "Succeeded")]
    async with EventPublisher(nc, FAST) as publisher:
        sink = PublisherSink(publisher, js=js)
        await sink.node_phases(INFO, nodes)
        await sink.workflow_phase(INFO, "Succeeded", "")
        await publisher.flush(timeout=10)
        before = publisher.stats.published
        await sink.restored(INFO, "Succeeded", "", nodes)
        await publisher.flush(timeout=10)
        assert publisher.stats.published == before
        assert publisher.stats.duplicates == 0  # not even sent
    assert await _count(js) == 2


async def test_a_running_workflow_is_published_again_and_deduplicated(nc: Client) -> None:
    js = nc.jetstream()
    nodes = [_node(1, "Succeeded"), _node(2, "Running")]
    async with EventPublisher(nc, FAST) as publisher:
        sink = PublisherSink(publisher, js=js)
        await sink.restored(INFO, "Running", "", nodes)
        await sink.restored(INFO, "Running", "", nodes)  # a second restart
        await publisher.flush(timeout=10)
        assert (publisher.stats.published, publisher.stats.duplicates) == (3, 3)
    assert await _count(js) == 3
