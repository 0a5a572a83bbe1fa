"""Events wait while hook calls are in flight (``EventSettings.yield_to_hooks``): held back
while the dispatcher's activity is busy, out as soon as it is idle, never longer than the
bound, never when publishing would have to wait for it."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest

from hookbus.bus import EventSettings, Hook, Plugin, subjects
from hookbus.bus.activity import Activity
from hookbus.bus.errors import ConfigError
from hookbus.bus.events import YIELD_MIN_ITEMS, CloudEvent, EventPublisher, node_event
from hookbus.bus.settings import from_env
from hookbus.bus.testing import PluginHarness
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js.client import JetStreamContext

BIG = YIELD_MIN_ITEMS
"""Items of a hook call large enough for events to wait for it."""
HOLD = EventSettings(ack_timeout=0.5, retry_backoff=0.02, linger=0.0, yield_to_hooks=60.0)
"""Events held for up to a minute while busy: any test that sees them sooner saw them released."""


def event(n: int) -> CloudEvent:
    return node_event("default", "wf", "uid-1", {"id": f"wf-{n}", "name": f"wf[0].step({n})", "type": "Pod", "phase": "Running"})


async def stored(js: JetStreamContext) -> int:
    return int((await js.stream_info(subjects.EVENTS_STREAM)).state.messages)


async def publisher_turn() -> None:
    """Let the event loop run the publisher's task (and NATS I/O) for a short while."""
    await asyncio.sleep(0.01)


# ----------------------------------------------------------------------------- Activity


def test_activity_counts_overlapping_work_once_and_calls_back_when_the_last_ends() -> None:
    now = [10.0]
    activity = Activity(clock=lambda: now[0])
    idle: list[float] = []
    busy: list[float] = []
    left: list[float] = []
    activity.on_idle(lambda: idle.append(now[0]))
    activity.on_busy(lambda: busy.append(now[0]))
    activity.on_leave(lambda: left.append(now[0]))
    assert not activity.busy and activity.load == 0
    activity.enter(300)
    now[0] = 11.0
    activity.enter(5)
    assert activity.load == 305
    now[0] = 12.0
    activity.leave(300)
    assert activity.busy and activity.load == 5 and idle == [] and left == [12.0]
    assert activity.busy_s == 2.0  # the work under way counts
    now[0] = 13.0
    activity.leave(5)
    assert not activity.busy and activity.load == 0 and idle == [13.0] and left == [12.0, 13.0]
    now[0] = 20.0
    activity.enter()
    now[0] = 20.5
    activity.leave()
    assert activity.busy_s == 3.5
    assert idle == [13.0, 20.5]
    assert busy == [10.0, 20.0]  # not 11.0: work was already in progress
    with pytest.raises(RuntimeError, match="without a matching enter"):
        activity.leave()


async def test_the_dispatcher_is_busy_exactly_while_a_call_is_in_flight() -> None:
    plugin = Plugin("watcher", version="1")
    seen: list[bool] = []
    harness = PluginHarness(plugin)

    @plugin.node_pre_execute(batch=True)
    def check(items: list[Any], **_: Any) -> list[Any]:
        assert harness.dispatcher is not None
        seen.append(harness.dispatcher.activity.busy)
        return [None] * len(items)

    async with harness:
        assert harness.dispatcher is not None
        activity = harness.dispatcher.activity
        assert not activity.busy
        await harness.call(Hook.NODE_PRE_EXECUTE, [{"id": "n1", "node": {"name": "a"}}])
        assert seen == [True]
        assert not activity.busy
        assert activity.busy_s > 0 and activity.load == 0
        assert harness.dispatcher.stats.busy_s == activity.busy_s


# ----------------------------------------------------------------------------- publisher


async def test_events_wait_while_hook_calls_are_in_flight_and_go_when_they_end(nc: Client) -> None:
    js = nc.jetstream()
    activity = Activity()
    async with EventPublisher(nc, HOLD) as publisher:
        publisher.yield_to(activity)
        activity.enter(BIG)
        for n in range(5):
            await publisher.publish(event(n))
        publisher.publish_progress("default", "wf", {"done": 1, "total": 5})
        # With linger 0, anything not held would be out within milliseconds.
        busy_since = time.monotonic()
        while time.monotonic() - busy_since < 0.3:
            assert publisher.stats.published == 0
            await publisher_turn()
        assert await stored(js) == 0
        released = time.monotonic()
        activity.leave(BIG)
        await wait_for(lambda: publisher.stats.published == 6, timeout=15)
        assert time.monotonic() - released < 30  # woken by the end of the calls, not the 60 s bound
    assert await stored(js) == 5  # and the progress update on its own stream


