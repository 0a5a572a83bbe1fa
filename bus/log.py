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


def configure(level: str | None = None, *, json: bool | None = None) -> None:
    """Configure structlog and the standard library's logging once, for a process.

    *level* defaults to ``$HOOKBUS_LOG_LEVEL`` or ``info``; *json* defaults to
    ``$HOOKBUS_LOG_FORMAT == "json"``, else to "stderr is not a terminal".
    """
    name = (level or os.environ.get("HOOKBUS_LOG_LEVEL") or "info").upper()
    numeric = logging.getLevelNamesMapping().get(name, logging.INFO)
    if json is None:
        fmt = os.environ.get("HOOKBUS_LOG_FORMAT", "")
        json = fmt == "json" if fmt else not sys.stderr.isatty()
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
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
