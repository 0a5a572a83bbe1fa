"""A small JSONPath evaluator for Argo's ``jsonpath(json, path)`` expression function.

Covers the syntax Argo's documentation and examples use: ``$``, ``.name``, ``['name']``,
``[n]`` (negative from the end), ``[a,b]``, ``[start:end:step]``, ``*``/``[*]``,
``..name`` (recursive descent) and filters ``[?(@.age > 42 && @.name == "x")]`` with
``== != < <= > >= =~``, ``&& || !``, parentheses and existence tests (``[?(@.tag)]``).

Like the library Argo uses, a *definite* path (only names and single indexes) yields one
value, any other path yields the list of matches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["JsonPathError", "query"]


class JsonPathError(ValueError):
    """The path is malformed or does not match the document."""


@dataclass(frozen=True)
class _Step:
    kind: str  # name | index | wildcard | slice | union | filter | recursive
    value: Any = None


_MISSING = object()


def query(path: str, document: Any) -> Any:
    """Evaluate ``path`` against ``document`` (already decoded JSON)."""
    steps = _parse(path)
    nodes = [document]
    for step in steps:
        nodes = _apply(step, nodes, document)
    definite = all(s.kind in {"name", "index"} for s in steps)
    if definite:
        if not nodes:
            raise JsonPathError(f"jsonpath {path!r} matched nothing")
        return nodes[0]
    return nodes


def _parse(path: str) -> list[_Step]:
    path = path.strip()
    if not path.startswith("$"):
        raise JsonPathError(f"jsonpath {path!r} must start with '$'")
    steps: list[_Step] = []
    i, n = 1, len(path)
    while i < n:
        ch = path[i]
        if path.startswith("..", i):
            i += 2
            steps.append(_Step("recursive"))
            if i < n and path[i] == "[":
                continue
            name, i = _read_name(path, i)
            steps.append(_Step("wildcard") if name == "*" else _Step("name", name))
        elif ch == ".":
            name, i = _read_name(path, i + 1)
            steps.append(_Step("wildcard") if name == "*" else _Step("name", name))
        elif ch == "[":
            end = _closing_bracket(path, i)
            steps.append(_bracket(path[i + 1 : end].strip(), path))
            i = end + 1
        else:
            raise JsonPathError(f"jsonpath {path!r}: unexpected {ch!r} at offset {i}")
    return steps


def _read_name(path: str, i: int) -> tuple[str, int]:
    m = re.compile(r"\*|[^.\[\]\s]+").match(path, i)
    if not m:
        raise JsonPathError(f"jsonpath {path!r}: expected a name at offset {i}")
    return m.group(0), m.end()


def _closing_bracket(path: str, start: int) -> int:
    depth, quote = 0, ""
    for j in range(start, len(path)):
        ch = path[j]
        if quote:
            if ch == quote and path[j - 1] != "\\":
                quote = ""
            continue
        if ch in "'\"":
            quote = ch
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth == 0:
                return j
    raise JsonPathError(f"jsonpath {path!r}: unclosed '['")


def _bracket(body: str, path: str) -> _Step:
    if body == "*":
        return _Step("wildcard")
    if body.startswith("?"):
        expr = body[1:].strip()
        if expr.startswith("(") and expr.endswith(")"):
            expr = expr[1:-1]
        return _Step("filter", _FilterParser(expr, path).parse())
    parts = _split_top(body, ",")
    if len(parts) > 1:
        return _Step("union", [_literal_key(p.strip(), path) for p in parts])
    if ":" in body and not body.startswith(("'", '"')):
        bounds = [b.strip() for b in body.split(":")]
        if len(bounds) > 3:
            raise JsonPathError(f"jsonpath {path!r}: bad slice [{body}]")
        nums = [int(b) if b else None for b in bounds] + [None] * (3 - len(bounds))
        return _Step("slice", tuple(nums))
    key = _literal_key(body, path)
    return _Step("index" if isinstance(key, int) else "name", key)


def _split_top(body: str, sep: str) -> list[str]:
    parts, quote, cur = [], "", ""
    for ch in body:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == sep:
            parts.append(cur)
            cur = ""
            continue
        cur += ch
    parts.append(cur)
    return parts


def _literal_key(text: str, path: str) -> str | int:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    try:
        return int(text)
    except ValueError:
        raise JsonPathError(f"jsonpath {path!r}: bad subscript [{text}]") from None


def _children(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return [node[k] for k in sorted(node)]
    if isinstance(node, list):
        return list(node)
    return []


def _descendants(node: Any) -> list[Any]:
    out = [node]
    for child in _children(node):
        out.extend(_descendants(child))
    return out


def _select(node: Any, key: str | int) -> Any:
    if isinstance(key, int) and isinstance(node, list):
        if -len(node) <= key < len(node):
            return node[key]
        return _MISSING
    if isinstance(key, str) and isinstance(node, dict):
        return node.get(key, _MISSING)
    return _MISSING


def _apply(step: _Step, nodes: list[Any], root: Any) -> list[Any]:
    out: list[Any] = []
    if step.kind == "recursive":
        for node in nodes:
            out.extend(_descendants(node))
        return out
    for node in nodes:
        if step.kind in {"name", "index"}:
            value = _select(node, step.value)
            if value is not _MISSING:
                out.append(value)
        elif step.kind == "union":
            out.extend(v for k in step.value if (v := _select(node, k)) is not _MISSING)
        elif step.kind == "wildcard":
            out.extend(_children(node))
        elif step.kind == "slice" and isinstance(node, list):
            start, stop, stride = step.value
            out.extend(node[slice(start, stop, stride)])
        elif step.kind == "filter":
            out.extend(child for child in _children(node) if _truthy(step.value(child, root)))
    return out


def _truthy(value: Any) -> bool:
    return value is not _MISSING and value is not False and value is not None


_FILTER_TOKEN = re.compile(
    r"\s*(?:(?P<op>&&|\|\||==|!=|<=|>=|=~|<|>|!|\(|\))"
    r"|(?P<str>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
    r"|(?P<re>/(?:[^/\\]|\\.)*/[a-z]*)"
    r"|(?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)"
    r"|(?P<path>[@$](?:\.[\w-]+|\[[^\]]*\]|\.\*)*)"
    r"|(?P<word>true|false|null))"
)


class _FilterParser:
    """Recursive-descent parser for filter expressions; builds closures."""

    def __init__(self, text: str, path: str) -> None:
        self.path = path
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            m = _FILTER_TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise JsonPathError(f"jsonpath {path!r}: bad filter near {text[pos:]!r}")
            kind = m.lastgroup
            assert kind is not None
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise JsonPathError(f"jsonpath {self.path!r}: filter ends too early")
        self.i += 1
        return tok

    def parse(self) -> Any:
        fn = self.or_()
        if self.peek() is not None:
            raise JsonPathError(f"jsonpath {self.path!r}: unexpected {self.peek()!r} in filter")
        return fn

    def or_(self) -> Any:
        left = self.and_()
        while self.peek() == ("op", "||"):
            self.take()
            right = self.and_()
            left = (lambda a, b: lambda c, r: _truthy(a(c, r)) or _truthy(b(c, r)))(left, right)
        return left

    def and_(self) -> Any:
        left = self.unary()
        while self.peek() == ("op", "&&"):
            self.take()
            right = self.unary()
            left = (lambda a, b: lambda c, r: _truthy(a(c, r)) and _truthy(b(c, r)))(left, right)
        return left

    def unary(self) -> Any:
        if self.peek() == ("op", "!"):
            self.take()
            inner = self.unary()
            return lambda c, r: not _truthy(inner(c, r))
        return self.comparison()

    def comparison(self) -> Any:
        left = self.operand()
        tok = self.peek()
        if tok is None or tok[0] != "op" or tok[1] not in {"==", "!=", "<", "<=", ">", ">=", "=~"}:
            return left
        op = self.take()[1]
        right = self.operand()
        return lambda c, r: _compare(op, left(c, r), right(c, r))

    def operand(self) -> Any:
        kind, text = self.take()
        if kind == "op" and text == "(":
            inner = self.or_()
            if self.take() != ("op", ")"):
                raise JsonPathError(f"jsonpath {self.path!r}: expected ')' in filter")
            return inner
        if kind == "str":
            value: Any = text[1:-1].replace("\\" + text[0], text[0])
            return lambda c, r: value
        if kind == "re":
            body, flags = text[1:].rsplit("/", 1)
            pattern = re.compile(body, re.IGNORECASE if "i" in flags else 0)
            return lambda c, r: pattern
        if kind == "num":
            num = float(text) if any(ch in text for ch in ".eE") else int(text)
            return lambda c, r: num
        if kind == "word":
            const = {"true": True, "false": False, "null": None}[text]
            return lambda c, r: const
        if kind == "path":
            steps = _parse("$" + text[1:])
            from_root = text.startswith("$")

            def resolve(current: Any, root: Any) -> Any:
                nodes = [root if from_root else current]
                for step in steps:
                    nodes = _apply(step, nodes, root)
                return nodes[0] if nodes else _MISSING

            return resolve
        raise JsonPathError(f"jsonpath {self.path!r}: unexpected {text!r} in filter")


def _compare(op: str, a: Any, b: Any) -> bool:
    if a is _MISSING or b is _MISSING:
        return op == "!=" and not (a is _MISSING and b is _MISSING)
    if op == "=~":
        return isinstance(a, str) and isinstance(b, re.Pattern) and b.search(a) is not None
    if op == "==":
        return bool(a == b and isinstance(a, bool) == isinstance(b, bool))
    if op == "!=":
        return not (a == b and isinstance(a, bool) == isinstance(b, bool))
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (a, b))
    if not numeric and not (isinstance(a, str) and isinstance(b, str)):
        return False
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)
