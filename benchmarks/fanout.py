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
- ``codec_floor`` (:func:`codec_floor`): encoding and decoding the batched variant's own
  records in process, no network: the floor of any design on this machine.

After its workflow ended, the batched variant also sends the items it recorded (those of
the first :data:`RECORDED_NODES` nodes, per hook) through the same plugin processes
again, with nothing else running in the controller (:func:`hook_path_alone`): what the
hook path itself reaches on this machine.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Final

from benchmarks.cpu import (
    cpu_seconds,
    difference,
    per_decision,
    plugin_preemptions,
    preempted,
    process_roles,
    thread_preemptions,
)
from benchmarks.harness import (
    FANOUT_HOOKS,
    JSON,
    CounterResult,
    Rig,
    RigSettings,
    events_figures,
    fanout_workflow,
    peak_rss_mb,
    process_cpu_s,
)

if TYPE_CHECKING:
    from hookbus.bus.dispatch import CallStats

VARIANTS = ("plugins0", "batched", "batched_projected", "per_call", "per_call_sequential")
RECORDED_NODES: Final = 20_000
"""Nodes whose hook items the batched variant keeps for :func:`hook_path_alone` and :func:`codec_floor`."""
CODEC_CHUNK: Final = 1000
"""Items per encoded list in :func:`codec_floor` (the dispatcher's ``max_batch``)."""


def rig_settings(
    variant: str, plugins: int, in_flight: int, workflow: str = "fanout", *, replay: bool = False, auth: bool = True
) -> RigSettings:
    """The controller and plugins of *variant* (*replay*: batched only, keep the items for
    :func:`hook_path_alone` and :func:`codec_floor`; *auth*: see ``RigSettings.auth``)."""
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
        record_items=RECORDED_NODES if replay and variant == "batched" else 0,
        cpu_during_calls=replay and variant == "batched",
        auth=auth,
    )


async def run_fanout(
    variant: str, nodes: int, plugins: int = 5, in_flight: int = 8, replay: bool = False, auth: bool = True
) -> JSON:
    """Run one fan-out variant in this process; its figures (*replay*, *auth*: see :func:`rig_settings`)."""
    settings = rig_settings(variant, plugins, in_flight, replay=replay, auth=auth)
    async with Rig(settings) as rig:
        started_epoch = time.time()
        started = time.perf_counter()
        cpu = process_cpu_s()
        during = rig.cpu_during_calls
        switches = thread_preemptions(during.roles) if during is not None else {}
        key = await rig.controller.submit(fanout_workflow("fanout", nodes))
        done = await rig.controller.wait(key, timeout=1800)
        wall = time.perf_counter() - started
        cpu = process_cpu_s() - cpu
        events = await rig.count_finals([done])
        stats = rig.hook_stats
        result = _figures(variant, settings, done, wall, cpu, stats, events, started_epoch)
        if during is not None:
            result["cpu_during_calls"] = per_decision(during.seconds, result["decisions"], stats.busy_s)
            result["preempted"] = plugin_preemptions(preempted(switches, thread_preemptions(during.roles)), stats.requests)
        if settings.record_items:
            records = rig.records
            result["hook_path_alone"] = await hook_path_alone(rig, records, settings.plugins)
            result["codec_floor"] = codec_floor(records, settings.plugins)
    return result


def _figures(
    variant: str,
    settings: RigSettings,
    done: JSON,
    wall: float,
    cpu: float,
    stats: CallStats,
    events: CounterResult,
    started_epoch: float,
) -> JSON:
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


async def hook_path_alone(rig: Rig, records: dict[str, tuple[JSON, list[JSON]]], plugins: int) -> JSON:
    """The batched hook calls with nothing else running: *records* (per hook, as the fan-out
    handed them to the dispatcher) sent again, one call per hook, to the same plugins."""
    from hookbus.bus.hooks import Hook

    per_hook: JSON = {}
    decisions = 0
    requests = 0
    busy = 0.0
    roles = process_roles()
    cpu_before = cpu_seconds(roles)
    switches = thread_preemptions(roles)
    for hook, (meta, items) in records.items():
        result = await rig.dispatcher.call(Hook(hook), meta, items)
        if result.stats.failures:
            raise RuntimeError(f"{result.stats.failures} request(s) of {hook} failed while replaying the recorded items")
        made = len(items) * plugins
        per_hook[hook] = {
            "items": len(items),
            "busy_s": round(result.stats.busy_s, 3),
            "decisions_per_s": round(made / result.stats.busy_s) if result.stats.busy_s > 0 else 0,
        }
        decisions += made
        requests += result.stats.requests
        busy += result.stats.busy_s
    used = difference(cpu_seconds(roles), cpu_before)
    return {
        "decisions": decisions,
        "busy_s": round(busy, 3),
        "decisions_per_s": round(decisions / busy) if busy > 0 else 0,
        "hooks": per_hook,
        **per_decision(used, decisions, busy),
        "preempted": plugin_preemptions(preempted(switches, thread_preemptions(roles)), requests),
    }


def codec_floor(records: dict[str, tuple[JSON, list[JSON]]], plugins: int) -> JSON:
    """In-process msgpack encode + decode of every decision's record: *records* (per hook),
    each once per plugin, in lists of :data:`CODEC_CHUNK` as requests carry them."""
    import ormsgpack

    chunks = [
        {"v": 1, "hook": hook, "workflow": meta, "items": items[start : start + CODEC_CHUNK]}
        for hook, (meta, items) in records.items()
        for start in range(0, len(items), CODEC_CHUNK)
    ]
    moved = sum(len(chunk["items"]) for chunk in chunks) * plugins
    started = time.perf_counter()
    for _ in range(plugins):
        for chunk in chunks:
            ormsgpack.unpackb(ormsgpack.packb(chunk))
    wall = time.perf_counter() - started
    return {"variant": "codec_floor", "records": moved, "wall_s": round(wall, 3), "records_per_s": round(moved / wall) if wall > 0 else 0}


def synthetic_records(nodes: int) -> dict[str, tuple[JSON, list[JSON]]]:
    """Look-alike records of *nodes* nodes per hook, for a ``codec_floor`` run without the batched variant."""
    from benchmarks.dispatch_bench import items

    batch = items(nodes)
    return {hook: ({"name": "fanout", "namespace": "default"}, batch) for hook in FANOUT_HOOKS}


def main(argv: list[str] | None = None) -> Any:
    """``python -m benchmarks.fanout``: the whole issue-#5 suite."""
    from benchmarks.suite import main as suite_main

    return suite_main(argv)


if __name__ == "__main__":
    main()
