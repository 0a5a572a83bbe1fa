"""Fuzzing manifests with hypothesis: random mutations of the repository's examples (and
of Argo's conformance examples, when that folder is present) are linted and, when lint
accepts them, submitted to the engine with a scripted executor. Every manifest ends in
success or a clear error: never a traceback, never a hang."""

from __future__ import annotations

import asyncio
import copy
import time
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hookbus.controller.argo.errors import ArgoError
from hookbus.controller.argo.lint import check_document, lint_warnings
from hookbus.controller.argo.manifest import Bundle, load_documents
from hookbus.controller.engine.clock import ManualClock
from tests.conformance.runner import DEFAULT_EXAMPLES
from tests.support.engine import ScriptedExecutor, make_controller
from tests.support.fuzzing import Outcomes, internal

LIMIT = 120
ROOT = Path(__file__).resolve().parents[2]
POOL: list[Any] = [
    None, "", 0, -1, 2**70, 1.5, True, "x", "{{", "}}", "{{=1 + }}", "{{workflow.name}}",
    "{{inputs.parameters.nope}}", "{{=asInt('x')}}", "{{item}}", "a" * 300, [], {}, [None], {"a": {"b": None}},
    "-1s", "1e9", "999999999999", "\u0000", "💥", [1, [2, [3]]], {"name": "n"}, [{"name": "main"}],
]


def _corpus() -> tuple[Bundle, list[dict[str, Any]]]:
    bundle = Bundle()
    workflows: list[dict[str, Any]] = []
    files = sorted((ROOT / "examples").glob("*.yaml"))
    if DEFAULT_EXAMPLES.is_dir():
        files += sorted(DEFAULT_EXAMPLES.rglob("*.yaml"))[:400]
    for path in files:
        try:
            docs = load_documents(path, name=path.name)
        except (ArgoError, ValueError):
            continue
        for doc in docs:
            if not isinstance(doc, dict):
                continue
            if doc.get("kind") == "Workflow":
                workflows.append(doc)
            else:
                try:
                    bundle.add(doc)
                except (ArgoError, ValueError, KeyError):
                    pass
    return bundle, workflows


BUNDLE, WORKFLOWS = _corpus()


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(_paths(v, (*path, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_paths(v, (*path, i)))
    return out


def mutate(doc: dict[str, Any], steps: list[tuple[int, int, int]]) -> dict[str, Any]:
    """*doc* with each step applied: (which path, what to do, which pool value)."""
    out = copy.deepcopy(doc)
    for where, op, value in steps:
        paths = _paths(out)[1:]
        if not paths:
            break
        path = paths[where % len(paths)]
        parent: Any = out
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        new = copy.deepcopy(POOL[value % len(POOL)])
        if op % 4 == 0:
            del parent[last]
        elif op % 4 == 1 and isinstance(parent, list):
            parent.insert(last, new)
        elif op % 4 == 2 and isinstance(parent[last], dict):
            parent[last][str(POOL[value % len(POOL)])[:20] or "k"] = new
        else:
            parent[last] = new
    return out


mutations = st.tuples(
    st.integers(0, max(len(WORKFLOWS) - 1, 0)),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 3), st.integers(0, len(POOL) - 1)), min_size=1, max_size=3),
)


def _mutants(count: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    @settings(max_examples=count, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(mutations)
    def gather(case: tuple[int, list[tuple[int, int, int]]]) -> None:
        index, steps = case
        found.append(mutate(WORKFLOWS[index], steps))

    gather()
    return found


async def test_fuzz_manifests() -> None:
    assert WORKFLOWS, "the examples load"
    linted = Outcomes("manifests (lint)", budget=2.0)
    submitted = Outcomes("manifests (submit and run)", budget=3.0)
    accepted: list[dict[str, Any]] = []
    for mutant in _mutants(400):
        clean: list[dict[str, Any]] = []
        linted.run(mutant, lambda m=mutant, c=clean: (lint_warnings(m), check_document(m, BUNDLE), c.append(m)))
        accepted.extend(clean)
    clock = ManualClock()
    async with make_controller(ScriptedExecutor(blocking=False), clock=clock) as ctl:
        for index, mutant in enumerate(accepted[:LIMIT]):
            meta = mutant.setdefault("metadata", {}) if isinstance(mutant.get("metadata"), dict) else {}
            mutant["metadata"] = {**meta, "name": f"fz-{index}"}
            mutant["metadata"].pop("generateName", None)
            submitted.counts["inputs"] += 1
            started = time.monotonic()
            try:
                key = await asyncio.wait_for(ctl.submit(mutant, bundle=BUNDLE), 2)
            except TimeoutError:
                submitted._fail("hangs", mutant, "submit did not return within 2 s")
                continue
            except (ArgoError, ValueError) as exc:
                if internal(str(exc)):
                    submitted._fail("tracebacks", mutant, str(exc))
                else:
                    submitted.counts["clear errors"] += 1
                continue
            except Exception as exc:
                submitted._fail("tracebacks", mutant, f"{type(exc).__name__}: {exc}")
                continue
            try:
                workflow = await ctl.wait(key, timeout=0.5)
            except TimeoutError:
                # Waiting by design (a suspend, a backoff, a deadline on the manual clock):
                # the engine must still answer a terminate promptly.
                try:
                    await asyncio.wait_for(ctl.terminate(key), 3)
                    workflow = await ctl.wait(key, timeout=3)
                except (TimeoutError, ValueError) as exc:
                    submitted._fail("hangs", mutant, f"did not end after terminate: {exc!r}")
                    continue
            message = str((workflow.get("status") or {}).get("message") or "")
            messages = [message, *(str(n.get("message") or "") for n in (workflow["status"].get("nodes") or {}).values())]
            if any(internal(m) or m.startswith("internal error") for m in messages):
                submitted._fail("tracebacks", mutant, " | ".join(m for m in messages if m)[:500])
            elif workflow["status"].get("phase") == "Succeeded":
                submitted.counts["successes"] += 1
            else:
                submitted.counts["clear errors"] += 1
            if time.monotonic() - started > submitted.budget:
                submitted._fail("hangs", mutant, f"took {time.monotonic() - started:.2f}s")
    linted.check()
    submitted.check()
