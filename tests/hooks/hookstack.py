"""A real controller wired to real plugin processes over a real nats-server, for use-case tests."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from hookbus.bus import DispatchSettings, NatsSettings, RegistrySettings
from hookbus.bus.connection import connect
from hookbus.bus.dispatch import Dispatcher
from hookbus.bus.events import EventPublisher
from hookbus.bus.registry import RegistryView
from hookbus.bus.settings import EventSettings
from hookbus.bus.testing import wait_registered
from hookbus.controller.engine.controller import Controller
from hookbus.controller.engine.settings import ControllerSettings
from hookbus.controller.executors.registry import make_executor
from hookbus.controller.plugin_hooks import BusEventSink, PluginHooks
from hookbus.controller.store import WorkflowKey, WorkflowStore

if TYPE_CHECKING:
    from nats.aio.client import Client

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = ROOT / "examples" / "plugins"
HOOKBUS = Path(sys.executable).parent / "hookbus"


@dataclass
class Stack:
    url: str
    nc: Client
    registry: RegistryView
    dispatcher: Dispatcher
    publisher: EventPublisher
    controller: Controller
    processes: list[asyncio.subprocess.Process] = field(default_factory=list)

    async def plugin(self, name: str, file: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
        """Start ``hookbus plugin run examples/plugins/<file>`` and wait until *name* is registered."""
        proc = await asyncio.create_subprocess_exec(
            str(HOOKBUS), "plugin", "run", str(PLUGINS / file), "--nats-url", self.url,
            env={**os.environ, "HOOKBUS_LOG_FORMAT": "json", **(env or {})},
            stdin=asyncio.subprocess.DEVNULL,
        )
        self.processes.append(proc)
        await wait_registered(self.registry, name, timeout=30)
        return proc

    async def run(self, manifest: str, timeout: float = 60) -> dict[str, Any]:
        key = await self.controller.submit(yaml.safe_load(manifest))
        return await self.controller.wait(key, timeout=timeout)

    async def submit(self, manifest: str) -> WorkflowKey:
        return await self.controller.submit(yaml.safe_load(manifest))

    async def close(self) -> None:
        for proc in self.processes:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes:
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        await self.controller.stop()
        await self.publisher.close()
        await self.registry.stop()
        await self.nc.close()


async def make_stack(url: str, state_dir: Path, *, executor: str = "simulate") -> Stack:
    nc = await connect(NatsSettings(urls=(url,), name="controller"))
    registry = RegistryView(nc.jetstream(), RegistrySettings(resync=2.0))
    await registry.start()
    dispatcher = Dispatcher(nc, registry, DispatchSettings(default_timeout=10.0))
    publisher = EventPublisher(nc, EventSettings())
    await publisher.start()
    controller = Controller(
        ControllerSettings(executor=executor, state_dir=state_dir),
        store=WorkflowStore(nc.jetstream()),
        executor=lambda: make_executor(executor, state_dir=state_dir),
        hooks=PluginHooks(dispatcher),
        events=BusEventSink(publisher),
    )
    await controller.start()
    return Stack(url, nc, registry, dispatcher, publisher, controller)
