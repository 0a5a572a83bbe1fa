"""``hookbus``: run Argo Workflows manifests locally, or drive a running hookbus server.

Commands (``hookbus COMMAND --help`` for each)::

    hookbus run FILE [-p name=value ...]   run a workflow to its end here and now (embedded NATS)
    hookbus lint FILE...                   check manifests as ``argo lint`` does
    hookbus server                         the long-running controller (+ embedded NATS)
    hookbus submit FILE [--watch]          submit to a running server
    hookbus list | get NAME | watch NAME | wait NAME... | logs NAME [NODE] [-f]
    hookbus suspend | resume | stop | terminate | retry | delete NAME...
    hookbus plugin run MODULE:ATTR         serve a plugin written with the hookbus SDK
    hookbus events [--workflow W] [--follow]

Client commands find the server through ``--nats-url`` or ``HOOKBUS_NATS_URL``
(the URL ``hookbus server`` prints).

Exit codes, for scripts:

==== ===========================================================================
 0   success (for run / submit --watch / watch / wait: the workflow Succeeded)
 1   the workflow ended Failed or Error (or was stopped / terminated)
 2   bad input: usage error, unreadable file, lint errors (printed), bad parameter
 3   not found: no such workflow or node
 4   not possible in the workflow's current state (e.g. resume of a running workflow)
 5   no server: cannot connect to NATS, or no hookbus server answers (retrying may help)
 70  internal error (a bug: please report it with the message)
 130 interrupted (SIGINT) / 143 terminated (SIGTERM)
==== ===========================================================================

Errors are printed to stderr as ``hookbus: error: <message>``; results go to
stdout (``-o json`` / ``-o yaml`` / ``-o name`` where offered), live progress to
stderr, so ``NAME=$(hookbus submit -o name wf.yaml)`` works.

``hookbus run`` always uses a fresh, temporary store (with ``--nats-url``: a
KV bucket of its own, deleted at the end), so it never resumes or disturbs
another run's or a server's workflows. Run one ``hookbus server`` per NATS
server (or per store): two servers on the same store would both resume the
same workflows.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import structlog
import yaml

from hookbus.bus.errors import BusError, ConfigError, ConnectError
from hookbus.bus.settings import BusSettings, from_env
from hookbus.controller import render
from hookbus.controller.api import (
    ApiClient,
    ApiError,
    ApiServer,
    LogCursor,
    documents_of,
    is_finished,
    pod_name,
)

if TYPE_CHECKING:
    from nats.aio.client import Client

    from hookbus.controller.argo.manifest import Bundle

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_CONFLICT = 4
EXIT_UNAVAILABLE = 5
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

EMBEDDED_MAX_PAYLOAD = 8 * 1024 * 1024
"""max_payload of the embedded NATS server: big workflow snapshots fit in one reply."""

EPILOG = """\
exit codes: 0 ok / Succeeded, 1 workflow Failed or Error, 2 bad input (usage, lint),
3 not found, 4 not possible in the current state, 5 no server (retry may help),
70 internal error, 130 interrupted. Environment: HOOKBUS_NATS_URL and the other
HOOKBUS_NATS_* settings."""

log = structlog.get_logger(__name__)


class CliError(Exception):
    """An error the CLI reports as one message and an exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILED, details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.details = list(details)


# --------------------------------------------------------------------------- helpers


def _exit_for_api(exc: ApiError) -> CliError:
    codes = {
        400: EXIT_USAGE,
        404: EXIT_NOT_FOUND,
        409: EXIT_CONFLICT,
        503: EXIT_UNAVAILABLE,
        504: EXIT_UNAVAILABLE,
    }
    return CliError(
        exc.message,
        codes.get(exc.code, EXIT_FAILED if exc.code < 500 else EXIT_INTERNAL),
        exc.details,
    )


def parse_parameters(values: Sequence[str] | None) -> dict[str, str]:
    """``-p name=value`` flags as a dict; a flag without ``=`` is a usage error."""
    parameters: dict[str, str] = {}
    for value in values or ():
        name, sep, text = value.partition("=")
        if not sep or not name.strip():
            raise CliError(f"parameter {value!r} must look like name=value", EXIT_USAGE)
        parameters[name.strip()] = text
    return parameters


def exit_code_for(workflow: Mapping[str, Any]) -> int:
    """0 if the workflow Succeeded, else 1."""
    return EXIT_OK if render.phase_of(workflow) == "Succeeded" else EXIT_FAILED


def _manifest_error(exc: Exception, source: str) -> CliError:
    errors = [str(e) for e in getattr(exc, "errors", None) or ()]
    first = str(exc).splitlines()[0] if str(exc) else "invalid manifest"
    return CliError(f"{source}: {first}" if source not in first else first, EXIT_USAGE, errors)


