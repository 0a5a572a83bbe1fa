"""``hookbus server``: the long-running controller, its control API, events and plugins."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..api import (
    ApiServer,
)
from .common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    bus_settings,
    given,
    load_input,
    log,
    nats_connection,
    stop_signals,
)

if TYPE_CHECKING:
    import argparse
    from collections.abc import AsyncIterator, Mapping, Sequence

    from nats.aio.client import Client

    from ...bus.settings import BusSettings


@contextlib.asynccontextmanager
async def plugin_hooks(
    nc: Client, settings: BusSettings, publisher: Any = None
) -> AsyncIterator[Any]:
    """The engine's hook points answered by the plugins registered on *nc* (None if unavailable).

    Follows the plugin registry (``settings.registry``: bucket, TTL, allow-list)
    and calls plugins through the dispatcher (``settings.dispatch``).
    """
    try:
        from ..plugin_hooks import PluginHooks
    except ImportError:
        log.warning("plugin hooks are not available in this build; plugins will not be called")
        yield None
        return
    from ...bus import Dispatcher, RegistryView

    registry = RegistryView(nc.jetstream(), settings.registry)
    await registry.start()
    try:
        dispatcher = Dispatcher(nc, registry, settings.dispatch)
        if publisher is not None:
            publisher.yield_to(dispatcher.activity)  # events wait while plugins answer
        yield PluginHooks(dispatcher)
    finally:
        await registry.stop()


def _write_atomically(path: Path, text: str) -> None:
    """Write *text* so that a reader sees either no file or all of it."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


class SafeEvents:
    """Wraps an event sink so that a failing notification is logged, never raised.

    Notifications are published after the state they describe is persisted;
    a sink error must not fail the scheduling pass that sent them.
    """

    def __init__(self, sink: Any) -> None:
        self._sink = sink

    async def _call(self, method: str, *args: Any) -> None:
        try:
            await getattr(self._sink, method)(*args)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("event sink failed; notification dropped", hook=method)

    async def workflow_phase(self, workflow: Any, phase: str, message: str) -> None:
        """See :class:`hookbus.controller.engine.ports.EventSink`."""
        await self._call("workflow_phase", workflow, phase, message)

    async def node_phases(self, workflow: Any, nodes: Sequence[Any]) -> None:
        """See :class:`hookbus.controller.engine.ports.EventSink`."""
        await self._call("node_phases", workflow, nodes)

    async def pod_created(self, workflow: Any, pods: Sequence[Any]) -> None:
        """See :class:`hookbus.controller.engine.ports.EventSink`."""
        await self._call("pod_created", workflow, pods)

    async def progress(
        self, workflow: Any, done: int, total: int, phases: Mapping[str, int]
    ) -> None:
        """See :class:`hookbus.controller.engine.ports.EventSink`."""
        await self._call("progress", workflow, done, total, phases)

    async def plugin_verdicts(self, workflow: Any, verdicts: Sequence[Any]) -> None:
        """See :class:`hookbus.controller.engine.ports.EventSink`."""
        await self._call("plugin_verdicts", workflow, verdicts)


async def server_command(args: argparse.Namespace) -> int:
    """``hookbus server``: controller + control API (+ embedded NATS) until SIGTERM/SIGINT."""
    from ...bus.events import EventPublisher
    from ..engine.controller import Controller
    from ..engine.settings import ControllerSettings
    from ..executors.registry import make_executor
    from ..plugin_hooks import BusEventSink
    from ..store import WorkflowStore

    templates = load_input([], args.templates)[0] if args.templates else None
    settings = bus_settings(args)
    external = bool(settings.nats.urls)
    stop, received, undo = stop_signals()
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(undo)
        if args.state_dir:
            state_dir = Path(args.state_dir)
        else:
            state_dir = Path(
                stack.enter_context(
                    tempfile.TemporaryDirectory(
                        prefix="hookbus-server-", ignore_cleanup_errors=True
                    )
                )
            )
            if not external:
                print(
                    "hookbus: no --state-dir: workflows are lost when this server stops",
                    file=sys.stderr,
                )
        state_dir.mkdir(parents=True, exist_ok=True)
        store_dir = Path(settings.nats.embedded_store_dir or state_dir / "nats")
        nc, url = await stack.enter_async_context(
            nats_connection(settings, embedded=not external, store_dir=store_dir, port=args.port)
        )
        store = WorkflowStore(nc.jetstream())
        await store.open()
        publisher = EventPublisher(nc, settings.events)
        await publisher.start()
        stack.push_async_callback(publisher.close)
        hooks = (
            await stack.enter_async_context(plugin_hooks(nc, settings, publisher))
            if args.plugins
            else None
        )
        controller = Controller(
            ControllerSettings(
                executor=args.executor,
                state_dir=state_dir / "executor",
                namespace=args.namespace,
                **given(max_workflows=args.max_workflows, max_running_nodes=args.max_running_nodes),
            ),
            store=store,
            executor=lambda: make_executor(args.executor, state_dir=state_dir / "executor"),
            hooks=hooks,
            events=SafeEvents(BusEventSink(publisher)),
        )
        stack.push_async_callback(controller.stop)
        await controller.start()
        await stack.enter_async_context(
            ApiServer(controller, nc, default_namespace=args.namespace, templates=templates)
        )
        print(f"hookbus server is ready; NATS URL: {url}", flush=True)
        print(f"  export HOOKBUS_NATS_URL={url}", flush=True)
        if args.url_file:
            await asyncio.to_thread(_write_atomically, Path(args.url_file), url + "\n")
        await stop.wait()
        print("hookbus server: shutting down", file=sys.stderr, flush=True)
    return EXIT_OK if received else EXIT_INTERRUPTED
