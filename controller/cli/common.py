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

from ...bus.auth import PLUGIN, USER, AuthDir, find_note, wait_accepted
from ...bus.control import ApiError, ControlClient
from ...bus.log import configure
from ...bus.server import reload_server
from ..app import ignore, ignore_error
from ..argo.types import Phase
from ..settings import (
    HookbusSettings,
    LogSettings,
    from_env,
    host_paths,
    http_allow,
    log_from_env,
    sandbox_choice,
)
from . import render

if TYPE_CHECKING:
    import argparse
    from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence

    from nats.aio.client import Client

    from ...bus.settings import BusSettings
    from ..argo.manifest import Bundle
    from ..engine.settings import ControllerSettings
    from ..kube.settings import KubernetesSettings
    from ..settings import ExecutorSettings


EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_CONFLICT = 4
EXIT_UNAVAILABLE = 5
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

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
    return EXIT_OK if render.phase_of(workflow) == Phase.SUCCEEDED else EXIT_FAILED


def manifest_error(exc: Exception, source: str) -> CliError:
    errors = [str(e) for e in getattr(exc, "errors", None) or ()]
    first = str(exc).splitlines()[0] if str(exc) else "invalid manifest"
    if len(errors) == 1 and errors[0] in first:
        errors = []  # the one error is the headline already
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


def lint_messages(
    workflows: Sequence[tuple[str, dict[str, Any]]], bundle: Bundle, *, references: bool = True
) -> list[str]:
    """``FILE: PATH: MESSAGE`` for every lint error of *workflows*; without *references*,
    leaving out template references that do not resolve (a submitted workflow ends with
    them as Argo's controller ends it)."""
    from ..argo.lint import lint_workflow
    from ..argo.refs import is_reference_error

    messages: list[str] = []
    for source, workflow in workflows:
        for error in lint_workflow(workflow, bundle):
            if references or not is_reference_error(error.path):
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


def log_settings(args: argparse.Namespace) -> LogSettings:
    """``HOOKBUS_LOG_LEVEL`` / ``HOOKBUS_LOG_FORMAT``, then ``-v`` (info) / ``-vv`` (debug)
    and ``--log-format`` on top."""
    log = log_from_env()
    verbose = int(getattr(args, "verbose", 0) or 0)
    if verbose:
        log = replace(log, level="debug" if verbose >= 2 else "info")
    fmt = getattr(args, "log_format", None)
    if fmt and fmt != "auto":
        log = replace(log, format=fmt)
    return log


def configure_logging(log: LogSettings, *, default: str = "warning") -> None:
    """Set logging up for a command (:func:`hookbus.bus.log.configure`): *log*'s level, else
    *default*; JSON or console as *log* says, else JSON unless stderr is a terminal."""
    level = log.level if log.level and log.level.upper() in logging.getLevelNamesMapping() else default
    json = log.format == "json" if log.format in ("json", "console") else None
    configure(level, json=json, cache=False)


