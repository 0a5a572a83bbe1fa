"""Lint rules for ``{{...}}`` placeholders: the ones that can be known statically resolve.

Declared inputs, known workflow parameters, steps of earlier groups, upstream tasks,
``item`` only inside a loop. Expression tags (``{{=...}}``) and other prefixes are left
to run time.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .depends import scan_depends
from .lint_flow import LOOPS
from .lint_report import idx, key

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from .lint_refs import Scope
    from .lint_report import Reporter

__all__ = ["VariableChecker"]

_TAG = re.compile(r"\{\{\s*([^=\s{}][^{}]*?)\s*\}\}")


def _strings(
    value: Any, path: str, skip: frozenset[str] = frozenset()
) -> Iterable[tuple[str, str]]:
    """Every string in a JSON-like value with its path, not entering keys in ``skip``."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for name, item in value.items():
            if name not in skip:
                yield from _strings(item, key(path, name), skip)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, idx(path, index), skip)


def _declared(template: dict[str, Any], group: str, kind: str) -> set[str]:
    section = template.get(group)
    items = section.get(kind) if isinstance(section, dict) else None
    if not isinstance(items, list):
        return set()
    return {str(i["name"]) for i in items if isinstance(i, dict) and i.get("name") is not None}


class _Reach:
    """Which tasks of a DAG each task depends on, directly or not.

    Computed once, on first use, as bit sets in topological order: a DAG of ten thousand
    tasks costs milliseconds, not a set per task. A cyclic DAG (already reported)
    answers "yes" to everything.
    """

    def __init__(self, direct: dict[str, set[str]]) -> None:
        self.direct = direct
        self.index = {name: i for i, name in enumerate(direct)}
        self._bits: dict[str, int] | None = None
        self.cyclic = False

    def bits(self) -> dict[str, int]:
        if self._bits is None:
            bits: dict[str, int] = {}
            pending = {n: {d for d in deps if d in self.direct} for n, deps in self.direct.items()}
            users: dict[str, list[str]] = {n: [] for n in self.direct}
            for name, deps in pending.items():
                for dep in deps:
                    users[dep].append(name)
            ready = [n for n, deps in pending.items() if not deps]
            while ready:
                name = ready.pop()
                value = 0
                for dep in self.direct[name]:
                    if dep in self.index:
                        value |= bits[dep] | (1 << self.index[dep])
                bits[name] = value
                for user in users[name]:
                    pending[user].discard(name)
                    if not pending[user]:
                        ready.append(user)
            self.cyclic = len(bits) != len(self.direct)
            self._bits = bits
        return self._bits

    def reaches(self, name: str, other: str) -> bool:
        bits = self.bits()
        if self.cyclic:
            return True
        return other in self.index and bool(bits.get(name, 0) >> self.index[other] & 1)

    def upstream(self, name: str) -> set[str]:
        value = self.bits().get(name, 0)
        return {n for n, i in self.index.items() if value >> i & 1}


class _Upstream:
    """The names a task's ``{{tasks.X}}`` may use: its upstream tasks (plus ``extra``)."""

    def __init__(self, name: str, reach: _Reach, extra: frozenset[str] = frozenset()) -> None:
        self.name = name
        self.reach = reach
        self.extra = extra

    def __contains__(self, other: object) -> bool:
        return isinstance(other, str) and (
            other in self.extra or self.reach.reaches(self.name, other)
        )

    def __or__(self, extra: set[str]) -> _Upstream:
        return _Upstream(self.name, self.reach, self.extra | extra)

    def __iter__(self) -> Iterator[str]:
        return iter(self.reach.upstream(self.name) | self.extra)


_Names = set[str] | _Upstream


