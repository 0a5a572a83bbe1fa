"""Dispatcher throughput: one hook call of N items against P no-op plugin processes.

    python -m benchmarks.dispatch_bench [--items 100000] [--plugins 5] [--no-uvloop]

Prints one JSON document. Variants run in the same process tree, against the
same embedded nats-server, one after another:

- ``batched``: hookbus as designed (requests of up to max_batch items and about
  the dispatcher's request_bytes, several in flight);
- ``per_call``: the same plugins with max_batch 1 (one request per item per
  plugin), same in-flight limit; run on fewer items and reported per item;
- ``sequential``: max_batch 1 and one request in flight at a time.

``decisions_per_s`` is items x plugins over the seconds spent inside the hook
call (the dispatcher's ``busy_s``). ``cpu_s`` splits the CPU time the call cost
between the controller (this process), the plugin processes and nats-server:
on a shared machine it is steadier than wall time. Plugins run on uvloop
unless ``HOOKBUS_UVLOOP=0``; the controller too unless ``--no-uvloop``.
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
from typing import TYPE_CHECKING, Any

from hookbus.bus import DispatchSettings, EmbeddedServer, Hook, NatsSettings
from hookbus.bus.connection import connect
from hookbus.bus.dispatch import Dispatcher
from hookbus.bus.log import configure
from hookbus.bus.loop import loop_factory, loop_name, run
from hookbus.bus.registry import RegistryView
from hookbus.bus.testing import wait_registered

if TYPE_CHECKING:
    from collections.abc import Mapping

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


def plugin_env(name: str, creds: Mapping[str, Path] | None) -> dict[str, str]:
    """The environment of plugin process *name*: this one's, with its credentials file
    (``HOOKBUS_NATS_CREDS``, read by the SDK) when *creds* has one for it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("HOOKBUS_NATS_CREDS", None)
    if creds and name in creds:
        env["HOOKBUS_NATS_CREDS"] = str(creds[name])
    return env


async def start_plugins(
    url: str, names: list[str], max_batch: int | None, *, creds: Mapping[str, Path] | None = None
) -> list[asyncio.subprocess.Process]:
    """Start no-op plugin processes (*creds*: each one's credentials file, by name)."""
    procs = []
    for name in names:
        args = [sys.executable, "-m", "benchmarks.noop_plugin", name, url]
        if max_batch:
            args.append(f"--max-batch={max_batch}")
        procs.append(await asyncio.create_subprocess_exec(*args, cwd=ROOT, env=plugin_env(name, creds)))
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


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process *pid* so far (Linux /proc; 0.0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def variant(
    url: str, server_pid: int | None, name: str, n: int, plugins: int, max_batch: int | None, settings: DispatchSettings
) -> dict[str, Any]:
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
        await dispatcher.call(Hook.NODE_PRE_EXECUTE, {"name": "wf", "namespace": "default"}, batch[:1000])  # warm up
        plugin_cpu = sum(cpu_seconds(p.pid) for p in procs)
        server_cpu = cpu_seconds(server_pid) if server_pid else 0.0
        own_cpu = time.process_time()
        started = time.perf_counter()
        result = await dispatcher.call(Hook.NODE_PRE_EXECUTE, {"name": "wf", "namespace": "default"}, batch)
        wall = time.perf_counter() - started
        own_cpu = time.process_time() - own_cpu
        plugin_cpu = sum(cpu_seconds(p.pid) for p in procs) - plugin_cpu
        server_cpu = (cpu_seconds(server_pid) if server_pid else 0.0) - server_cpu
        assert len(result) == n and result.stats.failures == 0, result.stats
        busy = result.stats.busy_s or wall
        decisions = n * plugins
        return {
            "items": n,
            "plugins": plugins,
            "wall_s": round(wall, 4),
            "busy_s": round(busy, 4),
            "decisions_per_s": round(decisions / busy),
            "us_per_item": round(busy / n * 1e6, 2),
            "requests": result.stats.requests,
            "cpu_s": {
                "controller": round(own_cpu, 3),
                "plugins": round(plugin_cpu, 3),
                "nats_server": round(server_cpu, 3),
                "us_per_decision": round((own_cpu + plugin_cpu + server_cpu) / decisions * 1e6, 2),
            },
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
                "loop": {"controller": loop_name(), "plugins": "uvloop" if loop_factory() else "asyncio"},
                "variants": {},
            }
            pid = server.pid
            out["variants"]["batched"] = await variant(server.url, pid, "batched", args.items, args.plugins, None, base)
            out["variants"]["per_call"] = await variant(
                server.url, pid, "per_call", args.per_call_items, args.plugins, 1, replace(base, max_batch=1)
            )
            out["variants"]["sequential"] = await variant(
                server.url, pid, "sequential", args.sequential_items, args.plugins, 1, replace(base, max_batch=1, max_in_flight=1)
            )
            b, p, s = (out["variants"][v] for v in ("batched", "per_call", "sequential"))
            out["batched_vs_per_call_per_item"] = round(p["us_per_item"] / b["us_per_item"], 1)
            out["batched_vs_sequential_per_item"] = round(s["us_per_item"] / b["us_per_item"], 1)
            return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--per-call-items", type=int, default=5_000)
    parser.add_argument("--sequential-items", type=int, default=500)
    parser.add_argument("--plugins", type=int, default=5)
    parser.add_argument("--in-flight", type=int, default=8)
    parser.add_argument("--no-uvloop", action="store_true", help="run the controller side on the standard asyncio loop")
    args = parser.parse_args()
    configure("warning")  # logs to stderr: stdout carries the JSON document only
    print(json.dumps(run(main_async(args), fast=not args.no_uvloop), indent=2))


if __name__ == "__main__":
    main()