def settings_from_args(args: argparse.Namespace) -> HookbusSettings:
    """``HOOKBUS_*`` environment variables, then the command line's flags on top: the one
    place flags become settings (absent flags leave the environment's or the defaults)."""
    try:
        settings = from_env()
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    bus = settings.bus
    nats: dict[str, Any] = {}
    if getattr(args, "nats_url", None):
        nats["urls"] = tuple(u.strip() for u in args.nats_url.split(",") if u.strip())
    for flag, attr in (
        ("nats_creds", "creds_file"),
        ("nats_nkey", "nkey_seed_file"),
        ("nats_tls_ca", "tls_ca"),
        ("nats_tls_cert", "tls_cert"),
        ("nats_tls_key", "tls_key"),
    ):
        if getattr(args, flag, None):
            nats[attr] = getattr(args, flag)
    if nats:
        bus = replace(bus, nats=replace(bus.nats, **nats))
    allow = getattr(args, "plugin_allow", None)
    if allow is not None:
        names = tuple(n.strip() for n in allow.split(",") if n.strip())
        bus = replace(bus, registry=replace(bus.registry, allow=names))
    controller = replace(
        settings.controller,
        **given(
            namespace=getattr(args, "namespace", None),
            max_workflows=getattr(args, "max_workflows", None),
            max_running_nodes=getattr(args, "max_running_nodes", None),
            resource_poll_seconds=getattr(args, "resource_poll", None),
        ),
    )
    executor = settings.executor
    if getattr(args, "executor", None):
        executor = replace(executor, kind=args.executor)
    if getattr(args, "supervise", None) is not None:
        executor = replace(executor, supervise=args.supervise)
    if getattr(args, "orphan_timeout", None) is not None:
        executor = replace(executor, orphan_timeout=args.orphan_timeout)
    executor, controller = _trust_from_args(args, executor, controller)
    embedded = settings.embedded
    if getattr(args, "port", None) is not None:
        embedded = replace(embedded, port=args.port)
    if getattr(args, "nats_auth", None) is not None:
        embedded = replace(embedded, auth=bool(args.nats_auth))
    if getattr(args, "tls_cert", None) or getattr(args, "tls_key", None):
        if not (getattr(args, "tls_cert", None) and getattr(args, "tls_key", None)):
            raise CliError("--tls-cert and --tls-key go together", EXIT_USAGE)
        embedded = replace(embedded, tls_cert=Path(args.tls_cert), tls_key=Path(args.tls_key))
    kubernetes = kubernetes_from_args(args, settings.kubernetes)
    if kubernetes.enabled and not getattr(args, "executor", None) and not os.environ.get("HOOKBUS_EXECUTOR"):
        executor = replace(executor, kind="kubernetes")  # Kubernetes mode runs pods unless told otherwise
    if executor.kind == "kubernetes" and not kubernetes.enabled:
        kubernetes = replace(kubernetes, enabled=True)  # pods are run in Kubernetes mode only
    if kubernetes.enabled and kubernetes.images_file is not None:
        from ..adapters.kube_pods import load_images

        try:
            load_images(kubernetes.images_file)
        except ValueError as exc:
            raise CliError(str(exc), EXIT_USAGE) from None
    state_dir = Path(args.state_dir) if getattr(args, "state_dir", None) else settings.state_dir
    health_port = args.health_port if getattr(args, "health_port", None) is not None else settings.health_port
    plugins = getattr(args, "plugins", settings.plugins)
    return replace(
        settings,
        log=log_settings(args),
        bus=bus,
        controller=controller,
        executor=executor,
        embedded=embedded,
        state_dir=state_dir,
        plugins=bool(plugins),
        kubernetes=kubernetes,
        health_port=health_port,
    )


def _trust_from_args(
    args: argparse.Namespace, executor: ExecutorSettings, controller: ControllerSettings
) -> tuple[ExecutorSettings, ControllerSettings]:
    """The sandbox flags over *executor*; ``--allow-host-path`` and ``--http-allow`` over *controller*."""
    try:
        if getattr(args, "sandbox", None):
            executor = replace(executor, sandbox=sandbox_choice(args.sandbox))
        if getattr(args, "sandbox_uid_base", None):
            executor = replace(executor, sandbox_uid_base=args.sandbox_uid_base)
        if getattr(args, "sandbox_network", None):
            executor = replace(executor, sandbox_network=args.sandbox_network)
        if getattr(args, "start_concurrency", None):
            executor = replace(executor, start_concurrency=args.start_concurrency)
        if getattr(args, "allow_host_path", None):
            controller = replace(controller, allowed_host_paths=host_paths(args.allow_host_path))
        if getattr(args, "http_allow", None):
            controller = replace(controller, http_allow=http_allow(args.http_allow))
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    return executor, controller


def kubernetes_from_args(args: argparse.Namespace, base: KubernetesSettings) -> KubernetesSettings:
    """``--kubernetes``, ``--namespace``/``--all-namespaces``, ``--instance-id``,
    ``--kubeconfig``, ``--kube-server`` and ``--no-leader-election`` over *base*."""
    kube = base
    if getattr(args, "kubernetes", False):
        kube = replace(kube, enabled=True)
    if kube.enabled:
        if getattr(args, "all_namespaces", False):
            kube = replace(kube, namespace=None)
        elif getattr(args, "namespace", None) and not (base.namespace and args.namespace == "default"):
            kube = replace(kube, namespace=args.namespace)  # HOOKBUS_NAMESPACE over the flag's default
    if getattr(args, "instance_id", None) is not None:
        kube = replace(kube, instance_id=args.instance_id)
    if getattr(args, "kubeconfig", None):
        kube = replace(kube, kubeconfig=Path(args.kubeconfig))
    if getattr(args, "kube_server", None):
        kube = replace(kube, server=args.kube_server)
    if getattr(args, "leader_election", True) is False:
        kube = replace(kube, lease=replace(kube.lease, enabled=False))
    return kube


