"""Issue #5's benchmark. ``python -m benchmarks.fanout`` runs every part (see ``benchmarks.suite``).

This module is the fan-out part: one workflow of N simulated nodes (a steps template with
``withSequence``), P no-op plugin processes registered for ``node.preExecute`` and
``pod.preCreate``, every node's final event counted by a separate process.

Variants (the suite picks sizes):

- ``plugins0``: no plugins (the engine's own cost);
- ``batched``: hookbus as designed;
- ``batched_projected``: the same, with plugins that declare the ``fields`` a typical policy
  plugin reads, so the controller sends those instead of whole items;
- ``per_call``: the same plugins with ``maxBatch: 1`` (one request per node per plugin),
  the same in-flight limit;
- ``per_call_sequential``: one request at a time, plugin after plugin (in-flight 1,
  ``maxBatch`` 1, and plugins that keep the default ``sideEffects: true``, so they are
  never asked together or ahead), as a naive in-process design would;
- ``codec_floor`` (:func:`codec_floor`): encoding and decoding the same number of records
  in process, no network: the floor of any design on this machine.
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks.harness import (
    FANOUT_HOOKS,
    JSON,
    Rig,
    RigSettings,
    events_figures,
    fanout_workflow,
    peak_rss_mb,
    process_cpu_s,
)

VARIANTS = ("plugins0", "batched", "batched_projected", "per_call", "per_call_sequential")


def rig_settings(variant: str, plugins: int, in_flight: int, workflow: str = "fanout") -> RigSettings:
    """The controller and plugins of *variant*."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown fan-out variant {variant!r}; known: {', '.join(VARIANTS)}")
    per_call = variant.startswith("per_call")
    return RigSettings(
        plugins=0 if variant == "plugins0" else plugins,
        hooks=FANOUT_HOOKS,
        max_batch=1 if per_call else None,
        max_in_flight=1 if variant == "per_call_sequential" else in_flight,
        side_effects=variant == "per_call_sequential",
        projected=variant == "batched_projected",
        count_events=f"hookbus.event.v1.default.{workflow}.node.>",
    )


async def run_fanout(variant: str, nodes: int, plugins: int = 5, in_flight: int = 8) -> JSON:
    """Run one fan-out variant in this process; its figures."""
    settings = rig_settings(variant, plugins, in_flight)
    async with Rig(settings) as rig:
        started_epoch = time.time()
        started = time.perf_counter()
        cpu = process_cpu_s()
        key = await rig.controller.submit(fanout_workflow("fanout", nodes))
        done = await rig.controller.wait(key, timeout=1800)
        wall = time.perf_counter() - started
        cpu = process_cpu_s() - cpu
        events = await rig.count_finals([done])
        stats = rig.hook_stats
    status = done["status"]
    pods = sum(1 for n in status["nodes"].values() if n["type"] == "Pod")
    decisions = pods * settings.plugins * len(FANOUT_HOOKS)
    hook_s = stats.busy_s
    return {
        "variant": variant,
        "nodes": pods,
        "plugins": settings.plugins,
        "max_batch": settings.max_batch,
        "max_in_flight": settings.max_in_flight,
        "phase": status["phase"],
        "wall_s": round(wall, 3),
        "us_per_node": round(wall / max(pods, 1) * 1e6, 1),
        "decisions": decisions,
        "requests": stats.requests,
        "items_per_request": round(stats.items_sent / stats.requests, 1) if stats.requests else 0,
        "hook_s": round(hook_s, 3),
        "hook_us_per_node": round(hook_s / max(pods, 1) * 1e6, 2),
        "decisions_per_wall_s": round(decisions / wall) if decisions else 0,
        "decisions_per_hook_s": round(decisions / hook_s) if decisions and hook_s > 0 else 0,
        "hook_failures": stats.failures,
        "controller_cpu_s": round(cpu, 3),
        "controller_cpu_share": round(cpu / wall, 2),
        "peak_rss_mb": peak_rss_mb(),
        **events_figures(events, started_epoch),
    }


def codec_floor(nodes: int, plugins: int) -> JSON:
    """In-process msgpack encode + decode of as many records as the batched variant moves."""
    import ormsgpack

    from benchmarks.dispatch_bench import items

    batch = items(1000)
    records = nodes * plugins * len(FANOUT_HOOKS)
    rounds = max(1, records // 1000)
    started = time.perf_counter()
    for _ in range(rounds):
        ormsgpack.unpackb(ormsgpack.packb({"v": 1, "items": batch}))
    wall = time.perf_counter() - started
    moved = rounds * 1000
    return {"variant": "codec_floor", "records": moved, "wall_s": round(wall, 3), "records_per_s": round(moved / wall)}


def main(argv: list[str] | None = None) -> Any:
    """``python -m benchmarks.fanout``: the whole issue-#5 suite."""
    from benchmarks.suite import main as suite_main

    return suite_main(argv)


if __name__ == "__main__":
    main()
