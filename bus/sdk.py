"""The plugin SDK: write a plugin as decorated functions, run it as a process.

.. code-block:: python

    from . import Plugin, reject

    plugin = Plugin("image-allowlist", version="1.0.0")

    @plugin.workflow_pre_operate(timeout=2.0, failure_policy="Fail")
    def check(workflow, **kwargs):
        ...
        return reject("template 'main' uses image 'evil:latest', not on the allow-list")

Handlers take keyword arguments and should end in ``**kwargs``, so that
context added later never breaks them; a handler that does not take
``**kwargs`` gets only the arguments it names. A handler handles one item
(called once per item) unless registered with ``batch=True`` (called once per
request with ``items`` and returning one result per item). Handlers may be
``async``; plain functions run inline on the event loop unless
``blocking=True`` (then in a worker thread).

A handler that raises :class:`TemporaryError` makes the controller retry
(reply 503); any other exception is a fatal error reply (500) that the
controller maps to the plugin's failure policy. Requests that cannot be
decoded are answered 400; hooks the plugin does not implement, 404.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import inspect
import pathlib
import signal
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, cast

import structlog
from nats.errors import ConnectionClosedError

from . import subjects
from .auth_takeover import CAPABILITY_FIELD, capabilities
from .codec import Encoding, decode_map, encode, parse_encoding
from .connection import connect
from .control import complete_node
from .deflate import inflate
from .errors import BusError, ConfigError, DecodeError, EncodeError
from .hooks import HOOKS, Hook, parse_hook
from .log import configure
from .loop import run as run_loop
from .manifest import FailurePolicy, Filters, HookSpec, PluginManifest
from .registry import Registration
from .settings import BusSettings, RegistrySettings, from_env
from .wire import (
    CODE_BAD_REQUEST,
    CODE_FATAL,
    CODE_NOT_IMPLEMENTED,
    CODE_TOO_LARGE,
    CODE_UNAVAILABLE,
    DEFLATE,
    ERROR_TEXT_MAX,
    H_CONTENT_ENCODING,
    H_CONTENT_TYPE,
    H_ERROR_CODE,
    H_ERROR_TEXT,
    H_REQUEST_ID,
    H_TIMEOUT_MS,
    JSON,
    PROTOCOL_VERSION,
    HookReply,
    RequestWorkflow,
    no_opinion_reply,
)

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg

    from .wire import EndPhase

log = structlog.get_logger("hookbus.bus.sdk")

Handler = Callable[..., Any]


class PluginError(BusError):
    """Raised by a handler to answer its request with an error."""

    code = CODE_FATAL


class TemporaryError(PluginError):
    """The plugin cannot answer now; the controller retries within its deadline (503)."""

    code = CODE_UNAVAILABLE
    retryable = True


class PermanentError(PluginError):
    """The request cannot succeed; the controller applies the failure policy (500)."""

    code = CODE_FATAL


@dataclass(frozen=True, slots=True)
class _Registered:
    spec: HookSpec
    handler: Handler
    batch: bool
    blocking: bool
    accepts: frozenset[str] | None
    """Keyword names the handler takes, or None if it takes **kwargs."""
    is_async: bool


def _accepted(handler: Handler) -> frozenset[str] | None:
    params = inspect.signature(handler).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return frozenset(p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))


@dataclass(frozen=True, slots=True)
class Request:
    """Context of one hook request, passed to handlers as ``request``."""

    hook: Hook
    workflow: RequestWorkflow
    """The call's workflow: ``{"metadata": {...}}`` (as the request carried it)."""
    deadline: float
    """``time.monotonic()`` value by which the controller stops waiting."""
    request_id: str

    @property
    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())