def load_input(
    files: Sequence[str], extra: Sequence[str] = ()
) -> tuple[Bundle, list[tuple[str, dict[str, Any]]]]:
    """Load manifests: every document of *files* (``-`` is stdin) and of *extra* paths.

    Returns the bundle (templates and ConfigMaps from all of them) and the
    ``Workflow`` documents of *files*, each with the file it came from.
    """
    from hookbus.controller.argo.errors import ArgoError
    from hookbus.controller.argo.manifest import Bundle, load_bundle, load_documents

    bundle = Bundle()
    workflows: list[tuple[str, dict[str, Any]]] = []
    try:
        for location in extra:
            if not Path(location).exists():
                raise CliError(f"{location}: no such file or directory", EXIT_USAGE)
            bundle.merge(load_bundle(location))
        for file in files:
            if file == "-":
                docs = load_documents(sys.stdin.read(), name="<stdin>")
            else:
                path = Path(file)
                if path.is_dir():
                    sub = load_bundle(path)
                    bundle.merge(replace_workflows(sub))
                    workflows.extend((file, wf) for wf in sub.workflows)
                    continue
                if not path.is_file():
                    raise CliError(f"{file}: no such file", EXIT_USAGE)
                docs = load_documents(path, name=file)
            for doc in docs:
                if isinstance(doc, dict) and doc.get("kind") == "Workflow":
                    workflows.append((file, doc))
                elif isinstance(doc, dict):
                    bundle.add(doc)
    except ArgoError as exc:
        raise _manifest_error(exc, ", ".join(files)) from exc
    except OSError as exc:
        raise CliError(f"cannot read manifest: {exc}", EXIT_USAGE) from exc
    return bundle, workflows


def replace_workflows(bundle: Bundle) -> Bundle:
    """A copy of *bundle* without its workflows (the caller takes them separately)."""
    from hookbus.controller.argo.manifest import Bundle

    copy = Bundle()
    copy.merge(bundle)
    copy.workflows = []
    return copy


def lint_messages(workflows: Sequence[tuple[str, dict[str, Any]]], bundle: Bundle) -> list[str]:
    """``FILE: PATH: MESSAGE`` for every lint error of *workflows*."""
    from hookbus.controller.argo.lint import lint_workflow

    messages: list[str] = []
    for source, workflow in workflows:
        for error in lint_workflow(workflow, bundle):
            messages.append(f"{source}: {error}")
    return messages


def _print_lines(lines: Sequence[str], stream: Any = None) -> None:
    out = stream or sys.stderr
    for line in lines:
        print(f"  {line}", file=out)


def emit(workflow: Mapping[str, Any], output: str | None, *, wide: bool = False) -> None:
    """Print one workflow as ``json``, ``yaml``, ``name``, or the ``argo get`` text."""
    if output == "json":
        print(json.dumps(workflow, indent=2, default=str))
    elif output == "yaml":
        print(yaml.safe_dump(dict(workflow), sort_keys=False, default_flow_style=False), end="")
    elif output == "name":
        print((workflow.get("metadata") or {}).get("name", ""))
    else:
        color = sys.stdout.isatty()
        print(render.render_workflow(workflow, wide=wide or output == "wide", color=color), end="")


class _StderrLogger:
    """A structlog logger that writes to whatever ``sys.stderr`` is at the time."""

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log = debug = info = warning = warn = error = critical = exception = fatal = msg


def configure_logging(verbosity: int, fmt: str = "auto", *, default: str = "warning") -> None:
    """structlog to stderr, at the level ``-v`` (info) / ``-vv`` (debug) ask for, else
    ``$HOOKBUS_LOG_LEVEL``, else *default*; JSON or console as ``--log-format`` or
    ``$HOOKBUS_LOG_FORMAT`` say, else JSON unless stderr is a terminal."""
    names = logging.getLevelNamesMapping()
    if verbosity >= 2:
        level = logging.DEBUG
    elif verbosity == 1:
        level = logging.INFO
    else:
        wanted = (os.environ.get("HOOKBUS_LOG_LEVEL") or default).upper()
        level = names.get(wanted, names[default.upper()])
    if fmt == "auto":
        fmt = os.environ.get("HOOKBUS_LOG_FORMAT") or "auto"
    json_logs = fmt == "json" or (fmt != "console" and not sys.stderr.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_logs
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=lambda *args: _StderrLogger(),
        cache_logger_on_first_use=False,
    )


def bus_settings(args: argparse.Namespace) -> BusSettings:
    """``HOOKBUS_*`` environment variables, then the command line's NATS flags on top."""
    settings = from_env()
    nats: dict[str, Any] = {}
    if getattr(args, "nats_url", None):
        nats["urls"] = tuple(u.strip() for u in args.nats_url.split(",") if u.strip())
    if getattr(args, "nats_creds", None):
        nats["creds_file"] = args.nats_creds
    if nats:
        settings = replace(settings, nats=replace(settings.nats, **nats))
    return settings


def _shown_url(url: str) -> str:
    """*url* without credentials, for printing."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest:
        return f"{scheme}://{rest.split('@', 1)[1]}"
    return url


async def _ignore_error(exc: Exception) -> None:
    """A client's connection errors surface as its exit code and message, not as log lines."""


async def _ignore() -> None:
    """A client closing its connection is not news."""


