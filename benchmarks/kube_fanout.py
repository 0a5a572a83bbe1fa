"""Kubernetes mode's fan-out: pods created per second and the wait for the first pod.

    python -m benchmarks.kube_fanout [--nodes 1000] [--plugins 5] [--start-concurrency 1,32]
                                     [--compression off,on] [--api-latency-ms 0,5] [--out FILE]

One controller process in Kubernetes mode with the Kubernetes executor (embedded
nats-server, JetStream store, plugins on) follows the test API server of the tests
(``tests/support/kubeapi.py``, HTTP on loopback); the simulated kubelet
(``tests/support/kubelet.py``) ends every pod's ``main`` with exit 0 and a launcher report
as soon as it is created. *plugins* no-op plugin processes (``benchmarks.noop_plugin``) are
registered for ``pod.preCreate`` only, so every pod's real manifest goes to each of them.
One Workflow object with a steps template fanning out over *nodes* items
(``withSequence``) is created through the API, and the run is timed from that create.

Printed as JSON:

- ``first_pod_s``: from the Workflow's create to the first pod's create;
- ``pods_per_s``: pods created per second, from the first pod's create to the last;
- ``all_pods_s``, ``workflow_s``: from the create to the last pod, and to ``Succeeded``
  written on the object;
- ``pod_precreate``: the dispatcher's ``pod.preCreate`` calls (one per scheduling pass that
  had pods to create), the requests sent, ``requests_per_plugin_per_pass`` (1.0: batched,
  one request per plugin per pass), items per request, and ``call_s``: the seconds the
  controller waited for those calls, and ``first_answered_s``: from the Workflow's create to
  the end of the first call (the first pod's create follows);
- ``api_requests``: requests the API server received, by method and resource.

Variants: ``--start-concurrency`` (pods created at once, ``executor.start_concurrency``),
``--compression`` (``on``: the plugins take deflated requests; ``off``: they ask for
plain ones, as plugins without a ``compression`` manifest field) and ``--api-latency-ms``
(the API server waits that long before it handles each request, as a real one's network
round trip and storage write take time) each take a comma-separated list, and every
combination runs in turn, each in a process of its own (a run left in the same process
measured later ones slower); with more
than one, the JSON is ``{"variants": [...]}``, each result naming its variant.

The API server, the kubelet and the controller share one event loop here (the plugins are
processes of their own), so the figures include the server's own work.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.harness import fanout_workflow

ROOT = Path(__file__).resolve().parents[1]


async def run(
    nodes: int, plugins: int, start_concurrency: int | None = None, compression: bool = True, api_latency: float = 0.0
) -> dict[str, Any]:
    from benchmarks.dispatch_bench import stop_plugins
    from benchmarks.harness import issue_plugin_identities, start_noop_plugins
    from hookbus.bus import Hook
    from hookbus.bus.dispatch import Dispatcher
    from hookbus.bus.testing import wait_registered
    from hookbus.controller.app import Hookbus
    from hookbus.controller.argo.labels import INSTANCE_LABEL
    from hookbus.controller.engine.settings import ControllerSettings
    from hookbus.controller.kube.config import connect
    from hookbus.controller.kube.resources import WORKFLOWS
    from hookbus.controller.kube.settings import KubernetesSettings, LeaseSettings
    from hookbus.controller.settings import ApiSettings, ExecutorSettings, HookbusSettings
    from tests.support.kubeapi import serve
    from tests.support.kubelet import Kubelet, Outcome

    calls: Counter[str] = Counter()
    requests: Counter[str] = Counter()
    items: Counter[str] = Counter()
    seconds: Counter[str] = Counter()
    answered: list[float] = []

    class Counting(Dispatcher):
        async def call(self, hook: Any, workflow_meta: Any, batch: Any, *args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            result = await super().call(hook, workflow_meta, batch, *args, **kwargs)
            seconds[str(hook)] += time.perf_counter() - began
            if str(hook) == "pod.preCreate":
                answered.append(time.perf_counter())
            calls[str(hook)] += 1
            requests[str(hook)] += result.stats.requests
            items[str(hook)] += len(batch)
            return result

    report = '{"hookbus": 1, "exitCode": 0}'
    with tempfile.TemporaryDirectory(prefix="hookbus-kube-bench-") as tmp:
        async with serve() as api:
            settings = HookbusSettings(
                controller=ControllerSettings(max_running_nodes=10_000),
                executor=ExecutorSettings(kind="kubernetes", start_concurrency=start_concurrency),
                api=ApiSettings(enabled=False),
                state_dir=Path(tmp),
                kubernetes=KubernetesSettings(enabled=True, server=str(api.url), namespace="default", lease=LeaseSettings(enabled=False)),
            )
            settings = replace(settings, bus=replace(settings.bus, dispatch=replace(settings.bus.dispatch, default_timeout=60.0)))
            app = Hookbus(settings, dispatcher_factory=Counting)
            await app.start()
            procs: list[Any] = []
            try:
                names = [f"noop-{i}" for i in range(plugins)]
                creds = await issue_plugin_identities(app, names) if names else None
                procs = await start_noop_plugins(app.nats_url, names, ["pod.preCreate"], None, plain=not compression, creds=creds)
                if names:
                    assert app.registry is not None
                    await wait_registered(app.registry, *names, timeout=60)
                client = await connect(server=str(api.url))
                manifest = fanout_workflow("fanout", nodes)
                manifest["metadata"] = {"name": "fanout", "labels": {INSTANCE_LABEL: "hookbus"}}
                created: list[float] = []
                added: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
                store = api._store

                def recording_store(kind: Any, obj: Any, event: str) -> Any:
                    # every pod create, seen where the server stores it (no scan of the store)
                    if kind.plural == "pods" and event == "ADDED":
                        created.append(time.perf_counter())
                        added.put_nowait((obj["metadata"]["namespace"], obj["metadata"]["name"]))
                    return store(kind, obj, event)

                api._store = recording_store  # type: ignore[method-assign]
                if api_latency:
                    handle = api._handle

                    async def slow_handle(request: Any) -> Any:
                        await asyncio.sleep(api_latency)
                        return await handle(request)

                    api._handle = slow_handle  # type: ignore[method-assign]
                kubelet = Kubelet(api)

                async def run_pods() -> None:
                    while True:
                        namespace, name = await added.get()
                        kubelet.start(namespace, name)
                        kubelet.finish(namespace, name, Outcome(0, "", report))

                before = len(api.log)
                running = asyncio.create_task(run_pods())
                started = time.perf_counter()
                await client.create(WORKFLOWS, "default", manifest)
                deadline = started + 600
                while True:
                    obj = api.store.get(("workflows", "default", "fanout")) or {}
                    phase = (obj.get("status") or {}).get("phase")
                    if phase in ("Succeeded", "Failed", "Error") or time.perf_counter() > deadline:
                        break
                    await asyncio.sleep(0.05)
                ended = time.perf_counter()
                running.cancel()
                await client.close()
            finally:
                await stop_plugins(procs)
                await app.close()
            by_kind = Counter(f"{r.method} {r.plural}{'/' + r.subresource if r.subresource else ''}" for r in api.log[before:])
    hook = str(Hook.POD_PRE_CREATE)
    spread = (created[-1] - created[0]) if len(created) > 1 else 0.0
    passes = calls[hook]
    return {
        "nodes": nodes,
        "plugins": plugins,
        "start_concurrency": settings.executor.starts_at_once,
        "compression": compression,
        "api_latency_ms": round(api_latency * 1000, 3),
        "phase": phase,
        "pods": len(created),
        "first_pod_s": round(created[0] - started, 4) if created else None,
        "all_pods_s": round(created[-1] - started, 4) if created else None,
        "pods_per_s": round((len(created) - 1) / spread, 1) if spread > 0 else None,
        "workflow_s": round(ended - started, 3),
        "pod_precreate": {
            "passes": passes,
            "requests": requests[hook],
            "requests_per_plugin_per_pass": round(requests[hook] / (passes * plugins), 3) if passes and plugins else None,
            "items_per_request": round(items[hook] * plugins / requests[hook], 1) if requests[hook] else None,
            "call_s": round(seconds[hook], 4),
            "first_answered_s": round(answered[0] - started, 4) if answered else None,
        },
        "api_requests": dict(sorted(by_kind.items())),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.kube_fanout", description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=1000, help="pods in the fan-out (default: %(default)s)")
    parser.add_argument("--plugins", type=int, default=5, help="no-op plugins on pod.preCreate (default: %(default)s)")
    parser.add_argument(
        "--start-concurrency", type=_counts, default=[None], help="pods created at once, e.g. 1,32 (default: the executor's, 32)"
    )
    parser.add_argument("--compression", type=_switches, default=[True], help="plugins take deflated requests: on, off or off,on (default: on)")
    parser.add_argument(
        "--api-latency-ms", type=_numbers, default=[0], help="milliseconds the API server waits before each request, e.g. 0,5 (default: 0)"
    )
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    from hookbus.bus.log import configure

    configure("error", json=True)  # stdout carries the result alone
    variants = [
        (concurrency, compression, latency or 0)
        for latency in args.api_latency_ms
        for compression in args.compression
        for concurrency in args.start_concurrency
    ]
    if len(variants) == 1:
        concurrency, compression, latency = variants[0]
        results = [asyncio.run(run(args.nodes, args.plugins, concurrency, compression, latency / 1000))]
    else:
        results = [_run_alone(args.nodes, args.plugins, *variant) for variant in variants]
    text = json.dumps(results[0] if len(results) == 1 else {"variants": results}, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0 if all(r["phase"] == "Succeeded" for r in results) else 1


def _run_alone(nodes: int, plugins: int, concurrency: int | None, compression: bool, latency: int) -> dict[str, Any]:
    """One variant, run by this module in a process of its own."""
    command = [sys.executable, "-m", "benchmarks.kube_fanout", "--nodes", str(nodes), "--plugins", str(plugins)]
    if concurrency is not None:
        command += ["--start-concurrency", str(concurrency)]
    command += ["--compression", "on" if compression else "off", "--api-latency-ms", str(latency)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    try:
        result: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise SystemExit(f"variant {command[3:]} failed (exit {done.returncode}): {done.stderr[-2000:]}") from None
    return result


def _numbers(text: str) -> list[int | None]:
    try:
        numbers = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from None
    if any(n < 0 for n in numbers):
        raise argparse.ArgumentTypeError(f"{text!r}: no number may be negative")
    return list(numbers)


def _counts(text: str) -> list[int | None]:
    counts = _numbers(text)
    if 0 in counts:
        raise argparse.ArgumentTypeError(f"{text!r}: every number must be at least 1")
    return counts


def _switches(text: str) -> list[bool]:
    words = {"on": True, "off": False}
    if any(part not in words for part in text.split(",")):
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of on and off")
    return [words[part] for part in text.split(",")]


if __name__ == "__main__":
    sys.exit(main())
