"""Step-to-step latency: a sequential workflow, with and without plugins on every blocking hook.

A steps template of S step groups of one ``simulate`` pod each runs twice, each time on a
fresh embedded controller: without plugins, then with P no-op plugin processes registered
for every blocking hook that fires for container nodes (``workflow.preOperate``,
``workflow.preUpdate``, ``node.preExecute``, ``node.postExecute``, ``pod.preCreate``;
``parameters.resolve`` and ``template.execute`` fire only for plugin placeholders and
``plugin:`` templates, which this workflow has none of).

The no-op plugins register each hook with its default (mutating for ``workflow.preUpdate``,
``node.*`` and ``pod.preCreate``) and declare ``sideEffects: false``, as a no-op truly does:
the dispatcher asks them together, speculatively, and asks ``pod.preCreate`` in the same
round trip as ``node.preExecute``; the issue's targets use this run (``plugins``). Two more
runs show the other registrations: *validating* (``plugins_validating``: called in
parallel, may not patch) and plugins that keep the default ``sideEffects: true``
(``plugins_with_side_effects``: called strictly one after another, each hook in its own
round trip).

The latency of a step (``step_to_step``) is the time from a pod's ``finishedAt`` to the
next pod's ``startedAt``, both the engine's own float timestamps (``x-hookbus`` of the
stored nodes). The engine records ``finishedAt`` after the pod's ``node.postExecute``
(plugins may still change its outputs) and ``startedAt`` after the next pod's
``node.preExecute`` and ``pod.preCreate``; between the two lie the persistence of the pass,
the next step group's creation and those two hooks. ``start_to_start`` (one pod's
``startedAt`` to the next one's) is the whole step, ``node.postExecute`` included. A
5-step warm-up workflow runs first on each controller and is not measured.
"""

from __future__ import annotations

import time

from benchmarks.harness import (
    BLOCKING_HOOKS,
    JSON,
    Rig,
    RigSettings,
    events_figures,
    latency_figures,
    peak_rss_mb,
    sequential_workflow,
    step_gaps,
    step_periods,
)

WARM_UP_STEPS = 5


async def measure_sequential(settings: RigSettings, steps: int) -> JSON:
    """Run a warm-up and then one *steps*-step sequential workflow on a fresh rig; its figures."""
    async with Rig(settings) as rig:
        warm = await rig.controller.submit(sequential_workflow("warm-up", WARM_UP_STEPS))
        warm_done = await rig.controller.wait(warm, timeout=600)
        started_epoch = time.time()
        started = time.perf_counter()
        key = await rig.controller.submit(sequential_workflow("sequential", steps))
        done = await rig.controller.wait(key, timeout=1800)
        wall = time.perf_counter() - started
        events = await rig.count_finals([warm_done, done])
        stats = rig.hook_stats
        stored = await rig.stored_nodes(key)
        gaps, periods = step_gaps(stored), step_periods(stored)
    return {
        "plugins": settings.plugins,
        "hooks": list(settings.hooks) if settings.plugins else [],
        "registered_as": ("validating" if settings.validating else "each hook's default") if settings.plugins else None,
        "steps": steps,
        "phase": done["status"]["phase"],
        "wall_s": round(wall, 3),
        "ms_per_step": round(wall / steps * 1e3, 3),
        "step_to_step": latency_figures(gaps),
        "start_to_start": latency_figures(periods),
        "requests": stats.requests,
        "hook_s": round(stats.busy_s, 3),
        "peak_rss_mb": peak_rss_mb(),
        **events_figures(events, started_epoch),
    }


async def run_latency(steps: int = 200, plugins: int = 5, in_flight: int = 8, auth: bool = True) -> JSON:
    """Every configuration, one after the other (*auth*: see ``RigSettings.auth``)."""
    subject = "hookbus.event.v1.default.*.node.>"
    without = await measure_sequential(RigSettings(plugins=0, max_in_flight=in_flight, count_events=subject, auth=auth), steps)
    with_plugins = await measure_sequential(
        RigSettings(plugins=plugins, hooks=BLOCKING_HOOKS, max_in_flight=in_flight, count_events=subject, auth=auth), steps
    )
    validating = await measure_sequential(
        RigSettings(plugins=plugins, hooks=BLOCKING_HOOKS, validating=True, max_in_flight=in_flight, count_events=subject, auth=auth),
        steps,
    )
    in_turn = await measure_sequential(
        RigSettings(plugins=plugins, hooks=BLOCKING_HOOKS, side_effects=True, max_in_flight=in_flight, count_events=subject, auth=auth),
        steps,
    )
    return {
        "timestamps": "the engine's float startedAt/finishedAt of each pod, as stored (x-hookbus)",
        "not_fired": ["parameters.resolve", "template.execute"],
        "plugins0": without,
        "plugins": with_plugins,
        "plugins_validating": validating,
        "plugins_with_side_effects": in_turn,
    }
