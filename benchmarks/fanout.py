"""Fan-out: one workflow of N simulated nodes, P no-op plugin processes, events counted.

    python -m benchmarks.fanout                    # every variant, JSON on stdout
    python -m benchmarks.fanout --nodes 1000 --variants plugins0,batched

Each variant runs in a fresh child process (so its peak RSS is the controller's own:
the engine, the dispatcher, the event publisher and a small event counter), with a
fresh embedded nats-server and P plugin processes registered for ``node.preExecute``
and ``pod.preCreate`` that answer "no opinion". The workflow is a steps template
with ``withSequence`` over N items under the ``simulate`` executor.

Variants:

- ``plugins0``: no plugins (the engine's own cost);
- ``batched``: hookbus as designed;
- ``per_call``: the same plugins with ``maxBatch: 1`` (one request per node per plugin),
  the same in-flight limit; run on ``--per-call-nodes`` and reported per node;
- ``per_call_sequential``: one request at a time, plugin after plugin (in-flight 1,
  ``maxBatch`` 1), as the 2021 in-process design would; run on ``--sequential-nodes``;
- ``codec_floor``: encoding and decoding the same number of records in process, no
  network: the floor of any design on this machine.

Per variant: wall seconds (submit to Succeeded), seconds until the event counter saw
every node's final event, plugin decisions per second, microseconds of hook overhead
per node over ``plugins0``, peak RSS, and events received versus expected.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HOOKS = ("node.preExecute", "pod.preCreate")


def workflow(nodes: int) -> dict[str, Any]:
    work = {"name": "work", "container": {"image": "alpine", "command": ["true"]}}
    main = {"name": "main", "steps": [[{"name": "fan", "template": "work", "withSequence": {"count": str(nodes)}}]]}
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "fanout"},
        "spec": {"entrypoint": "main", "templates": [main, work]},
    }


async def run_variant(variant: str, nodes: int, plugins: int, in_flight: int) -> dict[str, Any]:
    """One variant, in this process: returns its measurements."""
    from benchmarks.dispatch_bench import start_plugins, stop_plugins
    from hookbus.bus import DispatchSettings, EmbeddedServer, NatsSettings, RegistrySettings
    from hookbus.bus.connection import connect
    from hookbus.bus.dispatch import Dispatcher
    from hookbus.bus.events import EventPublisher, PublisherSink
    from hookbus.bus.registry import RegistryView
    from hookbus.bus.settings import EventSettings
    from hookbus.bus.testing import wait_registered
    from hookbus.controller.engine.controller import Controller
    from hookbus.controller.engine.settings import ControllerSettings
    from hookbus.controller.plugin_hooks import PluginHooks
    from hookbus.controller.store import WorkflowStore

    n_plugins = 0 if variant == "plugins0" else plugins
    max_batch = 1 if variant.startswith("per_call") else None
    dispatch = DispatchSettings(default_timeout=60.0, max_in_flight=1 if variant == "per_call_sequential" else in_flight)
    if max_batch:
        dispatch = replace(dispatch, max_batch=1)
    with tempfile.TemporaryDirectory(prefix="hookbus-fanout-") as tmp:
        async with EmbeddedServer(store_dir=Path(tmp) / "nats", max_payload=8 * 1024 * 1024) as server:
            names = [f"noop-{i}" for i in range(n_plugins)]
            procs = await start_plugins(server.url, names, max_batch)
            nc = await connect(NatsSettings(urls=(server.url,), name="fanout-controller"))
            counter_nc = await connect(NatsSettings(urls=(server.url,), name="fanout-counter"))
            registry = RegistryView(nc.jetstream(), RegistrySettings())
            publisher = EventPublisher(nc, EventSettings())
            finals: set[str] = set()
            expected: set[str] = set()
            all_in = asyncio.Event()
            received = 0

            async def count(msg: Any) -> None:
                nonlocal received
                received += 1
                if msg.subject.endswith((".Succeeded", ".Failed", ".Error")):
                    finals.add(msg.headers.get("ce-subject", "") if msg.headers else "")
                    if expected and expected <= finals:
                        all_in.set()

            sub = await counter_nc.subscribe("hookbus.event.v1.default.fanout.node.>", cb=count)
            try:
                await registry.start()
                if names:
                    await wait_registered(registry, *names, timeout=60)
                await publisher.start()
                dispatcher = Dispatcher(nc, registry, dispatch)
                controller = Controller(
                    ControllerSettings(executor="simulate", max_running_nodes=10_000),
                    store=WorkflowStore(nc.jetstream()),
                    hooks=PluginHooks(dispatcher, events=publisher),
                    events=PublisherSink(publisher),
                )
                await controller.start()
                started = time.perf_counter()
                key = await controller.submit(workflow(nodes))
                done = await controller.wait(key, timeout=1800)
                wall = time.perf_counter() - started
                status = done["status"]
                expected.update(f"nodes/{node_id}" for node_id in status["nodes"])
                if expected <= finals:
                    all_in.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(all_in.wait(), 600)
                events_wall = time.perf_counter() - started
                pods = sum(1 for n in status["nodes"].values() if n["type"] == "Pod")
                await controller.stop()
                stats = dispatcher.stats
            finally:
                await sub.unsubscribe()
                await publisher.close()
                await registry.stop()
                await counter_nc.close()
                await nc.close()
                await stop_plugins(procs)
    decisions = pods * n_plugins * len(HOOKS)
    return {
        "variant": variant,
        "nodes": pods,
        "plugins": n_plugins,
        "phase": status["phase"],
        "wall_s": round(wall, 3),
        "events_wall_s": round(events_wall, 3),
        "decisions": decisions,
        "decisions_per_s": round(decisions / wall) if decisions else 0,
        "requests": stats.requests,
        "us_per_node": round(wall / max(pods, 1) * 1e6, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "final_events_expected": len(expected),
        "final_events_received": len(expected & finals),
        "events_received": received,
        "events_lost": len(expected - finals),
    }


def codec_floor(nodes: int, plugins: int) -> dict[str, Any]:
    """In-process msgpack encode + decode of the records the batched variant moves."""
    import ormsgpack

    from benchmarks.dispatch_bench import items

    batch = items(1000)
    records = nodes * plugins * len(HOOKS)
    started = time.perf_counter()
    for _ in range(max(1, records // 1000)):
        ormsgpack.unpackb(ormsgpack.packb({"v": 1, "items": batch}))
    wall = time.perf_counter() - started
    return {"variant": "codec_floor", "records": records, "wall_s": round(wall, 3), "records_per_s": round(records / wall)}


def child(variant: str, nodes: int, plugins: int, in_flight: int) -> dict[str, Any]:
    """Run one variant in a fresh interpreter; its last stdout line is the JSON result."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.fanout", "--child", variant, "--nodes", str(nodes), "--plugins", str(plugins), "--in-flight", str(in_flight)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "HOOKBUS_LOG_LEVEL": "error"},
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"variant {variant} failed ({out.returncode}): {out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--per-call-nodes", type=int, default=10_000)
    parser.add_argument("--sequential-nodes", type=int, default=1_000)
    parser.add_argument("--plugins", type=int, default=5)
    parser.add_argument("--in-flight", type=int, default=8)
    parser.add_argument("--variants", default="plugins0,batched,per_call,per_call_sequential,codec_floor")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        from hookbus.bus.log import configure

        configure("error", json=True)
        print(json.dumps(asyncio.run(run_variant(args.child, args.nodes, args.plugins, args.in_flight))))
        return
    sizes = {"per_call": args.per_call_nodes, "per_call_sequential": args.sequential_nodes}
    results: dict[str, Any] = {}
    for variant in args.variants.split(","):
        if variant == "codec_floor":
            results[variant] = codec_floor(args.nodes, args.plugins)
        else:
            results[variant] = child(variant, sizes.get(variant, args.nodes), args.plugins, args.in_flight)
    base = results.get("plugins0")
    for result in results.values():
        if base and "us_per_node" in result and result is not base:
            result["hook_overhead_us_per_node"] = round(result["us_per_node"] - base["us_per_node"], 1)
    report = {
        "benchmark": "fanout",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "variants": results,
    }
    batched = results.get("batched")
    if batched:
        for other in ("per_call", "per_call_sequential"):
            if other in results:
                report[f"batched_vs_{other}_per_node"] = round(results[other]["us_per_node"] / max(batched["us_per_node"], 0.001), 1)
        if base:
            report["batched_vs_plugins0_wall"] = round(batched["wall_s"] / max(base["wall_s"], 0.001), 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