@contextlib.asynccontextmanager
async def nats_connection(
    settings: BusSettings,
    *,
    embedded: bool,
    store_dir: Path | None = None,
    port: int = -1,
    quiet: bool = False,
) -> AsyncIterator[tuple[Client, str]]:
    """A NATS connection: to ``settings.nats.urls``, or to an embedded server when *embedded*."""
    from hookbus.bus.connection import connect
    from hookbus.bus.server import EmbeddedServer

    server: EmbeddedServer | None = None
    urls: list[str] | None = None
    if embedded:
        server = EmbeddedServer(store_dir=store_dir, port=port, max_payload=EMBEDDED_MAX_PAYLOAD)
        urls = [await server.start()]
    try:
        extra: dict[str, Any] = (
            {"error_cb": _ignore_error, "disconnected_cb": _ignore} if quiet else {}
        )
        nc = await connect(settings.nats, urls, **extra)
        try:
            yield nc, (urls[0] if urls else ",".join(_shown_url(u) for u in settings.nats.urls))
        finally:
            with contextlib.suppress(Exception):
                await nc.drain()
    finally:
        if server is not None:
            await server.stop()


@contextlib.asynccontextmanager
async def api_client(args: argparse.Namespace) -> AsyncIterator[ApiClient]:
    """An :class:`ApiClient` for the server named by ``--nats-url`` / ``HOOKBUS_NATS_URL``."""
    settings = bus_settings(args)
    if not settings.nats.urls:
        raise CliError(
            "no server given: pass --nats-url URL or set HOOKBUS_NATS_URL to the URL 'hookbus server' printed",
            EXIT_UNAVAILABLE,
        )
    # A command line client fails fast instead of retrying a server that is not there.
    # (nats-py: with -1 even the first connect retries forever; 1 means two tries, then an error.)
    settings = replace(
        settings, nats=replace(settings.nats, max_reconnect_attempts=1, reconnect_wait=0.2)
    )
    async with nats_connection(settings, embedded=False, quiet=args.verbose == 0) as (nc, _url):
        yield ApiClient(nc, namespace=args.namespace)


def _stop_signals() -> tuple[asyncio.Event, list[int], Callable[[], None]]:
    """An event set on SIGINT/SIGTERM, the signals received, and an undo function."""
    loop = asyncio.get_running_loop()
    event = asyncio.Event()
    received: list[int] = []
    installed: list[int] = []

    def handler(signum: int) -> None:
        received.append(signum)
        event.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, handler, signum)
            installed.append(signum)

    def undo() -> None:
        for signum in installed:
            loop.remove_signal_handler(signum)

    return event, received, undo


def _signal_exit(received: Sequence[int]) -> int:
    return EXIT_TERMINATED if received and received[0] == signal.SIGTERM else EXIT_INTERRUPTED


async def _first(awaitable: Any, stop: asyncio.Event) -> tuple[bool, Any]:
    """Await *awaitable* unless *stop* is set first; ``(True, result)`` when it finished."""
    task = asyncio.ensure_future(awaitable)
    stopper = asyncio.create_task(stop.wait(), name="hookbus-cli-stop")
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        raise
    finally:
        stopper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stopper
    if task.done():
        return True, task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    return False, None


# --------------------------------------------------------------------------- run


@contextlib.asynccontextmanager
async def ticking(display: render.LiveDisplay) -> AsyncIterator[None]:
    """Keep a terminal display's elapsed time moving between snapshots."""
    ticker = asyncio.create_task(display.tick(), name="hookbus-cli-ticker")
    try:
        yield
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker


async def _follow_local(controller: Any, key: Any, display: render.LiveDisplay) -> dict[str, Any]:
    async with ticking(display):
        return await _follow_local_snapshots(controller, key, display)


async def _follow_local_snapshots(
    controller: Any, key: Any, display: render.LiveDisplay
) -> dict[str, Any]:
    workflow: dict[str, Any] = controller.get(key)
    display.update(workflow)
    if is_finished(workflow):
        return workflow
    snapshots = controller.watch(key)
    try:
        async for snapshot in snapshots:
            workflow = snapshot
            display.update(workflow)
            if is_finished(workflow):
                break
    finally:
        aclose = getattr(snapshots, "aclose", None)
        if aclose is not None:
            await aclose()
    if not is_finished(workflow):
        workflow = await controller.wait(key)
    return dict(workflow)


def _print_local_logs(
    controller: Any, key: Any, workflow: Mapping[str, Any], stream: Any = None
) -> None:
    """Each pod's log lines, prefixed with its pod name as ``argo logs`` does."""
    nodes = (workflow.get("status") or {}).get("nodes") or {}
    pods = sorted(
        (n for n in nodes.values() if n.get("type") == "Pod"),
        key=lambda n: n.get("startedAt") or "~",
    )
    for node in pods:
        path = controller.log_path(key, node["id"])
        if path is None or not Path(path).is_file():
            continue
        prefix = pod_name(key.name, node)
        for line in Path(path).read_text(errors="replace").splitlines():
            print(f"{prefix}: {line}", file=stream or sys.stdout)


