"""Runtime of the expr-lang dialect: operator semantics, builtins and Argo's functions.

Values follow Go's model as expr-lang sees it: ``int`` and ``float`` are distinct (``/``
always gives a float, ``%`` needs integers), comparisons between mismatched types are
errors except ``==``/``!=`` (which are simply false), ``&&``/``||``/``!`` need booleans,
and fetching a missing map key gives ``nil``. Helpers raise :class:`EvalError`;
:mod:`hookbus.controller.argo.expr` turns it into ``ExpressionError``.
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

__all__ = [
    "ARGO_FUNCTIONS",
    "BUILTINS",
    "SPRIG",
    "EvalError",
    "go_json",
    "go_string",
    "helpers",
    "type_name",
]


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


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _plain(value: Any) -> Any:
    """Integral floats become ints, as Go's encoding/json prints them."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.timedelta):
        return int(value.total_seconds() * 1e9)
    return value


def go_json(value: Any) -> str:
    """Compact JSON as Go's ``json.Marshal`` writes it (sorted keys, ``3`` not ``3.0``)."""
    try:
        return json.dumps(_plain(value), separators=(",", ":"), sort_keys=True, ensure_ascii=False,
                          allow_nan=False)
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
        return "map[" + " ".join(f"{go_string(k)}:{go_string(value[k])}" for k in sorted(value, key=str)) + "]"
    if isinstance(value, dt.timedelta):
        return f"{value.total_seconds():g}s"
    return str(value)


# --------------------------------------------------------------------------------------
# operators
# --------------------------------------------------------------------------------------


def _equal(a: Any, b: Any) -> bool:
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if type(a) is not type(b) and not (isinstance(a, Mapping) and isinstance(b, Mapping)) and not (
        isinstance(a, list | tuple) and isinstance(b, list | tuple)
    ):
        return False
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _mismatch(op: str, a: Any, b: Any) -> EvalError:
    return EvalError(f"invalid operation: {type_name(a)} {op} {type_name(b)} (mismatched types)")


def _arith(op: str, a: Any, b: Any) -> Any:
    if op == "+":
        if isinstance(a, str) and isinstance(b, str):
            return a + b
        if isinstance(a, dt.datetime) and isinstance(b, dt.timedelta):
            return a + b
    if op == "-" and isinstance(a, dt.datetime) and isinstance(b, dt.datetime | dt.timedelta):
        return a - b
    if not (_is_number(a) and _is_number(b)):
        raise _mismatch(op, a, b)
    both_int = isinstance(a, int) and isinstance(b, int)
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":  # always float64 division, so x / 0 is ±Inf (or NaN), as in Go
        if b == 0:
            return math.nan if a == 0 else math.copysign(math.inf, a) * math.copysign(1, b)
        return a / b
    if op == "%":
        if not both_int:
            raise _mismatch(op, a, b)
        if b == 0:
            raise EvalError("integer divide by zero")
        return int(math.fmod(a, b))  # Go's % truncates toward zero
    if op in {"**", "^"}:
        if abs(b) > 10_000:
            raise EvalError(f"exponent {b} is too large")
        try:
            return float(math.pow(a, b))
        except (OverflowError, ValueError) as exc:
            raise EvalError(f"{a} ** {b}: {exc}") from None
    raise EvalError(f"unknown operator {op}")


def _less(op: str, a: Any, b: Any) -> bool:
    ok = (_is_number(a) and _is_number(b)) or (isinstance(a, str) and isinstance(b, str)) or (
        isinstance(a, dt.datetime) and isinstance(b, dt.datetime)) or (
        isinstance(a, dt.timedelta) and isinstance(b, dt.timedelta))
    if not ok:
        raise _mismatch(op, a, b)
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)


def _in(a: Any, b: Any) -> bool:
    if isinstance(b, Mapping):
        return a in b
    if isinstance(b, list | tuple):
        return any(_equal(a, x) for x in b)
    if b is None:
        return False
    raise EvalError(f"operator 'in' not defined on {type_name(b)}")


