"""Reading values out of a Kubernetes object's JSON, as Argo's ``resource`` templates do.

- :func:`parse_condition` / :func:`matches`: ``successCondition`` and ``failureCondition``,
  Kubernetes label-selector syntax whose keys are gjson paths into the object
  (``status.succeeded > 2``, ``status.phase in (Failed, Error)``, ``!status.failed``);
  the requirements of one condition must all hold.
- :func:`json_path`: kubectl's ``jsonpath`` templates (``{.metadata.name}``) for
  ``outputs.parameters[].valueFrom.jsonPath``.
- :func:`jq_filter`: the path subset of jq (``.``, ``.metadata.name``, ``.items[0]``) for
  ``valueFrom.jqFilter``, printed as ``jq -rc`` prints.

Every input is bounded (:data:`MAX_EXPRESSION`); bad input raises ``ValueError`` naming it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MAX_EXPRESSION = 4096
"""Longest condition, jsonPath or jqFilter accepted (characters)."""
_MAX_REQUIREMENTS = 64
_SPECIAL = frozenset(" \t\n,()=!<>")

_MISSING = object()


@dataclass(frozen=True)
class Requirement:
    """One requirement of a condition: *key* (a gjson path) *op* *values*."""

    key: str
    op: str
    """``in``, ``notin``, ``exists``, ``!``, ``gt``, ``lt`` (``=``/``==`` are ``in``, ``!=`` is ``notin``)."""
    values: tuple[str, ...] = ()

    def __str__(self) -> str:
        if self.op == "exists":
            return self.key
        if self.op == "!":
            return f"!{self.key}"
        if self.op in ("gt", "lt"):
            return f"{self.key} {'>' if self.op == 'gt' else '<'} {self.values[0]}"
        return f"{self.key} {self.op} ({', '.join(self.values)})"


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\n":
            i += 1
        elif c in ",()":
            out.append(c)
            i += 1
        elif c in "=!<>":
            if text.startswith(("==", "!="), i):
                out.append(text[i : i + 2])
                i += 2
            else:
                out.append(c)
                i += 1
        else:
            j = i
            while j < n and (text[j] not in _SPECIAL or (text[j] in "=!" and j > i and text[j - 1] == "\\")):
                j += 1
            out.append(text[i:j])
            i = j
    return out


def parse_condition(text: str) -> tuple[Requirement, ...]:
    """The requirements of *text* (label-selector syntax); ``ValueError`` names what is wrong."""
    if len(text) > MAX_EXPRESSION:
        raise ValueError(f"condition longer than {MAX_EXPRESSION} characters")
    tokens = _tokens(text)
    reqs: list[Requirement] = []
    i = 0

    def word(at: int, what: str) -> str:
        if at >= len(tokens) or tokens[at] in (",", "(", ")", "=", "==", "!=", "!", "<", ">"):
            raise ValueError(f"condition {text!r}: expected {what}")
        return tokens[at]

    while i < len(tokens):
        if tokens[i] == "!":
            reqs.append(Requirement(word(i + 1, "a key after '!'"), "!"))
            i += 2
        else:
            key = word(i, "a key")
            i += 1
            op = tokens[i] if i < len(tokens) else ","
            if op == ",":
                reqs.append(Requirement(key, "exists"))
            elif op in ("=", "==", "!="):
                value = tokens[i + 1] if i + 1 < len(tokens) and tokens[i + 1] not in (",", "(", ")") else ""
                reqs.append(Requirement(key, "notin" if op == "!=" else "in", (value,)))
                i += 2 if value else 1
            elif op in ("<", ">"):
                value = word(i + 1, f"an integer after {op!r}")
                try:
                    int(value)
                except ValueError:
                    raise ValueError(f"condition {text!r}: {value!r} after {op!r} is not an integer") from None
                reqs.append(Requirement(key, "gt" if op == ">" else "lt", (value,)))
                i += 2
            elif op in ("in", "notin"):
                if i + 1 >= len(tokens) or tokens[i + 1] != "(":
                    raise ValueError(f"condition {text!r}: expected '(' after {op!r}")
                i += 2
                values: list[str] = []
                while i < len(tokens) and tokens[i] != ")":
                    if tokens[i] != ",":
                        values.append(tokens[i])
                    i += 1
                if i >= len(tokens):
                    raise ValueError(f"condition {text!r}: missing ')'")
                reqs.append(Requirement(key, op, tuple(values)))
                i += 1
            else:
                raise ValueError(f"condition {text!r}: unexpected {op!r} after {key!r}")
        if i < len(tokens):
            if tokens[i] != ",":
                raise ValueError(f"condition {text!r}: expected ',' before {tokens[i]!r}")
            i += 1
        if len(reqs) > _MAX_REQUIREMENTS:
            raise ValueError(f"condition {text!r}: more than {_MAX_REQUIREMENTS} requirements")
    if not reqs:
        raise ValueError(f"condition {text!r} is empty")
    return tuple(reqs)


def _gjson_keys(path: str) -> list[str]:
    keys, current, escaped = [], [], False
    for c in path:
        if escaped:
            current.append(c)
            escaped = False
        elif c == "\\":
            escaped = True
        elif c == ".":
            keys.append("".join(current))
            current = []
        else:
            current.append(c)
    keys.append("".join(current))
    return keys


def gjson_get(obj: Any, path: str) -> Any:
    """The value at gjson *path* (``a.b``, ``items.0.name``, ``items.#`` for a length, ``\\.``
    escapes a dot), or :data:`_MISSING`."""
    value = obj
    for key in _gjson_keys(path):
        if isinstance(value, dict):
            value = value.get(key, _MISSING)
        elif isinstance(value, list):
            if key == "#":
                value = len(value)
            elif key.isdigit() and int(key) < len(value):
                value = value[int(key)]
            else:
                return _MISSING
        else:
            return _MISSING
        if value is _MISSING:
            return _MISSING
    return value


def _text(value: Any) -> str:
    """A value as gjson's ``String()`` gives it (strings raw, null empty, the rest JSON)."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, separators=(",", ":"))


