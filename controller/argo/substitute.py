"""``{{...}}`` substitution in Argo manifests.

Two kinds of tag, as in Argo: ``{{name}}`` (spaces inside the braces allowed:
``{{ inputs.parameters.x }}``) looks ``name`` up in a *flat* scope whose keys are
dotted names (``"inputs.parameters.x"``, ``"steps.S.outputs.result"``, ``"item.field"``);
``{{=expr}}`` evaluates an expr-lang expression (see :mod:`.expr`) in a *nested*
environment built from the same scope, so ``inputs.parameters.x``,
``inputs.parameters['my-param']`` and ``steps['generate'].outputs.result`` all work. A
tag ends at the first ``}}``. A string result replaces an expression tag as it is,
anything else as compact JSON (``30``, ``[1,2]``, ``true``).

Unknown names: with ``strict=True`` (Argo's behaviour when a template runs) every
unresolvable tag is collected and :class:`UnresolvedError` lists them ("failed to
resolve {{...}}"); with ``strict=False`` (an early pass that later passes complete)
unresolvable tags are left exactly as written.

A failing expression is an error either way, as in Argo (``expression_template.go``): a
syntax error, an unknown function, or an evaluation that fails although every variable
it reads is there raises :class:`ExpressionError` naming the expression. ``strict=False``
leaves an expression as written only when it reads a variable that is not known yet
(or whose value is itself still a ``{{...}}`` placeholder), or when it gives ``nil``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .errors import ArgoError, ExpressionError
from .expr import argo_env, compile_expression, format_result

__all__ = [
    "UnresolvedError",
    "expressions",
    "nested_env",
    "placeholders",
    "substitute",
    "substitute_string",
]

_OPEN = "{{"
_CLOSE = "}}"


class UnresolvedError(ArgoError):
    """Some ``{{...}}`` tags could not be resolved; ``names`` lists them (sorted).

    Supplying the missing values (or fixing the names) is the cure; retrying the same
    substitution with the same scope will not help.
    """

    def __init__(self, names: list[str] | set[str], detail: str = "") -> None:
        self.names: list[str] = sorted(set(names))
        tags = ", ".join("{{" + n + "}}" for n in self.names)
        super().__init__(f"failed to resolve {tags}" + (f": {detail}" if detail else ""))


def _tags(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, inner) of every tag; text after an unclosed ``{{`` is no tag."""
    pos = 0
    while True:
        start = text.find(_OPEN, pos)
        if start < 0:
            return
        end = text.find(_CLOSE, start + 2)
        if end < 0:
            return
        yield start, end + 2, text[start + 2 : end]
        pos = end + 2


def nested_env(scope: Mapping[str, Any]) -> dict[str, Any]:
    """Turn the flat scope into the nested environment ``{{=...}}`` sees.

    ``{"inputs.parameters.x": "1"}`` becomes ``{"inputs": {"parameters": {"x": "1"}}}``.
    As in Argo, a key that is also the prefix of a longer key is dropped (with
    ``item`` and ``item.a`` both present, ``item`` is the map ``{"a": ...}``).
    """
    keys = sorted(scope)
    prefixes = {k.rsplit(".", i)[0] for k in keys for i in range(1, k.count(".") + 1)}
    env: dict[str, Any] = {}
    for key in keys:
        if key in prefixes:
            continue
        parts = key.split(".")
        node = env
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = scope[key]
    return env


def _simple_value(value: Any) -> str:
    return value if isinstance(value, str) else format_result(value)


