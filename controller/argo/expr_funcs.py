"""The functions an expression calls: expr-lang's builtins (:data:`BUILTINS`) and the
ones Argo adds to the environment (:data:`ARGO_FUNCTIONS`: ``asInt``, ``asFloat``,
``jsonpath``, ``toJson``). Sprig's are in :mod:`.expr_sprig`.

Every function that builds a string or a list is bounded (:data:`.expr_runtime.MAX_RESULT`).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from . import jsonpath as _jsonpath
from .expr_runtime import MAX_RESULT, member
from .expr_values import EvalError, equal, go_json, go_string, is_number, plain, type_name

__all__ = [
    "ARGO_FUNCTIONS",
    "BUILTINS",
    "b64decode",
    "first",
    "from_json",
    "last",
    "now",
    "parse_time",
    "repeat",
    "to_float",
    "to_int",
    "unique",
]


def repeat(text: Any, count: Any) -> str:
    """``repeat(s, n)``, bounded by :data:`.expr_runtime.MAX_RESULT` characters."""
    if not isinstance(text, str) or not isinstance(count, int) or isinstance(count, bool):
        raise EvalError("repeat() expects a string and an integer")
    if count < 0:
        raise EvalError("repeat(): negative repeat count")
    if len(text) * count > MAX_RESULT:
        raise EvalError(f"repeat(): result longer than {MAX_RESULT} characters")
    return text * count


def _len(value: Any) -> int:
    if isinstance(value, str | list | tuple | Mapping):
        return len(value)
    raise EvalError(f"invalid argument for len (type {type_name(value)})")


def to_int(value: Any) -> int:
    """expr's ``int()`` / Argo's ``asInt``: numbers truncate, strings must be integers."""
    if isinstance(value, bool):
        raise EvalError("invalid operation: int(bool)")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        if not re.fullmatch(r"[+-]?[0-9]+", value):  # Go's strconv.Atoi: no spaces, no fractions
            raise EvalError(f"invalid operation: int({value})")
        return int(value, 10)
    raise EvalError(f"invalid operation: int({type_name(value)})")


def to_float(value: Any) -> float:
    """expr's ``float()`` / Argo's ``asFloat``."""
    if isinstance(value, bool):
        raise EvalError("invalid operation: float(bool)")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        if value != value.strip() or "_" in value:  # Go's strconv.ParseFloat accepts neither
            raise EvalError(f"invalid operation: float({value})")
        try:
            return float(value)
        except ValueError:
            raise EvalError(f"invalid operation: float({value})") from None
    raise EvalError(f"invalid operation: float({type_name(value)})")


def from_json(text: Any) -> Any:
    """``fromJSON``: every JSON number decodes as a float, as in Go."""
    if not isinstance(text, str):
        raise EvalError(f"fromJSON expects a string, got {type_name(text)}")
    try:
        return json.loads(text, parse_int=float)  # Go decodes every JSON number as float64
    except json.JSONDecodeError as exc:
        raise EvalError(f"invalid JSON: {exc}") from None


def _numbers(values: Iterable[Any], name: str) -> list[int | float]:
    out = []
    for v in values:
        if not is_number(v):
            raise EvalError(f"{name}() expects numbers, got {type_name(v)}")
        out.append(v)
    return out


def _flatten_args(args: tuple[Any, ...]) -> list[Any]:
    if len(args) == 1 and isinstance(args[0], list | tuple):
        return list(args[0])
    return list(args)


def _sum(values: Any) -> Any:
    if not isinstance(values, list | tuple):
        raise EvalError(f"sum() expects an array, got {type_name(values)}")
    return sum(_numbers(values, "sum"), 0)


def _extreme(pick: Callable[[list[Any]], Any], name: str) -> Callable[..., Any]:
    def fn(*args: Any) -> Any:
        values = _numbers(_flatten_args(args), name)
        if not values:
            raise EvalError(f"{name}() needs at least one number")
        return pick(values)

    return fn


def _mean(values: Any) -> float:
    nums = _numbers(_flatten_args((values,)), "mean")
    return sum(nums) / len(nums) if nums else 0.0


def _get(obj: Any, key: Any) -> Any:
    try:
        return member(obj, key)
    except EvalError:
        return None


def _duration(text: Any) -> dt.timedelta:
    if not isinstance(text, str):
        raise EvalError("duration() expects a string")
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(-?\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(a + b for a, b in parts) != text.lstrip("+"):
        raise EvalError(f"time: invalid duration {text!r}")
    return dt.timedelta(seconds=sum(float(a) * units[b] for a, b in parts))


def parse_time(value: Any) -> dt.datetime:
    """Parse an RFC 3339 timestamp as Argo writes them (``2024-01-02T03:04:05Z``)."""
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str):
        raise EvalError(f"cannot parse {type_name(value)} as a time")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise EvalError(f"cannot parse {value!r} as a time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def now() -> dt.datetime:
    """The current time, in UTC."""
    return dt.datetime.now(dt.UTC)


def b64decode(value: Any) -> str:
    """Strict base64 to text (``fromBase64``, sprig's ``b64dec``)."""
    try:
        return base64.b64decode(str(value), validate=True).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise EvalError(f"illegal base64 data: {exc}") from None


def _type(value: Any) -> str:
    names = {"float64": "float", "array": "array", "map": "map", "nil": "nil"}
    return names.get(type_name(value), type_name(value))


def _keys(value: Any) -> list[Any]:
    if not isinstance(value, Mapping):
        raise EvalError(f"keys() expects a map, got {type_name(value)}")
    return list(value)


def _values(value: Any) -> list[Any]:
    if not isinstance(value, Mapping):
        raise EvalError(f"values() expects a map, got {type_name(value)}")
    return list(value.values())


def _flatten(value: Any) -> list[Any]:
    out: list[Any] = []
    for v in value:
        out.extend(_flatten(v) if isinstance(v, list | tuple) else [v])
    return out


def unique(value: Any) -> list[Any]:
    """The items of ``value`` without repeats (by expr equality), first ones kept."""
    out: list[Any] = []
    for v in value:
        if not any(equal(v, seen) for seen in out):
            out.append(v)
    return out


def _sort(value: Any, order: str = "asc") -> list[Any]:
    try:
        return sorted(value, reverse=order == "desc")
    except TypeError:
        raise EvalError("sort() needs an array of numbers or strings") from None


def first(value: Any) -> Any:
    """The first item of an array, or nil."""
    return value[0] if isinstance(value, list | tuple) and value else None


def last(value: Any) -> Any:
    """The last item of an array, or nil."""
    return value[-1] if isinstance(value, list | tuple) and value else None


BUILTINS: dict[str, Callable[..., Any]] = {
    "len": _len,
    "int": to_int,
    "float": to_float,
    "string": go_string,
    "trim": lambda s, chars=None: s.strip(chars),
    "trimPrefix": lambda s, p=" ": s.removeprefix(p),
    "trimSuffix": lambda s, p=" ": s.removesuffix(p),
    "upper": lambda s: s.upper(),
    "lower": lambda s: s.lower(),
    "split": lambda s, sep, n=-1: s.split(sep, n - 1 if n > 0 else -1) if sep else list(s),
    "splitAfter": lambda s, sep: [p + sep for p in s.split(sep)[:-1]] + [s.split(sep)[-1]],
    "replace": lambda s, old, new: s.replace(old, new),
    "repeat": repeat,
    "join": lambda items, sep="": sep.join(go_string(i) for i in items),
    "indexOf": lambda s, sub: s.find(sub),
    "lastIndexOf": lambda s, sub: s.rfind(sub),
    "hasPrefix": lambda s, p: s.startswith(p),
    "hasSuffix": lambda s, p: s.endswith(p),
    "abs": lambda x: abs(_numbers([x], "abs")[0]),
    "ceil": lambda x: float(math.ceil(x)),
    "floor": lambda x: float(math.floor(x)),
    "round": lambda x: float(math.floor(x + 0.5)) if x >= 0 else -float(math.floor(-x + 0.5)),
    "max": _extreme(max, "max"),
    "min": _extreme(min, "min"),
    "sum": _sum,
    "mean": _mean,
    "toJSON": lambda v: json.dumps(plain(v), indent=2, sort_keys=True, ensure_ascii=False),
    "fromJSON": from_json,
    "toBase64": lambda s: base64.b64encode(s.encode()).decode(),
    "fromBase64": b64decode,
    "now": now,
    "duration": _duration,
    "date": parse_time,
    "type": _type,
    "get": _get,
    "keys": _keys,
    "values": _values,
    "first": first,
    "last": last,
    "reverse": lambda v: list(reversed(v)),
    "sort": _sort,
    "uniq": unique,
    "concat": lambda *lists: [x for lst in lists for x in lst],
    "flatten": _flatten,
    "toPairs": lambda m: [[k, v] for k, v in m.items()],
    "fromPairs": lambda pairs: dict(pairs),
}


def _jsonpath_fn(document: Any, path: Any) -> Any:
    if not isinstance(document, str) or not isinstance(path, str):
        raise EvalError("jsonpath(json, path) expects two strings")
    try:
        decoded = json.loads(document, parse_int=float)  # as Go's encoding/json does
    except json.JSONDecodeError as exc:
        raise EvalError(f"jsonpath: invalid JSON document: {exc}") from None
    try:
        return _jsonpath.query(path, decoded)
    except _jsonpath.JsonPathError as exc:
        raise EvalError(str(exc)) from None


ARGO_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "asInt": to_int,
    "asFloat": to_float,
    "jsonpath": _jsonpath_fn,
    "toJson": go_json,
}
