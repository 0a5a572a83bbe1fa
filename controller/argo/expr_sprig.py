"""Sprig's function map, as Argo exposes it to expressions (``sprig.trim(x)``).

Argument order is Go templates': the subject comes last (``sprig.trimPrefix("v", s)``).
Numbers convert leniently, as sprig's ``toInt64`` does (anything unparsable is 0).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from .expr_funcs import (
    b64decode,
    first,
    from_json,
    last,
    now,
    parse_time,
    repeat,
    unique,
)
from .expr_runtime import bounded_range, compile_regex
from .expr_values import EvalError, equal, go_json, go_string, is_number, plain

__all__ = ["SPRIG", "go_time_format"]


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
    if is_number(value):
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
    ("January", "%B"),
    ("Jan", "%b"),
    ("Monday", "%A"),
    ("Mon", "%a"),
    ("2006", "%Y"),
    ("MST", "%Z"),
    ("-07:00", "%:z"),
    ("-0700", "%z"),
    ("Z07:00", "Z"),
    ("15", "%H"),
    ("01", "%m"),
    ("02", "%d"),
    ("03", "%I"),
    ("04", "%M"),
    ("05", "%S"),
    ("06", "%y"),
    ("PM", "%p"),
    ("pm", "%p"),
    (".000000000", ".%f"),
    (".000000", ".%f"),
    (".000", ".%f"),
]


def go_time_format(layout: str, when: dt.datetime) -> str:
    """Format ``when`` with a Go reference-time layout (``2006-01-02T15:04:05Z07:00``)."""
    out: list[str] = []
    i = 0
    while i < len(layout):
        for token, directive in _GO_LAYOUT:
            if layout.startswith(token, i):
                if directive == "Z":
                    text = (
                        "Z" if when.utcoffset() in (None, dt.timedelta(0)) else when.strftime("%:z")
                    )
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
        moment = now()
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
    "repeat": lambda n, s: repeat(str(s), max(0, _to_int64(n))),
    "trunc": _trunc,
    "substr": _substr,
    "nospace": lambda s: "".join(str(s).split()),
    "quote": lambda *s: " ".join(
        json.dumps(go_string(x), ensure_ascii=False) for x in s if x is not None
    ),
    "squote": lambda *s: " ".join(f"'{go_string(x)}'" for x in s if x is not None),
    "cat": lambda *s: " ".join(go_string(x) for x in s if x is not None),
    "indent": lambda n, s: "\n".join(" " * _to_int64(n) + line for line in str(s).split("\n")),
    "nindent": lambda n, s: (
        "\n" + "\n".join(" " * _to_int64(n) + line for line in str(s).split("\n"))
    ),
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
    "toPrettyJson": lambda v: json.dumps(plain(v), indent=2, sort_keys=True, ensure_ascii=False),
    "fromJson": lambda s: from_json(s) if s else None,
    "mustFromJson": from_json,
    "b64enc": lambda s: base64.b64encode(go_string(s).encode()).decode(),
    "b64dec": b64decode,
    "join": lambda sep, items: str(sep).join(go_string(i) for i in items),
    "split": _sprig_split,
    "splitList": lambda sep, s: str(s).split(sep),
    "list": lambda *xs: list(xs),
    "first": first,
    "last": last,
    "rest": lambda xs: list(xs[1:]),
    "initial": lambda xs: list(xs[:-1]),
    "append": lambda xs, v: [*xs, v],
    "prepend": lambda xs, v: [v, *xs],
    "concat": lambda *lists: [x for lst in lists for x in lst],
    "reverse": lambda xs: list(reversed(xs)),
    "uniq": unique,
    "has": lambda needle, xs: any(equal(needle, x) for x in xs),
    "without": lambda xs, *drop: [x for x in xs if not any(equal(x, d) for d in drop)],
    "sortAlpha": lambda xs: sorted(go_string(x) for x in xs),
    "until": lambda n: bounded_range(0, _to_int64(n)),
    "untilStep": lambda a, b, s: bounded_range(_to_int64(a), _to_int64(b), _to_int64(s)),
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
    "regexFind": lambda regex, s: m.group(0) if (m := compile_regex(regex).search(str(s))) else "",
    "regexFindAll": _regex_find_all,
    "regexReplaceAll": lambda regex, s, repl: compile_regex(regex).sub(
        re.sub(r"\$\{?(\w+)\}?", r"\\g<\1>", repl), str(s)
    ),
    "regexReplaceAllLiteral": lambda regex, s, repl: compile_regex(regex).sub(
        lambda _m: repl, str(s)
    ),
    "regexSplit": lambda regex, s, n: compile_regex(regex).split(
        str(s), max(0, _to_int64(n) - 1) if _to_int64(n) > 0 else 0
    ),
    "now": now,
    "date": _sprig_date,
    "toDate": lambda layout, s: parse_time(s),
    "unixEpoch": lambda t: str(int(parse_time(t).timestamp())),
}
