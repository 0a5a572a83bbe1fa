"""The composition root: one controller process built from :class:`HookbusSettings`.

``async with Hookbus(settings) as app:`` wires, in this order:

1. NATS: an embedded nats-server (no URL in ``settings.bus.nats``) or the given
   servers, and one connection;
2. the workflow store (a JetStream KV bucket);
3. events: the publisher and the engine's sink on it (wrapped in
   :class:`~hookbus.controller.adapters.safe_events.SafeEvents`);
4. plugins: the registry view, the dispatcher (notifications wait while large
   hook calls are in flight) and the engine's hook points on them;
5. the executor and the controller;
6. the control API server.

Leaving (or :meth:`Hookbus.close`) tears them down in reverse order; every step
runs even if an earlier one fails, and the first failure is raised afterwards.
The entry points (``hookbus server``, ``hookbus run``, the benchmarks' rig and
the integration tests) differ only in their settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from types import TracebackType

    from nats.aio.client import Client

    from ..bus.auth import AuthDir
    from ..bus.dispatch import Dispatcher
    from ..bus.events import EventPublisher
    from ..bus.registry import RegistryView
    from ..bus.server import EmbeddedServer
    from ..bus.settings import DispatchSettings
    from .adapters.api_server import ApiServer
    from .adapters.kube_mode import KubeMode
    from .adapters.plugin_hooks import PluginHooks
    from .adapters.store import WorkflowStore
    from .argo.manifest import Bundle
    from .engine.clock import Clock
    from .engine.controller import Controller
    from .executors.base import Executor
    from .settings import HookbusSettings

    DispatcherFactory = Callable[[Client, RegistryView, DispatchSettings], Dispatcher]

log = structlog.get_logger(__name__)

SERVER_RESTARTS = 3
"""Deaths of the embedded nats-server, within :data:`SERVER_RESTART_WINDOW`, that are
restarted; one more and the process gives up (:attr:`Hookbus.failed`)."""
SERVER_RESTART_WINDOW = 60.0


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def ignore_error(exc: Exception) -> None:
    """A short-lived process's connection errors surface as its exit code, not as log lines."""


async def ignore() -> None:
    """A short-lived process closing its connection is not news."""