def _strings(op: str, a: Any, b: Any) -> tuple[str, str]:
    if not (isinstance(a, str) and isinstance(b, str)):
        raise _mismatch(op, a, b)
    return a, b


_REGEX_CACHE: dict[str, re.Pattern[str]] = {}


def compile_regex(pattern: str) -> re.Pattern[str]:
    """Compile a Go RE2 pattern (the common subset is Python-compatible)."""
    found = _REGEX_CACHE.get(pattern)
    if found is None:
        try:
            found = re.compile(pattern.replace("(?P<", "(?P<").replace("\\z", "\\Z"))
        except re.error as exc:
            raise EvalError(f"invalid regular expression {pattern!r}: {exc}") from None
        if len(_REGEX_CACHE) < 256:
            _REGEX_CACHE[pattern] = found
    return found


def binary(op: str, a: Any, b: Any) -> Any:
    """Evaluate the non-short-circuit binary operator ``op``."""
    if op == "==":
        return _equal(a, b)
    if op == "!=":
        return not _equal(a, b)
    if op in {"<", "<=", ">", ">="}:
        return _less(op, a, b)
    if op == "in":
        return _in(a, b)
    if op == "matches":
        s, pattern = _strings(op, a, b)
        return compile_regex(pattern).search(s) is not None
    if op == "contains":
        s, sub = _strings(op, a, b)
        return sub in s
    if op == "startsWith":
        s, sub = _strings(op, a, b)
        return s.startswith(sub)
    if op == "endsWith":
        s, sub = _strings(op, a, b)
        return s.endswith(sub)
    if op == "..":
        if not (isinstance(a, int) and isinstance(b, int)) or isinstance(a, bool) or isinstance(b, bool):
            raise _mismatch(op, a, b)
        return _bounded_range(a, b + 1)
    return _arith(op, a, b)


def unary(op: str, a: Any) -> Any:
    """Unary ``-`` and ``+`` on numbers."""
    if not _is_number(a):
        raise EvalError(f"invalid operation: {op}{type_name(a)}")
    return -a if op == "-" else a


def to_bool(value: Any, where: str = "") -> bool:
    """Require a boolean (``&&``, ``||``, ``!``, ``?:`` and predicates need one)."""
    if isinstance(value, bool):
        return value
    suffix = f" in {where}" if where else ""
    raise EvalError(f"expected bool, got {type_name(value)} ({go_string(value)!r}){suffix}")


def member(obj: Any, key: Any, optional: bool = False) -> Any:
    """``obj.key`` / ``obj[key]``: map lookups give nil when missing, arrays index."""
    if obj is None:
        if optional:
            return None
        raise EvalError(f"cannot fetch {go_string(key)} from nil")
    if isinstance(obj, Mapping):
        if key in obj:
            return obj[key]
        return None
    if isinstance(obj, list | tuple | str):
        if not isinstance(key, int) or isinstance(key, bool):
            if isinstance(key, float) and key.is_integer():
                key = int(key)
            else:
                raise EvalError(f"cannot index {type_name(obj)} with {type_name(key)} {go_string(key)!r}")
        index = key + len(obj) if key < 0 else key
        if not 0 <= index < len(obj):
            raise EvalError(f"index out of range: {key} (array length is {len(obj)})")
        return obj[index]
    if isinstance(obj, dt.timedelta) and key in _DURATION_METHODS:
        return _DURATION_METHODS[key](obj)
    raise EvalError(f"cannot fetch {go_string(key)} from {type_name(obj)}")


_DURATION_METHODS: dict[str, Callable[[dt.timedelta], Callable[[], Any]]] = {
    "Seconds": lambda d: lambda: d.total_seconds(),
    "Minutes": lambda d: lambda: d.total_seconds() / 60,
    "Hours": lambda d: lambda: d.total_seconds() / 3600,
    "Milliseconds": lambda d: lambda: int(d.total_seconds() * 1000),
    "String": lambda d: lambda: go_string(d),
}


