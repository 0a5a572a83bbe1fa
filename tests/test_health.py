"""``/healthz`` and ``/readyz``: what a process supervisor (Kubernetes probes) reads."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
import pytest

from hookbus.controller.app import Hookbus
from hookbus.controller.cli import build_parser, settings_from_args
from hookbus.controller.settings import ExecutorSettings, HookbusSettings, from_env

if TYPE_CHECKING:
    from pathlib import Path


async def _get(port: int, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}{path}") as response:
        return response.status, await response.text()


async def test_a_started_app_is_live_and_ready_and_a_failed_one_is_neither(tmp_path: Path) -> None:
    settings = HookbusSettings(executor=ExecutorSettings(kind="simulate"), state_dir=tmp_path, health_port=0)
    async with Hookbus(settings) as app:
        port = app.health_port
        assert port is not None and port > 0
        assert await _get(port, "/healthz") == (200, "ok\n")
        assert await _get(port, "/readyz") == (200, "ok\n")
        assert (await _get(port, "/metrics"))[0] == 404, "nothing else is served"
        app._fail("the embedded nats-server died 3 times in 60 s")
        assert await _get(port, "/healthz") == (503, "the embedded nats-server died 3 times in 60 s\n")
        assert (await _get(port, "/readyz"))[0] == 503
    with pytest.raises(aiohttp.ClientConnectionError):
        await _get(port, "/healthz")


async def test_not_ready_before_every_part_started(tmp_path: Path) -> None:
    app = Hookbus(HookbusSettings(executor=ExecutorSettings(kind="simulate"), state_dir=tmp_path, health_port=0))
    await app._start_health(0)
    try:
        assert app.health_port is not None
        assert await _get(app.health_port, "/healthz") == (200, "ok\n")
        assert await _get(app.health_port, "/readyz") == (503, "starting\n")
    finally:
        await app.close()


def test_the_port_comes_from_the_flag_or_the_environment() -> None:
    assert from_env({"HOOKBUS_HEALTH_PORT": "8080"}).health_port == 8080
    assert from_env({}).health_port is None
    with pytest.raises(ValueError, match="HOOKBUS_HEALTH_PORT: '80x' is not a TCP port"):
        from_env({"HOOKBUS_HEALTH_PORT": "80x"})
    args = build_parser().parse_args(["server", "--health-port", "9000"])
    assert settings_from_args(args).health_port == 9000
    with pytest.raises(SystemExit):
        build_parser().parse_args(["server", "--health-port", "70000"])
