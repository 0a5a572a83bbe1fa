"""Settings of the bus layer: nested dataclasses, one docstring per field.

:func:`from_env` fills them from ``HOOKBUS_*`` environment variables; the CLI
fills the same objects from its flags. These settings are read from the
environment nowhere else.

A few process-wide switches that are not settings of a connection or a call are
read from the environment where they act, each by one function:

- ``HOOKBUS_LOG_LEVEL``, ``HOOKBUS_LOG_FORMAT``: :func:`hookbus.bus.log.configure`
  (and the controller's CLI, which configures its own logging);
- ``HOOKBUS_UVLOOP``, ``HOOKBUS_GC_THRESHOLD``: :mod:`hookbus.bus.loop`;
- ``HOOKBUS_NATS_SERVER`` (the ``nats-server`` executable of an embedded server):
  :func:`hookbus.bus.server.find_binary`;
- ``HOOKBUS_RUNTIME_DIR`` (where servers of this machine note where their identities are,
  for local clients): :func:`hookbus.bus.auth.runtime_dir`.

The controller's executors also read ``PATH`` and the variables a workflow's
processes inherit, to start those processes; that is the processes' environment,
not configuration.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

from .errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping


@dataclass(frozen=True)
class NatsSettings:
    urls: tuple[str, ...] = ()
    """Server URLs. Empty: start an embedded server."""
    user: str | None = None
    """User name for user/password authentication."""
    password: str | None = None
    """Password for user/password authentication. Never logged."""
    token: str | None = None
    """Token authentication. Never logged."""
    creds_file: str | None = None
    """A credentials file: hookbus's own (JSON: user, password, inbox prefix; what
    ``hookbus plugin credentials`` writes) or a NATS ``.creds`` file (JWT + nkey seed)."""
    nkey_seed_file: str | None = None
    """A file holding an nkey seed."""
    tls_ca: str | None = None
    """CA bundle to verify the server's certificate."""
    tls_cert: str | None = None
    """Client certificate for mutual TLS."""
    tls_key: str | None = None
    """Key of the client certificate."""
    inbox_prefix: str | None = None
    """Prefix of this client's reply subjects (``_INBOX.<user>`` for a hookbus identity, whose
    permissions allow subscribing only there). ``None``: the credentials file's, else NATS's."""
    name: str = "hookbus"
    """Connection name shown by the server's monitoring."""
    connect_timeout: float = 5.0
    """Seconds to wait for the first connection."""
    reconnect_wait: float = 1.0
    """Seconds between reconnect attempts (nats-py adds jitter)."""
    max_reconnect_attempts: int = -1
    """Reconnect attempts after a disconnect; -1 retries forever."""
    connect_attempts: int = 3
    """Attempts per server for the first connection before giving up with a clear error."""
    embedded_store_dir: str | None = None
    """JetStream store directory of the embedded server (a temporary one if unset)."""

    def __repr__(self) -> str:  # keep secrets out of reprs and logs
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        for secret in ("password", "token"):
            if shown[secret]:
                shown[secret] = "***"
        return "NatsSettings(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"


@dataclass(frozen=True)
class RegistrySettings:
    bucket: str = "hookbus-plugins"
    """JetStream KV bucket holding plugin manifests."""
    ttl: float = 15.0
    """Seconds after its last heartbeat that a plugin counts as gone."""
    allow: tuple[str, ...] | None = None
    """Operator allow-list of plugin names. ``None``: every registered plugin may be called."""
    resync: float = 10.0
    """Seconds between fresh watches of the bucket (heals the view after a NATS restart)."""


@dataclass(frozen=True)
class DispatchSettings:
    max_in_flight: int = 8
    """Requests in flight per plugin per call."""
    max_batch: int = 1000
    """Items per request unless a plugin asks for fewer."""
    max_payload: int | None = None
    """Largest request in bytes; ``None``: the server's max_payload less some headroom."""
    max_reply: int | None = None
    """Largest accepted reply in bytes; ``None``: the server's max_payload."""
    default_timeout: float = 5.0
    """Seconds a plugin has for one request unless its manifest says otherwise."""
    retries: int = 2
    """Retries of a request answered 503 (transient), within its deadline."""
    retry_backoff: float = 0.05
    """First retry delay in seconds; doubles each time."""
    breaker_threshold: int = 5
    """Consecutive failed requests that open a plugin's circuit breaker."""
    breaker_cooldown: float = 30.0
    """Seconds an open breaker waits before letting one probe request through."""


