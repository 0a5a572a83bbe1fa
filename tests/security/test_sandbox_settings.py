"""The sandbox's and the trust boundaries' settings: environment, flags, and what the
controller process builds from them."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import pytest

from hookbus.controller.app import Hookbus
from hookbus.controller.cli import build_parser, settings_from_args
from hookbus.controller.cli.common import CliError
from hookbus.controller.executors.local import LocalExecutor
from hookbus.controller.settings import ApiSettings, ExecutorSettings, HookbusSettings, from_env

if TYPE_CHECKING:
    from pathlib import Path


def test_from_env_reads_the_sandbox_and_trust_settings() -> None:
    settings = from_env(
        {
            "HOOKBUS_SANDBOX": "on",
            "HOOKBUS_SANDBOX_UID_BASE": "200000",
            "HOOKBUS_SANDBOX_NETWORK": "none",
            "HOOKBUS_ALLOW_HOST_PATHS": "/data:/srv/shared",
            "HOOKBUS_HTTP_ALLOW": "127.0.0.1, 10.0.0.0/8",
        }
    )
    assert (settings.executor.sandbox, settings.executor.sandbox_uid_base, settings.executor.sandbox_network) == (True, 200000, "none")
    assert settings.controller.allowed_host_paths == ("/data", "/srv/shared")
    assert settings.controller.http_allow == ("127.0.0.1", "10.0.0.0/8")
    assert from_env({"HOOKBUS_SANDBOX": "off"}).executor.sandbox is False
    defaults = HookbusSettings()
    assert (defaults.executor.sandbox, defaults.controller.allowed_host_paths, defaults.controller.http_allow) == (None, (), ())
    for env, message in (
        ({"HOOKBUS_SANDBOX": "maybe"}, "sandbox: 'maybe' is not one of auto, on, off"),
        ({"HOOKBUS_SANDBOX_UID_BASE": "lots"}, "HOOKBUS_SANDBOX_UID_BASE: 'lots' is not a number"),
        ({"HOOKBUS_ALLOW_HOST_PATHS": "data"}, "allowed host path 'data' is not an absolute path"),
        ({"HOOKBUS_HTTP_ALLOW": "localhost"}, "http allow: 'localhost' is not an IP address or network"),
    ):
        with pytest.raises(ValueError, match=message):
            from_env(env)


def test_flags_go_on_top(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOKBUS_SANDBOX", "off")
    args = build_parser().parse_args(
        [
            "server", "--sandbox", "on", "--sandbox-uid-base", "300000", "--sandbox-network", "none",
            "--allow-host-path", "/data", "--allow-host-path", "/srv", "--http-allow", "169.254.169.254",
        ]
    )
    settings = settings_from_args(args)
    assert (settings.executor.sandbox, settings.executor.sandbox_uid_base, settings.executor.sandbox_network) == (True, 300000, "none")
    assert settings.controller.allowed_host_paths == ("/data", "/srv")
    assert settings.controller.http_allow == ("169.254.169.254",)
    run = settings_from_args(build_parser().parse_args(["run", "x.yaml", "--sandbox", "auto"]))
    assert run.executor.sandbox is None
    with pytest.raises(CliError, match="allowed host path 'rel' is not an absolute path"):
        settings_from_args(build_parser().parse_args(["server", "--allow-host-path", "rel"]))
    monkeypatch.setenv("HOOKBUS_SANDBOX", "sometimes")
    with pytest.raises(CliError, match="sandbox: 'sometimes' is not one of auto, on, off"):
        settings_from_args(build_parser().parse_args(["server"]))


async def test_the_process_hands_the_sandbox_settings_to_its_executor(tmp_path: Path) -> None:
    settings = HookbusSettings(state_dir=tmp_path / "state", api=ApiSettings(enabled=False), events=False, plugins=False)
    settings = replace(settings, executor=ExecutorSettings(sandbox=False, sandbox_uid_base=123456, sandbox_network="none"))
    async with Hookbus(settings) as app:
        executor = app.executor
        assert isinstance(executor, LocalExecutor)
        assert (executor.sandbox.wanted, executor.sandbox.uid_base, executor.sandbox.network) == (False, 123456, "none")
        assert str(tmp_path / "state") in executor.sandbox.hidden  # the whole durable state is out of the steps' sight
