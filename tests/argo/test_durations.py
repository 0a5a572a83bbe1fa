"""The one duration parser reads Go durations and Argo's bare seconds, and names bad input."""

from __future__ import annotations

import pytest

from hookbus.controller.argo.durations import DurationError, parse_duration
from hookbus.controller.argo.types import FULFILLED, Phase


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (20, 20.0),
        (1.5, 1.5),
        ("20", 20.0),
        ("0", 0.0),
        ("90s", 90.0),
        ("1h30m", 5400.0),
        ("250ms", 0.25),
        ("1.5h", 5400.0),
        ("2m3.5s", 123.5),
        (".5s", 0.5),
        ("1d", 86400.0),
        ("10us", 1e-5),
        (" 5m ", 300.0),
    ],
)
def test_reads_go_durations_and_bare_seconds(value: object, seconds: float) -> None:
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["", "1x", "h", "1h 30m", "abc", "1.2.3s", "5 s", True, "nan", "1" * 65])
def test_refuses_what_is_not_a_duration_and_names_it(value: object) -> None:
    with pytest.raises(DurationError, match="suspend.duration"):
        parse_duration(value, what="suspend.duration")


def test_negative_durations_are_refused_unless_asked_for() -> None:
    with pytest.raises(DurationError, match="negative"):
        parse_duration("-100")
    with pytest.raises(DurationError, match="negative"):
        parse_duration("-1h")
    assert parse_duration("-1h", negative=True) == -3600.0


def test_phase_members_are_the_strings_argo_writes() -> None:
    assert Phase.SUCCEEDED == "Succeeded"
    assert "Error" in FULFILLED
    assert Phase.RUNNING not in FULFILLED
