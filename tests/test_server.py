from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from hookbus.bus import EmbeddedServer, NatsSettings, ServerError
from hookbus.bus.connection import connect

if TYPE_CHECKING:
    from pathlib import Path


async def test_embedded_server_serves_jetstream_on_a_random_port(tmp_path: Path) -> None:
    async with EmbeddedServer(store_dir=tmp_path) as server:
        assert server.url.startswith("nats://127.0.0.1:")
        assert not server.url.endswith(":4222")
        nc = await connect(NatsSettings(urls=(server.url,)))
        try:
            info = await nc.jetstream().account_info()
            assert info.streams == 0
        finally:
            await nc.close()
        pid = server.pid
    assert server.pid is None and pid is not None


async def test_missing_binary_is_a_clear_error(tmp_path: Path) -> None:
    server = EmbeddedServer(binary=tmp_path / "no-such-nats-server")
    with pytest.raises(ServerError, match="cannot start"):
        await server.start()


async def test_a_server_that_exits_early_reports_its_log(tmp_path: Path) -> None:
    # Two servers cannot share one port: the second exits and says why.
    async with EmbeddedServer(store_dir=tmp_path / "a") as first:
        port = int(first.url.rsplit(":", 1)[1])
        second = EmbeddedServer(store_dir=tmp_path / "b", port=port)
        with pytest.raises(ServerError, match="exited with code"):
            await second.start()


async def test_stop_is_idempotent(tmp_path: Path) -> None:
    server = EmbeddedServer(store_dir=tmp_path)
    await server.start()
    await server.stop()
    await server.stop()