async def run_command(args: argparse.Namespace) -> int:
    """``hookbus run``: embedded NATS + controller, one workflow to its end."""
    from hookbus.controller.engine.controller import Controller
    from hookbus.controller.engine.settings import ControllerSettings
    from hookbus.controller.store import WorkflowStore

    bundle, workflows = load_input([args.file], args.templates or ())
    if not workflows:
        raise CliError(f"{args.file}: no Workflow document in it (kind: Workflow)", EXIT_USAGE)
    parameters = parse_parameters(args.parameter)
    if messages := lint_messages(workflows, bundle):
        raise CliError(f"{args.file}: {len(messages)} lint error(s)", EXIT_USAGE, messages)

    settings = bus_settings(args)
    external = bool(settings.nats.urls)
    bucket = f"hookbus-run-{uuid.uuid4().hex[:12]}" if external else "hookbus-workflows"
    stop, received, undo = _stop_signals()
    finals: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="hookbus-run-", ignore_cleanup_errors=True) as tmp:
        # Always a fresh store: a run must not resume the workflows of earlier runs.
        async with nats_connection(
            settings, embedded=not external, store_dir=Path(tmp) / "nats", quiet=args.verbose == 0
        ) as (nc, _url):
            js = nc.jetstream()
            store = WorkflowStore(js, bucket=bucket)
            await store.open()
            extras = contextlib.AsyncExitStack()
            # On a shared NATS the plugins registered there are called, as a server would.
            hooks = (
                await extras.enter_async_context(plugin_hooks(nc, settings))
                if external and args.plugins
                else None
            )
            state_dir = Path(args.state_dir) if args.state_dir else Path(tmp) / "state"
            controller = Controller(
                ControllerSettings(
                    executor=args.executor, state_dir=state_dir, namespace=args.namespace
                ),
                store=store,
                hooks=hooks,
            )
            await controller.start()
            interrupted = False
            try:
                keys = []
                for _source, workflow in workflows:
                    try:
                        keys.append(
                            await controller.submit(workflow, parameters=parameters, bundle=bundle)
                        )
                    except ValueError as exc:
                        if getattr(exc, "errors", None) is not None:
                            raise _manifest_error(exc, args.file) from exc
                        raise CliError(f"{args.file}: {exc}", EXIT_USAGE) from exc
                for key in keys:
                    display = render.LiveDisplay(sys.stderr)
                    finished, result = await _first(_follow_local(controller, key, display), stop)
                    display.close()
                    if not finished:
                        interrupted = True
                        print(
                            f"hookbus: interrupted; terminating workflow {key.name}",
                            file=sys.stderr,
                        )
                        with contextlib.suppress(Exception):
                            await controller.terminate(key)
                        with contextlib.suppress(Exception):
                            await asyncio.wait_for(controller.wait(key), 10.0)
                        result = controller.get(key)
                    finals.append(result)
                    if args.log:
                        machine = args.output in ("json", "yaml", "name")
                        _print_local_logs(
                            controller, key, result, sys.stderr if machine else sys.stdout
                        )
                    emit(result, args.output)
                    if interrupted:
                        break
            finally:
                await controller.stop()
                await extras.aclose()
                undo()
                if external:
                    with contextlib.suppress(Exception):
                        await js.delete_key_value(bucket)
    if interrupted:
        return _signal_exit(received)
    return max(exit_code_for(w) for w in finals)


# --------------------------------------------------------------------------- lint


def lint_command(args: argparse.Namespace) -> int:
    """``hookbus lint``: argo lint's checks and output."""
    from hookbus.controller.argo.errors import ArgoError
    from hookbus.controller.argo.lint import lint_template_resource, lint_workflow
    from hookbus.controller.argo.manifest import Bundle, load_documents

    sources: list[tuple[str, list[dict[str, Any]]]] = []
    bundle = Bundle()
    failures: list[str] = []
    paths: list[Path] = []
    for file in args.files:
        path = Path(file)
        if path.is_dir():
            paths.extend(
                sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml", ".json"))
            )
        elif path.is_file():
            paths.append(path)
        else:
            failures.append(f"{file}: no such file or directory")
    for path in paths:
        try:
            docs = load_documents(path, name=str(path))
        except ArgoError as exc:
            failures.extend([str(e) for e in getattr(exc, "errors", [])] or [str(exc)])
            continue
        sources.append((str(path), docs))
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind") != "Workflow":
                with contextlib.suppress(ArgoError, ValueError, KeyError):
                    bundle.add(doc)
    for source, docs in sources:
        for doc in docs:
            kind = doc.get("kind")
            name = (
                (doc.get("metadata") or {}).get("name")
                or (doc.get("metadata") or {}).get("generateName")
                or "?"
            )
            if kind == "Workflow":
                errors = lint_workflow(doc, bundle)
            elif kind in ("WorkflowTemplate", "ClusterWorkflowTemplate"):
                errors = lint_template_resource(doc)
            else:
                continue
            failures.extend(f"{source}: {kind} {name!r}: {error}" for error in errors)
    if failures:
        for failure in failures:
            print(f"✖ {failure}")
        print(f"✖ {len(failures)} linting error(s) found!")
        return EXIT_USAGE
    print("✔ no linting errors found!")
    return EXIT_OK


# --------------------------------------------------------------------------- server


