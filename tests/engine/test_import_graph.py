"""The engine's import graph: no cycles, and nothing from outside the engine but its own vocabulary.

Imports are read with :mod:`ast` (relative ones resolved), including those under
``TYPE_CHECKING`` and inside functions: a cycle there still ties the modules together.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "controller" / "engine"
FORBIDDEN = (
    "hookbus.bus",
    "hookbus.controller.store",
    "hookbus.controller.api",
    "hookbus.controller.cli",
    "hookbus.controller.plugin_hooks",
    "hookbus.controller.executors",
    "hookbus.controller.adapters",
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["hookbus", *parts])


def _imports(path: Path) -> set[str]:
    """Every module *path* imports (``from . import x`` counts as module ``x`` when it is one)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            for alias in node.names:
                found.add(f"{target}.{alias.name}")
    return found


def engine_graph() -> dict[str, set[str]]:
    """Engine module -> the engine modules it imports."""
    modules = {_module_name(p): p for p in ENGINE.rglob("*.py")}
    return {name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()}


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the components of more than one module (or one importing itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_engine_has_no_import_cycle() -> None:
    graph = engine_graph()
    assert "hookbus.controller.engine.run" in graph
    assert strongly_connected(graph) == []


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert sorted(strongly_connected(graph)) == [["a", "b", "c"], ["e"]]


def test_the_engine_imports_nothing_from_its_adapters() -> None:
    reached = {
        _module_name(path): sorted(m for m in _imports(path) if m.startswith(FORBIDDEN))
        for path in ENGINE.rglob("*.py")
    }
    assert {name: found for name, found in reached.items() if found} == {}


def test_engine_modules_stay_small() -> None:
    sizes = {p.name: len(p.read_text().splitlines()) for p in ENGINE.rglob("*.py")}
    assert sizes["run.py"] < 600, sizes["run.py"]
    assert {name: n for name, n in sizes.items() if n > 800} == {}
