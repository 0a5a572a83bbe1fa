"""The registry's TTL is the controller's setting; plugins read it from the bucket and beat within it."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest

from hookbus.bus import NatsSettings, Plugin, RegistrySettings, wire
from hookbus.bus.codec import Encoding, decode
from hookbus.bus.connection import connect
from hookbus.bus.registry import (
    RegistryView,
    heartbeat_interval,
    open_bucket,
    read_registry_info,
    registry_info,
)
from hookbus.bus.testing import wait_registered

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from nats.aio.client import Client


@pytest.fixture
async def plugin_nc(nats_url: str) -> AsyncIterator[Client]:
    client = await connect(NatsSettings(urls=(nats_url,), name="plugin"))
    yield client
    await client.close()


def _plugin(name: str, heartbeat: float) -> Plugin:
    plugin = Plugin(name, heartbeat=heartbeat)

    @plugin.node_pre_execute()
    def noop(**kwargs: Any) -> None:
        return None

    return plugin


def test_the_heartbeat_is_the_wanted_one_within_a_third_of_the_ttl() -> None:
    assert heartbeat_interval(15.0, 5.0) == 5.0
    assert heartbeat_interval(15.0, 60.0) == pytest.approx(5.0)
    assert heartbeat_interval(1.5, 60.0) == pytest.approx(0.5)
    assert heartbeat_interval(600.0, 5.0) == 5.0
    assert read_registry_info(registry_info(7.5)) == 7.5
    assert decode(registry_info(7.5), Encoding.JSON) == {"v": wire.PROTOCOL_VERSION, "ttl": 7.5, "compression": [wire.DEFLATE]}


def test_a_tiny_or_forged_ttl_cannot_make_heartbeats_a_busy_loop() -> None:
    assert heartbeat_interval(1e-9, 60.0) == wire.MIN_HEARTBEAT
    assert heartbeat_interval(read_registry_info(registry_info(1e-6)), 5.0) == wire.MIN_HEARTBEAT


async def test_the_controller_writes_its_ttl_and_does_not_take_the_key_for_a_plugin(nc: Client) -> None:
    settings = RegistrySettings(ttl=4.5)
    registry = RegistryView(nc.jetstream(), settings)
    await registry.start()
    try:
        kv = await open_bucket(nc.jetstream(), settings)
        entry = await kv.get(wire.REGISTRY_INFO_KEY)
        assert read_registry_info(entry.value or b"") == 4.5
        assert registry.snapshot() == {} and registry.rejected() == {}
    finally:
        await registry.stop()


async def test_a_plugin_that_asks_for_a_slow_heartbeat_stays_live_under_a_short_ttl(nc: Client, plugin_nc: Client) -> None:
    registry = RegistryView(nc.jetstream(), RegistrySettings(ttl=1.2))
    await registry.start()
    plugin = _plugin("slow-beater", heartbeat=60.0)
    try:
        await plugin.start(plugin_nc)
        await wait_registered(registry, "slow-beater")
        assert plugin._registration is not None
        assert plugin._registration.ttl == 1.2
        assert plugin._registration.interval == pytest.approx(0.4)
        # Three TTLs later the plugin is still live: it kept beating within the TTL.
        for _ in range(6):
            await asyncio.sleep(0.6)
            assert registry.get("slow-beater") is not None
    finally:
        await plugin.stop()
        await registry.stop()


async def test_a_plugin_started_before_the_controller_follows_its_ttl(nc: Client, plugin_nc: Client) -> None:
    plugin = _plugin("early", heartbeat=0.3)
    await plugin.start(plugin_nc)
    registry = None
    try:
        assert plugin._registration is not None
        assert plugin._registration.ttl == RegistrySettings().ttl  # nothing to read yet: its own
        assert plugin._registration.interval == 0.3
        registry = RegistryView(nc.jetstream(), RegistrySettings(ttl=0.45))
        await registry.start()
        for _ in range(50):
            if plugin._registration.ttl == 0.45:
                break
            await asyncio.sleep(0.05)
        assert plugin._registration.interval == pytest.approx(0.15)
    finally:
        await plugin.stop()
        if registry is not None:
            await registry.stop()