class Plugin:
    """A plugin: a name, a version, and handlers registered with the hook decorators."""

    def __init__(
        self,
        name: str,
        version: str = "0.0.0",
        *,
        encoding: Encoding | str = Encoding.MSGPACK,
        heartbeat: float = 5.0,
        description: str = "",
        max_concurrency: int = 64,
        compression: bool = True,
    ) -> None:
        """*compression*: take large requests deflated where the controller offers it (they
        are inflated before any handler sees them); ``False`` asks for plain requests."""
        self.name = subjects.validate_plugin_name(name)
        self.version = version
        self.encoding = parse_encoding(str(encoding))
        self.heartbeat = heartbeat
        self.description = description
        self.max_concurrency = max_concurrency
        self.compression = compression
        self._handlers: dict[Hook, _Registered] = {}
        self._scopes: list[str] = []
        self._templates: list[str] = []
        self._nc: Client | None = None
        self._own_nc = False
        self._reply_nc: Client | None = None
        """The connection requests are answered on; unlike ``_nc`` it outlives :meth:`stop`, so a
        request the subscription still delivers after a drain that ran out of time gets its reply."""
        self._sub: Any = None
        self._registration: Registration | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots: asyncio.Semaphore | None = None
        self._by_subject: dict[str, _Registered | None] = {}
        self._content_types: dict[str, Encoding] = {}
        self.stats = {"requests": 0, "items": 0, "errors": 0}

    # -- declaring -------------------------------------------------------------------

    @property
    def manifest(self) -> PluginManifest:
        return PluginManifest(
            name=self.name,
            version=self.version,
            encoding=self.encoding,
            hooks={hook: reg.spec for hook, reg in self._handlers.items()},
            placeholders=tuple(self._scopes),
            templates=tuple(self._templates),
            heartbeat=self.heartbeat,
            description=self.description,
            compression=(DEFLATE,) if self.compression else (),  # registered only where the controller offers it
        )

    def on(
        self,
        hook: Hook | str,
        *,
        timeout: float | None = None,
        failure_policy: FailurePolicy | str = FailurePolicy.FAIL,
        priority: int = 100,
        mutating: bool | None = None,
        filters: Filters | None = None,
        namespaces: Iterable[str] = (),
        labels: Mapping[str, str] | None = None,
        templates: Iterable[str] = (),
        template_types: Iterable[str] = (),
        images: Iterable[str] = (),
        expression: str | None = None,
        fields: Iterable[str] = (),
        shadow: bool = False,
        max_batch: int | None = None,
        side_effects: bool = True,
        batch: bool = False,
        blocking: bool = False,
    ) -> Callable[[Handler], Handler]:
        """Register the decorated function for *hook*; the hook-named decorators call this."""
        hook = parse_hook(str(hook))
        if filters is None:
            filters = Filters(
                namespaces=tuple(namespaces),
                labels=dict(labels or {}),
                templates=tuple(templates),
                template_types=tuple(template_types),
                images=tuple(images),
                expression=expression,
            )
        spec = HookSpec(
            hook=hook,
            timeout=timeout,
            failure_policy=FailurePolicy(str(failure_policy)),
            priority=priority,
            mutating=HOOKS[hook].mutating_default if mutating is None else mutating,
            filters=filters,
            fields=tuple(fields),
            shadow=shadow,
            max_batch=max_batch,
            side_effects=side_effects,
        )

        def decorate(handler: Handler) -> Handler:
            if hook in self._handlers:
                raise ConfigError(f"plugin {self.name!r} already has a handler for {hook.value}")
            self._handlers[hook] = _Registered(
                spec=spec,
                handler=handler,
                batch=batch,
                blocking=blocking,
                accepts=_accepted(handler),
                is_async=inspect.iscoroutinefunction(handler),
            )
            return handler

        return decorate

    def workflow_pre_operate(self, **options: Any) -> Callable[[Handler], Handler]:
        """Validate or mutate a workflow before the controller first operates on it."""
        return self.on(Hook.WORKFLOW_PRE_OPERATE, **options)

    def workflow_pre_update(self, **options: Any) -> Callable[[Handler], Handler]:
        """Change a workflow's labels/annotations before it is persisted."""
        return self.on(Hook.WORKFLOW_PRE_UPDATE, **options)

    def node_pre_execute(self, **options: Any) -> Callable[[Handler], Handler]:
        """Continue, short-circuit, take over, hold or fail a node before it executes."""
        return self.on(Hook.NODE_PRE_EXECUTE, **options)

    def node_post_execute(self, **options: Any) -> Callable[[Handler], Handler]:
        """View or change a node's outputs and message after it finished."""
        return self.on(Hook.NODE_POST_EXECUTE, **options)

    def pod_pre_create(self, **options: Any) -> Callable[[Handler], Handler]:
        """Patch or veto a pod (or local process) before it is created."""
        return self.on(Hook.POD_PRE_CREATE, **options)

    def parameters_resolve(self, *, scopes: Sequence[str], **options: Any) -> Callable[[Handler], Handler]:
        """Supply values for ``{{<scope>.<key>}}`` placeholders in the given *scopes*."""
        if not scopes:
            raise ConfigError("parameters_resolve needs at least one scope (e.g. scopes=['vault'])")
        for scope in scopes:
            if not scope.replace("-", "").replace("_", "").isalnum():
                raise ConfigError(f"placeholder scope {scope!r} must be letters, digits, '-' or '_'")
        self._scopes.extend(scopes)
        return self.on(Hook.PARAMETERS_RESOLVE, **options)

    def template_execute(self, *, templates: Sequence[str] = (), **options: Any) -> Callable[[Handler], Handler]:
        """Run ``plugin:`` templates (Argo's executor-plugin contract); *templates* are the keys handled."""
        self._templates.extend(templates)
        return self.on(Hook.TEMPLATE_EXECUTE, **options)

    # -- serving ---------------------------------------------------------------------

    @property
    def connection(self) -> Client:
        """The NATS connection the plugin serves on (for :func:`hookbus.bus.complete_node`)."""
        if self._nc is None:
            raise ConfigError(f"plugin {self.name!r} is not running")
        return self._nc

    async def complete_node(
        self,
        workflow: str,
        node_id: str,
        phase: EndPhase,
        *,
        namespace: str = "default",
        message: str = "",
        outputs: Mapping[str, Any] | None = None,
        timeout: float = 5.0,
    ) -> None:
        """Report the end of a node this plugin took over (:func:`hookbus.bus.complete_node`
        as this plugin, with the capability its requests for that workflow carried)."""
        held = capabilities.find(namespace, workflow, self.name)
        await complete_node(
            self.connection,
            workflow=workflow,
            node_id=node_id,
            phase=phase,
            namespace=namespace,
            message=message,
            outputs=outputs,
            timeout=timeout,
            plugin=self.name,
            capability=held[1] if held else None,
        )

    async def start(self, nc: Client, registry: RegistrySettings | None = None) -> None:
        """Subscribe on *nc* (queue group per plugin, so replicas share the load) and register."""
        if self._sub is not None:
            return
        if not self._handlers:
            raise ConfigError(f"plugin {self.name!r} has no handlers")
        self._nc = self._reply_nc = nc
        capabilities.serving(self.name, nc)
        self._slots = asyncio.Semaphore(self.max_concurrency)
        self._sub = await nc.subscribe(subjects.hook_wildcard(self.name), queue=f"hookbus-{self.name}", cb=self._on_message)
        await nc.flush()
        self._registration = Registration(nc.jetstream(), self.manifest, registry)
        await self._registration.start()
        log.info("plugin serving", plugin=self.name, version=self.version, hooks=[h.value for h in self._handlers])

    async def stop(self, timeout: float = 10.0) -> None:
        """Deregister, stop taking requests, finish the ones in flight. Idempotent.

        Every step is bounded: with NATS unreachable the plugin still stops
        within about *timeout* seconds (its registration then expires by TTL).
        """
        connected = self._nc is not None and self._nc.is_connected
        if self._registration is not None:
            registration, self._registration = self._registration, None
            await _bounded(registration.stop(deregister=connected), timeout / 4)
        if self._sub is not None:
            sub, self._sub = self._sub, None
            if connected:
                # Drain, not unsubscribe: the round trip makes sure the server routes this
                # instance nothing more once stop() returns, and requests it routed here
                # before are still answered instead of dropped (a replica leaving mid-run).
                await _bounded(sub.drain(), timeout / 4)
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout / 2)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        if self._own_nc and self._nc is not None:
            nc = self._nc
            if not await _bounded(nc.drain(), timeout / 4) or not nc.is_closed:
                await _bounded(nc.close(), 1.0)
        self._nc = None
        self._own_nc = False

    async def serve(self, settings: BusSettings | None = None, *, stop: asyncio.Event | None = None) -> None:
        """Connect, serve until *stop* is set (or SIGTERM/SIGINT), then drain gracefully."""
        settings = settings or BusSettings()
        nc = await connect(settings.nats)
        self._own_nc = True
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        installed = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, stop.set)
                installed.append(sig)
        try:
            await self.start(nc, settings.registry)
            await stop.wait()
            log.info("plugin stopping", plugin=self.name)
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
            await self.stop()

    def run(self, nats_url: str | None = None, settings: BusSettings | None = None) -> None:
        """Blocking entry point for a plugin process: ``plugin.run(nats_url="nats://...")``.

        Runs on uvloop unless ``HOOKBUS_UVLOOP=0``, with the garbage collector tuned for
        batches (see :mod:`hookbus.bus.loop`).
        """
        configure()
        settings = settings or from_env()
        if nats_url:
            settings = replace(settings, nats=replace(settings.nats, urls=(nats_url,)))
        if not settings.nats.urls:
            raise ConfigError("no NATS server given: pass nats_url= or set HOOKBUS_NATS_URL")
        run_loop(self.serve(settings))  # on uvloop unless HOOKBUS_UVLOOP=0

    # -- requests --------------------------------------------------------------------

    async def _on_message(self, msg: Msg) -> None:
        if not msg.reply:
            return
        registered = self._registered_for(msg.subject)
        if registered is not None and not registered.is_async and not registered.blocking:
            # A plain function holds the event loop while it runs anyway: answering
            # here, in the subscription's own task, saves a task per request.
            await self._handle(msg)
            return
        task = asyncio.create_task(self._handle(msg), name=f"hookbus-plugin-{self.name}-request")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, msg: Msg) -> None:
        assert self._slots is not None
        async with self._slots:
            try:
                results = await self._answer(msg)
            except PluginError as exc:
                self.stats["errors"] += 1
                await self._error(msg, exc.code, str(exc) or type(exc).__name__)
                return
            except Exception as exc:
                self.stats["errors"] += 1
                log.exception("handler failed", plugin=self.name, subject=msg.subject)
                await self._error(msg, CODE_FATAL, f"{type(exc).__name__}: {exc}")
                return
            if results is None:
                return
            if isinstance(results, bytes):
                data = results
            else:
                reply: HookReply = {"v": PROTOCOL_VERSION, "plugin": self.name, "results": results}
                try:
                    data = encode(reply, self.encoding)
                except EncodeError as exc:
                    await self._error(msg, CODE_FATAL, f"cannot encode the results: {exc}")
                    return
            nc = self._reply_nc
            assert nc is not None  # set by start(), before the first request can arrive
            if len(data) > nc.max_payload:
                await self._error(msg, CODE_TOO_LARGE, f"reply of {len(data)} bytes is over the server's max_payload of {nc.max_payload}")
                return
            try:
                await nc.publish(msg.reply, data)
            except ConnectionClosedError:
                log.warning("reply not sent: the connection is closed", plugin=self.name, subject=msg.subject)

    def _registered_for(self, subject: str) -> _Registered | None:
        """The handler registration a request on *subject* goes to (``None``: no such hook here)."""
        try:
            return self._by_subject[subject]
        except KeyError:
            pass
        try:
            registered = self._handlers.get(Hook(subjects.parse_hook_subject(subject).hook))
        except (ConfigError, ValueError):
            registered = None
        if len(self._by_subject) < 256:  # a handful of real subjects; junk ones are not kept
            self._by_subject[subject] = registered
        return registered

    async def _answer(self, msg: Msg) -> list[JSON] | bytes | None:
        registered = self._registered_for(msg.subject)
        if registered is None:
            try:
                what = subjects.parse_hook_subject(msg.subject).hook
            except ConfigError:
                what = msg.subject
            await self._error(msg, CODE_NOT_IMPLEMENTED, f"plugin {self.name!r} does not implement {what}")
            return None
        hook = registered.spec.hook
        headers = msg.headers or {}
        encoding = self.encoding
        if content_type := headers.get(H_CONTENT_TYPE):
            encoding = self._encoding_of(content_type)
        try:
            data = msg.data
            if coding := headers.get(H_CONTENT_ENCODING):
                if coding != DEFLATE:
                    raise DecodeError(f"unknown Content-Encoding {coding!r}", subject=msg.subject)
                data = inflate(data, subject=msg.subject)
            body = decode_map(data, encoding, subject=msg.subject, version=PROTOCOL_VERSION)
            items = body.get("items")
            if not isinstance(items, list):
                raise DecodeError("'items' must be a list", subject=msg.subject, data=data)
        except DecodeError as exc:
            await self._error(msg, CODE_BAD_REQUEST, str(exc))
            return None
        try:
            timeout_ms = float(headers.get(H_TIMEOUT_MS, "5000"))
        except ValueError:
            timeout_ms = 5000.0
        workflow = cast("RequestWorkflow", body.get("workflow") or {})
        if hook is Hook.NODE_PRE_EXECUTE and (capability := body.get(CAPABILITY_FIELD)):
            meta: Mapping[str, Any] = body["workflow"].get("metadata") or {} if isinstance(body.get("workflow"), dict) else {}
            capabilities.remember(self.name, str(meta.get("namespace") or "default"), str(meta.get("name") or ""), str(capability))
        request = Request(hook, workflow, time.monotonic() + timeout_ms / 1000, headers.get(H_REQUEST_ID, ""))
        self.stats["requests"] += 1
        self.stats["items"] += len(items)
        return await self._run(registered, request, items)

    def _encoding_of(self, content_type: str) -> Encoding:
        encoding = self._content_types.get(content_type)
        if encoding is None:
            try:
                encoding = parse_encoding(content_type)
            except EncodeError:
                encoding = self.encoding
            if len(self._content_types) < 16:
                self._content_types[content_type] = encoding
        return encoding

    async def _run(self, registered: _Registered, request: Request, items: list[Any]) -> list[JSON] | bytes:
        """The results for *items*, or the encoded reply when the plugin had no opinion on any."""
        context = {"hook": request.hook, "request": request, "plugin": self, "workflow": request.workflow}
        if registered.batch:
            out = await self._invoke(registered, {**context, "items": items})
            if not isinstance(out, list) or len(out) != len(items):
                raise PermanentError(
                    f"batch handler for {request.hook.value} returned {type(out).__name__}"
                    f"{f' of {len(out)}' if isinstance(out, list) else ''}; expected a list of {len(items)} results"
                )
            if out.count(None) + out.count({}) == len(out):
                return no_opinion_reply(self.name, len(out), self.encoding)  # the common case: no per-result work at all
            return [_normalise(r, request.hook) for r in out]
        results = await self._run_each(registered, context, items, request.hook)
        if results.count({}) == len(results):
            return no_opinion_reply(self.name, len(results), self.encoding)
        return results

    async def _run_each(self, registered: _Registered, context: dict[str, Any], items: list[Any], hook: Hook) -> list[JSON]:
        """Call a one-item handler per item: the item's fields as keyword arguments, then ``item``."""
        accepts = registered.accepts
        base = context if accepts is None else {k: v for k, v in context.items() if k in accepts}
        item_keys = None if accepts is None else tuple(k for k in accepts if k != "item")
        wants_item = accepts is None or "item" in accepts
        results = []
        for item in items:
            kwargs = dict(base)
            if isinstance(item, dict):
                if item_keys is None:
                    kwargs.update(item)
                else:
                    for key in item_keys:
                        if key in item:
                            kwargs[key] = item[key]
            if wants_item:
                kwargs["item"] = item
            results.append(_normalise(await self._call(registered, kwargs), hook))
        return results

    async def _invoke(self, registered: _Registered, kwargs: dict[str, Any]) -> Any:
        if registered.accepts is not None:
            kwargs = {k: v for k, v in kwargs.items() if k in registered.accepts}
        return await self._call(registered, kwargs)

    @staticmethod
    async def _call(registered: _Registered, kwargs: dict[str, Any]) -> Any:
        """Call the handler with *kwargs* as they are (already limited to what it accepts)."""
        if registered.is_async:
            return await registered.handler(**kwargs)
        if registered.blocking:
            return await asyncio.to_thread(registered.handler, **kwargs)
        result = registered.handler(**kwargs)
        if inspect.isawaitable(result):
            return await result
        return result

    async def _error(self, msg: Msg, code: int, text: str) -> None:
        nc = self._reply_nc
        if nc is None or not msg.reply:
            return
        headers = {H_ERROR_CODE: str(code), H_ERROR_TEXT: text[:ERROR_TEXT_MAX]}
        with contextlib.suppress(Exception):
            await nc.publish(msg.reply, b"", headers=headers)