def bus_settings(args: argparse.Namespace) -> BusSettings:
    """The bus part of :func:`settings_from_args` (what client commands and plugins need)."""
    return settings_from_args(args).bus


@contextlib.asynccontextmanager
async def nats_connection(settings: BusSettings, *, quiet: bool = False) -> AsyncIterator[Client]:
    """A client's NATS connection to ``settings.nats.urls``, drained on exit."""
    from ...bus.connection import connect

    extra: dict[str, Any] = {"error_cb": ignore_error, "disconnected_cb": ignore} if quiet else {}
    nc = await connect(settings.nats, None, **extra)
    try:
        yield nc
    finally:
        with contextlib.suppress(Exception):
            await nc.drain()


def has_identity(settings: BusSettings) -> bool:
    """Whether *settings* already say who to connect as."""
    nats = settings.nats
    return bool(nats.creds_file or nats.user or nats.token or nats.nkey_seed_file)


def with_local_identity(settings: BusSettings, role: str = USER, *, plugin: str | None = None) -> BusSettings:
    """*settings* with the credentials of *role* of the server they name, when that server runs
    on this machine and left a note (``hookbus server`` does) and no credentials were given.

    For ``plugin``, the plugin's own identity is issued from that server's identities on first
    use (whoever can read the server's state is its operator) and the server reloads its
    configuration."""
    if has_identity(settings) or not settings.nats.urls:
        return settings
    note = find_note(settings.nats.urls[0])
    if note is None:
        return settings
    auth = AuthDir(note.auth_dir)
    if role == PLUGIN:
        if plugin is None:
            return settings
        try:
            _, made = auth.plugin(plugin)
        except OSError:
            return settings  # not this server's operator: connect as given
        if made and note.store_dir is not None and reload_server(note.store_dir):
            wait_accepted(settings.nats.urls[0], auth.credentials_of(plugin))
        file = auth.plugin_file(plugin)
    else:
        file = auth.role_file(role)
    if not file.exists():
        return settings
    tls_ca = settings.nats.tls_ca or (str(note.tls_ca) if note.tls_ca else None)
    return replace(settings, nats=replace(settings.nats, creds_file=str(file), tls_ca=tls_ca))


@contextlib.asynccontextmanager
async def api_client(args: argparse.Namespace) -> AsyncIterator[ControlClient]:
    """A :class:`ControlClient` for the server named by ``--nats-url`` / ``HOOKBUS_NATS_URL``."""
    settings = with_local_identity(bus_settings(args), getattr(args, "identity", None) or USER)
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
    async with nats_connection(settings, quiet=args.verbose == 0) as nc:
        yield ControlClient(nc, namespace=args.namespace)


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


async def until_final(follow: Awaitable[Mapping[str, Any]], output: str | None) -> tuple[int, bool]:
    """Await *follow* (a workflow's final object) unless SIGINT/SIGTERM comes first, and
    print it as *output*: ``(exit code, stopped)``, the code for the workflow's phase, or
    for the signal when one stopped the wait (*stopped* true)."""
    stop, received, undo = stop_signals()
    try:
        finished, final = await first_of(follow, stop)
    finally:
        undo()
    if not finished:
        return signal_exit(received), True
    emit(final, output)
    return exit_code_for(final), False


def name_workflow(workflow: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """``--name``/``--generate-name`` of ``hookbus submit`` on *workflow*'s metadata (returned)."""
    metadata: dict[str, Any] = workflow.setdefault("metadata", {})
    if args.generate_name:
        metadata.pop("name", None)
        metadata["generateName"] = args.generate_name
    if args.name:
        metadata.pop("generateName", None)
        metadata["name"] = args.name
    return metadata


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
