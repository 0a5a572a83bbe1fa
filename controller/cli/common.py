"""What the ``hookbus`` commands share: exit codes, errors, loading manifests,
output, logging, NATS connections and signal handling."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
import yaml

from ...bus.settings import BusSettings, from_env
from .. import render
from ..api import (
    ApiClient,
    ApiError,
)

if TYPE_CHECKING:
    import argparse
    from collections.abc import AsyncIterator, Callable, Mapping, Sequence

    from nats.aio.client import Client

    from ..argo.manifest import Bundle


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


def exit_for_api(exc: ApiError) -> CliError:
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


def given(**options: Any) -> dict[str, Any]:
    """The options whose flag was given (not None): the rest keep the settings' defaults."""
    return {name: value for name, value in options.items() if value is not None}


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


def manifest_error(exc: Exception, source: str) -> CliError:
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
    from ..argo.errors import ArgoError
    from ..argo.manifest import Bundle, load_bundle, load_documents

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
        raise manifest_error(exc, ", ".join(files)) from exc
    except OSError as exc:
        raise CliError(f"cannot read manifest: {exc}", EXIT_USAGE) from exc
    return bundle, workflows


def replace_workflows(bundle: Bundle) -> Bundle:
    """A copy of *bundle* without its workflows (the caller takes them separately)."""
    from ..argo.manifest import Bundle

    copy = Bundle()
    copy.merge(bundle)
    copy.workflows = []
    return copy


def lint_messages(workflows: Sequence[tuple[str, dict[str, Any]]], bundle: Bundle) -> list[str]:
    """``FILE: PATH: MESSAGE`` for every lint error of *workflows*."""
    from ..argo.lint import lint_workflow

    messages: list[str] = []
    for source, workflow in workflows:
        for error in lint_workflow(workflow, bundle):
            messages.append(f"{source}: {error}")
    return messages


def print_details(lines: Sequence[str], stream: Any = None) -> None:
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
    allow = getattr(args, "plugin_allow", None)
    if allow is not None:
        names = tuple(n.strip() for n in allow.split(",") if n.strip())
        settings = replace(settings, registry=replace(settings.registry, allow=names))
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
    from ...bus.connection import connect
    from ...bus.server import EmbeddedServer

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


def stop_signals() -> tuple[asyncio.Event, list[int], Callable[[], None]]:
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


def signal_exit(received: Sequence[int]) -> int:
    return EXIT_TERMINATED if received and received[0] == signal.SIGTERM else EXIT_INTERRUPTED


async def first_of(awaitable: Any, stop: asyncio.Event) -> tuple[bool, Any]:
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