def shown_url(url: str) -> str:
    """*url* without credentials, for printing."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest:
        return f"{scheme}://{rest.split('@', 1)[1]}"
    return url


class Hookbus:
    """A controller process: NATS, store, events, plugins, controller and control API.

    *executor* replaces the one ``settings.executor`` names (the caller then
    closes it); *dispatcher_factory* builds the dispatcher (a recording one in
    benchmarks); *templates* are WorkflowTemplates, ClusterWorkflowTemplates and
    ConfigMaps every submit through the control API may use.
    """

    def __init__(
        self,
        settings: HookbusSettings,
        *,
        executor: Executor | None = None,
        dispatcher_factory: DispatcherFactory | None = None,
        templates: Bundle | None = None,
        clock: Clock | None = None,
        keep_nodes: bool = False,
    ) -> None:
        self.settings = settings
        self._keep_nodes = keep_nodes
        """A graceful stop leaves nodes that outlive the controller (supervised local steps)
        running for the next controller on the same state, as a crash would."""
        self._given_executor = executor
        self._dispatcher_factory = dispatcher_factory
        self._templates = templates
        self._clock = clock
        self._teardown: list[tuple[str, Callable[[], Awaitable[Any] | None]]] = []
        self._started = False
        self.nats_url = ""
        """The URL clients use to reach this process's NATS (credentials left out)."""
        self.state_dir: Path | None = None
        self.server: EmbeddedServer | None = None
        self.auth: AuthDir | None = None
        """The embedded server's identities; ``None`` with NATS given by URL or auth off."""
        self.nc: Client | None = None
        self.store: WorkflowStore | None = None
        self.publisher: EventPublisher | None = None
        self.registry: RegistryView | None = None
        """The plugin registry view; ``None`` with plugins off."""
        self.dispatcher: Dispatcher | None = None
        """The dispatcher calling plugins; ``None`` with plugins off."""
        self.hooks: PluginHooks | None = None
        self.executor: Executor | None = None
        self.api: ApiServer | None = None
        """The control API server; ``None`` with the API off."""
        self._controller: Controller | None = None
        self.kube: KubeMode | None = None
        """Kubernetes mode; ``None`` unless ``settings.kubernetes.enabled``."""
        self.failed = asyncio.Event()
        """Set when a part this process cannot do without is gone for good (see :attr:`failure`)."""
        self.failure = ""
        """Why :attr:`failed` was set."""
        self.ready = False
        """Every part has started (``/readyz`` also needs the NATS connection up)."""
        self.health_port: int | None = None
        """The port ``/healthz`` and ``/readyz`` are served on (``None``: not served)."""

    @property
    def controller(self) -> Controller:
        """The running controller."""
        if self._controller is None:
            raise RuntimeError("the hookbus app is not started")
        return self._controller

    async def __aenter__(self) -> Hookbus:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def _on_close(self, what: str, step: Callable[[], Awaitable[Any] | None]) -> None:
        self._teardown.append((what, step))

    async def start(self) -> None:
        """Build and start every part; on a failure, stop what was started and raise."""
        if self._started:
            return
        self._started = True
        try:
            await self._start()
        except BaseException:
            await self.close()
            raise

    async def _start(self) -> None:
        from ..bus.events import EventPublisher
        from .adapters.events import PublisherSink
        from .adapters.safe_events import SafeEvents
        from .adapters.store import WorkflowStore
        from .engine.controller import Controller

        settings = self.settings
        if settings.health_port is not None:
            await self._start_health(settings.health_port)
        self.state_dir = self._state_dir()
        nc = self.nc = await self._connect()

        store = self.store = WorkflowStore(nc.jetstream(), bucket=settings.store.bucket)
        await store.open()
        if settings.store.delete_on_close:
            self._on_close("store bucket", lambda: self._delete_bucket(settings.store.bucket))
        self._on_close("store", store.close)

        events: Any = None
        if settings.events:
            publisher = self.publisher = EventPublisher(nc, settings.bus.events)
            await publisher.start()
            self._on_close("event publisher", publisher.close)
            events = SafeEvents(PublisherSink(publisher, js=nc.jetstream()))

        if settings.plugins:
            await self._start_plugins(nc)

        if settings.kubernetes.enabled:
            events = await self._start_kube(events)

        executor = self.executor = self._executor()
        controller = self._controller = Controller(
            replace(
                settings.controller,
                executor=settings.executor.kind,
                state_dir=self._executor_dir(),
                start_concurrency=settings.executor.starts_at_once,
            ),
            store=store,
            executor=executor,
            hooks=self.hooks,
            events=events,
            clock=self._clock,
            cluster=self.kube.cluster() if self.kube is not None else None,
        )
        if self.kube is not None:
            self.kube.bind(controller)
        self._on_close("controller", controller.stop)
        detach = getattr(executor, "detach", None)
        if self._keep_nodes and callable(detach):
            self._on_close("executor's nodes left running", detach)  # before the controller stops
        await controller.start()

        if self.kube is not None:
            self._on_close("Kubernetes watches", self.kube.stop_watching)
            await self.kube.start(controller)

        if settings.api.enabled:
            await self._start_api(nc, controller)
        self.ready = True

    async def _start_health(self, port: int) -> None:
        from .adapters.health import HealthServer

        health = HealthServer(port, live=self._live, ready=self._ready)
        self.health_port = await health.start()
        self._on_close("health endpoints", health.stop)

    def _live(self) -> str | None:
        return (self.failure or "failed") if self.failed.is_set() else None

    def _ready(self) -> str | None:
        if (reason := self._live()) is not None:
            return reason
        if not self.ready:
            return "starting" if self.kube is None else "starting (a standby waits for the lease)"
        if self.nc is None or not self.nc.is_connected:
            return "not connected to NATS"
        return None

    async def _start_kube(self, events: Any) -> Any:
        """Connect to the API server, wait for the lease, and put the status writer around *events*."""
        from .adapters.kube_mode import KubeMode

        kube = self.kube = KubeMode(self.settings.kubernetes, templates=self._templates)
        self._on_close("Kubernetes", kube.close)
        await kube.connect()
        await kube.lead(self._fail)
        return kube.wrap(events)

    def _state_dir(self) -> Path:
        if self.settings.state_dir is not None:
            path = Path(self.settings.state_dir)
        else:
            tmp = tempfile.TemporaryDirectory(prefix="hookbus-", ignore_cleanup_errors=True)
            self._on_close("state directory", tmp.cleanup)
            path = Path(tmp.name)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _executor_dir(self) -> Path:
        assert self.state_dir is not None
        return Path(self.settings.executor.state_dir or self.state_dir / "executor")

    async def _connect(self) -> Client:
        from ..bus.auth import CONTROLLER, remove_note, write_note
        from ..bus.connection import connect
        from ..bus.server import EmbeddedServer

        settings = self.settings
        urls: list[str] | None = None
        nats = settings.bus.nats
        if settings.embedded_nats:
            assert self.state_dir is not None
            store_dir = (
                settings.embedded.store_dir
                or settings.bus.nats.embedded_store_dir
                or self.state_dir / "nats"
            )
            auth = self._auth_dir()
            server = self.server = EmbeddedServer(
                store_dir=store_dir,
                port=settings.embedded.port,
                max_payload=settings.embedded.max_payload,
                include=auth.config_file if auth is not None else None,
                tls_cert=settings.embedded.tls_cert,
                tls_key=settings.embedded.tls_key,
            )
            self._on_close("nats-server", server.stop)
            urls = [await server.start()]
            self.nats_url = urls[0]
            if auth is not None:
                nats = replace(nats, creds_file=str(auth.role_file(CONTROLLER)), tls_ca=nats.tls_ca or (
                    str(settings.embedded.tls_cert) if settings.embedded.tls_cert else None))
                write_note(self.nats_url, auth.path, Path(store_dir), settings.embedded.tls_cert)
                url = self.nats_url
                self._on_close("credentials note", lambda: remove_note(url, auth.path))
            watcher = asyncio.create_task(self._supervise(server), name="hookbus-nats-server-watch")
            self._on_close("nats-server watch", lambda: _cancel(watcher))
        else:
            self.nats_url = ",".join(shown_url(u) for u in settings.bus.nats.urls)
        quiet: dict[str, Any] = (
            {"error_cb": ignore_error, "disconnected_cb": ignore} if settings.embedded.quiet else {}
        )
        nc = await connect(nats, urls, **quiet)
        self._on_close("NATS connection", lambda: self._drain(nc))
        return nc

    def _auth_dir(self) -> AuthDir | None:
        """The embedded server's identities (``auth/`` under the state directory), made on first
        start; ``None`` when authentication is off."""
        from ..bus.auth import AuthDir

        if not self.settings.embedded.auth:
            return None
        assert self.state_dir is not None
        self.auth = AuthDir(self.state_dir / "auth", registry_bucket=self.settings.bus.registry.bucket).ensure()
        return self.auth

    async def _supervise(self, server: EmbeddedServer) -> None:
        """Start the embedded nats-server again when it dies alone (same port and store,
        so clients reconnect); after :data:`SERVER_RESTARTS` deaths within
        :data:`SERVER_RESTART_WINDOW` seconds, or a restart that fails, set :attr:`failed`."""
        deaths: list[float] = []
        loop = asyncio.get_running_loop()
        while True:
            code = await server.exited()
            now = loop.time()
            deaths = [t for t in deaths if now - t < SERVER_RESTART_WINDOW] + [now]
            log.error("the embedded nats-server exited", code=code, deaths=len(deaths))
            if len(deaths) > SERVER_RESTARTS:
                self._fail(f"the embedded nats-server exited {len(deaths)} times within {SERVER_RESTART_WINDOW:.0f}s (last exit code {code})")
                return
            try:
                await server.restart()
            except Exception as exc:
                self._fail(f"the embedded nats-server exited (code {code}) and could not be started again: {exc}")
                return
            log.warning("the embedded nats-server was started again", url=server.url)

    def _fail(self, message: str) -> None:
        log.error("hookbus cannot go on", reason=message)
        self.failure = message
        self.failed.set()

    @staticmethod
    async def _drain(nc: Client) -> None:
        try:
            await nc.drain()
        except Exception:
            with contextlib.suppress(Exception):
                await nc.close()  # no server to drain to: stop reconnecting at least

    async def _delete_bucket(self, bucket: str) -> None:
        assert self.nc is not None
        with contextlib.suppress(Exception):
            await self.nc.jetstream().delete_key_value(bucket)

    async def _start_plugins(self, nc: Client) -> None:
        from ..bus.dispatch import Dispatcher
        from ..bus.registry import RegistryView
        from .adapters.plugin_hooks import PluginHooks

        settings = self.settings.bus
        registry = self.registry = RegistryView(nc.jetstream(), settings.registry)
        await registry.start()
        self._on_close("plugin registry", registry.stop)
        factory = self._dispatcher_factory or Dispatcher
        dispatcher = self.dispatcher = factory(nc, registry, settings.dispatch)
        if self.publisher is not None:
            self.publisher.yield_to(dispatcher.activity)  # events wait while plugins answer
        self.hooks = PluginHooks(dispatcher)

    def _executor(self) -> Executor:
        if self._given_executor is not None:
            return self._given_executor
        from .executors.registry import make_executor

        ex = self.settings.executor
        if ex.kind == "kubernetes":
            return self._pod_executor()
        options: dict[str, Any] = {}
        if ex.kind == "local":
            supervise = ex.supervise if ex.supervise is not None else self.settings.state_dir is not None
            # the durable state (NATS store, workflows' files) is shown empty to sandboxed steps
            hidden = [str(self.state_dir)] if self.state_dir is not None else []
            if store := (self.settings.embedded.store_dir or self.settings.bus.nats.embedded_store_dir):
                hidden.append(str(store))
            options = {
                "supervise": supervise,
                "orphan_timeout": ex.orphan_timeout,
                "sandbox": ex.sandbox,
                "uid_base": ex.sandbox_uid_base,
                "network": ex.sandbox_network,
                "hidden": tuple(hidden),
            }
        executor = make_executor(ex.kind, state_dir=self._executor_dir(), **options)
        self._on_close("executor", executor.close)
        return executor

    def _pod_executor(self) -> Executor:
        """The Kubernetes executor: a Pod per node, in Kubernetes mode only."""
        if self.kube is None:
            raise ValueError("the kubernetes executor runs in Kubernetes mode only (--kubernetes)")
        executor = self.kube.pod_executor(self.hooks, artifact_dir=self._executor_dir() / "artifacts")
        self._on_close("executor", self.kube.close_pods)
        return executor

    async def _start_api(self, nc: Client, controller: Controller) -> None:
        from .adapters.api_server import ApiServer, PluginsView

        plugins = (
            PluginsView(self.registry, self.dispatcher)
            if self.registry is not None and self.dispatcher is not None
            else None
        )
        api = self.api = ApiServer(
            controller,
            nc,
            default_namespace=self.settings.controller.namespace,
            templates=self._templates,
            plugins=plugins,
            takeovers=getattr(self.dispatcher, "takeovers", None),
        )
        await api.start()
        self._on_close("control API", api.stop)

    async def close(self) -> None:
        """Stop every part, newest first (idempotent); raise the first failure after all ran."""
        self.ready = False
        first: BaseException | None = None
        while self._teardown:
            what, step = self._teardown.pop()
            try:
                result = step()
                if result is not None:
                    await result
            except Exception as exc:
                log.warning("stopping a part failed", part=what, error=str(exc))
                if first is None:
                    first = exc
        if first is not None:
            raise first
