"""Values of the expr-lang dialect as Go sees them: type names, text and JSON forms, equality.

``int`` and ``float`` are distinct types (a Go ``float64`` prints ``3``, not ``3.0``),
``nil`` is ``None``, arrays are lists, maps are mappings. Errors met while evaluating
are :class:`EvalError`; :mod:`.expr` turns them into ``ExpressionError``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from typing import Any

__all__ = ["EvalError", "equal", "go_json", "go_string", "is_number", "plain", "type_name"]


class EvalError(ValueError):
    """An expression failed at run time (wrong types, bad function arguments ...)."""


def type_name(value: Any) -> str:
    """The Go-ish type name used in error messages."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "map"
    if isinstance(value, dt.datetime):
        return "time.Time"
    if isinstance(value, dt.timedelta):
        return "time.Duration"
    if callable(value):
        return "func"
    return type(value).__name__


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def plain(value: Any) -> Any:
    """Integral floats become ints, as Go's encoding/json prints them."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.timedelta):
        return int(value.total_seconds() * 1e9)
    return value


def go_json(value: Any) -> str:
    """Compact JSON as Go's ``json.Marshal`` writes it (sorted keys, ``3`` not ``3.0``)."""
    try:
        return json.dumps(
            plain(value), separators=(",", ":"), sort_keys=True, ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError) as exc:
        raise EvalError(f"cannot encode {type_name(value)} as JSON: {exc}") from None


def _go_float(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        mantissa, exp = text.split("e")
        sign = "-" if exp.startswith("-") else "+"
        text = f"{mantissa}e{sign}{exp.lstrip('+-').zfill(2)}"
    return text


def go_string(value: Any) -> str:
    """``fmt.Sprint``-like text of a value (what ``string(x)`` gives)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_string(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return (
            "map["
            + " ".join(f"{go_string(k)}:{go_string(value[k])}" for k in sorted(value, key=str))
            + "]"
        )
    if isinstance(value, dt.timedelta):
        return f"{value.total_seconds():g}s"
    return str(value)


def equal(a: Any, b: Any) -> bool:
    if is_number(a) and is_number(b):
        return bool(a == b)
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if (
        type(a) is not type(b)
        and not (isinstance(a, Mapping) and isinstance(b, Mapping))
        and not (isinstance(a, list | tuple) and isinstance(b, list | tuple))
    ):
        return False
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)
