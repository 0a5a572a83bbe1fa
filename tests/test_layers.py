"""The layer contracts of docs/architecture.md, checked from the files' own imports.

Every import counts: module level, inside functions and under ``TYPE_CHECKING``. Relative
imports are resolved to absolute ``hookbus.*`` names, so a contract reads the same as the
tree. The last tests feed the checker a tree that breaks each kind of contract, so a
broken contract is shown to fail the suite.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"bus": "hookbus.bus", "controller": "hookbus.controller", "plugins": "hookbus.plugins"}
"""Folders of the repository and the packages they install as."""
OTHERS = ("examples",)
"""Folders whose files are checked as clients of the public API."""


def module_name(root: Path, path: Path) -> str:
    """``bus/events/model.py`` -> ``hookbus.bus.events.model``; other folders keep their path."""
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    if parts[0] in PACKAGES:
        return ".".join([PACKAGES[parts[0]], *parts[1:]])
    return ".".join(parts)


def imports_of(root: Path, path: Path, known: set[str]) -> set[str]:
    """The absolute names of the modules *path* imports.

    ``from x import y`` names the module ``x.y`` when that is a module of ours, else ``x``
    (``from . import subjects`` imports the ``subjects`` module, not the package).
    """
    name = module_name(root, path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in known else target)
    return found


@functools.cache
def graph(root: Path) -> dict[str, frozenset[str]]:
    """Module -> the hookbus modules it imports, for every file of ours under *root*."""
    files = [p for folder in (*PACKAGES, *OTHERS) if (root / folder).exists() for p in (root / folder).rglob("*.py")]
    modules = {module_name(root, p): p for p in files}
    known = set(modules)
    return {
        name: frozenset(imp for imp in imports_of(root, path, known) if within_any(imp, known) and imp != name)
        for name, path in modules.items()
    }


def within_any(name: str, known: set[str]) -> bool:
    """Whether *name* is one of our modules or an object inside one (``pkg.mod.Class``)."""
    parts = name.split(".")
    return any(".".join(parts[:i]) in known for i in range(len(parts), 0, -1))


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@dataclass(frozen=True)
class Contract:
    """Modules under *source* may import hookbus modules only as *allows* says."""

    name: str
    source: str
    exempt: str = ""
    """Modules under this prefix are not held to the contract."""

    def allows(self, imported: str) -> bool:
        raise NotImplementedError

    def broken(self, g: dict[str, frozenset[str]]) -> list[str]:
        return sorted(
            f"{mod} imports {imp}"
            for mod, imps in g.items()
            if within(mod, self.source) and not (self.exempt and within(mod, self.exempt))
            for imp in imps
            if within(imp, "hookbus") and not self.allows(imp)
        )


@dataclass(frozen=True)
class Within(Contract):
    """Imports only from under *allowed*."""

    allowed: tuple[str, ...] = ()

    def allows(self, imported: str) -> bool:
        return any(within(imported, a) for a in self.allowed)


@dataclass(frozen=True)
class Forbidden(Contract):
    """Imports nothing from under *targets*."""

    targets: tuple[str, ...] = ()

    def allows(self, imported: str) -> bool:
        return not any(within(imported, t) for t in self.targets)


@dataclass(frozen=True)
class OnlyPublic(Contract):
    """Imports hookbus modules only by these exact names (the public API)."""

    allowed: tuple[str, ...] = ()

    def allows(self, imported: str) -> bool:
        return imported in self.allowed


C = "hookbus.controller"
ENGINE = "the engine imports only itself and the Argo language: no NATS, adapters, executors, API or CLI"
EXECUTORS = "executors implement the engine's ports and see none of its internals"
CONTRACTS: tuple[Contract, ...] = (
    Within("the wire never reaches into the controller", "hookbus.bus", allowed=("hookbus.bus",)),
    Within(ENGINE, f"{C}.engine", allowed=(f"{C}.engine", f"{C}.argo")),
    Within("the Argo language layer is below everything else", f"{C}.argo", allowed=(f"{C}.argo",)),
    Within(EXECUTORS, f"{C}.executors", allowed=(f"{C}.executors", f"{C}.argo", f"{C}.engine.ports")),
    Forbidden("the Kubernetes layer is below the adapters and entry points", f"{C}.kube", targets=(f"{C}.adapters", f"{C}.cli", f"{C}.app")),
    Forbidden("adapters do not reach up into the entry points", f"{C}.adapters", targets=(f"{C}.cli", f"{C}.app")),
    Forbidden("only the CLI imports the CLI", C, exempt=f"{C}.cli", targets=(f"{C}.cli",)),
    OnlyPublic("bundled plugins use only the public bus API", "hookbus.plugins", allowed=("hookbus.bus", "hookbus.bus.testing")),
    OnlyPublic("example plugins use only the public bus API", "examples", allowed=("hookbus.bus", "hookbus.bus.testing")),
)


def cycles(g: dict[str, frozenset[str]], prefix: str) -> list[list[str]]:
    """Strongly connected components of more than one module among those under *prefix*."""
    nodes = [n for n in g if within(n, prefix)]
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in g[v]:
            if not within(w, prefix):
                continue
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
            if len(component) > 1:
                found.append(sorted(component))

    for n in nodes:
        if n not in index:
            visit(n)
    return found


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda c: c.name)
def test_layer_contract_holds(contract: Contract) -> None:
    assert contract.broken(graph(ROOT)) == []


@pytest.mark.parametrize("prefix", [f"{C}.engine", "hookbus.bus", f"{C}.argo", f"{C}.executors", f"{C}.adapters", f"{C}.kube"])
def test_no_import_cycle_inside_a_layer(prefix: str) -> None:
    assert cycles(graph(ROOT), prefix) == []


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_the_checker_catches_a_contract_broken_by_a_relative_import(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "bus/__init__.py": "",
            "bus/wire.py": "from ..controller.engine import ports\n",
            "controller/__init__.py": "",
            "controller/engine/__init__.py": "",
            "controller/engine/ports.py": "",
            "controller/engine/run.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ...bus.wire import X\n",
            "controller/executors/__init__.py": "",
            "controller/executors/local.py": "from ..engine.ports import Executor\nfrom ..engine import run\n",
            "bus/dispatch.py": "",
            "examples/p.py": "from hookbus.bus.dispatch import Dispatcher\n",
        },
    )
    g = graph(root)
    broken = {c.name: c.broken(g) for c in CONTRACTS}
    assert broken["the wire never reaches into the controller"] == ["hookbus.bus.wire imports hookbus.controller.engine.ports"]
    assert broken[ENGINE] == ["hookbus.controller.engine.run imports hookbus.bus.wire"]
    assert broken[EXECUTORS] == ["hookbus.controller.executors.local imports hookbus.controller.engine.run"]
    assert broken["example plugins use only the public bus API"] == ["examples.p imports hookbus.bus.dispatch"]


def test_the_checker_finds_a_cycle_hidden_under_type_checking(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "controller/__init__.py": "",
            "controller/engine/__init__.py": "",
            "controller/engine/run.py": "from . import frames\n",
            "controller/engine/frames.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .run import WorkflowRun\n",
            "controller/engine/model.py": "",
        },
    )
    assert cycles(graph(root), f"{C}.engine") == [[f"{C}.engine.frames", f"{C}.engine.run"]]


MAX_MODULE_LINES = 800
ONE_THING = {
    "bus/events/publisher.py": "the publisher's queue, batching, ack window and retries share one state",
    "bus/dispatch.py": "one hook call's life: filters, projection, chunking, ordering, breaker and merge",
}
"""Modules allowed past :data:`MAX_MODULE_LINES`, each with the reason it is one thing."""


def test_modules_stay_small_unless_they_are_one_thing() -> None:
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for folder in PACKAGES
        for path in (ROOT / folder).rglob("*.py")
    }
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES and name not in ONE_THING} == {}
    assert sizes["controller/engine/run.py"] < 600, "the coordinator grew: move state into its own module"
    assert all(sizes[name] > MAX_MODULE_LINES for name in ONE_THING), "an exception no longer needed: drop it"
