"""Node ids, pod names and loop expansion (``withItems``/``withParam``/``withSequence``).

Facts followed (Argo v3.x and v4, unchanged since v2):

* **Node id**: the root node's id is the workflow name; every other node's id is
  ``<workflow>-<FNV-1a 32-bit hash of the node name, in decimal>``. Newer Argo versions
  changed *pod* names (the default "v2" format ``<workflow>-<template>-<hash>``, see
  :func:`pod_name`), not node ids; we follow that: ids as above, pod names v2.
* **Expanded node names**: ``<base>(<index>:<item>)``, where the item is printed as
  Argo's ``Item`` prints: strings bare, numbers and booleans as JSON, a map as its
  ``key:value`` pairs sorted and joined by ``,``, a list as ``[a b c]``; parentheses
  inside that text are dropped.
* **withSequence**: ``start`` (default 0) to ``end`` inclusive, or ``count`` items from
  ``start`` (``end`` wins when both are given); descending when ``start > end``; each
  value printed with ``format`` (Go ``printf``, default ``%d``), and always a string.
* **withParam**: a JSON list in a string; anything else fails with
  ``withParam value could not be parsed as a JSON list``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from .errors import ArgoError

__all__ = [
    "LoopError",
    "expand_items",
    "expand_sequence",
    "fnv1a_32",
    "item_node_name",
    "item_text",
    "item_variables",
    "label_value_problem",
    "node_id",
    "pod_name",
]

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193
_MAX_POD_PREFIX = 253 - 10 - 1


class LoopError(ArgoError, ValueError):
    """A ``withItems``/``withParam``/``withSequence`` value cannot be expanded.

    The message names the value. Fix the manifest (or the output feeding ``withParam``);
    retrying the same input will not help.
    """


_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")


def label_value_problem(value: str) -> str | None:
    """Why *value* cannot be a Kubernetes label value (``None`` when it can): at most 63
    characters, alphanumerics with ``-``, ``_`` or ``.`` inside."""
    if len(value) > 63:
        return "must be no more than 63 characters"
    if not _LABEL_VALUE.fullmatch(value):
        return (
            "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
            "and must start and end with an alphanumeric character"
        )
    return None


def fnv1a_32(data: str) -> int:
    """FNV-1a, 32 bits, of the UTF-8 bytes of ``data`` (Go's ``hash/fnv.New32a``)."""
    h = _FNV_OFFSET
    for byte in data.encode("utf-8"):
        h ^= byte
        h = (h * _FNV_PRIME) & 0xFFFFFFFF
    return h


def node_id(workflow_name: str, node_name: str) -> str:
    """Argo's deterministic node id: the workflow name for the root node, else name-hash."""
    if node_name == workflow_name:
        return workflow_name
    return f"{workflow_name}-{fnv1a_32(node_name)}"


def pod_name(workflow_name: str, node_name: str, template_name: str = "", *, version: str = "v2") -> str:
    """Argo's pod name for a node: v2 ``<workflow>-<template>-<hash>``, v1 the node id."""
    if version == "v1":
        return node_id(workflow_name, node_name)
    if workflow_name == node_name:
        return workflow_name
    prefix = f"{workflow_name}-{template_name}" if template_name else workflow_name
    prefix = prefix[:_MAX_POD_PREFIX]
    return f"{prefix}-{fnv1a_32(node_name)}"


def _json_number(value: int | float) -> str:
    if isinstance(value, int):
        return str(value)
    if value != value or value in (float("inf"), float("-inf")):
        raise LoopError(f"item value {value!r} is not valid JSON")
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        mantissa, exp = text.split("e")
        text = f"{mantissa}e{exp[0] if exp[0] in '+-' else '+'}{exp.lstrip('+-').lstrip('0') or '0'}"
    return text


def _json(value: Any) -> str:
    """Compact JSON as Go writes it (map keys sorted, integral floats without ``.0``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _json_number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{_json(value[k])}" for k in sorted(value, key=str)) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_json(v) for v in value) + "]"
    raise LoopError(f"item of type {type(value).__name__} cannot be expanded")


def item_text(item: Any) -> str:
    """How Argo prints one item (``Item.String``): a string bare, anything else as JSON."""
    if isinstance(item, str):
        return json.dumps(item, ensure_ascii=False)[1:-1]
    return _json(item)


def _description(item: Any) -> str:
    if isinstance(item, Mapping):
        return ",".join(sorted(f"{k}:{item_text(v)}" for k, v in item.items()))
    if isinstance(item, list | tuple):
        return "[" + " ".join(item_text(v) for v in item) + "]"
    return item_text(item)


def item_node_name(base: str, index: int, item: Any) -> str:
    """The name of the ``index``-th expanded node: ``base(index:item)``."""
    text = _description(item).replace("(", "").replace(")", "")
    return f"{base}({index}:{text})"


def item_variables(item: Any) -> dict[str, str]:
    """The flat scope entries one item provides: ``item``, and ``item.<key>`` for maps.

    A string item is its value; numbers and booleans their JSON text; maps and lists
    their compact JSON (keys sorted). A map's values are printed as :func:`item_text`.
    """
    if item is None:
        raise LoopError("withItems: null is not a valid item (expected string, number, list, or map)")
    if isinstance(item, str):
        return {"item": item}
    variables = {"item": _json(item)}
    if isinstance(item, Mapping):
        for key, value in item.items():
            variables[f"item.{key}"] = item_text(value)
    return variables


_INT = re.compile(r"[+-]?\d+")
_VERB = re.compile(r"%([-+# 0]*)(\d*)(?:\.(\d*))?([a-zA-Z%])")


def _atoi(field: str, value: Any) -> int:
    text = str(value).strip() if not isinstance(value, bool) else ""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not _INT.fullmatch(text):
        raise LoopError(f'withSequence.{field}: strconv.Atoi: parsing "{value}": invalid syntax')
    return int(text)


def go_sprintf_int(fmt: str, value: int) -> str:
    """Format one integer with a Go ``printf`` format (``%d``, ``%02X``, ``%o``, ``%b`` ...)."""
    out: list[str] = []
    pos = 0
    used = False
    for m in _VERB.finditer(fmt):
        out.append(fmt[pos : m.start()])
        pos = m.end()
        flags, width, precision, verb = m.groups()
        if verb == "%":
            out.append("%")
            continue
        if used:
            out.append(f"%!{verb}(MISSING)")
            continue
        used = True
        spec = f"%{flags}{width}" + (f".{precision}" if precision is not None else "")
        if verb in "dv":
            out.append((spec + "d") % value)
        elif verb in "xXo":
            out.append((spec + verb) % value)
        elif verb == "b":
            digits = format(abs(value), "b")
            sign = "-" if value < 0 else ("+" if "+" in flags else "")
            body = sign + digits
            w = int(width) if width else 0
            if "-" in flags:
                body = body.ljust(w)
            elif "0" in flags:
                body = sign + digits.rjust(max(0, w - len(sign)), "0")
            else:
                body = body.rjust(w)
            out.append(body)
        elif verb == "c":
            out.append(chr(value))
        elif verb == "q":
            out.append("'" + chr(value) + "'")
        elif verb == "U":
            out.append(f"U+{value:04X}")
        elif verb in "eEfFgG":
            out.append(f"%!{verb}(int={value})")
        else:
            out.append(f"%!{verb}(int={value})")
    out.append(fmt[pos:])
    if not used:
        out.append(f"%!(EXTRA int={value})")
    return "".join(out)


def expand_sequence(seq: Mapping[str, Any]) -> list[str]:
    """Expand a ``withSequence`` (``count``/``start``/``end``/``format``) to its strings."""
    start = _atoi("start", seq["start"]) if seq.get("start") not in (None, "") else 0
    if seq.get("end") not in (None, ""):
        end = _atoi("end", seq["end"])
    elif seq.get("count") not in (None, ""):
        count = _atoi("count", seq["count"])
        if count == 0:
            return []
        end = start + count - 1
    else:
        raise LoopError("withSequence: neither end nor count was specified")
    fmt = seq.get("format") or "%d"
    step = 1 if start <= end else -1
    if abs(end - start) > 1_000_000:
        raise LoopError(f"withSequence from {start} to {end} is too long (over 1,000,000 items)")
    return [go_sprintf_int(str(fmt), i) for i in range(start, end + step, step)]


def expand_items(value: Any) -> list[Any]:
    """The items of a ``withItems`` list or a ``withParam`` JSON string (a JSON list)."""
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except json.JSONDecodeError as exc:
            raise LoopError(
                f"withParam value could not be parsed as a JSON list: {value.strip()[:200]}: {exc}"
            ) from None
        if not isinstance(decoded, list):
            kind = "object" if isinstance(decoded, dict) else type(decoded).__name__
            raise LoopError(
                f"withParam value could not be parsed as a JSON list: {value.strip()[:200]}: "
                f"cannot unmarshal {kind} into a list of items"
            )
        return decoded
    raise LoopError(f"withItems/withParam must be a list or a JSON list string, got {type(value).__name__}")