def do_slice(obj: Any, lower: Any, upper: Any) -> Any:
    """``obj[lower:upper]`` on arrays and strings."""
    if not isinstance(obj, list | tuple | str):
        raise EvalError(f"cannot slice {type_name(obj)}")
    n = len(obj)
    lo = 0 if lower is None else lower
    hi = n if upper is None else upper
    if not isinstance(lo, int) or not isinstance(hi, int):
        raise EvalError("slice bounds must be integers")
    lo = max(0, min(n, lo + n if lo < 0 else lo))
    hi = max(0, min(n, hi + n if hi < 0 else hi))
    return obj[lo:hi] if lo <= hi else obj[0:0]


def invoke(fn: Any, *args: Any) -> Any:
    """Call a function value (``sprig.trim(x)``, ``jsonpath(...)``)."""
    if not callable(fn):
        raise EvalError(f"{type_name(fn)} is not a function")
    try:
        return fn(*args)
    except EvalError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, ArithmeticError, AttributeError) as exc:
        raise EvalError(f"function call failed: {exc}") from None


def method(obj: Any, name: str, optional: bool, *args: Any) -> Any:
    """``obj.name(args)``."""
    if obj is None and optional:
        return None
    return invoke(member(obj, name), *args)


def is_nil(value: Any) -> bool:
    """``??`` falls back when the left side is nil."""
    return value is None


def truthy(value: Any) -> bool:
    """``a ?: b`` falls back when ``a`` is nil, false, zero or empty."""
    return value is not None and value is not False and value != 0 and value != "" and value != [] and value != {}


def enumerate_collection(collection: Any, builtin: str) -> list[tuple[int, Any]]:
    """The (index, element) pairs a closure builtin iterates over."""
    if isinstance(collection, Mapping):
        collection = list(collection.values())
    if not isinstance(collection, list | tuple):
        raise EvalError(f"{builtin}() expects an array, got {type_name(collection)}")
    return list(enumerate(collection))


def predicate(name: str, results: list[tuple[bool, int, Any]]) -> Any:
    """Finish ``all any none one count find findIndex findLast findLastIndex``."""
    hits = [(i, v) for ok, i, v in results if ok]
    if name == "all":
        return len(hits) == len(results)
    if name == "any":
        return bool(hits)
    if name == "none":
        return not hits
    if name == "one":
        return len(hits) == 1
    if name == "count":
        return len(hits)
    if name == "find":
        return hits[0][1] if hits else None
    if name == "findIndex":
        return hits[0][0] if hits else -1
    if name == "findLast":
        return hits[-1][1] if hits else None
    if name == "findLastIndex":
        return hits[-1][0] if hits else -1
    raise EvalError(f"unknown builtin {name}()")


# --------------------------------------------------------------------------------------
# expr-lang builtins
# --------------------------------------------------------------------------------------


_MAX_RESULT = 1_000_000  # longest string or list a single function may build


def _repeat(text: Any, count: Any) -> str:
    if not isinstance(text, str) or not isinstance(count, int) or isinstance(count, bool):
        raise EvalError("repeat() expects a string and an integer")
    if count < 0:
        raise EvalError("repeat(): negative repeat count")
    if len(text) * count > _MAX_RESULT:
        raise EvalError(f"repeat(): result longer than {_MAX_RESULT} characters")
    return text * count


def _bounded_range(start: int, stop: int, step: int = 1) -> list[int]:
    if step == 0:
        raise EvalError("step must not be zero")
    if len(range(start, stop, step)) > _MAX_RESULT:
        raise EvalError(f"range longer than {_MAX_RESULT} items")
    return list(range(start, stop, step))


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


def _from_json(text: Any) -> Any:
    if not isinstance(text, str):
        raise EvalError(f"fromJSON expects a string, got {type_name(text)}")
    try:
        return json.loads(text, parse_int=float)  # Go decodes every JSON number as float64
    except json.JSONDecodeError as exc:
        raise EvalError(f"invalid JSON: {exc}") from None


def _numbers(values: Iterable[Any], name: str) -> list[int | float]:
    out = []
    for v in values:
        if not _is_number(v):
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


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _b64dec(value: Any) -> str:
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


