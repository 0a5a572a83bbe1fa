"""How hookbus processes run: which asyncio event loop, and garbage collector settings.

uvloop (libuv under asyncio's interface) moves NATS messages with less
overhead per message than the standard loop. It is used when it is installed
and not switched off with ``HOOKBUS_UVLOOP=0`` (also ``false``, ``no``,
``off``); otherwise everything runs on the standard loop, unchanged.

Batches of hook items are many small dicts and lists that live for one
request. With CPython's default collector settings (a young-generation
collection every 700 net allocations) a batch is walked by the collector
several times before it is freed, which measured as costly as decoding it.
:func:`tune_gc` freezes what start-up allocated (modules, the plugin) out of
the collector's sight and collects the young generation less often; cycles are
still collected. ``HOOKBUS_GC_THRESHOLD=0`` leaves the collector alone.

A controller is different: it keeps every node of every workflow, so most of
what it allocates survives. A young collection walks everything allocated since
the last one; at 10,000 allocations that is 5–12 ms of a 100,000-node
workflow's scattered records, during which no other workflow moves. The
controller therefore collects the young generation every 1,000 allocations
(under 1 ms) and makes a full collection, which walks every record (100–300 ms
for 100,000 nodes), only after 1,000 older-generation collections instead of
CPython's 10 (and, as CPython does, only once long-lived objects grew by a
quarter). Only reference cycles wait for a full collection, and a hook call leaves
none behind (its items are freed as it ends), so little does.

Entry points call :func:`run` instead of :func:`asyncio.run`::

    from .loop import run

    run(main(), fast=True)
"""

from __future__ import annotations

import asyncio
import gc
import os
from typing import TYPE_CHECKING, Any, TypeVar

import structlog

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

log = structlog.get_logger("hookbus.bus.loop")

ENV_SWITCH = "HOOKBUS_UVLOOP"
"""Environment variable that turns uvloop off when set to 0/false/no/off."""
GC_ENV = "HOOKBUS_GC_THRESHOLD"
"""Environment variable: young-generation collection threshold for :func:`tune_gc` (0: do not tune)."""
GC_THRESHOLD = 10_000
"""Net allocations between young-generation collections after :func:`tune_gc` (CPython's default: 700)."""
CONTROLLER_GC_THRESHOLD = 1_000
"""The same for a controller (``tune_gc(controller=True)``): short pauses while it holds large workflows."""
CONTROLLER_FULL_AFTER = 1_000
"""A controller's full collection waits for this many older-generation collections (CPython's default: 10)."""

_OFF = frozenset({"0", "false", "no", "off"})

T = TypeVar("T")


def fast_loop_enabled() -> bool:
    """Whether the environment allows the fast loop (it does unless ``HOOKBUS_UVLOOP`` says off)."""
    return os.environ.get(ENV_SWITCH, "").strip().lower() not in _OFF


def loop_factory(fast: bool = True) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """A factory of uvloop loops, or ``None`` (the standard loop) when *fast* is false,
    the environment switched it off, or uvloop is not installed."""
    if not fast or not fast_loop_enabled():
        return None
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def loop_name(loop: asyncio.AbstractEventLoop | None = None) -> str:
    """``"uvloop"`` or ``"asyncio"``: which loop runs (the running one by default)."""
    loop = loop or asyncio.get_running_loop()
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"


def tune_gc(threshold: int | None = None, *, controller: bool = False) -> bool:
    """Freeze start-up objects and collect the young generation every *threshold* allocations.

    *threshold* defaults to ``HOOKBUS_GC_THRESHOLD``, else :data:`GC_THRESHOLD`, or for a
    *controller* :data:`CONTROLLER_GC_THRESHOLD` (and full collections only after
    :data:`CONTROLLER_FULL_AFTER` older-generation ones); 0 leaves the collector as it is.
    Never lowers a threshold someone set higher. True if anything changed.
    """
    if threshold is None:
        default = CONTROLLER_GC_THRESHOLD if controller else GC_THRESHOLD
        raw = os.environ.get(GC_ENV, "").strip()
        try:
            threshold = int(raw) if raw else default
        except ValueError:
            log.warning("ignoring a non-integer setting", variable=GC_ENV, value=raw)
            threshold = default
    if threshold <= 0:
        return False
    gen0, gen1, gen2 = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(gen0, threshold), gen1, max(gen2, CONTROLLER_FULL_AFTER) if controller else gen2)
    return True


def run(main: Coroutine[Any, Any, T], *, fast: bool = True, debug: bool | None = None, controller: bool = False) -> T:
    """Like :func:`asyncio.run`; with *fast*, on uvloop (see :func:`loop_factory`) and with
    :func:`tune_gc` applied (for a *controller* process, or a plugin's). Meant for a
    process's entry point."""
    if fast:
        tune_gc(controller=controller)
    with asyncio.Runner(debug=debug, loop_factory=loop_factory(fast)) as runner:
        return runner.run(main)


def install_fast_loop() -> bool:
    """Make every later :func:`asyncio.run` use uvloop (an event loop policy); True if installed.

    For entry points that keep calling :func:`asyncio.run`; :func:`run` is the
    narrower choice (it leaves the process-wide policy alone).
    """
    if loop_factory() is None:
        return False
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True
