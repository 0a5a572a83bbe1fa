"""Every expression in Argo's example workflows parses.

Walks the conformance examples (``<repo>/../shared/conformance/argo-examples``; skipped
when that folder is absent) and checks each ``{{=...}}`` tag, ``when``, ``depends``,
``dependencies`` and ``expression`` field (retryStrategy, lifecycle hooks, ...).
Simple ``{{...}}`` tags are replaced by a bare word first, as substitution would.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from hookbus.controller.argo.depends import dependencies_to_depends, parse_depends
from hookbus.controller.argo.expr import compile_expression
from hookbus.controller.argo.substitute import expressions
from hookbus.controller.argo.when import parse_when

if TYPE_CHECKING:
    from collections.abc import Iterator

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "argo-examples"
_EXPR_TAG = re.compile(r"\{\{=.*?\}\}", re.DOTALL)
_SIMPLE_TAG = re.compile(r"\{\{[^=].*?\}\}", re.DOTALL)

pytestmark = pytest.mark.skipif(not EXAMPLES.is_dir(), reason="Argo conformance examples not present")


def _documents() -> Iterator[tuple[str, Any]]:
    for path in sorted(EXAMPLES.rglob("*.yaml")) + sorted(EXAMPLES.rglob("*.yml")):
        with path.open(encoding="utf-8") as fh:
            for doc in yaml.safe_load_all(fh):
                if doc is not None:
                    yield str(path.relative_to(EXAMPLES)), doc


def _fields(obj: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    if isinstance(obj, dict):
        for key, value in obj.items():
            where = f"{path}.{key}" if path else str(key)
            yield where, str(key), value
            yield from _fields(value, where)
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from _fields(value, f"{path}[{i}]")


def _collect() -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list[tuple[str, str]]] = {
        "tag": [], "when": [], "depends": [], "expression": [],
    }
    for name, doc in _documents():
        for text in expressions(doc):
            found["tag"].append((name, text))
        for where, key, value in _fields(doc):
            label = f"{name}:{where}"
            if key == "when" and isinstance(value, str):
                found["when"].append((label, value))
            elif key == "depends" and isinstance(value, str):
                found["depends"].append((label, value))
            elif key == "dependencies" and isinstance(value, list) and all(isinstance(v, str) for v in value):
                found["depends"].append((label, dependencies_to_depends(value)))
            elif key == "expression" and isinstance(value, str):
                found["expression"].append((label, value))
    return found


FOUND = _collect() if EXAMPLES.is_dir() else {"tag": [], "when": [], "depends": [], "expression": []}


def test_the_examples_have_expressions_to_check() -> None:
    assert len(FOUND["tag"]) >= 10
    assert len(FOUND["when"]) >= 15
    assert len(FOUND["depends"]) >= 20
    assert len(FOUND["expression"]) >= 5


@pytest.mark.parametrize(("where", "text"), FOUND["tag"])
def test_expression_tags_parse(where: str, text: str) -> None:
    compile_expression(_SIMPLE_TAG.sub("x", text))


@pytest.mark.parametrize(("where", "text"), FOUND["when"])
def test_when_conditions_parse(where: str, text: str) -> None:
    # an expression tag is evaluated first (to true/false), simple tags become words
    parse_when(_SIMPLE_TAG.sub("x", _EXPR_TAG.sub("true", text)))


@pytest.mark.parametrize(("where", "text"), FOUND["depends"])
def test_depends_parse(where: str, text: str) -> None:
    assert parse_depends(text).tasks


@pytest.mark.parametrize(("where", "text"), FOUND["expression"])
def test_expression_fields_parse(where: str, text: str) -> None:
    compile_expression(_SIMPLE_TAG.sub("x", text))