@dataclass(frozen=True)
class EventSettings:
    queue_size: int = 10_000
    """Events buffered before ``publish`` waits (backpressure, never loss)."""
    max_pending_acks: int = 2_000
    """JetStream publishes awaiting their ack at once."""
    max_age: float = 7 * 24 * 3600.0
    """Seconds the events stream keeps an event."""
    duplicate_window: float = 120.0
    """Seconds within which a re-published event id is dropped as a duplicate."""
    replicas: int = 1
    """Stream replicas (clustered NATS only)."""
    ack_timeout: float = 5.0
    """Seconds to wait for JetStream to acknowledge a publish before retrying it."""
    retry_backoff: float = 0.05
    """First delay in seconds before a failed publish is retried; doubles each attempt."""
    retry_backoff_max: float = 2.0
    """Longest delay in seconds between retries of a failed publish."""
    batch_size: int = 500
    """Most events sent as one JetStream atomic batch (one acknowledgement for all; the
    events stream allows atomic batches, nats-server 2.12 or later). 1 sends each event
    on its own. At most 1000."""
    linger: float = 0.05
    """Seconds the first waiting event waits for more to share its batch, unless a full
    batch is waiting. Fewer, fuller batches cost the controller and NATS less CPU next to
    the hook calls of the workflows; 0 sends at once."""
    grouped: bool = False
    """Node and pod events of one scheduling pass travel grouped: one message per workflow,
    kind and phase holds up to ``group_size`` of them as a CloudEvents JSON batch
    (``application/cloudevents-batch+json``). Far fewer messages for NATS to store and
    the controller to send; only for consumers that read the batch form (hookbus's own
    readers do). Off: one message per event."""
    group_size: int = 500
    """Most events in one grouped message (also kept below the server's max_payload)."""
    yield_to_hooks: float = 1.0
    """Longest, in seconds, that waiting events are held back while hook calls carrying
    many items (256 or more in all) are in flight (``EventPublisher.yield_to``): the plugins
    get the CPU that sending and storing events would take meanwhile, and the events go as
    soon as the calls end. 0: never."""


@dataclass(frozen=True)
class BusSettings:
    nats: NatsSettings = field(default_factory=NatsSettings)
    """How to reach NATS."""
    registry: RegistrySettings = field(default_factory=RegistrySettings)
    """Where plugins register and who may be called."""
    dispatch: DispatchSettings = field(default_factory=DispatchSettings)
    """How hook calls are made."""
    events: EventSettings = field(default_factory=EventSettings)
    """How notifications are published."""


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _number(name: str, value: str, kind: type[Any]) -> Any:
    try:
        return kind(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not a valid {kind.__name__}") from None


def _flag(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={value!r} is not a yes/no value (use 1 or 0)")


def from_env(env: Mapping[str, str] | None = None, base: BusSettings | None = None) -> BusSettings:
    """Settings from ``HOOKBUS_*`` environment variables over *base* (defaults)."""
    env = os.environ if env is None else env
    settings = base or BusSettings()
    nats: dict[str, Any] = {}
    if url := env.get("HOOKBUS_NATS_URL"):
        nats["urls"] = _split(url)
    for key, attr in (
        ("HOOKBUS_NATS_USER", "user"),
        ("HOOKBUS_NATS_PASSWORD", "password"),
        ("HOOKBUS_NATS_TOKEN", "token"),
        ("HOOKBUS_NATS_CREDS", "creds_file"),
        ("HOOKBUS_NATS_NKEY", "nkey_seed_file"),
        ("HOOKBUS_NATS_TLS_CA", "tls_ca"),
        ("HOOKBUS_NATS_TLS_CERT", "tls_cert"),
        ("HOOKBUS_NATS_TLS_KEY", "tls_key"),
        ("HOOKBUS_NATS_STORE_DIR", "embedded_store_dir"),
    ):
        if value := env.get(key):
            nats[attr] = value
    registry: dict[str, Any] = {}
    if (allow := env.get("HOOKBUS_PLUGIN_ALLOW")) is not None:
        registry["allow"] = _split(allow)
    if ttl := env.get("HOOKBUS_PLUGIN_TTL"):
        registry["ttl"] = _number("HOOKBUS_PLUGIN_TTL", ttl, float)
    dispatch: dict[str, Any] = {}
    if value := env.get("HOOKBUS_MAX_IN_FLIGHT"):
        dispatch["max_in_flight"] = _number("HOOKBUS_MAX_IN_FLIGHT", value, int)
    if value := env.get("HOOKBUS_HOOK_TIMEOUT"):
        dispatch["default_timeout"] = _number("HOOKBUS_HOOK_TIMEOUT", value, float)
    events: dict[str, Any] = {}
    if value := env.get("HOOKBUS_EVENTS_GROUPED"):
        events["grouped"] = _flag("HOOKBUS_EVENTS_GROUPED", value)
    if value := env.get("HOOKBUS_EVENTS_YIELD"):
        seconds = _number("HOOKBUS_EVENTS_YIELD", value, float)
        if not 0 <= seconds < math.inf:  # also refuses nan
            raise ConfigError(f"HOOKBUS_EVENTS_YIELD={value!r} must be 0 (off) or a finite number of seconds")
        events["yield_to_hooks"] = seconds
    return replace(
        settings,
        nats=replace(settings.nats, **nats),
        registry=replace(settings.registry, **registry),
        dispatch=replace(settings.dispatch, **dispatch),
        events=replace(settings.events, **events),
    )