async def _bounded(awaitable: Any, timeout: float) -> bool:
    """Await *awaitable* for at most *timeout* seconds; True if it finished without error."""
    try:
        async with asyncio.timeout(timeout):
            await awaitable
    except Exception:
        return False
    return True


def _normalise(result: Any, hook: Hook) -> JSON:
    if result is None:
        return {}
    if isinstance(result, dict):
        return result
    if isinstance(result, bool):
        return {} if result else {"allowed": False}
    raise PermanentError(f"handler for {hook.value} returned {type(result).__name__}; expected a dict or None")


def load_plugin(spec: str) -> Plugin:
    """The :class:`Plugin` named by ``module:attribute`` or ``path/to/file.py[:attribute]``.

    The attribute defaults to ``plugin``; a callable is called to make the plugin.
    """
    module_name, _, attribute = spec.partition(":")
    try:
        if module_name.endswith(".py") or "/" in module_name:
            path = pathlib.Path(module_name)
            if not path.is_file():
                raise ConfigError(f"plugin file {module_name!r} does not exist")
            loader_spec = importlib.util.spec_from_file_location(f"hookbus_plugin_{path.stem}", path)
            if loader_spec is None or loader_spec.loader is None:
                raise ConfigError(f"cannot load plugin file {module_name!r}")
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[loader_spec.name] = module
            loader_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import plugin module {module_name!r}: {exc}") from exc
    target: Any = module
    for part in (attribute or "plugin").split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ConfigError(f"{module_name!r} has no attribute {attribute or 'plugin'!r}") from None
    if callable(target) and not isinstance(target, Plugin):
        target = target()
    if not isinstance(target, Plugin):
        raise ConfigError(f"{spec!r} is a {type(target).__name__}, not a hookbus Plugin")
    return target


def run_from_spec(
    spec: str, settings: BusSettings, *, identity: Callable[[str, BusSettings], BusSettings] | None = None
) -> int:
    """``hookbus plugin run MODULE:ATTR``: load the plugin and serve it until SIGTERM. Returns an exit code.

    *identity(plugin name, settings)* may put the plugin's credentials into the settings
    (the CLI finds them for a server on the same machine)."""
    configure()
    plugin = load_plugin(spec)
    if not settings.nats.urls:
        raise ConfigError("no NATS server given: pass --nats-url or set HOOKBUS_NATS_URL")
    if identity is not None:
        settings = identity(plugin.name, settings)
    run_loop(plugin.serve(settings))  # on uvloop unless HOOKBUS_UVLOOP=0
    return 0


