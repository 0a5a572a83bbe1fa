"""Dispatcher throughput: one hook call of N items against P no-op plugin processes.

    python -m benchmarks.dispatch_bench [--items 100000] [--plugins 5] [--no-uvloop] [--auth on|off|on,off]

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

The nats-server requires an identity of every client, as ``hookbus server`` starts it
(the controller side connects as ``controller``, each plugin process as its own plugin
identity); ``--auth off`` starts it without authentication. ``--auth on,off`` runs every
variant against a server with authentication and one without, ``--auth-pairs`` times
each, alternated (on, off; then off, on; ...), and reports each variant's runs, their
medians and ``on_vs_off`` (the median with authentication over the one without).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
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


VARIANTS = ("batched", "per_call", "sequential")


def plugin_names(variant_name: str, plugins: int) -> list[str]:
    """The plugin processes of one variant (each variant has its own)."""
    return [f"{variant_name.replace('_', '-')}-{i}" for i in range(plugins)]


async def variant(
    url: str,
    server_pid: int | None,
    name: str,
    n: int,
    plugins: int,
    max_batch: int | None,
    settings: DispatchSettings,
    *,
    creds: Mapping[str, Path] | None = None,
    controller_creds: Path | None = None,
) -> dict[str, Any]:
    """One hook call of *n* items against this variant's own *plugins* processes (*creds*:
    their credentials files; *controller_creds*: the controller side's, on a server with
    authentication)."""
    names = plugin_names(name, plugins)
    nats = NatsSettings(urls=(url,), name=f"bench-{name}", creds_file=str(controller_creds) if controller_creds else None)
    nc = await connect(nats)
    registry = RegistryView(nc.jetstream())
    procs: list[asyncio.subprocess.Process] = []
    try:
        await registry.start()  # creates the registry bucket, which a plugin identity may not
        procs = await start_plugins(url, names, max_batch, creds=creds)
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


async def run_variants(args: argparse.Namespace, auth: bool) -> dict[str, Any]:
    """Every variant against a fresh embedded nats-server (*auth*: requiring identities)."""
    from hookbus.bus.auth import CONTROLLER, AuthDir

    with tempfile.TemporaryDirectory(prefix="hookbus-bench-") as tmp:
        identities = AuthDir(Path(tmp) / "auth").ensure() if auth else None
        creds: dict[str, Path] = {}
        if identities is not None:  # issued before the server starts: no reload needed
            for name in (n for v in VARIANTS for n in plugin_names(v, args.plugins)):
                identities.plugin(name)
                creds[name] = identities.plugin_file(name)
        include = identities.config_file if identities is not None else None
        async with EmbeddedServer(store_dir=Path(tmp) / "nats", include=include) as server:
            base = DispatchSettings(max_in_flight=args.in_flight)
            sizes = {"batched": (args.items, None, base), "per_call": (args.per_call_items, 1, replace(base, max_batch=1))}
            sizes["sequential"] = (args.sequential_items, 1, replace(base, max_batch=1, max_in_flight=1))
            controller = identities.role_file(CONTROLLER) if identities is not None else None
            out: dict[str, Any] = {"auth": "on" if auth else "off", "variants": {}}
            for name in VARIANTS:
                n, max_batch, settings = sizes[name]
                out["variants"][name] = await variant(
                    server.url, server.pid, name, n, args.plugins, max_batch, settings, creds=creds, controller_creds=controller
                )
            b, p, s = (out["variants"][v] for v in VARIANTS)
            out["batched_vs_per_call_per_item"] = round(p["us_per_item"] / b["us_per_item"], 1)
            out["batched_vs_sequential_per_item"] = round(s["us_per_item"] / b["us_per_item"], 1)
            return out


COMPARED = ("decisions_per_s", "us_per_item", "busy_s", "wall_s")
"""The figures ``--auth on,off`` puts side by side (and the CPU per decision)."""


def _medians(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for name in VARIANTS:
        rows = [r["variants"][name] for r in runs]
        out[name] = {f: round(statistics.median(row[f] for row in rows), 4) for f in COMPARED}
        out[name]["cpu_us_per_decision"] = round(statistics.median(row["cpu_s"]["us_per_decision"] for row in rows), 3)
    return out


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {
        "benchmark": "dispatch",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "loop": {"controller": loop_name(), "plugins": "uvloop" if loop_factory() else "asyncio"},
    }
    order = args.auth_order
    if len(order) == 1:
        return {**out, **await run_variants(args, order[0])}
    runs: dict[str, list[dict[str, Any]]] = {"on": [], "off": []}
    for pair in range(args.auth_pairs):
        for auth in order if pair % 2 == 0 else order[::-1]:
            result = await run_variants(args, auth)
            runs[result["auth"]].append({"pair": pair + 1, **result})
    medians = {setting: _medians(rows) for setting, rows in runs.items()}
    on_vs_off = {
        name: {f: round(medians["on"][name][f] / medians["off"][name][f], 3) if medians["off"][name][f] else None for f in medians["on"][name]}
        for name in VARIANTS
    }
    comparison = {"order": ["on" if a else "off" for a in order], "pairs": args.auth_pairs, "median": medians, "on_vs_off": on_vs_off, "runs": runs}
    return {**out, "auth_comparison": comparison}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--per-call-items", type=int, default=5_000)
    parser.add_argument("--sequential-items", type=int, default=500)
    parser.add_argument("--plugins", type=int, default=5)
    parser.add_argument("--in-flight", type=int, default=8)
    parser.add_argument("--no-uvloop", action="store_true", help="run the controller side on the standard asyncio loop")
    parser.add_argument("--auth", default="on", help="on (default), off, or on,off / off,on: both, alternated")
    parser.add_argument("--auth-pairs", type=int, default=2, help="with --auth on,off: runs with each setting (2)")
    args = parser.parse_args()
    from benchmarks.auth_compare import parse_auth

    try:
        args.auth_order = parse_auth(args.auth)
    except ValueError as exc:
        parser.error(str(exc))
    if args.auth_pairs < 1:
        parser.error("--auth-pairs must be at least 1")
    configure("warning")  # logs to stderr: stdout carries the JSON document only
    print(json.dumps(run(main_async(args), fast=not args.no_uvloop), indent=2))


if __name__ == "__main__":
    main()
