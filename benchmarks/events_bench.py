"""Event publishing throughput: N node events through JetStream, variants compared in one run.

    python -m benchmarks.events_bench [--events 20000]

Prints one JSON document. Every variant publishes the same CloudEvents (new
ids per variant, so deduplication does not help) to the same embedded
nats-server, one after another:

- ``publisher``: :class:`EventPublisher` as shipped (``publish`` then ``flush``):
  events waiting together go out as JetStream atomic batches (``batches``: how
  many were committed); ``caller_us_per_event`` is the time the caller (the
  controller) spends in ``publish``, the only cost on the reconcile path;
  ``process_cpu_us_per_event`` is this process's CPU time per event (caller,
  background task and acknowledgements);
- ``publisher_one_by_one``: the same with ``batch_size=1`` (one acknowledgement per event);
- ``publisher_window_<n>``: the same with another unacknowledged-publish window;
- ``raw_publish_async``: ``js.publish_async`` in a loop, then waiting for all
  acks: the client's ceiling for this design;
- ``raw_workers_<n>``: n coroutines each awaiting ``js.publish``: the other design;
- ``progress``: ``publish_progress`` for 100 workflows, N updates in all
  (coalesced; reports how many messages were actually written).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from hookbus.bus import EmbeddedServer, EventSettings, NatsSettings, subjects
from hookbus.bus.connection import connect
from hookbus.bus.events import CloudEvent, EventPublisher, ensure_streams, node_event
from hookbus.bus.log import configure as configure_logging

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js.client import JetStreamContext


def make_events(n: int, tag: str) -> list[CloudEvent]:
    events = []
    for i in range(n):
        node = {
            "id": f"bench-{i}",
            "name": f"bench[0].step({i}:{i})",
            "displayName": f"step({i}:{i})",
            "type": "Pod",
            "templateName": "work",
            "phase": "Succeeded",
            "startedAt": "2026-01-01T00:00:00Z",
            "finishedAt": "2026-01-01T00:00:01Z",
        }
        events.append(node_event("default", f"bench-{i % 50}", tag, node))
    return events


async def stored(js: JetStreamContext) -> int:
    return int((await js.stream_info(subjects.EVENTS_STREAM)).state.messages)


async def run_publisher(nc: Client, settings: EventSettings, events: list[CloudEvent]) -> dict[str, Any]:
    js = nc.jetstream()
    await js.purge_stream(subjects.EVENTS_STREAM)
    async with EventPublisher(nc, settings) as publisher:
        caller = 0.0
        cpu = time.process_time()
        start = time.perf_counter()
        for event in events:
            t = time.perf_counter()
            await publisher.publish(event)
            caller += time.perf_counter() - t
        await publisher.flush(timeout=300)
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu
        stats = publisher.stats
    return {
        "events_per_s": round(len(events) / elapsed),
        "caller_us_per_event": round(caller / len(events) * 1e6, 2),
        "process_cpu_us_per_event": round(cpu / len(events) * 1e6, 2),
        "batches": stats.batches,
        "seconds": round(elapsed, 3),
        "stored": await stored(js),
        "failed_attempts": stats.failed_attempts,
    }


async def run_raw_async(nc: Client, events: list[CloudEvent]) -> dict[str, Any]:
    js = nc.jetstream()
    await js.purge_stream(subjects.EVENTS_STREAM)
    start = time.perf_counter()
    for event in events:
        await js.publish_async(event.subject, event.body(), headers=event.headers())
    await js.publish_async_completed()
    elapsed = time.perf_counter() - start
    return {"events_per_s": round(len(events) / elapsed), "seconds": round(elapsed, 3), "stored": await stored(js)}


async def run_raw_workers(nc: Client, events: list[CloudEvent], workers: int) -> dict[str, Any]:
    js = nc.jetstream()
    await js.purge_stream(subjects.EVENTS_STREAM)
    queue = list(reversed(events))

    async def worker() -> None:
        while queue:
            event = queue.pop()
            await js.publish(event.subject, event.body(), timeout=10, headers=event.headers())

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    elapsed = time.perf_counter() - start
    return {"events_per_s": round(len(events) / elapsed), "seconds": round(elapsed, 3), "stored": await stored(js)}


async def run_progress(nc: Client, settings: EventSettings, n: int) -> dict[str, Any]:
    async with EventPublisher(nc, settings) as publisher:
        start = time.perf_counter()
        for i in range(n):
            publisher.publish_progress("default", f"bench-{i % 100}", {"done": i // 100, "total": n // 100})
            if i % 1000 == 999:
                await asyncio.sleep(0)  # the controller yields between passes
        await publisher.flush(timeout=300)
        elapsed = time.perf_counter() - start
        stats = publisher.stats
    return {
        "updates_per_s": round(n / elapsed),
        "seconds": round(elapsed, 3),
        "messages_written": stats.published + stats.duplicates,
        "coalesced": stats.coalesced,
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    settings = EventSettings()
    results: dict[str, Any] = {}
    async with EmbeddedServer() as server:
        nc = await connect(NatsSettings(urls=(server.url,)))
        try:
            await ensure_streams(nc.jetstream(), settings)
            results["publisher"] = await run_publisher(nc, settings, make_events(args.events, "v1"))
            results["publisher_one_by_one"] = await run_publisher(
                nc, replace(settings, batch_size=1), make_events(args.events, "single")
            )
            for window in (256, 4000):
                results[f"publisher_window_{window}"] = await run_publisher(
                    nc, replace(settings, max_pending_acks=window), make_events(args.events, f"w{window}")
                )
            results["raw_publish_async"] = await run_raw_async(nc, make_events(args.events, "raw"))
            results["raw_workers_64"] = await run_raw_workers(nc, make_events(args.events, "workers"), 64)
            results["progress"] = await run_progress(nc, settings, args.events)
        finally:
            await nc.close()
    return {
        "benchmark": "events",
        "events": args.events,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "settings": {
            "queue_size": settings.queue_size,
            "max_pending_acks": settings.max_pending_acks,
            "batch_size": settings.batch_size,
        },
        "results": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000, help="events per variant")
    args = parser.parse_args()
    configure_logging("warning")  # logs go to stderr; stdout is the JSON document
    print(json.dumps(asyncio.run(main_async(args)), indent=2))


if __name__ == "__main__":
    main()
