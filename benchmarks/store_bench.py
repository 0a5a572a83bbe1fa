"""Durable store throughput: put_nodes of N nodes (~300 B each) and load_all, on an embedded nats-server.

    python -m benchmarks.store_bench [--nodes 100000] [--batch 0]

Prints one JSON document. ``--batch`` splits the writes into put_nodes calls of
that many nodes (0: one call, as the first pass of a huge fan-out would do).
A second variant writes the same nodes in passes of 1000, like a running
workflow whose scheduling passes each finish a slice of its nodes.

A third variant, ``chunks_of_1000``, is the layout the store did not pick:
the same nodes packed 1000 to a KV value (~290 kB), written and read back raw.
It is several times faster per node, but a pass that changes a few nodes would
rewrite whole chunks (or need a log-structured layout with compaction), so the
store keeps one key per node while that cost stays within its budget.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
from typing import Any

import ormsgpack

from hookbus.bus import EmbeddedServer, NatsSettings
from hookbus.bus.connection import connect
from hookbus.bus.log import configure as configure_logging
from hookbus.controller.adapters.store import WorkflowKey, WorkflowStore


def make_nodes(workflow: str, n: int) -> dict[str, dict[str, Any]]:
    nodes = {}
    for i in range(n):
        node_id = f"{workflow}-{1000000000 + i * 7919}"
        nodes[node_id] = {
            "id": node_id,
            "name": f"{workflow}[0].fan-out({i}:{i})",
            "displayName": f"fan-out({i}:{i})",
            "type": "Pod",
            "templateName": "work",
            "phase": "Succeeded",
            "boundaryID": workflow,
            "startedAt": "2026-11-27T00:00:00Z",
            "finishedAt": "2026-11-27T00:00:01Z",
            "progress": "1/1",
            "outputs": {"result": f"item {i} done", "exitCode": "0"},
            "hostNodeName": "local",
        }
    return nodes


async def run(n: int, batch: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="hookbus-store-bench-") as tmp:
        async with EmbeddedServer(store_dir=tmp) as server:
            nc = await connect(NatsSettings(urls=(server.url,)))
            try:
                store = WorkflowStore(nc.jetstream(), timeout=30.0)
                await store.open()
                key = WorkflowKey("default", "bench-wf")
                nodes = make_nodes(key.name, n)
                sizes = [len(ormsgpack.packb(v)) for v in list(nodes.values())[:1000]]
                rev = await store.put_workflow(key, {"metadata": {"name": key.name, "namespace": key.namespace}, "spec": {}}, 0)

                items = list(nodes.items())
                step = batch or n
                cpu0, t0 = time.process_time(), time.perf_counter()
                for start in range(0, n, step):
                    await store.put_nodes(key, dict(items[start : start + step]), rev)
                put_s = time.perf_counter() - t0
                put_cpu = time.process_time() - cpu0

                key2 = WorkflowKey("default", "bench-wf-passes")
                rev2 = await store.put_workflow(key2, {"metadata": {"name": key2.name}}, 0)
                t0 = time.perf_counter()
                for start in range(0, n, 1000):
                    await store.put_nodes(key2, dict(items[start : start + 1000]), rev2)
                passes_s = time.perf_counter() - t0

                cpu0, t0 = time.process_time(), time.perf_counter()
                loaded = await store.load_all()
                load_all_s = time.perf_counter() - t0
                load_cpu = time.process_time() - cpu0
                t0 = time.perf_counter()
                one = await store.load(key)
                load_one_s = time.perf_counter() - t0
                assert one is not None and len(one.nodes) == n
                assert sorted(len(w.nodes) for w in loaded) == [n, n]
                t0 = time.perf_counter()
                await store.delete(key, rev)
                delete_s = time.perf_counter() - t0

                kv = await nc.jetstream().create_key_value(bucket="bench-chunks")
                t0 = time.perf_counter()
                for start in range(0, n, 1000):
                    await kv.put(f"chunk.{start // 1000}", ormsgpack.packb(dict(items[start : start + 1000])))
                chunk_put_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                back: dict[str, Any] = {}
                for name in await kv.keys():
                    entry = await kv.get(name)
                    back.update(ormsgpack.unpackb(entry.value or b"\x80"))
                chunk_load_s = time.perf_counter() - t0
                assert len(back) == n
            finally:
                await nc.close()
    return {
        "nodes": n,
        "node_bytes_msgpack_avg": round(sum(sizes) / len(sizes)),
        "put_nodes_s": round(put_s, 3),
        "put_nodes_per_s": round(n / put_s),
        "put_nodes_client_cpu_s": round(put_cpu, 3),
        "put_nodes_in_passes_of_1000_s": round(passes_s, 3),
        "load_all_s (2 workflows, 2N nodes)": round(load_all_s, 3),
        "load_all_client_cpu_s": round(load_cpu, 3),
        "load_one_s": round(load_one_s, 3),
        "delete_s": round(delete_s, 3),
        "chunks_of_1000": {"put_s": round(chunk_put_s, 3), "load_s": round(chunk_load_s, 3)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=0)
    args = parser.parse_args()
    configure_logging("warning")  # logs go to stderr; stdout is the JSON document
    result = asyncio.run(run(args.nodes, args.batch))
    result.update({"python": platform.python_version(), "cpus": os.cpu_count()})
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
