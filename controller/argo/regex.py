"""Regular expressions from manifests, matched in linear time with RE2, as Argo's Go code.

Argo evaluates ``=~`` in ``when``, ``matches`` in expressions and sprig's ``regex*``
functions with Go's ``regexp`` package: RE2 syntax, no backreferences, time linear in
the input. Python's ``re`` backtracks (``(a+)+$`` against 36 ``a`` and a ``!`` takes
minutes), so every pattern a manifest supplies is compiled here, with RE2 itself. A
pattern longer than :data:`MAX_PATTERN_CHARS`, one RE2 refuses (a backreference, a
lookaround) or one whose automaton would pass RE2's memory budget is a
:class:`RegexError` that names the pattern.
"""

from __future__ import annotations

import functools
from typing import Any, Final

import re2

from .errors import ArgoError

__all__ = ["MAX_PATTERN_CHARS", "RegexError", "compile_pattern"]

MAX_PATTERN_CHARS: Final = 4096
"""Longer patterns are refused before compiling."""
MAX_PROGRAM_BYTES: Final = 8 << 20
"""RE2's memory budget for one compiled pattern (its default)."""

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # errors are raised, not printed to stderr
_OPTIONS.max_mem = MAX_PROGRAM_BYTES


class RegexError(ArgoError, ValueError):
    """A pattern could not be compiled; the message names it and says why."""


def compile_pattern(pattern: str) -> Any:
    """The compiled RE2 pattern (``search``, ``fullmatch``, ``finditer``, ``sub``, ``split``
    as :mod:`re` has them). Compiled patterns are cached."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise RegexError(
            f"regular expression of {len(pattern)} characters is longer than {MAX_PATTERN_CHARS}"
        )
    return _compile(pattern)


@functools.lru_cache(maxsize=256)
def _compile(pattern: str) -> Any:
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise RegexError(f"invalid regular expression {pattern[:200]!r}: {reason}") from None