class _Substituter:
    def __init__(self, scope: Mapping[str, Any], strict: bool) -> None:
        self.scope = scope
        self.strict = strict
        self.missing: set[str] = set()
        self.details: list[str] = []
        self._env: dict[str, Any] | None = None

    @property
    def env(self) -> dict[str, Any]:
        if self._env is None:
            self._env = argo_env(nested_env(self.scope))
        return self._env

    def string(self, text: str) -> str:
        if _OPEN not in text:
            return text
        out: list[str] = []
        pos = 0
        for start, end, inner in _tags(text):
            out.append(text[pos:start])
            out.append(self.tag(text[start:end], inner))
            pos = end
        out.append(text[pos:])
        return "".join(out)

    def tag(self, whole: str, inner: str) -> str:
        if inner.startswith("="):
            return self.expression(whole, inner[1:])
        name = inner.strip()
        value = self.scope.get(name)
        if value is None:
            if self.strict:
                self.missing.add(name)
            return whole
        return _simple_value(value)

    def expression(self, whole: str, text: str) -> str:
        compiled = compile_expression(text)  # a syntax error fails, strict or not
        env = self.env
        missing_roots = sorted(name for name in compiled.identifiers if name not in env)
        if missing_roots:
            return self.unresolved(whole, text, missing_roots)
        try:
            result = compiled.evaluate(env)
        except ExpressionError:
            missing_paths = self.missing_paths(compiled.paths)
            if missing_paths:
                return self.unresolved(whole, text, missing_paths)
            if not self.strict and self.pending(compiled.paths):
                return whole
            raise
        if result is None:
            if not self.strict:
                return whole
            missing_paths = self.missing_paths(compiled.paths)
            if missing_paths:
                return self.unresolved(whole, text, missing_paths)
            raise ExpressionError(f"failed to evaluate expression {text!r}: the result is nil")
        try:
            return format_result(result)
        except ValueError as exc:
            raise ExpressionError(f"failed to evaluate expression {text!r}: {exc}") from None

    def pending(self, paths: frozenset[str]) -> bool:
        """Whether a variable the expression reads is still a ``{{...}}`` placeholder."""
        for path in paths:
            node: Any = self.env
            for part in path.split("."):
                node = node.get(part) if isinstance(node, Mapping) else None
            if isinstance(node, str) and _OPEN in node:
                return True
        return False

    def unresolved(self, whole: str, text: str, missing: list[str]) -> str:
        if self.strict:
            self.missing.add(f"={text}")
            self.details.append(f"{', '.join(missing)} is missing")
        return whole

    def missing_paths(self, paths: frozenset[str]) -> list[str]:
        missing = []
        for path in sorted(paths):
            node: Any = self.env
            for part in path.split("."):
                if not isinstance(node, Mapping) or part not in node:
                    missing.append(path)
                    break
                node = node[part]
        return missing

    def walk(self, obj: Any) -> Any:
        if isinstance(obj, str):
            return self.string(obj)
        if isinstance(obj, Mapping):
            return {self.string(k) if isinstance(k, str) else k: self.walk(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [self.walk(v) for v in obj]
        return obj


def substitute(obj: Any, scope: Mapping[str, Any], *, strict: bool = True) -> Any:
    """Replace ``{{name}}`` and ``{{=expr}}`` tags in every string (and key) of ``obj``.

    Returns a new object; ``obj`` is not changed. Strict: raises UnresolvedError listing
    every unresolvable tag. Non-strict: leaves what cannot be resolved yet untouched.
    Both raise ExpressionError for an invalid or failing expression.
    """
    sub = _Substituter(scope, strict)
    result = sub.walk(obj)
    if sub.missing:
        raise UnresolvedError(sub.missing, "; ".join(sub.details))
    return result


def substitute_string(text: str, scope: Mapping[str, Any], *, strict: bool = True) -> str:
    """:func:`substitute` for one string."""
    result = substitute(text, scope, strict=strict)
    assert isinstance(result, str)
    return result


def _strings(obj: Any) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, Mapping):
        for key, value in obj.items():
            if isinstance(key, str):
                yield key
            yield from _strings(value)
    elif isinstance(obj, list | tuple):
        for value in obj:
            yield from _strings(value)


def placeholders(obj: Any) -> set[str]:
    """Every name used as ``{{name}}`` anywhere in ``obj`` (stripped; expressions excluded)."""
    found: set[str] = set()
    for text in _strings(obj):
        for _start, _end, inner in _tags(text):
            if not inner.startswith("="):
                found.add(inner.strip())
    return found


def expressions(obj: Any) -> set[str]:
    """The text of every ``{{=expr}}`` tag in ``obj`` (without the ``=``)."""
    found: set[str] = set()
    for text in _strings(obj):
        for _start, _end, inner in _tags(text):
            if inner.startswith("="):
                found.add(inner[1:])
    return found
