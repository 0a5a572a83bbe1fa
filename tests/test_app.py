"""The composition root: Hookbus builds a controller process from settings and takes it down."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from hookbus.bus import BusSettings, NatsSettings
from hookbus.bus.control import ControlClient
from hookbus.bus.events import EventPublisher
from hookbus.bus.registry import RegistryView
from hookbus.controller.adapters.safe_events import SafeEvents
from hookbus.controller.app import Hookbus
from hookbus.controller.cli import build_parser, settings_from_args
from hookbus.controller.settings import ApiSettings, ExecutorSettings, HookbusSettings, from_env

if TYPE_CHECKING:
    from hookbus.bus.server import EmbeddedServer

HELLO: dict[str, Any] = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"name": "hello"},
    "spec": {"entrypoint": "main", "templates": [{"name": "main", "container": {"image": "alpine"}}]},
}


def _alive(server: EmbeddedServer | None, pid: int | None) -> bool:
    if server is None or pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


async def test_an_embedded_app_runs_a_workflow_serves_the_api_and_stops_everything(tmp_path: Path) -> None:
    settings = HookbusSettings(executor=ExecutorSettings(kind="simulate"), state_dir=tmp_path)
    app = Hookbus(settings)
    async with app:
        assert app.nats_url.startswith("nats://")
        assert app.server is not None and (tmp_path / "nats").is_dir(), "the embedded store lives in the state dir"
        assert isinstance(app.controller.events, SafeEvents), "the event sink is always wrapped"
        assert app.api is not None and app.registry is not None and app.dispatcher is not None
        key = await app.controller.submit(dict(HELLO))
        done = await app.controller.wait(key, timeout=30)
        assert done["status"]["phase"] == "Succeeded"
        assert app.nc is not None
        got = await ControlClient(app.nc).get("hello")
        assert got["status"]["phase"] == "Succeeded"
        server, pid = app.server, app.server.pid
        nc = app.nc
    assert nc.is_closed
    assert not _alive(server, pid)
    await app.close()  # idempotent


async def test_without_api_events_or_plugins_those_parts_are_not_built(nats_url: str) -> None:
    settings = HookbusSettings(
        bus=BusSettings(nats=NatsSettings(urls=(nats_url,))),
        executor=ExecutorSettings(kind="simulate"),
        api=ApiSettings(enabled=False),
        events=False,
        plugins=False,
    )
    async with Hookbus(settings) as app:
        assert app.server is None and app.nats_url == nats_url
        assert app.api is None and app.publisher is None and app.registry is None and app.hooks is None
        key = await app.controller.submit(dict(HELLO, metadata={"name": "quiet"}))
        assert (await app.controller.wait(key, timeout=30))["status"]["phase"] == "Succeeded"


async def test_teardown_runs_every_step_and_raises_the_first_failure(
    nats_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[str] = []
    publisher_close, stop_registry = EventPublisher.close, RegistryView.stop

    async def registry_stop(self: RegistryView) -> None:
        closed.append("registry")
        await stop_registry(self)
        raise RuntimeError("registry failed after stopping")

    async def close_publisher(self: EventPublisher) -> None:
        closed.append("publisher")
        await publisher_close(self)
        raise RuntimeError("publisher failed after closing")

    monkeypatch.setattr(RegistryView, "stop", registry_stop)
    monkeypatch.setattr(EventPublisher, "close", close_publisher)
    settings = HookbusSettings(bus=BusSettings(nats=NatsSettings(urls=(nats_url,))), executor=ExecutorSettings(kind="simulate"))
    app = Hookbus(settings)
    await app.start()
    nc = app.nc
    assert nc is not None
    with pytest.raises(RuntimeError, match="registry failed after stopping"):
        await app.close()
    assert closed == ["registry", "publisher"], "the registry stops before the publisher it fed"
    assert nc.is_closed, "the steps after the failures ran too"
    await app.close()  # nothing left to stop


async def test_a_start_that_fails_midway_stops_what_it_started(tmp_path: Path) -> None:
    app = Hookbus(HookbusSettings(executor=ExecutorSettings(kind="no-such-executor"), state_dir=tmp_path))
    with pytest.raises(ValueError, match="no-such-executor"):
        await app.start()
    assert app.nc is not None and app.nc.is_closed
    assert app.server is not None and app.server.pid is None


def test_from_env_fills_the_whole_tree() -> None:
    settings = from_env(
        {
            "HOOKBUS_NATS_URL": "nats://a:1,nats://b:2",
            "HOOKBUS_PLUGIN_TTL": "7",
            "HOOKBUS_EVENTS_GROUPED": "1",
            "HOOKBUS_LOG_LEVEL": "DEBUG",
            "HOOKBUS_LOG_FORMAT": "json",
        }
    )
    assert settings.bus.nats.urls == ("nats://a:1", "nats://b:2") and not settings.embedded_nats
    assert settings.bus.registry.ttl == 7.0 and settings.bus.events.grouped
    assert settings.log.level == "debug" and settings.log.format == "json"
    assert from_env({}) == HookbusSettings()


def test_server_flags_fill_the_root_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOOKBUS_PLUGIN_TTL", "9")
    monkeypatch.delenv("HOOKBUS_NATS_URL", raising=False)
    args = build_parser().parse_args(
        [
            "server", "--state-dir", str(tmp_path), "--executor", "simulate", "--port", "4333",
            "--max-workflows", "7", "--max-running-nodes", "3", "-n", "team", "--no-plugins",
        ]
    )
    settings = settings_from_args(args)
    assert settings.state_dir == tmp_path and settings.executor.kind == "simulate"
    assert settings.embedded.port == 4333 and settings.embedded_nats
    assert settings.controller.max_workflows == 7 and settings.controller.max_running_nodes == 3
    assert settings.controller.namespace == "team"
    assert settings.plugins is False
    assert settings.bus.registry.ttl == 9.0, "the environment under the flags"
    defaults = settings_from_args(build_parser().parse_args(["server"]))
    assert defaults.controller.max_workflows == HookbusSettings().controller.max_workflows
    assert defaults.plugins is True and defaults.state_dir is None


def test_log_flags_go_on_top_of_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOKBUS_LOG_LEVEL", "error")
    monkeypatch.setenv("HOOKBUS_LOG_FORMAT", "console")
    quiet = settings_from_args(build_parser().parse_args(["server"])).log
    assert (quiet.level, quiet.format) == ("error", "console")
    loud = settings_from_args(build_parser().parse_args(["server", "-vv", "--log-format", "json"])).log
    assert (loud.level, loud.format) == ("debug", "json")


@pytest.mark.parametrize(("state", "supervise", "supervised"), [(True, None, True), (False, None, False), (True, False, False)])
async def test_local_steps_are_supervised_when_state_is_durable(
    nats_url: str, tmp_path: Path, state: bool, supervise: bool | None, supervised: bool
) -> None:
    from hookbus.controller.executors.supervision import SupervisedLocalExecutor

    settings = HookbusSettings(
        bus=BusSettings(nats=NatsSettings(urls=(nats_url,))),
        executor=ExecutorSettings(kind="local", supervise=supervise, orphan_timeout=30),
        api=ApiSettings(enabled=False),
        events=False,
        plugins=False,
        state_dir=tmp_path / "state" if state else None,
    )
    async with Hookbus(settings) as app:
        assert isinstance(app.executor, SupervisedLocalExecutor) is supervised
        if supervised:
            assert app.executor.orphan_timeout == 30
