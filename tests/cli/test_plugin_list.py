"""``plugin.list`` and ``hookbus plugin list``: which plugins a running controller sees, and how they do."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from hookbus.bus import BusSettings, DispatchSettings, NatsSettings, Plugin, RegistrySettings
from hookbus.bus.connection import connect
from hookbus.bus.control import ControlClient
from hookbus.bus.testing import wait_registered
from hookbus.controller.app import Hookbus
from hookbus.controller.settings import ExecutorSettings, HookbusSettings
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
HOOKBUS = Path(sys.executable).parent / "hookbus"
TTL = 8.0
"""Registry TTL of these tests: above the plugins' 5 s heartbeat, short enough to see one expire."""


@pytest.fixture
async def app(nats_url: str) -> AsyncIterator[Hookbus]:
    settings = HookbusSettings(
        bus=BusSettings(
            nats=NatsSettings(urls=(nats_url,), name="controller"),
            registry=RegistrySettings(ttl=TTL, resync=2.0),
            dispatch=DispatchSettings(default_timeout=5.0, breaker_threshold=1, retries=0),
        ),
        executor=ExecutorSettings(kind="simulate"),
    )
    async with Hookbus(settings) as running:
        yield running


async def _hookbus(*args: str) -> str:
    """Run the ``hookbus`` command; its stdout (it must exit 0)."""
    proc = await asyncio.create_subprocess_exec(
        str(HOOKBUS), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode()


def _entry(plugins: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(p for p in plugins if p["name"] == name)


async def test_a_registered_plugin_process_is_listed_live_and_not_live_once_its_heartbeat_expired(
    app: Hookbus,
) -> None:
    assert app.nc is not None and app.registry is not None
    plugin = await asyncio.create_subprocess_exec(
        str(HOOKBUS), "plugin", "run", str(ROOT / "examples" / "plugins" / "gate.py"), "--nats-url", app.nats_url,
        env={**os.environ, "HOOKBUS_LOG_FORMAT": "json"},
        stdin=asyncio.subprocess.DEVNULL,
    )
    try:
        await wait_registered(app.registry, "gate", timeout=30)
        client = ControlClient(app.nc, timeout=5.0)
        gate = _entry(await client.plugins(), "gate")
        assert gate["live"] is True and gate["state"] == "ok"
        assert gate["instances"] == 1
        assert gate["hooks"] == ["node.preExecute"]
        assert gate["version"] == "1.0.0"
        assert gate["breaker"] == "closed" and gate["last_error"] is None

        table = await _hookbus("plugin", "list", "--nats-url", app.nats_url)
        header, *rows = table.splitlines()
        assert header.split()[:5] == ["NAME", "VERSION", "LIVE", "INSTANCES", "BREAKER"]
        assert rows[0].split()[:6] == ["gate", "1.0.0", "yes", "1", "closed", "node.preExecute"]
        listed = json.loads(await _hookbus("plugin", "list", "--nats-url", app.nats_url, "-o", "json"))
        assert _entry(listed, "gate")["live"] is True

        plugin.send_signal(signal.SIGKILL)  # no deregistration: only the heartbeat stops
        await plugin.wait()

        async def expired() -> bool:
            return _entry(await client.plugins(), "gate")["live"] is False

        await wait_for(expired, timeout=TTL + 10, interval=0.5, what="the gate plugin to expire")
        gate = _entry(await client.plugins(), "gate")
        assert gate["state"] == "expired" and gate["instances"] == 0
        table = await _hookbus("plugin", "list", "--nats-url", app.nats_url)
        assert table.splitlines()[1].split()[:4] == ["gate", "1.0.0", "no", "(expired)"]
    finally:
        if plugin.returncode is None:
            plugin.kill()
            await plugin.wait()


FAILING = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: breaks}
spec:
  entrypoint: main
  templates:
    - name: main
      container: {image: alpine, command: ["true"]}
"""


async def test_a_failing_plugin_shows_its_open_breaker_and_last_error(app: Hookbus, nats_url: str) -> None:
    assert app.nc is not None and app.registry is not None
    flaky = Plugin("flaky", version="0.1.0")

    @flaky.node_pre_execute(failure_policy="Ignore")
    def boom(**kwargs: Any) -> None:
        raise RuntimeError("backend unreachable")

    nc = await connect(NatsSettings(urls=(nats_url,), name="flaky"))
    try:
        await flaky.start(nc)
        await wait_registered(app.registry, "flaky", timeout=30)
        key = await app.controller.submit(yaml.safe_load(FAILING))
        done = await app.controller.wait(key, timeout=30)
        assert done["status"]["phase"] == "Succeeded"
        entry = _entry(await ControlClient(app.nc).plugins(), "flaky")
        assert entry["live"] is True
        assert entry["breaker"] == "open", "one failure opens a breaker whose threshold is 1"
        assert "backend unreachable" in entry["last_error"]
        assert entry["last_error_at"].endswith("Z")
    finally:
        await flaky.stop(timeout=4)
        await nc.close()


async def test_with_plugins_off_the_list_is_empty(nats_url: str) -> None:
    settings = HookbusSettings(bus=BusSettings(nats=NatsSettings(urls=(nats_url,))), plugins=False)
    async with Hookbus(settings) as app:
        assert app.nc is not None and app.registry is None
        assert await ControlClient(app.nc).plugins() == []
