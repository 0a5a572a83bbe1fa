"""Dispatcher throughput: one hook call of N items against P no-op plugin processes.

    python -m benchmarks.dispatch_bench [--items 100000] [--plugins 5]

Prints one JSON document. Variants run in the same process tree, against the
same embedded nats-server, one after another:

- ``batched``: hookbus as designed (up to max_batch items per request);
- ``per_call``: the same plugins with max_batch 1 (one request per item per
  plugin), same in-flight limit; run on fewer items and reported per item.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from hookbus.bus import DispatchSettings, EmbeddedServer, Hook, NatsSettings
from hookbus.bus.connection import connect
from hookbus.bus.dispatch import Dispatcher
from hookbus.bus.log import configure
from hookbus.bus.registry import RegistryView
from hookbus.bus.testing import wait_registered

ROOT = Path(__file__).resolve().parent.parent


def items(n: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"wf-{i}",
            "node": {"id": f"wf-{i}", "name": f"wf[0].step({i}:{i})", "type": "Pod", "templateName": "work", "phase": "Pending"},
            "template": {"name": "work", "container": {"image": "alpine:3.23", "command": ["sh", "-c"], "args": ["echo hi"]}},
        }
        for i in range(n)
    ]


async def start_plugins(url: str, names: list[str], max_batch: int | None) -> list[asyncio.subprocess.Process]:
    procs = []
    for name in names:
        args = [sys.executable, "-m", "benchmarks.noop_plugin", name, url]
        if max_batch:
            args.append(f"--max-batch={max_batch}")
        procs.append(await asyncio.create_subprocess_exec(*args, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}))
    return procs


async def stop_plugins(procs: list[asyncio.subprocess.Process]) -> None:
    for proc in procs:
        if proc.returncode is None:
            proc.terminate()
    for proc in procs:
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def variant(url: str, name: str, n: int, plugins: int, max_batch: int | None, settings: DispatchSettings) -> dict[str, Any]:
    names = [f"{name.replace('_', '-')}-{i}" for i in range(plugins)]
    procs = await start_plugins(url, names, max_batch)
    nc = await connect(NatsSettings(urls=(url,), name=f"bench-{name}"))
    registry = RegistryView(nc.jetstream())
    try:
        await registry.start()
        await wait_registered(registry, *names, timeout=30)
        # Only this variant's plugins are live for the call.
        dispatcher = Dispatcher(nc, registry, settings)
        batch = items(n)
        await dispatcher.call(Hook.NODE_PRE_EXECUTE, {"name": "wf", "namespace": "default"}, batch[:100])  # warm up
        started = time.perf_counter()
        result = await dispatcher.call(Hook.NODE_PRE_EXECUTE, {"name": "wf", "namespace": "default"}, batch)
        wall = time.perf_counter() - started
        assert len(result) == n and result.stats.failures == 0, result.stats
        decisions = n * plugins
        return {
            "items": n,
            "plugins": plugins,
            "wall_s": round(wall, 4),
            "decisions_per_s": round(decisions / wall),
            "us_per_item": round(wall / n * 1e6, 2),
            "requests": result.stats.requests,
        }
    finally:
        await registry.stop()
        await nc.close()
        await stop_plugins(procs)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="hookbus-bench-") as tmp:
        async with EmbeddedServer(store_dir=tmp) as server:
            base = DispatchSettings(max_in_flight=args.in_flight)
            out: dict[str, Any] = {
                "benchmark": "dispatch",
                "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
                "variants": {},
            }
            out["variants"]["batched"] = await variant(server.url, "batched", args.items, args.plugins, None, base)
            out["variants"]["per_call"] = await variant(
                server.url, "per_call", args.per_call_items, args.plugins, 1, replace(base, max_batch=1)
            )
            b, p = out["variants"]["batched"], out["variants"]["per_call"]
            out["batched_vs_per_call_per_item"] = round(p["us_per_item"] / b["us_per_item"], 1)
            return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--per-call-items", type=int, default=5_000)
    parser.add_argument("--plugins", type=int, default=5)
    parser.add_argument("--in-flight", type=int, default=8)
    args = parser.parse_args()
    configure("warning")  # logs to stderr: stdout carries the JSON document only
    print(json.dumps(asyncio.run(main_async(args)), indent=2))


if __name__ == "__main__":
    main()