def _uniq(value: Any) -> list[Any]:
    out: list[Any] = []
    for v in value:
        if not any(_equal(v, seen) for seen in out):
            out.append(v)
    return out


def _sort(value: Any, order: str = "asc") -> list[Any]:
    try:
        return sorted(value, reverse=order == "desc")
    except TypeError:
        raise EvalError("sort() needs an array of numbers or strings") from None


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list | tuple) and value else None


def _last(value: Any) -> Any:
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
    "repeat": _repeat,
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
    "toJSON": lambda v: json.dumps(_plain(v), indent=2, sort_keys=True, ensure_ascii=False),
    "fromJSON": _from_json,
    "toBase64": lambda s: base64.b64encode(s.encode()).decode(),
    "fromBase64": _b64dec,
    "now": _now,
    "duration": _duration,
    "date": parse_time,
    "type": _type,
    "get": _get,
    "keys": _keys,
    "values": _values,
    "first": _first,
    "last": _last,
    "reverse": lambda v: list(reversed(v)),
    "sort": _sort,
    "uniq": _uniq,
    "concat": lambda *lists: [x for lst in lists for x in lst],
    "flatten": _flatten,
    "toPairs": lambda m: [[k, v] for k, v in m.items()],
    "fromPairs": lambda pairs: dict(pairs),
}


# --------------------------------------------------------------------------------------
# Argo's environment functions
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# sprig (argument order as in Go templates: the subject comes last)
# --------------------------------------------------------------------------------------


