"""Command-line flags land in the same settings objects as the environment."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hookbus.controller.cli import build_parser, bus_settings

if TYPE_CHECKING:
    import pytest


def test_plugin_allow_flag_sets_the_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOKBUS_PLUGIN_ALLOW", "from-env")
    args = build_parser().parse_args(["server", "--plugin-allow", "image-allowlist, lineage"])
    assert bus_settings(args).registry.allow == ("image-allowlist", "lineage")
    # without the flag the environment decides
    assert bus_settings(build_parser().parse_args(["server"])).registry.allow == ("from-env",)
