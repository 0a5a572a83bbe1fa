"""Command-line flags land in the same settings objects as the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from hookbus.controller.cli import build_parser, bus_settings


def test_plugin_allow_flag_sets_the_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOKBUS_PLUGIN_ALLOW", "from-env")
    args = build_parser().parse_args(["server", "--plugin-allow", "image-allowlist, lineage"])
    assert bus_settings(args).registry.allow == ("image-allowlist", "lineage")
    # without the flag the environment decides
    assert bus_settings(build_parser().parse_args(["server"])).registry.allow == ("from-env",)


@pytest.mark.parametrize(("flag", "value"), [("--max-workflows", "0"), ("--max-running-nodes", "-5"), ("--max-workflows", "x")])
def test_limits_below_one_are_refused_by_the_cli(flag: str, value: str) -> None:
    import subprocess
    import sys

    command = "server" if flag == "--max-workflows" else "run"
    args = [sys.executable, "-m", "hookbus.controller.cli", command, flag, value]
    if command == "run":
        args.append(str(Path(__file__).resolve().parents[2] / "examples" / "hello-world.yaml"))
    result = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"argument {flag}:" in result.stderr


def test_supervision_flags_set_the_executor_settings() -> None:
    from hookbus.controller.cli.common import settings_from_args

    parse = build_parser().parse_args
    assert settings_from_args(parse(["server"])).executor.supervise is None  # decided by --state-dir
    assert settings_from_args(parse(["server", "--no-supervise"])).executor.supervise is False
    executor = settings_from_args(parse(["server", "--supervise", "--orphan-timeout", "90"])).executor
    assert (executor.supervise, executor.orphan_timeout) == (True, 90.0)


@pytest.mark.parametrize("value", ["0", "-1", "soon", "inf"])
def test_an_orphan_timeout_that_is_not_a_positive_number_is_refused(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["server", "--orphan-timeout", value])
    assert exc.value.code == 2
    assert "argument --orphan-timeout:" in capsys.readouterr().err