def _to_int64(value: Any) -> int:
    """sprig's lenient integer conversion: anything unparsable is 0."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip(), 0)
        except ValueError:
            try:
                return int(float(value))
            except ValueError:
                return 0
    return 0


def _to_float64(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return 0.0
    return 0.0


def _empty(value: Any) -> bool:
    if value is None or value is False:
        return True
    if _is_number(value):
        return bool(value == 0)
    if isinstance(value, str | list | tuple | Mapping):
        return len(value) == 0
    return False


def _sprig_div(a: Any, b: Any) -> int:
    x, y = _to_int64(a), _to_int64(b)
    if y == 0:
        raise EvalError("integer divide by zero")
    return int(x / y)


def _sprig_mod(a: Any, b: Any) -> int:
    x, y = _to_int64(a), _to_int64(b)
    if y == 0:
        raise EvalError("integer divide by zero")
    return int(math.fmod(x, y))


def _sprig_split(sep: str, s: str) -> dict[str, str]:
    return {f"_{i}": part for i, part in enumerate(s.split(sep))}


def _trunc(n: Any, s: str) -> str:
    n = _to_int64(n)
    if n < 0 and len(s) + n > 0:
        return s[len(s) + n :]
    if n >= 0 and len(s) > n:
        return s[:n]
    return s


def _substr(start: Any, end: Any, s: str) -> str:
    start, end = _to_int64(start), _to_int64(end)
    if start < 0:
        return s[:end]
    if end < 0 or end > len(s):
        return s[start:]
    return s[start:end]


def _dict(*pairs: Any) -> dict[str, Any]:
    out = {}
    for i in range(0, len(pairs), 2):
        out[go_string(pairs[i])] = pairs[i + 1] if i + 1 < len(pairs) else ""
    return out


def _sprig_get(d: Any, key: Any) -> Any:
    if isinstance(d, Mapping) and key in d:
        return d[key]
    return ""


_GO_LAYOUT = [
    ("January", "%B"), ("Jan", "%b"), ("Monday", "%A"), ("Mon", "%a"), ("2006", "%Y"),
    ("MST", "%Z"), ("-07:00", "%:z"), ("-0700", "%z"), ("Z07:00", "Z"), ("15", "%H"),
    ("01", "%m"), ("02", "%d"), ("03", "%I"), ("04", "%M"), ("05", "%S"), ("06", "%y"),
    ("PM", "%p"), ("pm", "%p"), (".000000000", ".%f"), (".000000", ".%f"), (".000", ".%f"),
]


def go_time_format(layout: str, when: dt.datetime) -> str:
    """Format ``when`` with a Go reference-time layout (``2006-01-02T15:04:05Z07:00``)."""
    out: list[str] = []
    i = 0
    while i < len(layout):
        for token, directive in _GO_LAYOUT:
            if layout.startswith(token, i):
                if directive == "Z":
                    text = "Z" if when.utcoffset() in (None, dt.timedelta(0)) else when.strftime("%:z")
                elif directive == ".%f":
                    text = "." + when.strftime("%f")[: len(token) - 1].ljust(len(token) - 1, "0")
                else:
                    text = when.strftime(directive)
                out.append(text)
                i += len(token)
                break
        else:
            out.append(layout[i])
            i += 1
    return "".join(out)


def _sprig_date(layout: Any, when: Any) -> str:
    if isinstance(when, int | float) and not isinstance(when, bool):
        moment = dt.datetime.fromtimestamp(when, dt.UTC)
    elif isinstance(when, str | dt.datetime):
        moment = parse_time(when)
    else:
        moment = _now()
    return go_time_format(str(layout), moment)


def _regex_find_all(regex: str, s: str, n: Any) -> list[str]:
    found = [m.group(0) for m in compile_regex(regex).finditer(s)]
    n = _to_int64(n)
    return found if n < 0 else found[:n]


SPRIG: dict[str, Callable[..., Any]] = {
    "trim": lambda s: str(s).strip(),
    "trimAll": lambda cut, s: str(s).strip(cut),
    "trimPrefix": lambda p, s: str(s).removeprefix(p),
    "trimSuffix": lambda p, s: str(s).removesuffix(p),
    "upper": lambda s: str(s).upper(),
    "lower": lambda s: str(s).lower(),
    "title": lambda s: str(s).title(),
    "replace": lambda old, new, s: str(s).replace(old, new),
    "repeat": lambda n, s: _repeat(str(s), max(0, _to_int64(n))),
    "trunc": _trunc,
    "substr": _substr,
    "nospace": lambda s: "".join(str(s).split()),
    "quote": lambda *s: " ".join(json.dumps(go_string(x), ensure_ascii=False) for x in s if x is not None),
    "squote": lambda *s: " ".join(f"'{go_string(x)}'" for x in s if x is not None),
    "cat": lambda *s: " ".join(go_string(x) for x in s if x is not None),
    "indent": lambda n, s: "\n".join(" " * _to_int64(n) + line for line in str(s).split("\n")),
    "nindent": lambda n, s: "\n" + "\n".join(" " * _to_int64(n) + line for line in str(s).split("\n")),
    "contains": lambda sub, s: str(sub) in str(s),
    "hasPrefix": lambda p, s: str(s).startswith(str(p)),
    "hasSuffix": lambda p, s: str(s).endswith(str(p)),
    "add": lambda *xs: sum(_to_int64(x) for x in xs),
    "add1": lambda x: _to_int64(x) + 1,
    "sub": lambda a, b: _to_int64(a) - _to_int64(b),
    "mul": lambda *xs: math.prod(_to_int64(x) for x in xs),
    "div": _sprig_div,
    "mod": _sprig_mod,
    "max": lambda *xs: max(_to_int64(x) for x in xs),
    "min": lambda *xs: min(_to_int64(x) for x in xs),
    "addf": lambda *xs: sum(_to_float64(x) for x in xs),
    "subf": lambda a, *xs: _to_float64(a) - sum(_to_float64(x) for x in xs),
    "mulf": lambda *xs: math.prod(_to_float64(x) for x in xs),
    "divf": lambda a, *xs: _to_float64(a) / math.prod(_to_float64(x) for x in xs),
    "floor": lambda x: float(math.floor(_to_float64(x))),
    "ceil": lambda x: float(math.ceil(_to_float64(x))),
    "round": lambda x, p=0, r=0.5: round(_to_float64(x), _to_int64(p)),
    "int": _to_int64,
    "int64": _to_int64,
    "float64": _to_float64,
    "atoi": lambda s: _to_int64(s) if re.fullmatch(r"\s*[+-]?\d+\s*", str(s)) else 0,
    "toString": go_string,
    "toStrings": lambda xs: [go_string(x) for x in xs],
    "toJson": go_json,
    "mustToJson": go_json,
    "toRawJson": go_json,
    "toPrettyJson": lambda v: json.dumps(_plain(v), indent=2, sort_keys=True, ensure_ascii=False),
    "fromJson": lambda s: _from_json(s) if s else None,
    "mustFromJson": _from_json,
    "b64enc": lambda s: base64.b64encode(go_string(s).encode()).decode(),
    "b64dec": _b64dec,
    "join": lambda sep, items: str(sep).join(go_string(i) for i in items),
    "split": _sprig_split,
    "splitList": lambda sep, s: str(s).split(sep),
    "list": lambda *xs: list(xs),
    "first": _first,
    "last": _last,
    "rest": lambda xs: list(xs[1:]),
    "initial": lambda xs: list(xs[:-1]),
    "append": lambda xs, v: [*xs, v],
    "prepend": lambda xs, v: [v, *xs],
    "concat": lambda *lists: [x for lst in lists for x in lst],
    "reverse": lambda xs: list(reversed(xs)),
    "uniq": _uniq,
    "has": lambda needle, xs: any(_equal(needle, x) for x in xs),
    "without": lambda xs, *drop: [x for x in xs if not any(_equal(x, d) for d in drop)],
    "sortAlpha": lambda xs: sorted(go_string(x) for x in xs),
    "until": lambda n: _bounded_range(0, _to_int64(n)),
    "untilStep": lambda a, b, s: _bounded_range(_to_int64(a), _to_int64(b), _to_int64(s)),
    "dict": _dict,
    "get": _sprig_get,
    "set": lambda d, k, v: {**d, k: v},
    "unset": lambda d, k: {kk: vv for kk, vv in d.items() if kk != k},
    "hasKey": lambda d, k: k in d,
    "keys": lambda *ds: [k for d in ds for k in d],
    "values": lambda d: list(d.values()),
    "pluck": lambda k, *ds: [d[k] for d in ds if k in d],
    "merge": lambda dst, *srcs: {**{k: v for s in reversed(srcs) for k, v in s.items()}, **dst},
    "default": lambda default, *given: default if not given or _empty(given[0]) else given[0],
    "empty": _empty,
    "coalesce": lambda *xs: next((x for x in xs if not _empty(x)), None),
    "ternary": lambda t, f, cond: t if cond else f,
    "regexMatch": lambda regex, s: compile_regex(regex).search(str(s)) is not None,
    "regexFind": lambda regex, s: (m.group(0) if (m := compile_regex(regex).search(str(s))) else ""),
    "regexFindAll": _regex_find_all,
    "regexReplaceAll": lambda regex, s, repl: compile_regex(regex).sub(
        re.sub(r"\$\{?(\w+)\}?", r"\\g<\1>", repl), str(s)),
    "regexReplaceAllLiteral": lambda regex, s, repl: compile_regex(regex).sub(lambda _m: repl, str(s)),
    "regexSplit": lambda regex, s, n: compile_regex(regex).split(str(s), max(0, _to_int64(n) - 1) if _to_int64(n) > 0 else 0),
    "now": _now,
    "date": _sprig_date,
    "toDate": lambda layout, s: parse_time(s),
    "unixEpoch": lambda t: str(int(parse_time(t).timestamp())),
}


def helpers(call_named: Callable[..., Any]) -> dict[str, Callable[..., Any]]:
    """The ``$...`` functions the translated tree calls; ``call_named`` resolves ``f(x)``."""
    return {
        "$binary": binary,
        "$unary": unary,
        "$not": lambda v: not to_bool(v, "!"),
        "$bool": to_bool,
        "$truthy": truthy,
        "$isnil": is_nil,
        "$member": member,
        "$method": method,
        "$invoke": invoke,
        "$slice": do_slice,
        "$enumerate": enumerate_collection,
        "$predicate": predicate,
        "$call": call_named,
    }