@contextlib.asynccontextmanager
async def plugin_hooks(
    nc: Client, settings: BusSettings, publisher: Any = None
) -> AsyncIterator[Any]:
    """The engine's hook points answered by the plugins registered on *nc* (None if unavailable).

    Follows the plugin registry (``settings.registry``: bucket, TTL, allow-list)
    and calls plugins through the dispatcher (``settings.dispatch``).
    """
    try:
        from hookbus.controller.plugin_hooks import PluginHooks
    except ImportError:
        log.warning("plugin hooks are not available in this build; plugins will not be called")
        yield None
        return
    from hookbus.bus import Dispatcher, RegistryView

    registry = RegistryView(nc.jetstream(), settings.registry)
    await registry.start()
    try:
        yield PluginHooks(Dispatcher(nc, registry, settings.dispatch), events=publisher)
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
        """See :class:`hookbus.controller.engine.hooks.EventSink`."""
        await self._call("workflow_phase", workflow, phase, message)

    async def node_phases(self, workflow: Any, nodes: Sequence[Any]) -> None:
        """See :class:`hookbus.controller.engine.hooks.EventSink`."""
        await self._call("node_phases", workflow, nodes)

    async def pod_created(self, workflow: Any, pods: Sequence[Any]) -> None:
        """See :class:`hookbus.controller.engine.hooks.EventSink`."""
        await self._call("pod_created", workflow, pods)

    async def progress(
        self, workflow: Any, done: int, total: int, phases: Mapping[str, int]
    ) -> None:
        """See :class:`hookbus.controller.engine.hooks.EventSink`."""
        await self._call("progress", workflow, done, total, phases)


async def server_command(args: argparse.Namespace) -> int:
    """``hookbus server``: controller + control API (+ embedded NATS) until SIGTERM/SIGINT."""
    from hookbus.bus.events import EventPublisher, PublisherSink
    from hookbus.controller.engine.controller import Controller
    from hookbus.controller.engine.settings import ControllerSettings
    from hookbus.controller.store import WorkflowStore

    settings = bus_settings(args)
    external = bool(settings.nats.urls)
    stop, received, undo = _stop_signals()
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
            ),
            store=store,
            hooks=hooks,
            events=SafeEvents(PublisherSink(publisher)),
        )
        stack.push_async_callback(controller.stop)
        await controller.start()
        await stack.enter_async_context(ApiServer(controller, nc, default_namespace=args.namespace))
        print(f"hookbus server is ready; NATS URL: {url}", flush=True)
        print(f"  export HOOKBUS_NATS_URL={url}", flush=True)
        if args.url_file:
            await asyncio.to_thread(_write_atomically, Path(args.url_file), url + "\n")
        await stop.wait()
        print("hookbus server: shutting down", file=sys.stderr, flush=True)
    return EXIT_OK if received else EXIT_INTERRUPTED


# --------------------------------------------------------------------------- client commands


async def _watch_remote(
    client: ApiClient, name: str, *, tree: bool, stream: Any = None
) -> dict[str, Any]:
    display = render.LiveDisplay(stream or sys.stderr, tree=tree)
    workflow: dict[str, Any] = {}
    try:
        async with ticking(display):
            async for snapshot in client.watch(name, nodes=tree):
                workflow = snapshot
                display.update(workflow)
    finally:
        display.close()
    return workflow if tree else await client.get(name)


async def submit_command(args: argparse.Namespace) -> int:
    """``hookbus submit``: lint here, submit to the server, optionally watch."""
    bundle, workflows = load_input([args.file], args.templates or ())
    if not workflows:
        raise CliError(f"{args.file}: no Workflow document in it (kind: Workflow)", EXIT_USAGE)
    parameters = parse_parameters(args.parameter)
    for _source, workflow in workflows:
        metadata = workflow.setdefault("metadata", {})
        if args.generate_name:
            metadata.pop("name", None)
            metadata["generateName"] = args.generate_name
        if args.name:
            metadata.pop("generateName", None)
            metadata["name"] = args.name
    if messages := lint_messages(workflows, bundle):
        raise CliError(f"{args.file}: {len(messages)} lint error(s)", EXIT_USAGE, messages)
    code = EXIT_OK
    async with api_client(args) as client:
        for _source, workflow in workflows:
            result = await client.submit(
                workflow, parameters=parameters, documents=documents_of(bundle)
            )
            name = str(result["name"])
            if not args.watch:
                emit(result["workflow"], args.output)
                continue
            stop, received, undo = _stop_signals()
            try:
                finished, final = await _first(_watch_remote(client, name, tree=False), stop)
            finally:
                undo()
            if not finished:
                return _signal_exit(received)
            emit(final, args.output)
            code = max(code, exit_code_for(final))
    return code


async def list_command(args: argparse.Namespace) -> int:
    """``hookbus list``."""
    async with api_client(args) as client:
        items = await client.list(all_namespaces=args.all_namespaces)
    if args.status:
        wanted = {s.strip().lower() for s in args.status.split(",")}
        items = [w for w in items if render.phase_of(w).lower() in wanted]
    if args.output == "json":
        print(json.dumps(items, indent=2, default=str))
    elif args.output == "yaml":
        print(yaml.safe_dump(items, sort_keys=False), end="")
    elif args.output == "name":
        for workflow in items:
            print((workflow.get("metadata") or {}).get("name", ""))
    else:
        print(render.render_list(items, namespaces=args.all_namespaces), end="")
    return EXIT_OK


async def get_command(args: argparse.Namespace) -> int:
    """``hookbus get``."""
    async with api_client(args) as client:
        workflow = await client.get(args.name)
    emit(workflow, args.output)
    return EXIT_OK


