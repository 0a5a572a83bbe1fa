"""A NATS restart in the middle of things: plugins and the controller side reconnect and resume."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hookbus.bus import EmbeddedServer, Hook, NatsSettings, Plugin, RegistrySettings, short_circuit
from hookbus.bus.connection import connect
from hookbus.bus.dispatch import Dispatcher
from hookbus.bus.registry import RegistryView
from hookbus.bus.testing import wait_registered
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from pathlib import Path


async def test_plugin_and_dispatcher_survive_a_server_restart(tmp_path: Path) -> None:
    server = EmbeddedServer(store_dir=tmp_path / "nats")
    url = await server.start()
    port = int(url.rsplit(":", 1)[1])
    settings = NatsSettings(urls=(url,), reconnect_wait=0.05)
    plugin = Plugin("survivor", heartbeat=0.2)

    @plugin.node_pre_execute()
    def decide(**kwargs: Any) -> dict[str, Any]:
        return short_circuit("Skipped")

    late = Plugin("late-comer")

    @late.pod_pre_create()
    def veto(**kwargs: Any) -> None:
        return None

    controller_nc = await connect(settings)
    plugin_nc = await connect(settings)
    registry = RegistryView(controller_nc.jetstream(), RegistrySettings(ttl=5.0, resync=0.5))
    try:
        await registry.start()
        await plugin.start(plugin_nc)
        await wait_registered(registry, "survivor")
        dispatcher = Dispatcher(controller_nc, registry)
        before = await dispatcher.call(Hook.NODE_PRE_EXECUTE, {"name": "wf"}, [{"id": "a"}])
        assert before[0].result["phase"] == "Skipped"

        await server.kill()
        server = EmbeddedServer(store_dir=tmp_path / "nats", port=port)
        await server.start()
        await wait_for(lambda: controller_nc.is_connected and plugin_nc.is_connected, what="reconnect")

        async def answered() -> bool:
            result = await dispatcher.call(Hook.NODE_PRE_EXECUTE, {"name": "wf"}, [{"id": "b"}])
            return result[0].result.get("phase") == "Skipped"

        await wait_for(answered, timeout=10, what="the plugin answering again")
        # The registry follows the bucket across the restart: a plugin that
        # registers afterwards is seen without restarting anything.
        assert registry.get("survivor") is not None
        await late.start(plugin_nc)
        await wait_registered(registry, "late-comer")
    finally:
        await late.stop()
        await plugin.stop()
        await registry.stop()
        await controller_nc.close()
        await plugin_nc.close()
        await server.stop()


async def test_a_plugin_process_stops_on_sigterm_even_with_nats_gone(tmp_path: Path) -> None:
    import asyncio
    import os
    import signal
    import sys

    plugin_file = tmp_path / "tiny.py"
    plugin_file.write_text(
        "from hookbus.bus import Plugin\n"
        "plugin = Plugin('tiny')\n"
        "@plugin.node_pre_execute()\n"
        "def noop(**kwargs):\n"
        "    return None\n"
    )
    server = EmbeddedServer(store_dir=tmp_path / "nats")
    url = await server.start()
    nc = await connect(NatsSettings(urls=(url,)))
    registry = RegistryView(nc.jetstream(), RegistrySettings())
    hookbus = os.path.join(os.path.dirname(sys.executable), "hookbus")
    proc = await asyncio.create_subprocess_exec(
        hookbus, "plugin", "run", str(plugin_file), "--nats-url", url, stdin=asyncio.subprocess.DEVNULL
    )
    try:
        await registry.start()
        await wait_registered(registry, "tiny", timeout=30)
        await registry.stop()
        await nc.close()
        await server.kill()
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 20)
        assert code in (0, 143)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await server.stop()
