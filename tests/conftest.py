"""Shared fixtures: a real nats-server per test on a random loopback port.

Code the tests share (waiting, fakes, builders) lives in the ``tests.support`` package.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from hookbus.bus import EmbeddedServer, NatsSettings
from hookbus.bus.connection import connect

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from nats.aio.client import Client

# Plain ``assert`` in the shared test code reports its operands like one in a test.
pytest.register_assert_rewrite("tests.support")


@pytest.fixture
async def nats_server(tmp_path: Path) -> AsyncIterator[EmbeddedServer]:
    """A fresh nats-server with JetStream, on a free port, stopped after the test."""
    async with EmbeddedServer(store_dir=tmp_path / "nats") as server:
        yield server


@pytest.fixture
async def nats_url(nats_server: EmbeddedServer) -> str:
    return nats_server.url


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    """A client connected to :func:`nats_server`."""
    client = await connect(NatsSettings(urls=(nats_url,)))
    yield client
    await client.close()


@pytest.fixture(autouse=True)
async def _no_leftover_tasks() -> AsyncIterator[None]:
    """A test that leaves asyncio tasks running fails."""
    before = asyncio.all_tasks()
    yield
    current = asyncio.current_task()
    await asyncio.sleep(0)
    leftover = [
        t for t in asyncio.all_tasks() - before if t is not current and not t.done()
    ]
    if leftover:
        for t in leftover:
            t.cancel()
        names = ", ".join(sorted(t.get_name() for t in leftover))
        pytest.fail(f"test left tasks running: {names}")
