"""Logging set-up: structlog, JSON when not on a terminal, identity from context variables.

Bind identity for a block of work with ``structlog.contextvars.bound_contextvars(
workflow=..., node=..., plugin=...)``; every line logged inside carries it.
Payloads and secrets are never passed to the logger by hookbus code.
"""

from __future__ import annotations

import logging
import os
import sys

import structlog


class _StderrLogger:
    """A structlog logger that writes to whatever ``sys.stderr`` is at the time."""

    def msg(self, message: str) -> None:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()

    log = debug = info = warning = warn = error = critical = exception = fatal = msg


def _stderr_logger(*args: object) -> _StderrLogger:
    return _StderrLogger()


def configure(level: str | None = None, *, json: bool | None = None, cache: bool = True) -> None:
    """Configure structlog and the standard library's logging, for a process: the one
    logging set-up of every hookbus entry point (commands, plugins, benchmarks).

    *level* defaults to ``$HOOKBUS_LOG_LEVEL`` or ``info``; *json* defaults to
    ``$HOOKBUS_LOG_FORMAT == "json"`` (``console``: not), else to "stderr is not a
    terminal". Lines go to the ``sys.stderr`` of the moment. *cache*: loggers keep
    this configuration once used (off where it is configured again in the same process).
    """
    name = (level or os.environ.get("HOOKBUS_LOG_LEVEL") or "info").upper()
    numeric = logging.getLevelNamesMapping().get(name, logging.INFO)
    if json is None:
        fmt = os.environ.get("HOOKBUS_LOG_FORMAT", "")
        json = fmt == "json" if fmt in ("json", "console") else not sys.stderr.isatty()
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=cache,
    )
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
