"""Executor cost: the simulate executor over many nodes, the local executor over a few.

    python -m benchmarks.executor_bench [--simulate 100000] [--local 50] [--concurrency 10]

Prints one JSON document:

- ``simulate``: N plain nodes and N annotated nodes (outputs, result), run
  through ``SimulateExecutor.run`` from 100 worker tasks; wall and CPU seconds,
  CPU microseconds per node.
- ``local``: M ``sh -c 'echo ...'`` nodes, ``concurrency`` at a time, with
  isolation as detected and without it; nodes per second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from hookbus.bus.log import configure as configure_logging
from hookbus.controller.executors.base import ProcessSpec, TaskExecutor, TaskSpec
from hookbus.controller.executors.local import LocalExecutor
from hookbus.controller.executors.simulate import SimulateExecutor


def make_task(i: int, annotations: dict[str, str] | None = None, script: str | None = None) -> TaskSpec:
    main = ProcessSpec("main", "alpine:3.23", ("sh", "-c"), (script or "echo hi",), {})
    return TaskSpec(
        namespace="default",
        workflow="bench",
        node_id=f"bench-{i}",
        node_name=f"bench[0].n({i})",
        template_name="work",
        main=main,
        output_parameters={"p": "/tmp/p.txt"},
        annotations=annotations or {},
    )


async def drive(executor: TaskExecutor, tasks: list[TaskSpec], workers: int) -> dict[str, float]:
    queue = iter(tasks)
    phases: dict[str, int] = {}

    async def worker() -> None:
        for task in queue:
            result = await executor.run(task)
            phases[result.phase] = phases.get(result.phase, 0) + 1

    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {
        "nodes": len(tasks),
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "cpu_us_per_node": round(cpu / len(tasks) * 1e6, 2),
        "nodes_per_s": round(len(tasks) / wall),
        "phases": phases,  # type: ignore[dict-item]
    }


async def run(n_sim: int, n_local: int, concurrency: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    plain = [make_task(i) for i in range(n_sim)]
    annotated = [
        make_task(i, {"hookbus.io/simulate-output.p": str(i), "hookbus.io/simulate-result": "done", "hookbus.io/simulate-exit-code": str(i % 2)})
        for i in range(n_sim)
    ]
    out["simulate_plain"] = await drive(SimulateExecutor(), plain, 100)
    out["simulate_annotated"] = await drive(SimulateExecutor(), annotated, 100)
    if n_local:
        for label, isolate in (("local_auto", None), ("local_no_isolation", False)):
            with tempfile.TemporaryDirectory(prefix="hookbus-exec-bench-") as tmp:
                executor = LocalExecutor(Path(tmp), isolate=isolate)
                await executor.prepare()
                tasks = [make_task(i, script=f"echo {i} > /tmp/p.txt; echo {i}") for i in range(n_local)]
                stats = await drive(executor, tasks, concurrency)
                stats["isolated"] = executor.isolated  # type: ignore[assignment]
                out[label] = stats
                await executor.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--simulate", type=int, default=100_000)
    parser.add_argument("--local", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    configure_logging("warning")  # logs go to stderr; stdout is the JSON document
    result = asyncio.run(run(args.simulate, args.local, args.concurrency))
    result.update({"python": platform.python_version(), "cpus": os.cpu_count()})
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
