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
