"""Engine benchmark: one workflow of N simulated nodes (``withSequence``), end to end.

Prints one JSON object per variant: wall seconds, nodes/s, peak RSS, and the store
used (``memory``: the engine alone; ``jetstream``: the durable KV store on an
embedded nats-server). Run: ``python benchmarks/engine_bench.py --nodes 100000``, or
``--sizes 25000,50000,100000`` for one fresh process per size (linearity check).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hookbus.bus.log import configure as configure_logging
from hookbus.controller.engine.controller import Controller
from hookbus.controller.engine.memory_store import MemoryStore
from hookbus.controller.engine.settings import ControllerSettings
from hookbus.controller.executors.registry import make_executor


def workflow(nodes: int, shape: str) -> dict[str, Any]:
    """A steps (or DAG) workflow fanning out to *nodes* simulated pods."""
    work = {"name": "work", "container": {"image": "alpine", "command": ["true"]}}
    if shape == "dag":
        main: dict[str, Any] = {
            "name": "main",
            "dag": {"tasks": [{"name": "fan", "template": "work", "withSequence": {"count": str(nodes)}}]},
        }
    else:
        main = {"name": "main", "steps": [[{"name": "fan", "template": "work", "withSequence": {"count": str(nodes)}}]]}
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": f"bench-{shape}"},
        "spec": {"entrypoint": "main", "templates": [main, work]},
    }


async def run(nodes: int, store_kind: str, shape: str, running: int) -> dict[str, Any]:
    settings = ControllerSettings(executor="simulate", max_running_nodes=running)
    server = None
    nc = None
    store: Any
    tmp = tempfile.TemporaryDirectory()
    if store_kind == "jetstream":
        from hookbus.bus import EmbeddedServer, NatsSettings
        from hookbus.bus.connection import connect
        from hookbus.controller.adapters.store import WorkflowStore

        server = EmbeddedServer(store_dir=Path(tmp.name) / "nats")
        await server.start()
        nc = await connect(NatsSettings(urls=(server.url,)))
        store = WorkflowStore(nc.jetstream(), bucket="bench")
    else:
        store = MemoryStore()
    started = time.perf_counter()
    executor = lambda: make_executor(settings.executor, state_dir=settings.state_dir)  # noqa: E731
    async with Controller(settings, store=store, executor=executor) as ctl:
        key = await ctl.submit(workflow(nodes, shape))
        final = await ctl.wait(key)
    seconds = time.perf_counter() - started
    phase = final["status"]["phase"]
    count = len(final["status"]["nodes"])
    if nc is not None:
        await store.close()
        await nc.close()
    if server is not None:
        await server.stop()
    tmp.cleanup()
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "benchmark": "engine",
        "shape": shape,
        "store": store_kind,
        "pods": nodes,
        "nodes": count,
        "phase": phase,
        "seconds": round(seconds, 3),
        "nodes_per_s": round(count / seconds, 1),
        "peak_rss_mb": round(rss_kb / 1024, 1),
        "max_running_nodes": running,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--store", choices=["memory", "jetstream"], default="memory")
    parser.add_argument("--shape", choices=["steps", "dag"], default="steps")
    parser.add_argument("--running", type=int, default=1000, help="max_running_nodes")
    parser.add_argument(
        "--sizes",
        help="comma-separated node counts: one fresh process per size (peak RSS per size), "
        "to check that time and memory grow linearly",
    )
    args = parser.parse_args(argv)
    configure_logging("warning")  # logs go to stderr; stdout is the JSON document
    if args.sizes:
        import subprocess

        ok = True
        for size in (int(x) for x in args.sizes.split(",")):
            cmd = [sys.executable, __file__, "--nodes", str(size), "--store", args.store,
                   "--shape", args.shape, "--running", str(args.running)]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
            print(lines[-1] if lines else json.dumps({"pods": size, "error": done.stderr[-300:]}))
            ok = ok and done.returncode == 0
        return 0 if ok else 1
    result = asyncio.run(run(args.nodes, args.store, args.shape, args.running))
    print(json.dumps(result))
    return 0 if result["phase"] == "Succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