async def watch_command(args: argparse.Namespace) -> int:
    """``hookbus watch``: a live tree and progress bar until the workflow ends."""
    stop, received, undo = _stop_signals()
    try:
        async with api_client(args) as client:
            finished, final = await _first(
                _watch_remote(client, args.name, tree=sys.stdout.isatty(), stream=sys.stdout), stop
            )
    finally:
        undo()
    if not finished:
        return _signal_exit(received)
    emit(final, None)
    return exit_code_for(final)


async def wait_command(args: argparse.Namespace) -> int:
    """``hookbus wait NAME...``: block until the workflows end; exit 0 only if all Succeeded."""
    stop, received, undo = _stop_signals()
    code = EXIT_OK
    try:
        async with api_client(args) as client:
            for name in args.names:

                async def last(name: str = name) -> dict[str, Any]:
                    final: dict[str, Any] = {}
                    async for snapshot in client.watch(name, nodes=False):
                        final = snapshot
                    return final

                finished, final = await _first(last(), stop)
                if not finished:
                    return _signal_exit(received)
                phase = render.phase_of(final)
                message = (final.get("status") or {}).get("message")
                print(
                    f"{name} {phase}"
                    + (f" ({message})" if message and phase != "Succeeded" else "")
                )
                code = max(code, exit_code_for(final))
    finally:
        undo()
    return code


async def logs_command(args: argparse.Namespace) -> int:
    """``hookbus logs``: print (and with -f, follow) the logs of a workflow's pods."""
    cursor = LogCursor()
    pending: dict[str, str] = {}
    pending_prefix: dict[str, str] = {}
    prefix_lines = args.node is None
    stop, received, undo = _stop_signals()

    def show(chunk: Mapping[str, Any]) -> None:
        key = str(chunk["node_id"])
        text = pending.pop(key, "") + str(chunk.get("data") or "")
        lines = text.split("\n")
        pending[key] = lines.pop()
        for line in lines:
            print(f"{chunk.get('pod_name')}: {line}" if prefix_lines else line, flush=args.follow)
        pending_prefix[key] = str(chunk.get("pod_name"))

    try:
        async with api_client(args) as client:
            while not stop.is_set():
                chunks, done = await client.logs(args.name, args.node, cursor=cursor)
                for chunk in chunks:
                    show(chunk)
                if chunks:
                    continue
                if done or not args.follow:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.5)
    finally:
        undo()
    for key, rest in pending.items():
        if rest:
            print(f"{pending_prefix[key]}: {rest}" if prefix_lines else rest)
    return _signal_exit(received) if received else EXIT_OK


_ACTION_WORDS = {
    "suspend": "suspended",
    "resume": "resumed",
    "stop": "stopped",
    "terminate": "terminated",
    "retry": "retried",
    "delete": "deleted",
}


async def action_command(args: argparse.Namespace) -> int:
    """``hookbus suspend|resume|stop|terminate|retry|delete NAME...``."""
    extra: dict[str, Any] = {}
    if args.command == "stop" and args.message:
        extra["message"] = args.message
    code = EXIT_OK
    async with api_client(args) as client:
        for name in args.names:
            try:
                await client.action(args.command, name, **extra)
            except ApiError as exc:
                error = _exit_for_api(exc)
                print(f"hookbus: error: {name}: {error}", file=sys.stderr)
                code = max(code, error.code)
                continue
            print(f"workflow {name} {_ACTION_WORDS[args.command]}")
    return code


# --------------------------------------------------------------------------- plugins and events


def plugin_run_command(args: argparse.Namespace) -> int:
    """``hookbus plugin run MODULE:ATTR``: serve a plugin until SIGTERM/SIGINT."""
    try:
        from hookbus.bus.sdk import run_from_spec
    except ImportError as exc:
        raise CliError(
            f"the plugin SDK is not available in this build: {exc}", EXIT_INTERNAL
        ) from exc
    settings = bus_settings(args)
    return int(run_from_spec(args.spec, settings))


async def events_command(args: argparse.Namespace) -> int:
    """``hookbus events``: print the workflow / node / pod events a server published."""
    try:
        from hookbus.bus.events import replay
    except ImportError:
        raise CliError(
            "'hookbus events' is not available in this build (no hookbus.bus.events)",
            EXIT_INTERNAL,
        ) from None
    from nats.js.errors import NotFoundError

    settings = bus_settings(args)
    if not settings.nats.urls:
        raise CliError(
            "no server given: pass --nats-url URL or set HOOKBUS_NATS_URL", EXIT_UNAVAILABLE
        )
    settings = replace(
        settings, nats=replace(settings.nats, max_reconnect_attempts=1, reconnect_wait=0.2)
    )
    stop, received, undo = _stop_signals()
    try:
        async with nats_connection(settings, embedded=False, quiet=args.verbose == 0) as (nc, _u):

            async def pump() -> None:
                reader = replay(
                    nc.jetstream(),
                    namespace=None if args.all_namespaces else args.namespace,
                    workflow=args.workflow,
                    follow=args.follow,
                )
                async with reader:
                    async for event in reader:
                        if args.output == "json":
                            record = {
                                "id": event.id,
                                "type": event.type,
                                "source": event.source,
                                "subject": event.ce_subject,
                                "time": event.time,
                                "data": event.data,
                            }
                            print(json.dumps(record, default=str), flush=True)
                        else:
                            print(_event_line(event), flush=True)

            try:
                await _first(pump(), stop)
            except NotFoundError:
                raise CliError(
                    "no events stream on this NATS server: no hookbus server has published events here",
                    EXIT_NOT_FOUND,
                ) from None
    finally:
        undo()
    return _signal_exit(received) if received else EXIT_OK


