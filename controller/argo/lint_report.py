"""What every lint rule shares: the error list, field paths, and value-kind tests.

Paths are written the way ``argo lint`` writes them: ``spec.templates[2].dag.tasks[0]``,
with a key that is not a plain identifier quoted, ``metadata.labels["app.kubernetes.io/x"]``.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from .errors import LintError

__all__ = ["PLACEHOLDER", "Reporter", "idx", "is_map", "is_templated", "key", "type_name"]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PLACEHOLDER = re.compile(r"\{\{[^{}]*\}\}")


class Reporter:
    """Collects :class:`LintError` records into a shared list."""

    def __init__(self, errors: list[LintError]) -> None:
        self.errors = errors

    def error(self, path: str, message: str) -> None:
        self.errors.append(LintError(path, message))


@functools.lru_cache(maxsize=8192)
def _plain_key(text: str) -> bool:
    return _IDENT.match(text) is not None


def key(path: str, name: object) -> str:
    """The path of field ``name`` under ``path``."""
    text = name if isinstance(name, str) else str(name)
    if not _plain_key(text):
        return f'{path}["{text}"]'
    return f"{path}.{text}" if path else text


def idx(path: str, index: int) -> str:
    """The path of item ``index`` of the list at ``path``."""
    return f"{path}[{index}]"


def type_name(value: Any) -> str:
    """The YAML-ish name of a value's type, for "expected X, got Y" messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "map"
    return type(value).__name__


def is_map(value: object) -> bool:
    return isinstance(value, dict)


def is_templated(value: Any) -> bool:
    """True for a string holding a ``{{...}}`` placeholder (known only at run time)."""
    return isinstance(value, str) and "{{" in value