def matches(req: Requirement, obj: Any) -> bool:
    """Whether *obj* meets *req*, as Kubernetes' ``labels.Requirement.Matches`` over gjson."""
    value = gjson_get(obj, req.key)
    has = value is not _MISSING
    if req.op == "exists":
        return has
    if req.op == "!":
        return not has
    if req.op == "in":
        return has and _text(value) in req.values
    if req.op == "notin":
        return not has or _text(value) not in req.values
    if not has:
        return False
    try:
        got = int(_text(value))
    except ValueError:
        return False
    want = int(req.values[0])
    return got > want if req.op == "gt" else got < want


def _path_steps(path: str, what: str) -> list[str | int]:
    """``.a.b[0]['c']`` as steps (``$``/leading ``.`` optional)."""
    steps: list[str | int] = []
    i, n = 0, len(path)
    if path.startswith("$"):
        i = 1
    while i < n:
        c = path[i]
        if c == ".":
            j = i + 1
            while j < n and path[j] not in ".[":
                j += 1
            if j > i + 1:
                steps.append(path[i + 1 : j])
            i = j
        elif c == "[":
            end = path.find("]", i)
            if end < 0:
                raise ValueError(f"{what} {path!r}: missing ']'")
            inner = path[i + 1 : end].strip()
            if inner[:1] in ("'", '"') and inner[-1:] == inner[:1] and len(inner) >= 2:
                steps.append(inner[1:-1])
            elif inner.lstrip("-").isdigit():
                steps.append(int(inner))
            else:
                raise ValueError(f"{what} {path!r}: [{inner}] is not supported (only indexes and quoted keys)")
            i = end + 1
        elif i == 0:
            j = i
            while j < n and path[j] not in ".[":
                j += 1
            steps.append(path[i:j])
            i = j
        else:
            raise ValueError(f"{what} {path!r}: unexpected {c!r}")
    return steps


def _walk(obj: Any, steps: list[str | int]) -> Any:
    value = obj
    for step in steps:
        if isinstance(step, int) and isinstance(value, list) and -len(value) <= step < len(value):
            value = value[step]
        elif isinstance(step, str) and isinstance(value, dict) and step in value:
            value = value[step]
        else:
            return _MISSING
    return value


def json_path(obj: Any, template: str) -> str:
    """kubectl ``-o jsonpath=`` *template* over *obj*: text outside ``{}`` as is, each
    ``{path}`` its value (strings raw, the rest JSON). ``ValueError`` when a path names
    nothing (kubectl: "... is not found")."""
    if len(template) > MAX_EXPRESSION:
        raise ValueError(f"jsonPath longer than {MAX_EXPRESSION} characters")
    out: list[str] = []
    i = 0
    while i < len(template):
        start = template.find("{", i)
        if start < 0:
            out.append(template[i:])
            break
        out.append(template[i:start])
        end = template.find("}", start)
        if end < 0:
            raise ValueError(f"jsonPath {template!r}: missing '}}'")
        path = template[start + 1 : end].strip()
        value = _walk(obj, _path_steps(path, "jsonPath"))
        if value is _MISSING:
            raise ValueError(f"jsonPath {template!r}: {path} is not found")
        out.append(_text(value))
        i = end + 1
    return "".join(out)


def jq_filter(obj: Any, expression: str) -> str:
    """jq path *expression* (``.``, ``.a.b``, ``.items[0]``, ``.["key"]``) over *obj*, printed as
    ``jq -rc`` prints (strings raw, the rest compact JSON, a missing key ``null``). Anything
    beyond paths (pipes, functions) raises ``ValueError`` saying so."""
    text = expression.strip()
    if len(text) > MAX_EXPRESSION:
        raise ValueError(f"jqFilter longer than {MAX_EXPRESSION} characters")
    if not text.startswith(".") or any(c in text for c in "|(),+*/ "):
        raise ValueError(f"jqFilter {expression!r}: only paths such as '.', '.metadata.name' or '.items[0]' are supported")
    value = _walk(obj, _path_steps(text.replace('.[', '['), "jqFilter"))
    if value is _MISSING:
        value = None
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
