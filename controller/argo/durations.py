"""The one duration parser: Go's ``time.ParseDuration`` syntax, as Argo reads durations.

Argo accepts a bare integer as seconds (``"20"``) and otherwise a Go duration:
a sequence of decimal numbers with a unit each, ``"1h30m"``, ``"250ms"``, ``"1.5h"``,
``"2m3.5s"``. Units: ``ns``, ``us`` (``µs``), ``ms``, ``s``, ``m``, ``h``, and ``d``
(days, as Argo's ``humanize`` durations for ``retryStrategy.backoff``). Input is bounded
in size; anything else is a :class:`DurationError` that names the value.
"""

from __future__ import annotations

import re
from typing import Final

from .errors import ArgoError

__all__ = ["MAX_DURATION_CHARS", "DurationError", "parse_duration"]

MAX_DURATION_CHARS: Final = 64
"""Longer text is refused before it is parsed."""

_UNITS: Final = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}
_PART: Final = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h|d)")
_NUMBER: Final = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)")


class DurationError(ArgoError, ValueError):
    """A duration could not be read; the message names the value and the rule."""


def parse_duration(value: object, *, what: str = "duration", negative: bool = False) -> float:
    """Seconds from *value*: a number (seconds) or a Go duration string.

    *what* names the field in the error (``"suspend.duration"``). Negative durations
    are refused unless *negative* is true.
    """
    if isinstance(value, bool):
        raise DurationError(f"{what}: {value!r} is not a duration")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip()
        if len(text) > MAX_DURATION_CHARS:
            raise DurationError(f"{what}: duration of {len(text)} characters is longer than {MAX_DURATION_CHARS}")
        seconds = _parse_text(text, what)
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        raise DurationError(f"{what}: {value!r} is not a finite duration")
    if seconds < 0 and not negative:
        raise DurationError(f"{what}: duration {value!r} is negative")
    return seconds


def _parse_text(text: str, what: str) -> float:
    if not text:
        raise DurationError(f"{what}: empty duration")
    if _NUMBER.fullmatch(text):
        return float(text)
    sign = 1.0
    body = text
    if body[0] in "+-":
        sign = -1.0 if body[0] == "-" else 1.0
        body = body[1:]
    total = 0.0
    pos = 0
    while pos < len(body):
        match = _PART.match(body, pos)
        if match is None:
            raise DurationError(
                f"{what}: invalid duration {text!r} (expected a number of seconds or a Go duration such as '90s', '1h30m', '250ms')"
            )
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    return sign * total
