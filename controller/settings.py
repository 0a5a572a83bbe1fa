"""Every setting of a hookbus controller process, as one tree of frozen dataclasses.

:class:`HookbusSettings` is the root: the bus (NATS, plugin registry, hook
calls, notifications), the engine, the executor, the embedded NATS server,
the workflow store, the control API and logging. :func:`from_env` fills the
whole tree from ``HOOKBUS_*`` environment variables; the CLI puts its flags on
top (:func:`hookbus.controller.cli.common.settings_from_args`);
:class:`hookbus.controller.app.Hookbus` builds the process from it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Final

from ..bus.errors import ConfigError
from ..bus.settings import BusSettings
from ..bus.settings import from_env as bus_from_env
from .engine.http_guard import parse_networks
from .engine.settings import ControllerSettings
from .kube.settings import KubernetesSettings, kubernetes_from_env

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from pathlib import Path

EMBEDDED_MAX_PAYLOAD = 8 * 1024 * 1024
"""max_payload of the embedded NATS server: big workflow snapshots fit in one reply."""


KUBERNETES_START_CONCURRENCY = 32
"""Pods of one scheduling pass created at once by default: enough to keep an API server's
round trips overlapping, few enough not to burst past its client-side rate limits."""


@dataclass(frozen=True)
class ExecutorSettings:
    """How templates run."""

    kind: str = "local"
    """``local`` (host processes), ``simulate`` (every container succeeds at once) or
    ``kubernetes`` (a Pod per node; Kubernetes mode only, where ``hookbus server --kubernetes``
    chooses it unless ``--executor`` or ``HOOKBUS_EXECUTOR`` says otherwise)."""
    state_dir: Path | None = None
    """Where the executor keeps per-node logs and output files. ``None``: ``executor/``
    under :attr:`HookbusSettings.state_dir`."""
    supervise: bool | None = None
    """``local``: run each node under a supervisor process that outlives the controller, so a
    restarted controller adopts the node instead of losing it. ``None``: on when
    :attr:`HookbusSettings.state_dir` is set (durable state)."""
    orphan_timeout: float = 3600.0
    """Seconds a supervised node runs on while no controller uses the executor's state
    directory; then its supervisor stops it and records it ``Error``."""
    start_concurrency: int | None = None
    """Node starts of one scheduling pass in flight at once (each a pod create in a cluster).
    ``None``: :data:`KUBERNETES_START_CONCURRENCY` for the ``kubernetes`` executor, 1 (one
    after another) for the others. ``--start-concurrency``, ``HOOKBUS_START_CONCURRENCY``."""
    sandbox: bool | None = None
    """The local executor's sandbox (docs/executors.md): ``None`` on when the host allows it
    (else a warning), ``True`` required (nodes fail when impossible), ``False`` off.
    ``--sandbox auto|on|off``, ``HOOKBUS_SANDBOX``."""
    sandbox_uid_base: int = 100_000
    """Host uid (and gid) of a sandboxed node's root; the node's ids 0-65535 are this and the
    65535 after it. ``--sandbox-uid-base``, ``HOOKBUS_SANDBOX_UID_BASE``."""
    sandbox_network: str = "host"
    """``host``: sandboxed nodes share the host's network; ``none``: each container has a
    network namespace of its own with only its loopback interface. ``--sandbox-network``, ``HOOKBUS_SANDBOX_NETWORK``."""

    @property
    def starts_at_once(self) -> int:
        """:attr:`start_concurrency`, or the executor kind's default when it is ``None``."""
        if self.start_concurrency is not None:
            return self.start_concurrency
        return KUBERNETES_START_CONCURRENCY if self.kind == "kubernetes" else 1


@dataclass(frozen=True)
class EmbeddedNatsSettings:
    """The nats-server started in process when no NATS URL is given."""

    port: int = -1
    """Client port; -1: a free one."""
    max_payload: int = EMBEDDED_MAX_PAYLOAD
    """Largest message the server accepts, in bytes."""
    store_dir: Path | None = None
    """JetStream store directory. ``None``: ``NatsSettings.embedded_store_dir``
    (``HOOKBUS_NATS_STORE_DIR``), else ``nats/`` under :attr:`HookbusSettings.state_dir`."""
    quiet: bool = False
    """Keep the connection's errors and disconnects out of the log (a short-lived run)."""
    auth: bool = True
    """Authentication and per-role permissions on (``auth/`` under the state directory holds
    the identities; see docs/security.md). ``HOOKBUS_NATS_AUTH=0`` turns it off."""
    tls_cert: Path | None = None
    """Certificate (PEM) of the embedded server; with :attr:`tls_key`, clients must use TLS."""
    tls_key: Path | None = None
    """Key of :attr:`tls_cert`."""


@dataclass(frozen=True)
class StoreSettings:
    """The JetStream key-value store of workflows."""

    bucket: str = "hookbus-workflows"
    """KV bucket holding workflows and their nodes."""
    delete_on_close: bool = False
    """Delete the bucket when the process stops (a run's private store on a shared NATS)."""


