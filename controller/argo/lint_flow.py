"""Lint rules for steps and DAGs: how steps and tasks invoke templates and depend on
each other.

Names valid and unique; exactly one of ``template``/``templateRef``/``inline``; one
loop kind at most; ``depends`` read by :func:`.depends.scan_depends`, naming known
tasks and known results; ``depends`` excluding ``dependencies`` and ``continueOn`` in
the whole DAG; no cycles; ``target`` naming known tasks.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .depends import scan_depends
from .lint_fields import FieldRules
from .lint_refs import ReferenceRules
from .lint_report import idx, is_templated, key

if TYPE_CHECKING:
    from .lint_refs import Scope

__all__ = ["LOOPS", "FlowRules", "depends_task_names"]

LOOPS = ("withItems", "withParam", "withSequence")


def depends_task_names(text: str) -> tuple[set[str], list[str]]:
    """Task names an Argo ``depends`` expression mentions, and problems found in it.

    A term is ``task`` or ``task.Result`` (``Succeeded Failed Errored Skipped Omitted
    Daemoned AnySucceeded AllFailed``), joined by ``&&``, ``||``, ``!`` and parentheses.
    """
    scan = scan_depends(text)
    return scan.tasks, list(scan.problems)


class FlowRules(ReferenceRules, FieldRules):
    """Step, DAG task and dependency checks."""

    def template(self, template: dict[str, Any], path: str, scope: Scope) -> None:
        """Check a whole template (an ``inline`` one here); the semantic checker has it."""
        raise NotImplementedError

    def invocation(self, item: dict[str, Any], path: str, scope: Scope) -> None:
        """A step, a DAG task: what it runs and how it loops."""
        has = [k for k in ("template", "templateRef", "inline") if item.get(k) is not None]
        if not has:
            self.error(path, "needs one of template, templateRef, inline")
        elif len(has) > 1:
            self.error(key(path, has[1]), f"{', '.join(has)} are mutually exclusive")
        self.template_name_ref(item.get("template"), key(path, "template"), scope)
        self.template_ref(item.get("templateRef"), key(path, "templateRef"), scope)
        inline = item.get("inline")
        if isinstance(inline, dict):
            self.template(inline, key(path, "inline"), scope)
        self.arguments(item.get("arguments"), key(path, "arguments"), allow_empty=False)
        loops = [k for k in LOOPS if item.get(k) is not None]
        if len(loops) > 1:
            self.error(key(path, loops[1]), f"{', '.join(loops)} are mutually exclusive")
        if item.get("onExit"):
            self.template_name_ref(item["onExit"], key(path, "onExit"), scope)
        self.hooks(item.get("hooks"), key(path, "hooks"), scope)

    def steps(self, groups: list[Any], path: str, scope: Scope) -> None:
        seen: dict[str, str] = {}
        for group_index, group in enumerate(groups):
            gpath = idx(path, group_index)
            if not isinstance(group, list):
                continue
            for step_index, step in enumerate(group):
                spath = idx(gpath, step_index)
                if not isinstance(step, dict):
                    continue
                name = step.get("name")
                self.field_name(name, key(spath, "name"))
                if not name:
                    self.error(key(spath, "name"), "required")
                elif isinstance(name, str):
                    if name in seen:
                        self.error(
                            key(spath, "name"), f'duplicate step name "{name}" (also {seen[name]})'
                        )
                    else:
                        seen[name] = f"steps[{group_index}][{step_index}]"
                self.invocation(step, spath, scope)

    def dag(self, dag: dict[str, Any], path: str, scope: Scope) -> None:
        tasks = dag.get("tasks")
        if not isinstance(tasks, list):
            return
        names: dict[str, int] = {}
        for index, task in enumerate(tasks):
            if isinstance(task, dict) and isinstance(task.get("name"), str):
                name = task["name"]
                self.field_name(name, key(idx(key(path, "tasks"), index), "name"))
                if name in names:
                    self.error(
                        key(idx(key(path, "tasks"), index), "name"),
                        f'duplicate task name "{name}" (also tasks[{names[name]}])',
                    )
                else:
                    names[name] = index
        if not tasks:
            self.error(key(path, "tasks"), "must have at least one task")
        using_depends = any(isinstance(t, dict) and t.get("depends") for t in tasks)
        edges: dict[str, set[str]] = {name: set() for name in names}
        for index, task in enumerate(tasks):
            tpath = idx(key(path, "tasks"), index)
            if not isinstance(task, dict):
                continue
            self.invocation(task, tpath, scope)
            self.dag_task_rules(task, tpath, using_depends)
            deps = self.task_dependencies(task, tpath, names)
            if isinstance(task.get("name"), str):
                edges[task["name"]] |= deps
        self.cycles(edges, names, key(path, "tasks"))
        target = dag.get("target")
        if isinstance(target, str) and target and not is_templated(target):
            for name in re.split(r"[\s,]+", target.strip()):
                if name and name not in names:
                    self.error(key(path, "target"), f'unknown task "{name}"')

    def dag_task_rules(self, task: dict[str, Any], path: str, using_depends: bool) -> None:
        """Argo's DAG-wide rules: ``depends`` excludes ``dependencies`` and ``continueOn``
        in the whole DAG, and task names cannot start with a digit once either is used."""
        if task.get("depends") and task.get("dependencies"):
            self.error(key(path, "depends"), "cannot be used together with dependencies")
        elif using_depends and task.get("dependencies"):
            self.error(
                key(path, "dependencies"),
                "cannot use both 'depends' and 'dependencies' in the same DAG template",
            )
        if using_depends and task.get("continueOn") is not None:
            self.error(
                key(path, "continueOn"),
                "cannot be used in a DAG that uses 'depends'; use 'task.Failed' / 'task.Errored' there",
            )
        name = task.get("name")
        uses_deps = using_depends or bool(task.get("dependencies"))
        if uses_deps and isinstance(name, str) and name[:1].isdigit():
            self.error(
                key(path, "name"),
                "cannot begin with a digit when using 'depends' or 'dependencies'",
            )

    def task_dependencies(self, task: dict[str, Any], path: str, names: dict[str, int]) -> set[str]:
        """The known tasks a task depends on; unknown ones and bad ``depends`` reported."""
        dependencies = task.get("dependencies")
        depends = task.get("depends")
        found: set[str] = set()
        if isinstance(dependencies, list):
            for index, dep in enumerate(dependencies):
                if not isinstance(dep, str):
                    continue
                if dep not in names:
                    self.error(idx(key(path, "dependencies"), index), f'unknown task "{dep}"')
                else:
                    found.add(dep)
        if isinstance(depends, str) and depends.strip() and not is_templated(depends):
            scan = scan_depends(depends)
            for problem in scan.problems:
                self.error(key(path, "depends"), f"{problem} in {depends!r}")
            for dep in sorted(scan.tasks):
                if dep not in names:
                    self.error(key(path, "depends"), f'unknown task "{dep}" in {depends!r}')
                else:
                    found.add(dep)
        return found

    def cycles(self, edges: dict[str, set[str]], names: dict[str, int], path: str) -> None:
        """Report each dependency cycle once (iterative depth-first search: DAGs with
        thousands of tasks in a chain must not hit Python's recursion limit)."""
        white, grey, black = 0, 1, 2
        color = dict.fromkeys(edges, white)
        reported: set[str] = set()
        for root in sorted(edges, key=names.__getitem__):
            if color[root] != white:
                continue
            color[root] = grey
            trail = [root]
            stack = [iter(sorted(edges[root]))]
            while stack:
                dep = next(stack[-1], None)
                if dep is None:
                    color[trail.pop()] = black
                    stack.pop()
                    continue
                if color[dep] == grey and dep not in reported:
                    reported.add(dep)
                    cycle = [*trail[trail.index(dep) :], dep]
                    if len(cycle) > 12:
                        cycle = [*cycle[:6], f"... {len(cycle) - 9} more ...", *cycle[-3:]]
                    self.error(
                        key(idx(path, names[dep]), "name"),
                        f"dependency cycle: {' -> '.join(cycle)}",
                    )
                elif color[dep] == white:
                    color[dep] = grey
                    trail.append(dep)
                    stack.append(iter(sorted(edges[dep])))
