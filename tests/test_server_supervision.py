"""The embedded nats-server is started again when it dies alone, or the process says it cannot go on."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

from hookbus.bus.server import PID_FILE
from hookbus.controller.app import SERVER_RESTARTS, Hookbus
from hookbus.controller.settings import ExecutorSettings, HookbusSettings
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from pathlib import Path

HELLO: dict[str, Any] = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"name": "NAME"},
    "spec": {"entrypoint": "main", "templates": [{"name": "main", "container": {"image": "alpine"}}]},
}


def _hello(name: str) -> dict[str, Any]:
    return {**HELLO, "metadata": {"name": name}}


async def test_a_killed_embedded_server_is_started_again_and_work_goes_on(tmp_path: Path) -> None:
    settings = HookbusSettings(executor=ExecutorSettings(kind="simulate"), state_dir=tmp_path)
    async with Hookbus(settings) as app:
        assert app.server is not None
        first = await app.controller.wait(await app.controller.submit(_hello("before")), timeout=30)
        old_pid, url = app.server.pid, app.nats_url
        assert old_pid is not None
        os.kill(old_pid, signal.SIGKILL)
        await wait_for(lambda: app.server is not None and app.server.pid not in (None, old_pid), timeout=20, what="a new nats-server")
        assert app.server.url == url, "the server comes back where clients reconnect"
        await wait_for(lambda: app.nc is not None and app.nc.is_connected, timeout=20, what="the controller to reconnect")
        after = await app.controller.wait(await app.controller.submit(_hello("after")), timeout=30)
        assert not app.failed.is_set()
    assert first["status"]["phase"] == after["status"]["phase"] == "Succeeded"


async def test_a_server_that_cannot_start_again_fails_the_app_with_a_clear_reason(tmp_path: Path) -> None:
    settings = HookbusSettings(executor=ExecutorSettings(kind="simulate"), state_dir=tmp_path)
    async with Hookbus(settings) as app:
        assert app.server is not None and app.server.pid is not None
        app.server._binary = tmp_path / "no-such-nats-server"  # what a broken install would do
        os.kill(app.server.pid, signal.SIGKILL)
        await asyncio.wait_for(app.failed.wait(), 20)
    assert "could not be started again" in app.failure and "no-such-nats-server" in app.failure


def test_hookbus_server_exits_non_zero_when_its_nats_server_keeps_dying(tmp_path: Path) -> None:
    state = tmp_path / "state"
    url_file = tmp_path / "url"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hookbus.controller.cli", "server", "--state-dir", str(state), "--url-file", str(url_file)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not url_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert url_file.exists(), "the server never became ready"
        pid_file = state / "nats" / PID_FILE
        killed: set[int] = set()
        while proc.poll() is None and time.monotonic() < deadline and len(killed) <= SERVER_RESTARTS:
            try:
                pid = int(pid_file.read_text().strip())
            except (OSError, ValueError):
                time.sleep(0.02)
                continue
            if pid in killed:
                time.sleep(0.02)
                continue
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            killed.add(pid)
        _, stderr = proc.communicate(timeout=30)
        code = proc.returncode
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert code == 5, stderr[-2000:]
    assert "the embedded nats-server exited" in stderr and "exiting" in stderr