async def test_events_held_back_go_after_yield_to_hooks_even_if_calls_never_end(nc: Client) -> None:
    activity = Activity()
    activity.enter(BIG)
    settings = replace(HOLD, yield_to_hooks=0.3)
    async with EventPublisher(nc, settings) as publisher:
        publisher.yield_to(activity)
        started = time.monotonic()
        for n in range(3):
            await publisher.publish(event(n))
        await wait_for(lambda: publisher.stats.published == 3, timeout=15)
        assert time.monotonic() - started >= 0.3
        # Later events, once the queue was empty again, are held again.
        await publisher.publish(event(3))
        await publisher_turn()
        assert publisher.stats.published == 3
        await wait_for(lambda: publisher.stats.published == 4, timeout=15)
    activity.leave(BIG)


async def test_a_flush_a_close_or_a_half_full_queue_is_never_held_back(nc: Client) -> None:
    js = nc.jetstream()
    activity = Activity()
    activity.enter(BIG)
    async with EventPublisher(nc, HOLD) as publisher:
        publisher.yield_to(activity)
        await publisher.publish(event(0))
        await publisher.flush(timeout=15)  # would take a minute if held
        assert publisher.stats.published == 1
    assert await stored(js) == 1

    async with EventPublisher(nc, replace(HOLD, queue_size=20)) as publisher:
        publisher.yield_to(activity)
        for n in range(10, 20):  # half the queue: publishing must never wait for hook calls
            await publisher.publish(event(n))
        await wait_for(lambda: publisher.stats.published == 10, timeout=15)

    async with EventPublisher(nc, HOLD) as publisher:
        publisher.yield_to(activity)
        await publisher.publish(event(30))
    assert publisher.stats.published == 1  # close sent it at once
    assert await stored(js) == 12
    activity.leave(BIG)


async def test_small_calls_do_not_hold_events_and_the_end_of_a_large_one_releases_them(nc: Client) -> None:
    activity = Activity()
    async with EventPublisher(nc, HOLD) as publisher:
        publisher.yield_to(activity)
        activity.enter(BIG - 1)  # calls of few items end within milliseconds: nothing waits
        started = time.monotonic()
        await publisher.publish(event(0))
        await wait_for(lambda: publisher.stats.published == 1, timeout=15)
        assert time.monotonic() - started < 30
        activity.enter(1)  # with this one, the calls in flight carry BIG items
        await publisher.publish(event(1))
        busy_since = time.monotonic()
        while time.monotonic() - busy_since < 0.2:
            assert publisher.stats.published == 1
            await publisher_turn()
        activity.leave(1)  # a small call is still in flight, the large load is not
        await wait_for(lambda: publisher.stats.published == 2, timeout=15)
        assert time.monotonic() - busy_since < 30  # woken when the load fell, not at the 60 s bound
        activity.leave(BIG - 1)


async def test_yield_to_hooks_zero_never_holds_events(nc: Client) -> None:
    activity = Activity()
    activity.enter(BIG)
    async with EventPublisher(nc, replace(HOLD, yield_to_hooks=0.0)) as publisher:
        publisher.yield_to(activity)
        started = time.monotonic()
        await publisher.publish(event(0))
        await wait_for(lambda: publisher.stats.published == 1, timeout=15)
        assert time.monotonic() - started < 30
    activity.leave(BIG)


async def test_yield_to_hooks_is_checked_and_read_from_the_environment(nc: Client) -> None:
    with pytest.raises(ConfigError, match="yield_to_hooks"):
        EventPublisher(nc, replace(HOLD, yield_to_hooks=-1.0))
    assert from_env({"HOOKBUS_EVENTS_YIELD": "0"}).events.yield_to_hooks == 0.0
    assert from_env({"HOOKBUS_EVENTS_YIELD": "0.1"}).events.yield_to_hooks == 0.1
    assert from_env({}).events.yield_to_hooks == EventSettings().yield_to_hooks
    for bad in ("soon", "-1", "nan", "inf"):
        with pytest.raises(ConfigError, match="HOOKBUS_EVENTS_YIELD"):
            from_env({"HOOKBUS_EVENTS_YIELD": bad})
    with pytest.raises(ConfigError, match="yield_to_hooks"):
        EventPublisher(nc, replace(HOLD, yield_to_hooks=float("inf")))


async def test_hookbus_server_holds_its_events_while_its_plugins_are_asked(nats_url: str) -> None:
    from hookbus.bus import BusSettings, NatsSettings
    from hookbus.controller.app import Hookbus
    from hookbus.controller.settings import ApiSettings, HookbusSettings

    settings = HookbusSettings(
        bus=BusSettings(nats=NatsSettings(urls=(nats_url,)), events=HOLD), api=ApiSettings(enabled=False)
    )
    async with Hookbus(settings) as app:
        publisher, dispatcher = app.publisher, app.dispatcher
        assert publisher is not None and dispatcher is not None
        dispatcher.activity.enter(BIG)  # as a hook call of BIG items does
        await publisher.publish(event(0))
        busy_since = time.monotonic()
        while time.monotonic() - busy_since < 0.2:
            assert publisher.stats.published == 0
            await publisher_turn()
        dispatcher.activity.leave(BIG)
        await wait_for(lambda: publisher.stats.published == 1, timeout=15)
