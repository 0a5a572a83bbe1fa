"""The client commands: talk to a running ``hookbus server`` over NATS."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ...bus.auth import PLUGIN, USER
from ...bus.control import ApiError, ControlClient, LogCursor
from ..argo.types import UNSUCCESSFUL, Phase
from ..workflows import documents_of
from . import render
from .common import (
    EXIT_INTERNAL,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    CliError,
    api_client,
    bus_settings,
    emit,
    exit_code_for,
    exit_for_api,
    first_of,
    load_input,
    name_workflow,
    nats_connection,
    parse_parameters,
    signal_exit,
    stop_signals,
    ticking,
    until_final,
    with_local_identity,
)

if TYPE_CHECKING:
    import argparse

    from ...bus.settings import BusSettings


async def _watch_remote(
    client: ControlClient, name: str, *, tree: bool, stream: Any = None
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
    """``hookbus submit``: send to the server (which lints), optionally watch."""
    bundle, workflows = load_input([args.file], args.templates or ())
    if not workflows:
        raise CliError(f"{args.file}: no Workflow document in it (kind: Workflow)", EXIT_USAGE)
    parameters = parse_parameters(args.parameter)
    for _source, workflow in workflows:
        name_workflow(workflow, args)
    # No lint here: the server lints, knowing the templates it was started with.
    code = EXIT_OK
    async with api_client(args) as client:
        for _source, workflow in workflows:
            result = await client.submit(
                workflow, parameters=parameters, documents=documents_of(bundle)
            )
            name = str(result["name"])
            for warning in result.get("warnings") or ():
                print(f"Warning: {warning}", file=sys.stderr, flush=True)
            submitted = result["workflow"]
            if render.phase_of(submitted) in UNSUCCESSFUL:
                # a workflow.preOperate plugin rejected it, or a template it refers to is
                # missing: stored, ended, never run
                message = (submitted.get("status") or {}).get("message") or "rejected"
                print(f"hookbus: workflow {name} failed at once: {message}", file=sys.stderr, flush=True)
                emit(submitted, args.output)
                code = max(code, exit_code_for(submitted))
                continue
            if not args.watch:
                emit(result["workflow"], args.output)
                continue
            ended, stopped = await until_final(_watch_remote(client, name, tree=False), args.output)
            if stopped:
                return ended
            code = max(code, ended)
    return code


async def list_command(args: argparse.Namespace) -> int:
    """``hookbus list``."""
    async with api_client(args) as client:
        items = await client.list(all_namespaces=args.all_namespaces)
    print(render.listing(items, args.output, status=args.status, namespaces=args.all_namespaces), end="")
    return EXIT_OK


async def get_command(args: argparse.Namespace) -> int:
    """``hookbus get``."""
    async with api_client(args) as client:
        workflow = await client.get(args.name)
    emit(workflow, args.output)
    return EXIT_OK


async def watch_command(args: argparse.Namespace) -> int:
    """``hookbus watch``: a live tree and progress bar until the workflow ends."""
    stop, received, undo = stop_signals()
    try:
        async with api_client(args) as client:
            finished, final = await first_of(
                _watch_remote(client, args.name, tree=sys.stdout.isatty(), stream=sys.stdout), stop
            )
    finally:
        undo()
    if not finished:
        return signal_exit(received)
    emit(final, None)
    return exit_code_for(final)


async def wait_command(args: argparse.Namespace) -> int:
    """``hookbus wait NAME...``: block until the workflows end; exit 0 only if all Succeeded."""
    stop, received, undo = stop_signals()
    code = EXIT_OK
    try:
        async with api_client(args) as client:
            for name in args.names:

                async def last(name: str = name) -> dict[str, Any]:
                    final: dict[str, Any] = {}
                    async for snapshot in client.watch(name, nodes=False):
                        final = snapshot
                    return final

                finished, final = await first_of(last(), stop)
                if not finished:
                    return signal_exit(received)
                phase = render.phase_of(final)
                message = (final.get("status") or {}).get("message")
                print(
                    f"{name} {phase}"
                    + (f" ({message})" if message and phase != Phase.SUCCEEDED else "")
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
    stop, received, undo = stop_signals()

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
    return signal_exit(received) if received else EXIT_OK


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
                error = exit_for_api(exc)
                print(f"hookbus: error: {name}: {error}", file=sys.stderr)
                code = max(code, error.code)
                continue
            print(f"workflow {name} {_ACTION_WORDS[args.command]}")
    return code


# --------------------------------------------------------------------------- plugins and events


def plugin_run_command(args: argparse.Namespace) -> int:
    """``hookbus plugin run MODULE:ATTR``: serve a plugin until SIGTERM/SIGINT."""
    try:
        from ...bus.sdk import run_from_spec
    except ImportError as exc:
        raise CliError(
            f"the plugin SDK is not available in this build: {exc}", EXIT_INTERNAL
        ) from exc
    return int(run_from_spec(args.spec, bus_settings(args), identity=_plugin_identity))


def _plugin_identity(name: str, settings: BusSettings) -> BusSettings:
    """A plugin on the machine of a server that left a note connects as itself."""
    return with_local_identity(settings, PLUGIN, plugin=name)


async def plugin_list_command(args: argparse.Namespace) -> int:
    """``hookbus plugin list``: the plugins a running server has seen, and how they are doing."""
    async with api_client(args) as client:
        plugins = await client.plugins()
    if args.output == "json":
        print(json.dumps(plugins, indent=2, default=str))
        return EXIT_OK
    print(render.plugin_table(plugins), end="")
    return EXIT_OK


async def events_command(args: argparse.Namespace) -> int:
    """``hookbus events``: print the workflow / node / pod events a server published."""
    try:
        from ...bus.events import replay
    except ImportError:
        raise CliError(
            "'hookbus events' is not available in this build (no hookbus.bus.events)",
            EXIT_INTERNAL,
        ) from None
    from nats.js.errors import NotFoundError

    settings = with_local_identity(bus_settings(args), getattr(args, "identity", None) or USER)
    if not settings.nats.urls:
        raise CliError(
            "no server given: pass --nats-url URL or set HOOKBUS_NATS_URL", EXIT_UNAVAILABLE
        )
    settings = replace(
        settings, nats=replace(settings.nats, max_reconnect_attempts=1, reconnect_wait=0.2)
    )
    stop, received, undo = stop_signals()
    try:
        async with nats_connection(settings, quiet=args.verbose == 0) as nc:

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
                await first_of(pump(), stop)
            except NotFoundError:
                raise CliError(
                    "no events stream on this NATS server: no hookbus server has published events here",
                    EXIT_NOT_FOUND,
                ) from None
    finally:
        undo()
    return signal_exit(received) if received else EXIT_OK


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
    if data.get("plugin") and message:
        message = f"{data['plugin']}: {message}"  # who warned, rejected, vetoed...
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
