"""Operator semantics of the expr-lang dialect, and the ``$...`` helpers a translated
expression calls (:func:`helpers`).

Comparisons between mismatched types are errors except ``==``/``!=`` (which are simply
false), ``/`` always gives a float, ``%`` needs integers, ``&&``/``||``/``!`` need
booleans, and fetching a missing map key gives ``nil``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from typing import Any

from .expr_values import EvalError, equal, go_string, is_number, type_name
from .regex import RegexError, compile_pattern

__all__ = [
    "MAX_RESULT",
    "binary",
    "bounded_range",
    "compile_regex",
    "do_slice",
    "enumerate_collection",
    "helpers",
    "invoke",
    "is_nil",
    "member",
    "method",
    "predicate",
    "to_bool",
    "truthy",
    "unary",
]


MAX_RESULT = 1_000_000  # longest string or list a single function may build


def bounded_range(start: int, stop: int, step: int = 1) -> list[int]:
    """``list(range(...))``, refused beyond :data:`MAX_RESULT` items (``..``, ``until``)."""
    if step == 0:
        raise EvalError("step must not be zero")
    if len(range(start, stop, step)) > MAX_RESULT:
        raise EvalError(f"range longer than {MAX_RESULT} items")
    return list(range(start, stop, step))


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
    if not (is_number(a) and is_number(b)):
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
    ok = (
        (is_number(a) and is_number(b))
        or (isinstance(a, str) and isinstance(b, str))
        or (isinstance(a, dt.datetime) and isinstance(b, dt.datetime))
        or (isinstance(a, dt.timedelta) and isinstance(b, dt.timedelta))
    )
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
        if a is not None and not isinstance(a, str | int | float | bool):
            raise EvalError(f"operator 'in': {type_name(a)} cannot be a key of a map")
        return a in b
    if isinstance(b, list | tuple):
        return any(equal(a, x) for x in b)
    if b is None:
        return False
    raise EvalError(f"operator 'in' not defined on {type_name(b)}")


def _strings(op: str, a: Any, b: Any) -> tuple[str, str]:
    if not (isinstance(a, str) and isinstance(b, str)):
        raise _mismatch(op, a, b)
    return a, b


def compile_regex(pattern: str) -> Any:
    """Compile a Go RE2 pattern with RE2 (linear time; see :mod:`.regex`)."""
    try:
        return compile_pattern(pattern)
    except RegexError as exc:
        raise EvalError(str(exc)) from None


def binary(op: str, a: Any, b: Any) -> Any:
    """Evaluate the non-short-circuit binary operator ``op``."""
    if op == "==":
        return equal(a, b)
    if op == "!=":
        return not equal(a, b)
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
        if (
            not (isinstance(a, int) and isinstance(b, int))
            or isinstance(a, bool)
            or isinstance(b, bool)
        ):
            raise _mismatch(op, a, b)
        return bounded_range(a, b + 1)
    return _arith(op, a, b)


def unary(op: str, a: Any) -> Any:
    """Unary ``-`` and ``+`` on numbers."""
    if not is_number(a):
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
                raise EvalError(
                    f"cannot index {type_name(obj)} with {type_name(key)} {go_string(key)!r}"
                )
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
    return (
        value is not None
        and value is not False
        and value != 0
        and value != ""
        and value != []
        and value != {}
    )


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