class VariableChecker:
    """Checks the ``{{...}}`` references of one template resolve, as ``argo lint`` does
    for the ones it can know statically:

    * ``inputs.parameters.X`` / ``inputs.artifacts.X`` name a declared input;
    * ``workflow.parameters.X`` names a workflow argument (Workflows only);
    * in a steps template, ``steps.X`` names a step of an *earlier* group (any step
      in the template's outputs); in a DAG, ``tasks.X`` names a task the referring task
      depends on, directly or not (any task in the template's outputs).

    Expression tags (``{{=...}}``) and other prefixes are left to run time.
    """

    def __init__(self, owner: Reporter, template: dict[str, Any], path: str, scope: Scope) -> None:
        self.owner = owner
        self.template = template
        self.path = path
        self.scope = scope
        self.input_params = _declared(template, "inputs", "parameters")
        self.input_artifacts = _declared(template, "inputs", "artifacts")

    def run(self) -> None:
        body = {k: v for k, v in self.template.items() if k not in ("steps", "dag")}
        self.check_strings(body, self.path, steps=None, tasks=None)
        steps = self.template.get("steps")
        if isinstance(steps, list):
            all_steps = {
                str(step.get("name"))
                for group in steps
                if isinstance(group, list)
                for step in group
                if isinstance(step, dict)
            }
            # The template's outputs may name any step: re-check them with all in scope.
            self.check_strings(
                self.template.get("outputs"),
                key(self.path, "outputs"),
                steps=all_steps,
                tasks=None,
            )
            earlier: set[str] = set()
            for group_index, group in enumerate(steps):
                if not isinstance(group, list):
                    continue
                gpath = idx(key(self.path, "steps"), group_index)
                for step_index, step in enumerate(group):
                    if isinstance(step, dict):
                        own = {str(step.get("name"))}
                        spath = idx(gpath, step_index)
                        self.check_strings(
                            step,
                            spath,
                            steps=earlier,
                            tasks=None,
                            hooks_extra=own,
                            looped=any(step.get(k) is not None for k in LOOPS),
                        )
                earlier.update(str(step.get("name")) for step in group if isinstance(step, dict))
        dag = self.template.get("dag")
        if isinstance(dag, dict) and isinstance(dag.get("tasks"), list):
            tasks = [t for t in dag["tasks"] if isinstance(t, dict)]
            all_tasks = {str(t.get("name")) for t in tasks}
            self.check_strings(
                self.template.get("outputs"),
                key(self.path, "outputs"),
                steps=None,
                tasks=all_tasks,
            )
            reach = _Reach(self.direct_dependencies(tasks))
            self.check_strings(
                {k: v for k, v in dag.items() if k != "tasks"},
                key(self.path, "dag"),
                steps=None,
                tasks=all_tasks,
            )
            for index, task in enumerate(dag["tasks"]):
                if isinstance(task, dict):
                    name = str(task.get("name"))
                    tpath = idx(key(key(self.path, "dag"), "tasks"), index)
                    self.check_strings(
                        task,
                        tpath,
                        steps=None,
                        tasks=_Upstream(name, reach),
                        hooks_extra={name},
                        looped=any(task.get(k) is not None for k in LOOPS),
                    )

    @staticmethod
    def direct_dependencies(tasks: list[dict[str, Any]]) -> dict[str, set[str]]:
        direct: dict[str, set[str]] = {}
        for task in tasks:
            deps: set[str] = set()
            if isinstance(task.get("dependencies"), list):
                deps |= {str(d) for d in task["dependencies"]}
            if isinstance(task.get("depends"), str):
                deps |= scan_depends(task["depends"]).tasks
            direct[str(task.get("name"))] = deps
        return direct

    def check_strings(
        self,
        value: Any,
        path: str,
        *,
        steps: set[str] | None,
        tasks: _Names | None,
        hooks_extra: set[str] | None = None,
        looped: bool = False,
    ) -> None:
        skip = frozenset({"inline", "hooks"}) if hooks_extra is not None else frozenset({"inline"})
        for spath, text in _strings(value, path, skip):
            self.check_text(text, spath, steps, tasks, looped)
        if (
            hooks_extra is not None
            and isinstance(value, dict)
            and isinstance(value.get("hooks"), dict)
        ):
            hook_steps = None if steps is None else steps | hooks_extra
            hook_tasks = None if tasks is None else tasks | hooks_extra
            for spath, text in _strings(value["hooks"], key(path, "hooks"), frozenset({"inline"})):
                self.check_text(text, spath, hook_steps, hook_tasks, looped)

    def check_text(
        self, text: str, path: str, steps: set[str] | None, tasks: _Names | None, looped: bool
    ) -> None:
        if "{{" not in text:
            return
        for match in _TAG.finditer(text):
            problem = self.problem(match.group(1), steps, tasks, looped)
            if problem is not None:
                self.owner.error(path, f"failed to resolve {{{{{match.group(1)}}}}}{problem}")

    def problem(
        self, tag: str, steps: set[str] | None, tasks: _Names | None, looped: bool
    ) -> str | None:
        parts = tag.split(".")
        if (parts[0] == "item" or tag.startswith("item[")) and not looped:
            return " (item is only set in a step or task with withItems, withParam or withSequence)"
        if len(parts) >= 3 and parts[0] == "inputs" and parts[1] in ("parameters", "artifacts"):
            declared = self.input_params if parts[1] == "parameters" else self.input_artifacts
            if parts[2] not in declared:
                return _known(f"inputs.{parts[1]}", declared)
        elif len(parts) >= 3 and parts[0] == "workflow" and parts[1] == "parameters":
            known = self.scope.global_params
            if known is not None and parts[2] not in known and parts[2] != "json":
                return _known("workflow arguments", known)
        elif len(parts) >= 2 and parts[0] == "steps" and steps is not None and parts[1] != "name":
            if parts[1] not in steps:
                return _known("steps before this one", steps)
        elif len(parts) >= 2 and parts[0] == "tasks" and tasks is not None and parts[1] != "name":
            if parts[1] not in tasks:
                return _known("tasks this one depends on", tasks)
        return None


def _known(what: str, names: Iterable[str]) -> str:
    names = set(names)
    return f" ({what}: {', '.join(sorted(names)) if names else 'none'})"