def _event_line(event: Any) -> str:
    """``TIME TYPE WORKFLOW [NODE] PHASE MESSAGE`` for one CloudEvent."""
    data = event.data if isinstance(event.data, Mapping) else {}
    workflow = str(event.source).rsplit("/", 1)[-1]
    node: Any = data.get("node")
    message = data.get("message")
    if isinstance(node, Mapping):
        message = message or node.get("message")
        node = node.get("name") or node.get("id")
    node = node or data.get("node_name") or data.get("name") or ""
    parts = [
        str(event.time),
        str(event.type).removeprefix("io.hookbus."),
        workflow,
        str(node) if node and node != workflow else "",
        str(message or ""),
    ]
    return " ".join(p for p in parts if p)


def _version_text() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"hookbus {version('hookbus')}"
    except PackageNotFoundError:
        return "hookbus (not installed)"


def version_command(args: argparse.Namespace) -> int:
    """``hookbus version``."""
    print(_version_text())
    return EXIT_OK


# --------------------------------------------------------------------------- parser


class _Parser(argparse.ArgumentParser):
    """argparse with our error format and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"hookbus: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    """The ``hookbus`` argument parser (every command has ``--help``)."""
    common = _Parser(add_help=False)
    common.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output on stderr (-vv: debug)"
    )
    common.add_argument(
        "--log-format",
        choices=("auto", "console", "json"),
        default="auto",
        help="log format (auto: json unless stderr is a terminal)",
    )

    nats = _Parser(add_help=False)
    nats.add_argument(
        "--nats-url",
        metavar="URL",
        help="NATS server URL(s), comma-separated (default: $HOOKBUS_NATS_URL)",
    )
    nats.add_argument(
        "--nats-creds", metavar="FILE", help="NATS credentials file (default: $HOOKBUS_NATS_CREDS)"
    )

    namespace = _Parser(add_help=False)
    namespace.add_argument(
        "-n", "--namespace", default="default", help="namespace (default: %(default)s)"
    )

    params = _Parser(add_help=False)
    params.add_argument(
        "-p",
        "--parameter",
        action="append",
        metavar="NAME=VALUE",
        help="set a workflow argument (repeatable)",
    )
    params.add_argument(
        "-t",
        "--templates",
        action="append",
        metavar="PATH",
        help="file or folder of WorkflowTemplates / ClusterWorkflowTemplates / ConfigMaps the workflow refers to (repeatable)",
    )

    executor = _Parser(add_help=False)
    executor.add_argument(
        "--executor",
        choices=("local", "simulate"),
        default="local",
        help="how templates run: local host processes, or simulate (default: %(default)s)",
    )

    parser = _Parser(
        prog="hookbus",
        description="Run Argo Workflows manifests with a controller whose every stage plugins can hook into over NATS.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def add(
        name: str,
        help_text: str,
        parents: list[_Parser],
        func: Callable[[argparse.Namespace], Any],
        **kwargs: Any,
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            parents=[common, *parents],
            epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            **kwargs,
        )
        p.set_defaults(func=func)
        return p

    p = add(
        "run",
        "Run a workflow to its end here (embedded NATS and controller), show progress and the final tree; exit 0 only if it Succeeded.",
        [nats, namespace, params, executor],
        run_command,
    )
    p.add_argument(
        "file", metavar="FILE", help="manifest with a Workflow (YAML or JSON; - for stdin)"
    )
    p.add_argument(
        "-o",
        "--output",
        choices=("json", "yaml", "name", "wide"),
        help="print the final workflow in this format (default: a tree)",
    )
    p.add_argument("--log", action="store_true", help="print the pods' logs after the run")
    p.add_argument(
        "--no-plugins",
        dest="plugins",
        action="store_false",
        help="with --nats-url: do not call the plugins registered on that NATS server",
    )
    p.add_argument(
        "--state-dir",
        metavar="DIR",
        help="keep logs and outputs here (default: a temporary folder)",
    )

    p = add(
        "lint",
        "Check manifests (files or folders) as 'argo lint' does; exit 2 on errors.",
        [],
        lint_command,
    )
    p.add_argument("files", nargs="+", metavar="FILE")

    p = add(
        "server",
        "Run the controller and its control API until SIGTERM/SIGINT; prints the NATS URL clients should use.",
        [nats, executor],
        server_command,
    )
    p.add_argument(
        "--state-dir",
        metavar="DIR",
        help="durable state (NATS store, logs); default: a temporary folder lost at exit",
    )
    p.add_argument(
        "--port",
        type=int,
        default=-1,
        help="port of the embedded NATS server (default: a free one)",
    )
    p.add_argument(
        "--url-file", metavar="FILE", help="also write the NATS URL to this file once ready"
    )
    p.add_argument(
        "--no-plugins",
        dest="plugins",
        action="store_false",
        help="never call plugins (by default every registered plugin the allow-list "
        "HOOKBUS_PLUGIN_ALLOW permits is called)",
    )
    p.add_argument(
        "-n",
        "--namespace",
        default="default",
        help="default namespace of submitted workflows (default: %(default)s)",
    )

    p = add(
        "submit",
        "Submit a workflow to a running server.",
        [nats, namespace, params],
        submit_command,
    )
    p.add_argument("file", metavar="FILE")
    p.add_argument(
        "-w",
        "--watch",
        action="store_true",
        help="follow the workflow to its end; exit 0 only if it Succeeded",
    )
    p.add_argument("--generate-name", metavar="PREFIX", help="override metadata.generateName")
    p.add_argument("--name", help="override metadata.name")
    p.add_argument("-o", "--output", choices=("json", "yaml", "name", "wide"))

    p = add("list", "List workflows.", [nats, namespace], list_command)
    p.add_argument("-A", "--all-namespaces", action="store_true")
    p.add_argument("--status", help="only these phases, comma-separated (e.g. Running,Failed)")
    p.add_argument("-o", "--output", choices=("json", "yaml", "name", "wide"))

    p = add("get", "Show a workflow: its status and node tree.", [nats, namespace], get_command)
    p.add_argument("name", metavar="NAME")
    p.add_argument("-o", "--output", choices=("json", "yaml", "name", "wide"))

    p = add(
        "watch",
        "Follow a workflow live until it ends; exit 0 only if it Succeeded.",
        [nats, namespace],
        watch_command,
    )
    p.add_argument("name", metavar="NAME")

    p = add(
        "wait",
        "Wait for workflows to end; exit 0 only if all Succeeded.",
        [nats, namespace],
        wait_command,
    )
    p.add_argument("names", nargs="+", metavar="NAME")

    p = add(
        "logs",
        "Print the logs of a workflow's pods (or of one node).",
        [nats, namespace],
        logs_command,
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument(
        "node", metavar="NODE", nargs="?", help="node id, pod name, node name or display name"
    )
    p.add_argument(
        "-f", "--follow", action="store_true", help="keep printing until the workflow ends"
    )

    for verb, text in (
        ("suspend", "Suspend workflows: no new steps start."),
        ("resume", "Resume suspended workflows (and suspend nodes)."),
        ("stop", "Stop workflows: no new steps start, exit handlers still run."),
        (
            "terminate",
            "Terminate workflows at once: running steps are killed, exit handlers skipped.",
        ),
        ("retry", "Retry failed workflows from their failed nodes."),
        ("delete", "Delete workflows."),
    ):
        p = add(verb, text, [nats, namespace], action_command)
        p.add_argument("names", nargs="+", metavar="NAME")
        if verb == "stop":
            p.add_argument("--message", help="why (shown in the workflow's message)")

    plugin = sub.add_parser(
        "plugin", help="Plugin commands.", description="Plugin commands.", parents=[common]
    )
    plugin_sub = plugin.add_subparsers(
        dest="plugin_command", metavar="COMMAND", parser_class=_Parser
    )
    plugin_sub.required = True
    p = plugin_sub.add_parser(
        "run",
        help="Serve a plugin object MODULE:ATTR until SIGTERM/SIGINT.",
        description="Serve a plugin object MODULE:ATTR (a hookbus.bus Plugin) until SIGTERM/SIGINT.",
        parents=[common, nats],
        epilog=EPILOG,
    )
    p.add_argument("spec", metavar="MODULE:ATTR")
    p.set_defaults(func=plugin_run_command)

    p = add("events", "Print workflow and node events.", [nats, namespace], events_command)
    p.add_argument("--workflow", metavar="NAME", help="only this workflow's events")
    p.add_argument("-A", "--all-namespaces", action="store_true")
    p.add_argument(
        "-f", "--follow", action="store_true", help="keep printing new events until interrupted"
    )
    p.add_argument("-o", "--output", choices=("json", "text"), default="text")

    add("version", "Print the version.", [], version_command)
    parser.add_argument("--version", action="version", version=_version_text())
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hookbus`` console script; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    saved = structlog.get_config()
    long_running = args.command in ("server", "plugin")
    configure_logging(args.verbose, args.log_format, default="info" if long_running else "warning")
    try:
        return _dispatch(args)
    finally:
        structlog.configure(**saved)


def _dispatch(args: argparse.Namespace) -> int:
    try:
        result = args.func(args)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return int(result)
    except CliError as exc:
        print(f"hookbus: error: {exc}", file=sys.stderr)
        _print_lines([d for d in exc.details if d != str(exc)])
        return exc.code
    except ApiError as exc:
        error = _exit_for_api(exc)
        print(f"hookbus: error: {error}", file=sys.stderr)
        _print_lines([d for d in error.details if d != str(error)])
        return error.code
    except (ConnectError, ConfigError) as exc:
        print(f"hookbus: error: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE if isinstance(exc, ConnectError) else EXIT_USAGE
    except BusError as exc:
        print(f"hookbus: error: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE if exc.retryable else EXIT_INTERNAL
    except KeyboardInterrupt:
        print("hookbus: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:
        log.exception("internal error")
        print(f"hookbus: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
