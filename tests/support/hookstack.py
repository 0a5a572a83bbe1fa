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
from hookbus.bus.settings import BusSettings
from hookbus.bus.testing import wait_registered
from hookbus.controller.app import Hookbus
from hookbus.controller.settings import (
    ApiSettings,
    ExecutorSettings,
    HookbusSettings,
    StoreSettings,
)

if TYPE_CHECKING:
    from nats.aio.client import Client

    from hookbus.bus.dispatch import Dispatcher
    from hookbus.bus.events import EventPublisher
    from hookbus.bus.registry import RegistryView
    from hookbus.controller.adapters.store import WorkflowKey
    from hookbus.controller.engine.controller import Controller
    from hookbus.controller.executors.base import Executor

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = ROOT / "examples" / "plugins"
HOOKBUS = Path(sys.executable).parent / "hookbus"


def stack_settings(
    url: str,
    state_dir: Path,
    *,
    executor: str = "simulate",
    dispatch: DispatchSettings | None = None,
    bucket: str = "hookbus-workflows",
) -> HookbusSettings:
    """A controller on the NATS at *url*, as ``hookbus server`` runs it, without the control API."""
    return HookbusSettings(
        bus=BusSettings(
            nats=NatsSettings(urls=(url,), name="controller"),
            registry=RegistrySettings(resync=2.0),
            dispatch=dispatch or DispatchSettings(default_timeout=10.0),
        ),
        executor=ExecutorSettings(kind=executor, state_dir=state_dir),
        store=StoreSettings(bucket=bucket),
        api=ApiSettings(enabled=False),
    )


@dataclass
class Stack:
    app: Hookbus
    processes: list[asyncio.subprocess.Process] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.app.nats_url

    @property
    def nc(self) -> Client:
        assert self.app.nc is not None
        return self.app.nc

    @property
    def registry(self) -> RegistryView:
        assert self.app.registry is not None
        return self.app.registry

    @property
    def dispatcher(self) -> Dispatcher:
        assert self.app.dispatcher is not None
        return self.app.dispatcher

    @property
    def publisher(self) -> EventPublisher:
        assert self.app.publisher is not None
        return self.app.publisher

    @property
    def controller(self) -> Controller:
        return self.app.controller

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
        await self.app.close()


async def open_app(settings: HookbusSettings, *, executor: Executor | None = None) -> Stack:
    """A :class:`Stack` around a started :class:`Hookbus` built from *settings*."""
    app = Hookbus(settings, executor=executor)
    await app.start()
    return Stack(app)


async def make_stack(url: str, state_dir: Path, *, executor: str = "simulate") -> Stack:
    return await open_app(stack_settings(url, state_dir, executor=executor))
