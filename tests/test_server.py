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


async def test_a_server_orphaned_by_a_killed_controller_is_stopped_before_a_new_one_starts(tmp_path: Path) -> None:
    import asyncio
    import os
    import signal
    import sys
    from pathlib import Path as RealPath

    from tests.support.waiting import wait_for

    # A controller process that starts an embedded server and is then killed with SIGKILL.
    script = (
        "import asyncio, sys\n"
        "from hookbus.bus import EmbeddedServer\n"
        "async def main():\n"
        f"    server = EmbeddedServer(store_dir={str(tmp_path / 'store')!r})\n"
        "    await server.start()\n"
        "    print('PID', server.pid, flush=True)\n"
        "    await asyncio.Event().wait()\n"
        "asyncio.run(main())\n"
    )
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = b""
        while not line.startswith(b"PID "):
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
            assert line, "the controller process ended before its server was ready"
        server_pid = int(line.split()[1])
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
        await proc.wait()

    def gone(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:
            return b"nats-server" not in RealPath(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return True

    # On Linux the server follows its parent; elsewhere the next start stops it. Either way,
    # a new server on the same store starts alone.
    async with EmbeddedServer(store_dir=tmp_path / "store") as server:
        await wait_for(lambda: gone(server_pid), timeout=15, what="the orphaned server to be gone")
        assert server.pid != server_pid
