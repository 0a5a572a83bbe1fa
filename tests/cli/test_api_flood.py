"""A flood of control requests gets quick answers or a quick 503, and workflows keep running."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import TYPE_CHECKING

import yaml

from hookbus.bus import subjects
from hookbus.bus.codec import Encoding, decode_map, encode
from hookbus.bus.connection import connect
from hookbus.bus.settings import NatsSettings
from hookbus.controller.adapters.api_server import MAX_QUEUED, WORKERS
from hookbus.controller.settings import ApiSettings
from tests.support.hookstack import open_app, stack_settings

if TYPE_CHECKING:
    from pathlib import Path

CHAIN = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: chain}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
"""
STEP = """    - - name: s{i}
        template: work
"""
WORK = """  - name: work
    metadata:
      annotations: {hookbus.io/simulate-duration: 10ms}
    container: {image: busybox}
"""
FLOOD = 3 * (MAX_QUEUED + WORKERS)


async def test_a_flood_of_list_calls_is_bounded_and_workflows_keep_running(nats_url: str, tmp_path: Path) -> None:
    settings = replace(stack_settings(nats_url, tmp_path / "state"), api=ApiSettings(enabled=True))
    stack = await open_app(settings)
    attacker = await connect(NatsSettings(urls=(nats_url,), name="flood"))
    try:
        manifest = yaml.safe_load(CHAIN + "".join(STEP.format(i=i) for i in range(20)) + WORK)
        key = await stack.controller.submit(manifest)
        subject = subjects.control("workflow") + ".list"
        body = encode({"v": 1}, Encoding.JSON)

        async def ask() -> int:
            reply = await attacker.request(subject, body, timeout=30)
            answer = decode_map(reply.data, Encoding.JSON, subject=subject)
            return 200 if answer.get("ok") else int(answer["error"]["code"])

        started = time.monotonic()
        codes = await asyncio.gather(*(ask() for _ in range(FLOOD)))
        flood_s = time.monotonic() - started
        done = await stack.controller.wait(key, timeout=30)
        assert stack.app.api is not None
        refused = stack.app.api.refused
    finally:
        await attacker.close()
        await stack.close()
    assert set(codes) <= {200, 503}, set(codes)
    assert codes.count(503) > 0, "a flood larger than the queue must be told to retry"
    assert refused == codes.count(503), "the server counts what it refused"
    assert codes.count(200) >= MAX_QUEUED, "what fits in the queue is answered"
    assert flood_s < 30
    assert done["status"]["phase"] == "Succeeded"
