"""``hookbus``: run Argo Workflows manifests locally, or drive a running hookbus server.

Commands (``hookbus COMMAND --help`` for each)::

    hookbus run FILE [-p name=value ...]   run a workflow to its end here and now (embedded NATS)
    hookbus lint FILE...                   check manifests as ``argo lint`` does
    hookbus server                         the long-running controller (+ embedded NATS)
    hookbus submit FILE [--watch]          submit to a running server
    hookbus list | get NAME | watch NAME | wait NAME... | logs NAME [NODE] [-f]
    hookbus suspend | resume | stop | terminate | retry | delete NAME...
    hookbus plugin run MODULE:ATTR         serve a plugin written with the hookbus SDK
    hookbus plugin list [-o json]          the plugins a server sees: live, hooks, breaker, last error
    hookbus plugin credentials NAME        issue a plugin's own identity (operator)
    hookbus nats-config --state-dir DIR    the authorization block for a NATS you run yourself
    hookbus events [--workflow W] [--follow]

Client commands find the server through ``--nats-url`` or ``HOOKBUS_NATS_URL``
(the URL ``hookbus server`` prints), and, for a server on this machine, the
identity to connect as by that URL (else ``--nats-creds`` / ``HOOKBUS_NATS_CREDS``).

Exit codes, for scripts:

==== ===========================================================================
 0   success (for run / submit --watch / watch / wait: the workflow Succeeded)
 1   the workflow ended Failed or Error (or was stopped / terminated, or a plugin rejected it)
 2   bad input: usage error, unreadable file, lint errors (printed), bad parameter
 3   not found: no such workflow or node
 4   not possible in the workflow's current state (e.g. resume of a running workflow)
 5   no server: cannot connect to NATS, or no hookbus server answers (retrying may help)
 70  internal error (a bug: please report it with the message)
 130 interrupted (SIGINT) / 143 terminated (SIGTERM)
==== ===========================================================================

Errors are printed to stderr as ``hookbus: error: <message>``, plugin warnings
about a submitted workflow as ``Warning: <plugin>: <message>``; results go to
stdout (``-o json`` / ``-o yaml`` / ``-o name`` where offered), live progress to
stderr, so ``NAME=$(hookbus submit -o name wf.yaml)`` works.

``hookbus run`` always uses a fresh, temporary store (with ``--nats-url``: a
KV bucket of its own, deleted at the end), so it never resumes or disturbs
another run's or a server's workflows. Run one ``hookbus server`` per NATS
server (or per store): two servers on the same store would both resume the
same workflows.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING

import structlog

from ...bus.control import ApiError
from ...bus.errors import BusError, ConfigError, ConnectError
from ...bus.loop import run as run_process
from ..adapters.safe_events import SafeEvents
from .common import (
    EXIT_CONFLICT,
    EXIT_FAILED,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_TERMINATED,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    CliError,
    bus_settings,
    configure_logging,
    exit_code_for,
    exit_for_api,
    load_input,
    log,
    log_settings,
    parse_parameters,
    print_details,
    settings_from_args,
)
from .parser import build_parser

if TYPE_CHECKING:
    import argparse

__all__ = [
    "EXIT_CONFLICT",
    "EXIT_FAILED",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_TERMINATED",
    "EXIT_UNAVAILABLE",
    "EXIT_USAGE",
    "CliError",
    "SafeEvents",
    "build_parser",
    "bus_settings",
    "configure_logging",
    "exit_code_for",
    "load_input",
    "log_settings",
    "main",
    "parse_parameters",
    "settings_from_args",
]


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hookbus`` console script; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    saved = structlog.get_config()
    long_running = args.command in ("server", "plugin")
    configure_logging(log_settings(args), default="info" if long_running else "warning")
    try:
        return _dispatch(args)
    finally:
        structlog.configure(**saved)


def _dispatch(args: argparse.Namespace) -> int:
    try:
        result = args.func(args)
        if asyncio.iscoroutine(result):
            if args.command in ("server", "run"):
                # a controller: on uvloop (HOOKBUS_UVLOOP=0: the standard loop), with the
                # collector tuned for many long-lived node records (HOOKBUS_GC_THRESHOLD=0: not)
                result = run_process(result, fast=True, controller=True)
            else:
                result = asyncio.run(result)
        return int(result)
    except CliError as exc:
        print(f"hookbus: error: {exc}", file=sys.stderr)
        print_details([d for d in exc.details if d != str(exc)])
        return exc.code
    except ApiError as exc:
        error = exit_for_api(exc)
        print(f"hookbus: error: {error}", file=sys.stderr)
        print_details([d for d in error.details if d != str(error)])
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
