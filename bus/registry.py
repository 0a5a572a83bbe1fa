"""The plugin registry: manifests in a JetStream KV bucket, kept alive by heartbeats.

Each running instance of a plugin puts its manifest (JSON) under
``<plugin>.<instance>`` and puts it again every heartbeat; on a clean shutdown it
deletes its own key, so replicas come and go independently. The controller
watches the bucket and keeps an in-memory :class:`RegistryView`: a plugin whose
last put is older than the TTL drops out, and is called again as soon as it
puts again. The operator's allow-list decides who may be called at all.

The TTL is the controller's setting; the controller writes it to the bucket under
:data:`~hookbus.bus.wire.REGISTRY_INFO_KEY` (again at every resync, so the key
outlives the bucket's max age), and a plugin's :class:`Registration` reads it at
every heartbeat and beats at :func:`heartbeat_interval`: its manifest's
``heartbeat``, but never more than a third of the TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import structlog
from nats import nuid
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, NotFoundError

from .codec import Encoding, decode_map, encode
from .errors import BusError, ConfigError, DecodeError
from .manifest import PluginManifest, parse_manifest
from .settings import RegistrySettings
from .wire import (
    DEFLATE,
    HEARTBEAT_SHARE,
    MIN_HEARTBEAT,
    PROTOCOL_VERSION,
    REGISTRY_INFO_KEY,
    RegistryInfo,
)

if TYPE_CHECKING:
    from nats.js import JetStreamContext
    from nats.js.kv import KeyValue

    from .hooks import Hook

log = structlog.get_logger("hookbus.bus.registry")

Clock = Callable[[], float]


async def open_bucket(js: JetStreamContext, settings: RegistrySettings) -> KeyValue:
    """The registry bucket, created if it does not exist yet (plugins and controller both may)."""
    try:
        return await js.key_value(settings.bucket)
    except BucketNotFoundError:
        pass
    config = KeyValueConfig(
        bucket=settings.bucket,
        history=1,
        # Keys of instances that died without deregistering are removed by the server.
        ttl=max(60.0, settings.ttl * 4),
        storage=StorageType.FILE,
        description="hookbus plugin manifests (one key per plugin, refreshed by heartbeats)",
    )
    try:
        return await js.create_key_value(config)
    except Exception:
        # Another process created it first.
        return await js.key_value(settings.bucket)


def heartbeat_interval(ttl: float, wanted: float) -> float:
    """Seconds between a plugin's heartbeats: *wanted*, but at most ``ttl * HEARTBEAT_SHARE``
    and never less than :data:`~hookbus.bus.wire.MIN_HEARTBEAT`."""
    return max(MIN_HEARTBEAT, min(wanted, ttl * HEARTBEAT_SHARE))


def registry_info(ttl: float) -> bytes:
    """The JSON the controller puts under :data:`~hookbus.bus.wire.REGISTRY_INFO_KEY`:
    its TTL and the request codings it can send."""
    info: RegistryInfo = {"v": PROTOCOL_VERSION, "ttl": ttl, "compression": [DEFLATE]}
    return encode(info, Encoding.JSON)


def offered_codings(data: bytes) -> tuple[str, ...]:
    """The request codings a :data:`~hookbus.bus.wire.REGISTRY_INFO_KEY` value offers (none if unreadable)."""
    try:
        codings = decode_map(data, Encoding.JSON, subject=REGISTRY_INFO_KEY).get("compression")
    except DecodeError:
        return ()
    return tuple(c for c in codings if isinstance(c, str)) if isinstance(codings, list) else ()


def read_registry_info(data: bytes) -> float:
    """The TTL in a :data:`~hookbus.bus.wire.REGISTRY_INFO_KEY` value; :class:`DecodeError` if it has none."""
    info = decode_map(data, Encoding.JSON, subject=REGISTRY_INFO_KEY)
    ttl = info.get("ttl")
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not 0 < ttl < math.inf:
        raise DecodeError(f"'ttl' must be a positive number of seconds, got {ttl!r}", subject=REGISTRY_INFO_KEY, data=data)
    return float(ttl)


@dataclass(frozen=True, slots=True)
class Registered:
    """One live plugin as the controller sees it."""

    manifest: PluginManifest
    seen: float
    """Wall-clock time of the last registration put."""
    revision: int


class RegistryView:
    """The controller's live view of registered plugins.

    ``plugins_for(hook)`` is what the dispatcher asks on every call: cheap,
    in memory, already filtered by the allow-list and the TTL.
    """

    def __init__(
        self,
        js: JetStreamContext,
        settings: RegistrySettings | None = None,
        *,
        clock: Clock = time.time,
    ) -> None:
        self._js = js
        self.settings = settings or RegistrySettings()
        self._clock = clock
        self._instances: dict[str, dict[str, Registered]] = {}
        self._rejected: dict[str, str] = {}
        self._kv: KeyValue | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._changed = asyncio.Condition()
        self._listeners: list[Callable[[str, PluginManifest | None], None]] = []
        self._by_hook: dict[Hook, tuple[float, RegistrySettings, list[PluginManifest]]] = {}
        """plugins_for answers, each valid until its first live instance's TTL runs out."""

    async def start(self) -> None:
        """Open the bucket, load what is there and follow changes. Returns once loaded."""
        if self._task is not None:
            return
        self._kv = await open_bucket(self._js, self.settings)
        self._task = asyncio.create_task(self._follow(), name="hookbus-registry-watch")
        await self._ready.wait()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def __aenter__(self) -> RegistryView:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def on_change(self, listener: Callable[[str, PluginManifest | None], None]) -> None:
        """Call *listener(name, manifest or None)* whenever a plugin comes, changes or goes."""
        self._listeners.append(listener)

    async def _follow(self) -> None:
        """Watch the bucket; start a fresh watch every ``resync`` seconds.

        A fresh watch delivers every current entry again, so the view heals
        itself after a NATS restart (which loses the watch's consumer) and
        forgets keys the server expired while nobody was looking.
        """
        while True:
            await self._announce()
            try:
                assert self._kv is not None
                watcher = await self._kv.watchall()
            except Exception as exc:
                log.warning("cannot watch the plugin registry; retrying", error=str(exc) or type(exc).__name__)
                await asyncio.sleep(min(self.settings.resync, 1.0))
                continue
            snapshot: set[str] | None = set()
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation.
                async with asyncio.timeout(self.settings.resync):
                    async for entry in watcher:
                        if entry is None:
                            if snapshot is not None:
                                self._forget_missing(snapshot)
                                snapshot = None
                            self._ready.set()
                        else:
                            if snapshot is not None:
                                snapshot.add(entry.key)
                            self._apply(entry)
                            if entry.delta == 0 and snapshot is not None:
                                self._forget_missing(snapshot)
                                snapshot = None
                                self._ready.set()
                        async with self._changed:
                            self._changed.notify_all()
            except TimeoutError:
                pass
            finally:
                with contextlib.suppress(Exception):
                    await watcher.stop()  # type: ignore[no-untyped-call]

    async def _announce(self) -> None:
        """Put the TTL where plugins read it (:data:`~hookbus.bus.wire.REGISTRY_INFO_KEY`)."""
        assert self._kv is not None
        try:
            await self._kv.put(REGISTRY_INFO_KEY, registry_info(self.settings.ttl))
        except Exception as exc:  # NATS away: the next resync puts it again
            log.warning("cannot write the registry TTL for plugins", error=str(exc) or type(exc).__name__)

    def _forget_missing(self, present: set[str]) -> None:
        for name in list(self._instances):
            for instance in list(self._instances[name]):
                if f"{name}.{instance}" not in present:
                    self._apply(_Gone(f"{name}.{instance}"))

    def _apply(self, entry: Any) -> None:
        if entry.key.startswith("_"):
            return  # the controller's own keys (REGISTRY_INFO_KEY), not a plugin's
        self._by_hook.clear()
        name, _, instance = entry.key.partition(".")
        before = self.get(name)
        if entry.operation in ("DEL", "PURGE") or not entry.value:
            self._instances.get(name, {}).pop(instance, None)
            self._rejected.pop(entry.key, None)
        else:
            try:
                subject = f"$KV.{self.settings.bucket}.{entry.key}"
                manifest = parse_manifest(decode_map(entry.value, Encoding.JSON, subject=subject))
                if manifest.name != name:
                    raise ConfigError(f"manifest name {manifest.name!r} does not match its key {entry.key!r}")
            except (ConfigError, DecodeError) as exc:
                if self._rejected.get(entry.key) != str(exc):
                    log.warning("invalid plugin manifest ignored", plugin=name, error=str(exc))
                self._rejected[entry.key] = str(exc)
                self._instances.get(name, {}).pop(instance, None)
            else:
                self._rejected.pop(entry.key, None)
                seen = _timestamp(entry.created, self._clock())
                self._instances.setdefault(name, {})[instance] = Registered(manifest, seen, entry.revision or 0)
        if not self._instances.get(name):
            self._instances.pop(name, None)
        after = self.get(name)
        if after != before:
            if after is None:
                log.info("plugin deregistered", plugin=name)
            else:
                log.info("plugin registered", plugin=name, version=after.version, hooks=[h.value for h in after.hooks])
            self._notify(name, after)

    def _notify(self, name: str, manifest: PluginManifest | None) -> None:
        for listener in self._listeners:
            try:
                listener(name, manifest)
            except Exception:
                log.exception("registry listener failed", plugin=name)

    def allowed(self, name: str) -> bool:
        allow = self.settings.allow
        return allow is None or name in allow

    def alive(self, registered: Registered) -> bool:
        return self._clock() - registered.seen <= self.settings.ttl

    def get(self, name: str) -> PluginManifest | None:
        """The manifest of the most recently seen live instance of *name*, if allowed."""
        if not self.allowed(name):
            return None
        live = [r for r in self._instances.get(name, {}).values() if self.alive(r)]
        if not live:
            return None
        return max(live, key=lambda r: (r.seen, r.revision)).manifest

    def instances(self, name: str) -> int:
        """How many live instances of *name* are registered."""
        return sum(1 for r in self._instances.get(name, {}).values() if self.alive(r))

    def plugins(self) -> list[PluginManifest]:
        """Every live and allowed plugin, by name."""
        return [m for name in sorted(self._instances) if (m := self.get(name)) is not None]

    def plugins_for(self, hook: Hook) -> list[PluginManifest]:
        """Live, allowed plugins registered for *hook*, by name.

        Asked on every hook call, so the answer is kept until the registry changes or
        the TTL of one of the instances behind it runs out (whichever comes first).
        """
        now = self._clock()
        cached = self._by_hook.get(hook)
        if cached is not None and now < cached[0] and cached[1] is self.settings:
            return cached[2]
        plugins = [m for m in self.plugins() if hook in m.hooks]
        ttl = self.settings.ttl
        expiry = min(
            (r.seen + ttl for instances in self._instances.values() for r in instances.values() if self.alive(r)),
            default=math.inf,
        )
        self._by_hook[hook] = (expiry, self.settings, plugins)
        return plugins

    def rejected(self) -> dict[str, str]:
        """Plugins whose manifest was invalid, with the reason."""
        return dict(self._rejected)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every known plugin with its state, for status output."""
        out: dict[str, dict[str, Any]] = {}
        for name, instances in sorted(self._instances.items()):
            newest = max(instances.values(), key=lambda r: (r.seen, r.revision))
            state = "ok"
            if not self.allowed(name):
                state = "not allowed"
            elif self.get(name) is None:
                state = "expired"
            out[name] = {
                "version": newest.manifest.version,
                "state": state,
                "instances": self.instances(name),
                "hooks": [h.value for h in newest.manifest.hooks],
            }
        for key, reason in self._rejected.items():
            out.setdefault(key.partition(".")[0], {"state": "invalid", "error": reason})
        return out

    async def wait_for(self, predicate: Callable[[RegistryView], bool], timeout: float) -> None:
        """Wait until *predicate(self)* holds after some registry change, or raise TimeoutError."""
        async def until() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self))

        await asyncio.wait_for(until(), timeout)


@dataclass(frozen=True, slots=True)
class _Gone:
    """A key that is no longer in the bucket, shaped like a KV delete entry."""

    key: str
    operation: str = "DEL"
    value: bytes = b""


def _timestamp(created: Any, now: float) -> float:
    if isinstance(created, dt.datetime):
        if created.tzinfo is None:
            created = created.replace(tzinfo=dt.UTC)
        # Never in the future: a skewed clock must not keep a plugin alive forever.
        return min(float(created.timestamp()), now)
    return now


class Registration:
    """The plugin side: put the manifest, refresh it every heartbeat, delete it on close.

    The heartbeat is :func:`heartbeat_interval` of the controller's TTL (read from the
    bucket at start and before every beat; the TTL of *settings* until a controller
    wrote one) and the manifest's ``heartbeat``.
    """

    def __init__(
        self,
        js: JetStreamContext,
        manifest: PluginManifest,
        settings: RegistrySettings | None = None,
        *,
        instance: str | None = None,
    ) -> None:
        self._js = js
        self.manifest = manifest
        self.instance = instance or nuid.NUID().next().decode()
        self.key = f"{manifest.name}.{self.instance}"
        self.settings = settings or RegistrySettings()
        self._kv: KeyValue | None = None
        self._task: asyncio.Task[None] | None = None
        self.failures = 0
        self.ttl = self.settings.ttl
        """The TTL the controller counts with, as last read from the bucket."""
        self.interval = heartbeat_interval(self.ttl, manifest.heartbeat)
        """Seconds between heartbeats."""
        self.offered: tuple[str, ...] = ()
        """Request codings the controller offers (read with its TTL): the manifest's
        ``compression`` is registered only as far as they go."""

    async def start(self) -> None:
        self._kv = await open_bucket(self._js, self.settings)
        await self._read_ttl()
        await self._put()
        self._task = asyncio.create_task(self._beat(), name=f"hookbus-heartbeat-{self.manifest.name}")

    async def _read_ttl(self) -> None:
        """Follow the controller's TTL; keep the last one known when it cannot be read."""
        assert self._kv is not None
        try:
            entry = await self._kv.get(REGISTRY_INFO_KEY)
            self.offered = offered_codings(entry.value or b"")
            ttl = read_registry_info(entry.value or b"")
        except NotFoundError:
            return  # no controller wrote one (yet)
        except DecodeError as exc:
            log.warning("the registry TTL is unreadable; keeping the last one", plugin=self.manifest.name, error=exc.reason)
            return
        except Exception:  # NATS away: the put that follows reports it
            return
        if ttl != self.ttl:
            self.ttl = ttl
            self.interval = heartbeat_interval(ttl, self.manifest.heartbeat)
            log.info("heartbeat follows the registry TTL", plugin=self.manifest.name, ttl=ttl, heartbeat=self.interval)

    async def _put(self) -> None:
        assert self._kv is not None
        await self._kv.put(self.key, self.registered().to_json())

    def registered(self) -> PluginManifest:
        """The manifest as put in the bucket: its ``compression`` cut to what the controller offers."""
        manifest = self.manifest
        if manifest.compression and not set(manifest.compression) <= set(self.offered):
            manifest = replace(manifest, compression=tuple(c for c in manifest.compression if c in self.offered))
        return manifest

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self._read_ttl()
            try:
                await self._put()
                self.failures = 0
            except Exception as exc:  # NATS down: keep beating, the reconnect will carry it
                self.failures += 1
                log.warning("heartbeat failed", plugin=self.manifest.name, error=str(exc) or type(exc).__name__)

    async def stop(self, *, deregister: bool = True) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if deregister and self._kv is not None:
            with contextlib.suppress(NotFoundError, BusError, TimeoutError, Exception):
                await self._kv.delete(self.key)


def names(manifests: Iterable[PluginManifest]) -> list[str]:
    return [m.name for m in manifests]
