"""Test a plugin against the real hook contract.

:class:`PluginHarness` is a small fake controller: it runs your plugin in
process on a real NATS server (an embedded one unless you pass a URL), waits
for it to register, and makes hook calls through the same registry and
dispatcher the controller uses, so what passes here passes in production.

.. code-block:: python

    from . import Hook
    from .testing import PluginHarness

    async def test_rejects_unknown_images():
        async with PluginHarness(plugin) as harness:
            outcome = await harness.call_one(Hook.WORKFLOW_PRE_OPERATE, {"workflow": manifest})
            assert not outcome.allowed
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .connection import connect
from .dispatch import CallResult, Dispatcher, ItemOutcome
from .hooks import Hook, parse_hook
from .registry import RegistryView
from .server import EmbeddedServer
from .settings import BusSettings

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from .sdk import Plugin

DEFAULT_WORKFLOW: dict[str, Any] = {"name": "test-workflow", "namespace": "default", "uid": "test-uid", "labels": {}}


class PluginHarness:
    """Run *plugins* against a real NATS server and call them like the controller does."""

    def __init__(
        self,
        *plugins: Plugin,
        nats_url: str | None = None,
        settings: BusSettings | None = None,
        register_timeout: float = 10.0,
    ) -> None:
        self.plugins = plugins
        self.settings = settings or BusSettings()
        if nats_url:
            self.settings = replace(self.settings, nats=replace(self.settings.nats, urls=(nats_url,)))
        self.register_timeout = register_timeout
        self.server: EmbeddedServer | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._clients: list[Any] = []
        self.registry: RegistryView | None = None
        self.dispatcher: Dispatcher | None = None
        self.url = ""

    async def __aenter__(self) -> PluginHarness:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        if self.settings.nats.urls:
            self.url = self.settings.nats.urls[0]
        else:
            self._tmp = tempfile.TemporaryDirectory(prefix="hookbus-harness-")
            self.server = EmbeddedServer(store_dir=Path(self._tmp.name))
            self.url = await self.server.start()
        nats = replace(self.settings.nats, urls=(self.url,))
        controller_nc = await connect(replace(nats, name="hookbus-harness-controller"))
        self._clients.append(controller_nc)
        self.registry = RegistryView(controller_nc.jetstream(), self.settings.registry)
        await self.registry.start()
        self.dispatcher = Dispatcher(controller_nc, self.registry, self.settings.dispatch)
        for plugin in self.plugins:
            plugin_nc = await connect(replace(nats, name=f"hookbus-harness-{plugin.name}"))
            self._clients.append(plugin_nc)
            await plugin.start(plugin_nc, self.settings.registry)
        await wait_registered(self.registry, *(p.name for p in self.plugins), timeout=self.register_timeout)

    async def stop(self) -> None:
        for plugin in self.plugins:
            await plugin.stop()
        if self.registry is not None:
            await self.registry.stop()
        for client in self._clients:
            with contextlib.suppress(Exception):
                await client.close()
        self._clients.clear()
        if self.server is not None:
            await self.server.stop()
            self.server = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def call(
        self,
        hook: Hook | str,
        items: Sequence[Mapping[str, Any]],
        *,
        workflow: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> CallResult:
        """One hook call with *items*, as the controller makes it; *workflow* is its metadata."""
        assert self.dispatcher is not None, "use 'async with PluginHarness(...)'"
        meta = {**DEFAULT_WORKFLOW, **(workflow or {})}
        return await self.dispatcher.call(parse_hook(str(hook)), meta, items, timeout=timeout)

    async def call_one(self, hook: Hook | str, item: Mapping[str, Any], **kwargs: Any) -> ItemOutcome:
        """One item; its :class:`ItemOutcome`."""
        item = {"id": "item-0", **item}
        return (await self.call(hook, [item], **kwargs)).items[0]


async def wait_registered(registry: RegistryView, *names: str, timeout: float = 10.0) -> None:
    """Wait until every plugin in *names* is live in *registry*."""
    await registry.wait_for(lambda r: all(r.get(n) is not None for n in names), timeout)