@dataclass(frozen=True)
class ApiSettings:
    """The control API (``hookbus.control.v1.*``) this process answers."""

    enabled: bool = True
    """Serve the control API; off for an engine driven only in process."""


@dataclass(frozen=True)
class LogSettings:
    """Log output (structlog, on stderr)."""

    level: str | None = None
    """Level name (``debug``, ``info``, ``warning`` ...); ``None``: the command's default.
    ``HOOKBUS_LOG_LEVEL``."""
    format: str = "auto"
    """``json``, ``console`` or ``auto`` (JSON unless stderr is a terminal). ``HOOKBUS_LOG_FORMAT``."""


@dataclass(frozen=True)
class HookbusSettings:
    """The root of every setting of a controller process."""

    bus: BusSettings = field(default_factory=BusSettings)
    """NATS connection, plugin registry, hook calls and notifications."""
    controller: ControllerSettings = field(default_factory=ControllerSettings)
    """The workflow engine (its ``executor`` and ``state_dir`` come from :attr:`executor`)."""
    executor: ExecutorSettings = field(default_factory=ExecutorSettings)
    """How templates run."""
    embedded: EmbeddedNatsSettings = field(default_factory=EmbeddedNatsSettings)
    """The embedded nats-server, used when ``bus.nats.urls`` is empty."""
    store: StoreSettings = field(default_factory=StoreSettings)
    """Where workflows are persisted."""
    api: ApiSettings = field(default_factory=ApiSettings)
    """The control API."""
    log: LogSettings = field(default_factory=LogSettings)
    """Log output."""
    kubernetes: KubernetesSettings = field(default_factory=KubernetesSettings)
    """Kubernetes mode: Workflows from the cluster, status back on them, the lease."""
    events: bool = True
    """Publish notifications (workflow, node, pod, progress and plugin verdict events) on
    JetStream; off: the engine's notifications go nowhere."""
    plugins: bool = True
    """Call the plugins registered on the bus (subject to ``bus.registry.allow``);
    off: no registry view, no dispatcher, every hook point answers as if no plugin were there."""
    health_port: int | None = None
    """Serve ``/healthz`` and ``/readyz`` on this TCP port (0: any free port); ``None``: not
    served. ``--health-port``, ``HOOKBUS_HEALTH_PORT``."""
    state_dir: Path | None = None
    """Durable state: ``nats/`` (the embedded server's store) and ``executor/``.
    ``None``: a temporary directory, removed when the process stops."""

    @property
    def embedded_nats(self) -> bool:
        """Whether the process starts its own nats-server (no URL given)."""
        return not self.bus.nats.urls


def log_from_env(env: Mapping[str, str] | None = None, base: LogSettings | None = None) -> LogSettings:
    """:class:`LogSettings` from ``HOOKBUS_LOG_LEVEL`` and ``HOOKBUS_LOG_FORMAT`` over *base*."""
    env = os.environ if env is None else env
    log = base or LogSettings()
    if level := env.get("HOOKBUS_LOG_LEVEL"):
        log = replace(log, level=level.strip().lower())
    if fmt := env.get("HOOKBUS_LOG_FORMAT"):
        log = replace(log, format=fmt.strip().lower())
    return log


def from_env(env: Mapping[str, str] | None = None, base: HookbusSettings | None = None) -> HookbusSettings:
    """The whole tree from ``HOOKBUS_*`` environment variables over *base* (defaults).

    The bus part is :func:`hookbus.bus.settings.from_env`, the log part :func:`log_from_env`.
    """
    env = os.environ if env is None else env
    settings = base or HookbusSettings()
    executor = executor_from_env(env, settings.executor)
    kubernetes = kubernetes_from_env(env, settings.kubernetes)
    if executor.kind == "kubernetes" and "HOOKBUS_KUBERNETES" not in env:
        kubernetes = replace(kubernetes, enabled=True)  # pods are run in Kubernetes mode only
    return replace(
        settings,
        bus=bus_from_env(env, settings.bus),
        log=log_from_env(env, settings.log),
        executor=executor,
        controller=trust_from_env(env, settings.controller),
        kubernetes=kubernetes,
        embedded=embedded_from_env(env, settings.embedded),
        health_port=health_port_from_env(env, settings.health_port),
    )


def health_port_from_env(env: Mapping[str, str], base: int | None) -> int | None:
    """``HOOKBUS_HEALTH_PORT`` over *base* (``ValueError`` naming a value that is not a port)."""
    text = env.get("HOOKBUS_HEALTH_PORT", "").strip()
    if not text:
        return base
    if not text.isdigit() or int(text) > 65535:
        raise ValueError(f"HOOKBUS_HEALTH_PORT: {text!r} is not a TCP port number (0-65535)")
    return int(text)


