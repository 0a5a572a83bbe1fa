"""Throughput: many small workflows submitted at once, with plugins on every blocking hook.

W workflows, each a DAG of three ``simulate`` pods in a chain (``t0`` -> ``t1`` -> ``t2``:
three pod nodes plus the DAG node), are submitted at the same moment (``asyncio.gather``
of W submits) to one embedded controller with P no-op plugin processes registered for
``workflow.preOperate``, ``workflow.preUpdate``, ``node.preExecute``, ``node.postExecute``
and ``pod.preCreate``. One warm-up workflow runs first and is not counted.

``workflows_per_s`` is W divided by the time from the first submit to the last workflow's
end. The controller operates on at most ``max_workflows`` workflows at once (its default
setting); the rest wait their turn, as they would in production.
"""

from __future__ import annotations

import asyncio
import time

from benchmarks.harness import (
    BLOCKING_HOOKS,
    JSON,
    Rig,
    RigSettings,
    chain_dag_workflow,
    events_figures,
    peak_rss_mb,
    percentile,
    process_cpu_s,
)


async def run_throughput(workflows: int = 1000, tasks: int = 3, plugins: int = 5, in_flight: int = 8, auth: bool = True) -> JSON:
    """Submit *workflows* chains of *tasks* pods at once; workflows completed per second."""
    settings = RigSettings(
        plugins=plugins, hooks=BLOCKING_HOOKS, max_in_flight=in_flight, count_events="hookbus.event.v1.default.*.node.>", auth=auth
    )
    async with Rig(settings) as rig:
        controller = rig.controller
        warm = await controller.wait(await controller.submit(chain_dag_workflow("warm-up", tasks)), timeout=600)
        requests_before = rig.hook_stats.requests
        started_epoch = time.time()
        started = time.perf_counter()
        cpu = process_cpu_s()
        submitted: list[float] = []

        async def one(i: int) -> tuple[float, JSON]:
            key = await controller.submit(chain_dag_workflow(f"wf-{i}", tasks))
            submitted.append(time.perf_counter() - started)
            done = await controller.wait(key, timeout=1800)
            return time.perf_counter() - started, done

        results = await asyncio.gather(*(one(i) for i in range(workflows)))
        wall = max(t for t, _ in results)
        cpu = process_cpu_s() - cpu
        finished = [done for _, done in results]
        requests = rig.hook_stats.requests - requests_before
        max_workflows = controller.settings.max_workflows
        events = await rig.count_finals([warm, *finished])
    ends = [t for t, _ in results]
    phases: dict[str, int] = {}
    for done in finished:
        phase = done["status"]["phase"]
        phases[phase] = phases.get(phase, 0) + 1
    return {
        "workflows": workflows,
        "pods_per_workflow": tasks,
        "plugins": plugins,
        "hooks": list(BLOCKING_HOOKS) if plugins else [],
        "max_workflows": max_workflows,
        "phases": phases,
        "wall_s": round(wall, 3),
        "workflows_per_s": round(workflows / wall, 1),
        "all_submitted_s": round(max(submitted), 3),
        "end_p50_s": round(percentile(ends, 50), 3),
        "end_p99_s": round(percentile(ends, 99), 3),
        "requests": requests,
        "controller_cpu_s": round(cpu, 3),
        "controller_cpu_share": round(cpu / wall, 2),
        "peak_rss_mb": peak_rss_mb(),
        **events_figures(events, started_epoch),
    }
