"""An outage of the controller's (external) NATS while workflows run: every workflow
still succeeds and every node's final event ends up in ``HOOKBUS_EVENTS``."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from hookbus.bus.connection import connect
from hookbus.bus.events import replay
from hookbus.bus.server import EmbeddedServer
from hookbus.bus.settings import BusSettings, NatsSettings
from hookbus.controller.app import Hookbus
from hookbus.controller.settings import ExecutorSettings, HookbusSettings

if TYPE_CHECKING:
    from pathlib import Path

WORKFLOWS = 3
FAN = 8


def _workflow(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {
            "entrypoint": "main",
            "templates": [
                {
                    "name": "main",
                    "steps": [
                        [{"name": f"a{i}", "template": "work"} for i in range(FAN)],
                        [{"name": f"b{i}", "template": "work"} for i in range(FAN)],
                    ],
                },
                {
                    "name": "work",
                    "metadata": {"annotations": {"hookbus.io/simulate-duration": "0.4"}},
                    "container": {"image": "alpine", "command": ["true"]},
                },
            ],
        },
    }


async def test_after_a_nats_outage_every_event_is_in_the_stream(tmp_path: Path) -> None:
    server = EmbeddedServer(store_dir=tmp_path / "nats")
    url = await server.start()
    nats = NatsSettings(urls=(url,), reconnect_wait=0.1)
    settings = HookbusSettings(
        bus=replace(BusSettings(), nats=nats), executor=ExecutorSettings(kind="simulate"), state_dir=tmp_path / "state"
    )
    try:
        async with Hookbus(settings) as app:
            keys = [await app.controller.submit(_workflow(f"out-{i}")) for i in range(WORKFLOWS)]
            await asyncio.sleep(0.3)  # the first steps run
            await server.stop()  # NATS is away while steps end and the next ones start
            await asyncio.sleep(3)
            await server.start()  # same port, same store
            finals = [await app.controller.wait(key, timeout=60) for key in keys]
            assert app.publisher is not None
            await app.publisher.flush(timeout=30)
        assert [w["status"]["phase"] for w in finals] == ["Succeeded"] * WORKFLOWS
        nc = await connect(nats)
        try:
            async with replay(nc.jetstream()) as reader:
                events = [event async for event in reader]
        finally:
            await nc.close()
    finally:
        await server.stop()
    seen = {
        (e.data["workflow"], e.data["node"]["id"] if "node" in e.data else "", e.data["phase"])
        for e in events
        if isinstance(e.data, dict) and "phase" in e.data
    }
    missing = [
        (w["metadata"]["name"], node["displayName"], node["phase"])
        for w in finals
        for node in w["status"]["nodes"].values()
        if (w["metadata"]["name"], node["id"], node["phase"]) not in seen
    ]
    missing += [(w["metadata"]["name"], "", "Succeeded") for w in finals if (w["metadata"]["name"], "", "Succeeded") not in seen]
    assert missing == []