EXECUTOR_KINDS: Final = ("local", "simulate", "kubernetes")
"""Values of :attr:`ExecutorSettings.kind`."""

SANDBOX_CHOICES: Final = {"auto": None, "on": True, "off": False}
"""``--sandbox`` / ``HOOKBUS_SANDBOX`` words and the :attr:`ExecutorSettings.sandbox` they mean."""


def sandbox_choice(text: str) -> bool | None:
    """``auto``/``on``/``off`` as :attr:`ExecutorSettings.sandbox`; ``ValueError`` naming the choices."""
    word = text.strip().lower()
    if word not in SANDBOX_CHOICES:
        raise ValueError(f"sandbox: {text!r} is not one of auto, on, off")
    return SANDBOX_CHOICES[word]


def executor_from_env(env: Mapping[str, str], base: ExecutorSettings) -> ExecutorSettings:
    """:class:`ExecutorSettings` from ``HOOKBUS_EXECUTOR``, ``HOOKBUS_SANDBOX``,
    ``HOOKBUS_SANDBOX_UID_BASE``, ``HOOKBUS_SANDBOX_NETWORK`` and ``HOOKBUS_START_CONCURRENCY`` over *base* (``ValueError``
    naming a malformed value)."""
    out = base
    if text := env.get("HOOKBUS_EXECUTOR"):
        if text.strip() not in EXECUTOR_KINDS:
            raise ValueError(f"HOOKBUS_EXECUTOR: {text!r} is not one of {', '.join(EXECUTOR_KINDS)}")
        out = replace(out, kind=text.strip())
    if text := env.get("HOOKBUS_SANDBOX"):
        out = replace(out, sandbox=sandbox_choice(text))
    if text := env.get("HOOKBUS_SANDBOX_UID_BASE"):
        if not text.strip().isdigit():
            raise ValueError(f"HOOKBUS_SANDBOX_UID_BASE: {text!r} is not a number")
        out = replace(out, sandbox_uid_base=int(text))
    if text := env.get("HOOKBUS_SANDBOX_NETWORK"):
        if text.strip() not in ("host", "none"):
            raise ValueError(f"HOOKBUS_SANDBOX_NETWORK: {text!r} is not host or none")
        out = replace(out, sandbox_network=text.strip())
    if text := env.get("HOOKBUS_START_CONCURRENCY"):
        if not text.strip().isdigit() or int(text) < 1:
            raise ValueError(f"HOOKBUS_START_CONCURRENCY: {text!r} is not a positive number")
        out = replace(out, start_concurrency=int(text))
    return out


def trust_from_env(env: Mapping[str, str], base: ControllerSettings) -> ControllerSettings:
    """The engine's ``allowed_host_paths`` (``HOOKBUS_ALLOW_HOST_PATHS``, ``:``-separated) and
    ``http_allow`` (``HOOKBUS_HTTP_ALLOW``, ``,``-separated) and ``resource_poll_seconds``
    (``HOOKBUS_RESOURCE_POLL``) over *base*."""
    out = base
    if text := env.get("HOOKBUS_ALLOW_HOST_PATHS"):
        out = replace(out, allowed_host_paths=host_paths(text.split(":")))
    if text := env.get("HOOKBUS_HTTP_ALLOW"):
        out = replace(out, http_allow=http_allow(text.split(",")))
    if text := env.get("HOOKBUS_RESOURCE_POLL"):
        try:
            seconds = float(text)
        except ValueError:
            seconds = 0.0
        if not 0 < seconds < float("inf"):
            raise ValueError(f"HOOKBUS_RESOURCE_POLL: {text!r} is not a number of seconds greater than 0")
        out = replace(out, resource_poll_seconds=seconds)
    return out


def host_paths(paths: Iterable[str]) -> tuple[str, ...]:
    """Allowed ``hostPath`` prefixes: absolute paths (``ValueError`` naming one that is not)."""
    out = tuple(p.strip() for p in paths if p.strip())
    for path in out:
        if not path.startswith("/"):
            raise ValueError(f"allowed host path {path!r} is not an absolute path")
    return out


def http_allow(entries: Iterable[str]) -> tuple[str, ...]:
    """Addresses or networks ``http`` templates may reach (``ValueError`` naming a malformed one)."""
    out = tuple(e.strip() for e in entries if e.strip())
    parse_networks(out)
    return out


def embedded_from_env(env: Mapping[str, str], base: EmbeddedNatsSettings) -> EmbeddedNatsSettings:
    """:class:`EmbeddedNatsSettings` from ``HOOKBUS_NATS_AUTH`` over *base*."""
    if (auth := env.get("HOOKBUS_NATS_AUTH")) is not None and auth.strip():
        return replace(base, auth=auth_flag(auth))
    return base


def auth_flag(value: str) -> bool:
    """``HOOKBUS_NATS_AUTH``: 1/0, yes/no, on/off, true/false."""
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"HOOKBUS_NATS_AUTH={value!r} is not a yes/no value (use 1 or 0)")
