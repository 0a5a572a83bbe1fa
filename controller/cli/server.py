"""``hookbus server``: the long-running controller, its control API, events and plugins."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ...bus.auth import CONTROLLER
from ..app import Hookbus
from ..kube.errors import KubeError
from .common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    CliError,
    load_input,
    settings_from_args,
    stop_signals,
    with_local_identity,
)

if TYPE_CHECKING:
    import argparse


def _write_atomically(path: Path, text: str) -> None:
    """Write *text* so that a reader sees either no file or all of it."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


async def server_command(args: argparse.Namespace) -> int:
    """``hookbus server``: controller + control API (+ embedded NATS) until SIGTERM/SIGINT."""
    templates = load_input([], args.templates)[0] if args.templates else None
    settings = settings_from_args(args)
    if not settings.embedded_nats:  # a server of this machine's NATS: as its controller
        settings = replace(settings, bus=with_local_identity(settings.bus, CONTROLLER))
    if settings.state_dir is None and settings.embedded_nats:
        print("hookbus: no --state-dir: workflows are lost when this server stops", file=sys.stderr)
    stop, received, undo = stop_signals()
    try:
        async with Hookbus(settings, templates=templates, keep_nodes=True) as app:
            url = app.nats_url
            print(f"hookbus server is ready; NATS URL: {url}", flush=True)
            print(f"  export HOOKBUS_NATS_URL={url}", flush=True)
            if app.auth is not None:
                print(
                    f"  identities (0600) in {app.auth.path}: clients on this machine find them by the URL; "
                    "'hookbus plugin credentials NAME' issues a plugin's",
                    flush=True,
                )
            if args.url_file:
                await asyncio.to_thread(_write_atomically, Path(args.url_file), url + "\n")
            waits = [asyncio.create_task(stop.wait()), asyncio.create_task(app.failed.wait())]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in waits:
                    task.cancel()
            if app.failed.is_set():
                print(f"hookbus server: {app.failure}; exiting", file=sys.stderr, flush=True)
                return EXIT_UNAVAILABLE
            print("hookbus server: shutting down", file=sys.stderr, flush=True)
    except KubeError as exc:  # no API server, no kubeconfig, no lease
        raise CliError(str(exc), EXIT_UNAVAILABLE) from exc
    finally:
        undo()
    return EXIT_OK if received else EXIT_INTERRUPTED
