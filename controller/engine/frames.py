"""Frames: the per-node state machines of composite nodes (steps, groups, DAGs, retries).

A frame owns the nodes it starts; when one of them reaches a final phase the run
calls the frame's ``child_done`` (event-driven: only the owner is re-evaluated,
never the whole tree). Frames re-adopt existing nodes by name, so the same code
rebuilds a workflow's state after a restart.
"""

from __future__ import annotations

import json
import time
from collections import ChainMap
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ..argo import names
from ..argo.depends import TaskState, parse_depends
from ..argo.errors import ArgoError
from ..argo.substitute import substitute
from ..argo.types import Phase
from . import absent
from .model import (
    ERROR,
    FAILED,
    OMITTED,
    RUNNING,
    STEP_GROUP,
    SUCCEEDED,
    TASK_GROUP,
    UNSUCCESSFUL,
    Node,
)
from .scope import aggregate_scope, format_value, node_scope
from .templates import json_list

if TYPE_CHECKING:
    from .scheduler import ExecCtx, Scheduler

Scope = Mapping[str, Any]
PASS_SLICE = 0.25
"""Seconds of wall time one group frame spends starting children in one pass (besides the
pass's node budget): a workflow whose children are slow to start (expressions near their
evaluation budget) yields the event loop to other workflows between passes."""

FAIL_FAST_MESSAGE = "template has failed or errored children and failFast enabled"
"""Argo's message on a steps/DAG template with ``failFast: true`` (and its step group) once a child failed."""
Thunk = Callable[["GroupFrame"], object]
_Pending = tuple[int, str, Any]
"""A loop child not started yet: its loop's index in the frame, its display name, its item."""


def continues_on(step: Mapping[str, Any], phase: str) -> bool:
    """Whether a step/task's ``continueOn`` lets *phase* pass."""
    cont = step.get("continueOn") or {}
    return bool((phase == FAILED and cont.get("failed")) or (phase == ERROR and cont.get("error")))


def expand(step: Mapping[str, Any], scope: Scope) -> list[Any] | None:
    """The items of a ``withItems`` / ``withParam`` / ``withSequence`` step, or ``None`` (no loop).

    An item that cannot be one (``null``) raises :class:`~..argo.names.LoopError`."""
    if step.get("withItems") is not None:
        return _valid_items(list(substitute(step["withItems"], scope, strict=False)), "withItems")
    if step.get("withParam") is not None:
        value = substitute(step["withParam"], scope, strict=False)
        absent.check(value, "withParam")
        if isinstance(value, list):
            return _valid_items(value, "withParam")
        return _valid_items(json_list(str(value), "withParam"), "withParam")
    if step.get("withSequence") is not None:
        seq = substitute(step["withSequence"], scope, strict=False)
        return list(names.expand_sequence(seq))
    return None


def _valid_items(items: list[Any], kind: str) -> list[Any]:
    if any(item is None for item in items):
        raise names.LoopError(f"{kind}: null is not a valid item (expected string, number, list, or map)")
    return items


def evaluate_when(run: Scheduler, step: Mapping[str, Any], scope: Scope) -> tuple[bool, str]:
    """Argo's ``when``: substitute, then evaluate; returns (proceed, substituted text)."""
    when = step.get("when")
    if when is None or when == "":
        return True, ""
    from ..argo.expr import evaluate_when as _eval

    text = format_value(substitute(when, scope, strict=False))
    absent.check(text, "the expression")
    return bool(_eval(text)), text


def _when_false(run: Scheduler, step: Mapping[str, Any], scope: Scope) -> str | None:
    """The Skipped message if the step's ``when`` is false (``None``: true, absent or broken)."""
    try:
        proceed, text = evaluate_when(run, step, scope)
    except (ArgoError, ValueError):
        return None
    return None if proceed or not step.get("when") else f"when '{text}' evaluated false"


class GroupFrame:
    """A StepGroup or TaskGroup: children started up to *limit* at a time, done when all are."""

    def __init__(
        self,
        run: Scheduler,
        node: Node,
        *,
        limit: int | None = None,
        fail_fast: bool = False,
    ) -> None:
        self.run = run
        self.node = node
        self.limit = limit if limit and limit > 0 else None
        self.fail_fast = fail_fast
        """The template's ``failFast: true``: a failed or errored child stops the group."""
        self.stopping = False
        self.thunks: list[Thunk | _Pending] = []
        """Per child, in order: how to start it (``_started`` once it has been)."""
        self.loops: list[ItemLoop] = []
        self.next = 0
        self.active = 0
        self.done = 0
        self.allowed: dict[str, Mapping[str, Any]] = {}
        """Child node name → its step, for children whose step has ``continueOn``."""
        self.step_of: list[tuple[str, str, bool]] = []
        """Per child, in order: (node name, step name, expanded)."""
        self._budget_pass = -1
        self._budget = 0
        self._slice_ends = 0.0
        self._refill_queued = False

    def add(self, name: str, step_name: str, expanded: bool, thunk: Thunk) -> None:
        self.thunks.append(thunk)
        self.step_of.append((name, step_name, expanded))

    def add_loop(self, loop: ItemLoop, children: Iterable[tuple[str, str, Any]]) -> None:
        """The children of one expanded step: (node name, display name, item) each.

        A child waiting for its turn is a tuple of its own parts and the index of what the
        loop's children share, not a closure: a fan-out of 100,000 waiting children is then
        100,000 tuples of strings, which the garbage collector stops tracking, instead of
        about a million function and cell objects that every collection would walk again.
        """
        index = len(self.loops)
        self.loops.append(loop)
        step_name = loop.step["name"]
        for name, display, item in children:
            self.thunks.append((index, display, item))
            self.step_of.append((name, step_name, True))

    def seal(self) -> None:
        """All children are known: start the first ones (or finish at once if there are none)."""
        if not self.thunks:
            self._finish()
            return
        self._fill()

    def _fill(self) -> None:
        # At most the pass's budget of children start in one pass: a fan-out of 100,000
        # starts in slices, so no pass holds the event loop for long while other
        # workflows wait for their passes (see ControllerSettings.max_nodes_per_pass).
        # Children that are slow to start (expressions near their 2 s budget) are also
        # bounded by wall time: past PASS_SLICE seconds the rest waits for the next pass.
        if self._budget_pass != self.run.pass_no:
            self._budget_pass, self._budget = self.run.pass_no, self.run.pass_budget
            self._slice_ends = time.monotonic() + PASS_SLICE
        while not self.stopping and self.next < len(self.thunks) and (self.limit is None or self.active < self.limit):
            if self._budget <= 0 or time.monotonic() > self._slice_ends:  # enough for this pass: go on in the next one
                if not self._refill_queued:
                    self._refill_queued = True
                    self.run.soon(self._refill)
                return
            self._budget -= 1
            index = self.next
            thunk = self.thunks[index]
            self.thunks[index] = _started
            self.next += 1
            self.active += 1
            if isinstance(thunk, tuple):
                loop, display, item = thunk
                self.loops[loop].start(self, self.step_of[index][0], display, item)
            else:
                thunk(self)

    def _refill(self) -> None:
        self._refill_queued = False
        if not self.node.fulfilled:
            self._fill()

    def child_done(self, child: Node) -> None:
        self.active -= 1
        self.done += 1
        if self.fail_fast and child.phase in UNSUCCESSFUL:
            self.stopping = True  # start no more children; fail once the started ones are done
        if self.stopping:
            if self.active <= 0 and not self.node.fulfilled:
                self.run.finish(self.node, FAILED, FAIL_FAST_MESSAGE)
        elif self.done >= len(self.thunks):
            self._finish()
        else:
            self._fill()

    def children(self) -> list[Node]:
        return [n for n in (self.run.lookup(name) for name, _, _ in self.step_of) if n is not None]

    def _finish(self) -> None:
        failed: Node | None = None
        for child in self.children():
            if child.phase in UNSUCCESSFUL:
                step = self.allowed.get(child.name)
                if step is not None and continues_on(step, child.phase):
                    continue
                failed = child
                break
        if failed is not None:
            self.run.finish(self.node, FAILED, f"child '{failed.id}' failed")
        else:
            self.run.finish(self.node, SUCCEEDED)


def _started(frame: GroupFrame) -> None:  # placeholder once a thunk ran (frees its closure)
    return None


def start_child(
    run: Scheduler,
    frame: GroupFrame,
    name: str,
    display: str,
    step: Mapping[str, Any],
    scope: Scope,
    ctx: ExecCtx,
) -> None:
    """Start one child of a group: ``when`` first (Skipped node if false), then execute."""
    if step.get("continueOn"):
        frame.allowed[name] = step
    try:
        proceed, text = evaluate_when(run, step, scope)
    except (ArgoError, ValueError) as exc:
        run.error_node(name, display, step, ctx, frame.node.id, frame, f"when: {exc}")
        return
    if not proceed:
        run.skipped_node(name, display, step, ctx, [frame.node.id], frame, f"when '{text}' evaluated false")
        return
    run.execute(name, step, scope, ctx, frame, display=display, parents=[frame.node.id])


class StepsFrame:
    """A ``steps`` template: groups run one after the other, steps of a group in parallel."""

    def __init__(self, run: Scheduler, node: Node, tmpl: Mapping[str, Any], scope: Scope, ctx: ExecCtx) -> None:
        self.run = run
        self.node = node
        self.tmpl = tmpl
        self.local: dict[str, Any] = {}
        self.scope: Scope = ChainMap(self.local, scope)  # type: ignore[arg-type]
        self.ctx = ctx.inner(node.id, fail_fast=tmpl.get("failFast") is True)
        self.groups: list[list[dict[str, Any]]] = [
            g if isinstance(g, list) else [g] for g in (tmpl.get("steps") or [])
        ]
        self.index = -1
        self.prev_outbound: list[str] = [node.id]
        self.group: GroupFrame | None = None

    def start(self) -> None:
        self._next_group()

    def _next_group(self) -> None:
        self.index += 1
        if self.index >= len(self.groups):
            self._complete()
            return
        run = self.run
        gname = f"{self.node.name}[{self.index}]"
        gnode = run.new_node(gname, STEP_GROUP, "", RUNNING, self.ctx.boundary_id, f"[{self.index}]")
        for parent in self.prev_outbound:
            run.link(parent, gnode.id)
        run.own(gnode, self)
        limit = _int_or_none(self.tmpl.get("parallelism"))
        frame = GroupFrame(run, gnode, limit=limit, fail_fast=self.tmpl.get("failFast") is True)
        self.group = frame
        if gnode.fulfilled:
            # adopted after a restart: rebuild the scope from its children, then move on
            for step in self.groups[self.index]:
                self._plan_step(frame, gname, step)
            run.notify(gnode)
            return
        for step in self.groups[self.index]:
            self._plan_step(frame, gname, step)
        frame.seal()

    def _plan_step(self, frame: GroupFrame, gname: str, step: dict[str, Any]) -> None:
        run = self.run
        base = f"{gname}.{step['name']}"
        try:
            items = expand(step, self.scope)
        except (ArgoError, ValueError) as exc:
            # As Argo: a loop that cannot expand is only an error if the step would run
            skip = _when_false(run, step, self.scope)
            if skip is not None:
                frame.add(base, step["name"], False, lambda f: run.skipped_node(base, step["name"], step, self.ctx, [f.node.id], f, skip))
                return
            message = f"{step['name']}: {exc}"
            frame.add(base, step["name"], False, lambda f: run.error_node(base, step["name"], step, self.ctx, f.node.id, f, message))
            return
        if items is None:
            frame.add(base, step["name"], False, lambda f: start_child(run, f, base, step["name"], step, self.scope, self.ctx))
            return
        if not items:
            frame.add(base, step["name"], False, lambda f: run.skipped_node(base, step["name"], step, self.ctx, [f.node.id], f, "Skipped, empty params"))
            return
        cut = len(gname) + 1
        children = ((name, name[cut:], item) for name, item in _item_names(base, items))
        frame.add_loop(ItemLoop(run, step, self.scope, self.ctx), children)

    def child_done(self, gnode: Node) -> None:
        frame = self.group
        assert frame is not None
        aligned = _align(frame)
        children = [n for n in aligned if n is not None]
        by_step: dict[str, list[Node]] = {}
        expanded: set[str] = set()
        for (_, step_name, was_expanded), node in zip(frame.step_of, aligned, strict=True):
            if node is None:
                continue
            by_step.setdefault(step_name, []).append(node)
            if was_expanded:
                expanded.add(step_name)
        for step_name, nodes in by_step.items():
            prefix = f"steps.{step_name}"
            if step_name in expanded:
                self.local.update(aggregate_scope(prefix, nodes))
                if all(absent.did_not_run(n) for n in nodes):
                    step = next(s for s in self.groups[self.index] if s["name"] == step_name)
                    self.local.update(absent.loop_scope(self.run, step, self.ctx, prefix, nodes))
            else:
                self.local.update(node_scope(prefix, nodes[0]))
                if absent.did_not_run(nodes[0]):
                    step = next(s for s in self.groups[self.index] if s["name"] == step_name)
                    self.local.update(absent.producer_scope(self.run, step, self.ctx, prefix, nodes[0]))
        if gnode.phase in UNSUCCESSFUL:
            self.node.outbound_nodes = self._outbound(children, gnode)
            self.run.finish(self.node, FAILED, gnode.message)
            return
        self.prev_outbound = self._outbound(children, gnode)
        self._next_group()

    def _outbound(self, children: list[Node], gnode: Node) -> list[str]:
        if not children:
            return [gnode.id]
        out: list[str] = []
        for child in children:
            out.extend(self.run.outbound(child))
        return out

    def _complete(self) -> None:
        self.node.outbound_nodes = list(self.prev_outbound) if self.index > 0 else []
        self.run.finish_composite(self.node, self.tmpl, self.scope)


def _align(frame: GroupFrame) -> list[Node | None]:
    run = frame.run
    return [run.lookup(name) for name, _, _ in frame.step_of]


class ItemLoop:
    """What the children of one expanded step (``withItems``/``withParam``/``withSequence``) share."""

    __slots__ = ("ctx", "run", "scope", "step")

    def __init__(self, run: Scheduler, step: Mapping[str, Any], scope: Scope, ctx: ExecCtx) -> None:
        self.run = run
        self.step = step
        self.scope = scope
        self.ctx = ctx

    def start(self, frame: GroupFrame, name: str, display: str, item: Any) -> None:
        """Start the child *name* for *item*, with the item's variables in its scope."""
        scope = ChainMap(names.item_variables(item), self.scope)  # type: ignore[arg-type]
        start_child(self.run, frame, name, display, self.step, scope, self.ctx)


def _item_names(base: str, items: list[Any]) -> Iterator[tuple[str, Any]]:
    for i, item in enumerate(items):
        yield names.item_node_name(base, i, item), item


def _int_or_none(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class DagFrame:
    """A ``dag`` template: tasks start when their dependencies finished and ``depends`` holds."""

    def __init__(self, run: Scheduler, node: Node, tmpl: Mapping[str, Any], scope: Scope, ctx: ExecCtx) -> None:
        self.run = run
        self.node = node
        self.tmpl = tmpl
        self.local: dict[str, Any] = {}
        self.scope: Scope = ChainMap(self.local, scope)  # type: ignore[arg-type]
        self.ctx = ctx.inner(node.id, fail_fast=tmpl.get("failFast") is True)
        dag = tmpl.get("dag") or {}
        self.tasks: dict[str, dict[str, Any]] = {t["name"]: t for t in dag.get("tasks") or []}
        self.fail_fast = dag.get("failFast") is not False
        self.template_fail_fast = tmpl.get("failFast") is True
        """The template's own ``failFast: true`` (not ``dag.failFast``): Argo's failFast message."""
        self.stopping = False
        limit = _int_or_none(tmpl.get("parallelism"))
        self.limit = limit if limit and limit > 0 else None  # 0 or less: no limit, as Argo's HasParallelism
        self.deps: dict[str, list[str]] = {}
        self.depends: dict[str, Any] = {}
        self.invalid = ""
        """Why the DAG cannot run (a ``depends`` that does not parse): it ends Error at start."""
        for name, task in self.tasks.items():
            try:
                text, dep_names = self._depends_text(task)
                self.depends[name] = parse_depends(text) if text else None
            except ArgoError as exc:
                self.invalid = self.invalid or f"tasks.{name}: {exc}"
                dep_names, self.depends[name] = [], None
            self.deps[name] = dep_names
        targets = self._targets(dag)
        self.active_tasks = targets
        self.dependants: dict[str, list[str]] = {n: [] for n in self.tasks}
        for name in targets:
            for dep in self.deps[name]:
                self.dependants[dep].append(name)
        self.remaining = {n: len(self.deps[n]) for n in targets}
        self.states: dict[str, TaskState] = {}
        self.node_task: dict[str, str] = {}
        self.waiting: list[str] = []
        self.running = 0
        self.failed = False
        self.decided: set[str] = set()
        self.branch: dict[str, str] = {}
        self._groups: dict[str, GroupFrame] = {}
        self.finished = False

    def _depends_text(self, task: Mapping[str, Any]) -> tuple[str, list[str]]:
        if task.get("depends"):
            text = str(task["depends"])
            return text, sorted(parse_depends(text).tasks)
        deps = [str(d) for d in task.get("dependencies") or []]
        parts = []
        for dep in deps:
            other = self.tasks.get(dep, {})
            allowed = [Phase.SUCCEEDED.value, Phase.SKIPPED.value, "Daemoned"]
            cont = other.get("continueOn") or {}
            if cont.get("failed"):
                allowed.append(Phase.FAILED.value)
            if cont.get("error"):
                allowed.append("Errored")
            if len(allowed) == 3:
                parts.append(dep)
            else:
                parts.append("(" + " || ".join(f"{dep}.{a}" for a in allowed) + ")")
        return " && ".join(parts), deps

    def _targets(self, dag: Mapping[str, Any]) -> set[str]:
        target = dag.get("target")
        if not target:
            return set(self.tasks)
        wanted = format_value(substitute(target, self.scope, strict=False)).replace(",", " ").split()
        out: set[str] = set()
        stack = [t for t in wanted if t in self.tasks]
        while stack:
            name = stack.pop()
            if name in out:
                continue
            out.add(name)
            stack.extend(self.deps[name])
        return out

    def leaves(self) -> list[str]:
        """Target tasks: those no other (active) task depends on."""
        return [n for n in self.tasks if n in self.active_tasks and not self.dependants[n]]

    def start(self) -> None:
        if self.invalid:
            self.run.finish(self.node, ERROR, self.invalid)
            return
        roots = [n for n in self.tasks if n in self.active_tasks and not self.deps[n]]
        for name in roots:
            self._decide(name)
        self._maybe_complete()

    def task_node_name(self, task: str) -> str:
        return f"{self.node.name}.{task}"

    def _decide(self, name: str) -> None:
        if name in self.decided:
            return
        self.decided.add(name)
        task = self.tasks[name]
        dep = self.depends[name]
        existing = self.run.lookup(self.task_node_name(name))
        if dep is not None and existing is None:
            try:
                verdict = dep.evaluate(self.states)
            except (ArgoError, ValueError) as exc:
                self.run.error_node(self.task_node_name(name), name, task, self.ctx, self._parents(name), self._owner_for(name), f"depends: {exc}")
                return
            if verdict is False:
                self.run.skipped_node(
                    self.task_node_name(name), name, task, self.ctx, self._parents(name), self._owner_for(name),
                    "omitted: depends condition not met", phase=OMITTED,
                )
                return
        if existing is None and ((self.failed and self.fail_fast) or self.stopping):
            self.decided.discard(name)
            return
        if self.limit is not None and self.running >= self.limit and existing is None:
            self.waiting.append(name)
            return
        self._start(name)

    def _owner_for(self, name: str) -> DagFrame:
        self.node_task[self.task_node_name(name)] = name
        self.running += 1
        return self

    def _parents(self, name: str) -> list[str]:
        deps = self.deps[name]
        if not deps:
            return [self.node.id]
        out: list[str] = []
        for dep in deps:
            dep_node = self.run.lookup(self.task_node_name(dep))
            if dep_node is not None:
                out.extend(self.run.outbound(dep_node))
        return out

    def _start(self, name: str) -> None:
        run = self.run
        task = self.tasks[name]
        node_name = self.task_node_name(name)
        parents = self._parents(name)
        owner = self._owner_for(name)
        try:
            items = expand(task, self.scope)
        except (ArgoError, ValueError) as exc:
            skip = _when_false(run, task, self.scope)
            if skip is not None:
                run.skipped_node(node_name, name, task, self.ctx, parents, owner, skip)
            else:
                run.error_node(node_name, name, task, self.ctx, parents, owner, f"{name}: {exc}")
            return
        if items is None:
            try:
                proceed, text = evaluate_when(run, task, self.scope)
            except (ArgoError, ValueError) as exc:
                run.error_node(node_name, name, task, self.ctx, parents, owner, f"when: {exc}")
                return
            if not proceed:
                run.skipped_node(node_name, name, task, self.ctx, parents, owner, f"when '{text}' evaluated false")
                return
            run.execute(node_name, task, self.scope, self.ctx, owner, display=name, parents=parents)
            return
        gnode = run.new_node(node_name, TASK_GROUP, template_name(task), RUNNING, self.ctx.boundary_id, name)
        for parent in parents:
            run.link(parent, gnode.id)
        run.own(gnode, owner)
        frame = GroupFrame(run, gnode, limit=self.limit, fail_fast=self.template_fail_fast)
        cut = len(self.node.name) + 1
        children = ((child, child[cut:], item) for child, item in _item_names(node_name, items))
        frame.add_loop(ItemLoop(run, task, self.scope, self.ctx), children)
        self._groups[gnode.id] = frame
        if gnode.fulfilled:
            run.notify(gnode)
            return
        frame.seal()

    def child_done(self, node: Node) -> None:
        name = self.node_task.get(node.name)
        if name is None:
            return
        self.running -= 1
        if node.type == TASK_GROUP:
            frame = self._groups.get(node.id)
            kids = frame.children() if frame is not None else []
            self.states[name] = TaskState(phase=node.phase, group=True, children_phases=tuple(k.phase for k in kids))
            self.local.update(aggregate_scope(f"tasks.{name}", kids))
            self.local.update(absent.loop_scope(self.run, self.tasks[name], self.ctx, f"tasks.{name}", kids))
            self.local[f"tasks.{name}.status"] = node.phase
            self.local[f"tasks.{name}.id"] = node.id
        else:
            self.states[name] = TaskState(phase=node.phase, daemoned=bool((node.extra or {}).get("daemoned")))
            self.local.update(node_scope(f"tasks.{name}", node))
            self.local.update(absent.producer_scope(self.run, self.tasks[name], self.ctx, f"tasks.{name}", node))
        self._branch(name, node.phase)
        if self.template_fail_fast and node.phase in UNSUCCESSFUL:
            self.stopping = True
        for dependant in self.dependants[name]:
            self.remaining[dependant] -= 1
            if self.remaining[dependant] == 0:
                self._decide(dependant)
        while self.waiting and not self.stopping and (self.limit is None or self.running < self.limit):
            self._start(self.waiting.pop(0))
        self._maybe_complete()

    def _branch(self, name: str, phase: str) -> None:
        """Record the task's branch phase (an omitted task inherits its dependencies', failure first).

        With failFast, a target task whose branch failed stops the DAG from starting more
        tasks (Argo marks the DAG failed as soon as a target's branch is known to fail).
        """
        if phase == OMITTED:
            inherited = [self.branch[d] for d in self.deps[name] if d in self.branch]
            bad = [p for p in inherited if p in UNSUCCESSFUL]
            phase = bad[0] if bad else (inherited[0] if inherited else SUCCEEDED)
        self.branch[name] = phase
        if not self.dependants[name] and phase in UNSUCCESSFUL and not continues_on(self.tasks[name], phase):
            self.failed = True

    def _maybe_complete(self) -> None:
        if self.finished or self.running > 0 or (self.waiting and not self.stopping):
            return
        if not (self.failed and self.fail_fast) and not self.stopping and len(self.states) < len(self.active_tasks):
            return
        self.finished = True
        phase = FAILED if self.stopping else self._assess()
        out: list[str] = []
        for leaf in self.leaves():
            leaf_node = self.run.lookup(self.task_node_name(leaf))
            if leaf_node is not None:
                out.extend(self.run.outbound(leaf_node))
        self.node.outbound_nodes = out
        if phase == SUCCEEDED:
            self.run.finish_composite(self.node, self.tmpl, self.scope)
        else:
            self.run.finish(self.node, phase, FAIL_FAST_MESSAGE if self.stopping else "")

    def _assess(self) -> str:
        for leaf in self.leaves():
            phase = self.branch.get(leaf)
            if phase in UNSUCCESSFUL and not continues_on(self.tasks[leaf], phase or ""):
                return FAILED if phase == FAILED else ERROR
        if self.failed:
            return FAILED
        return SUCCEEDED


def template_name(step: Mapping[str, Any]) -> str:
    if step.get("template"):
        return str(step["template"])
    ref = step.get("templateRef") or {}
    return str(ref.get("template", ""))


class ExitFrame:
    """Waits for a node's exit handler (``onExit`` / ``hooks.exit``), then reports the node."""

    def __init__(self, run: Scheduler, node: Node, owner: Any) -> None:
        self.run = run
        self.node = node
        self.owner = owner

    def child_done(self, exit_node: Node) -> None:
        self.owner.child_done(self.node)


def failures_json(nodes: list[Node]) -> str:
    """``workflow.failures``: the failed and errored leaf nodes, as Argo lists them."""
    from .model import timestamp

    out = [
        {
            "displayName": n.display_name,
            "message": n.message,
            "templateName": n.template_name,
            "phase": n.phase,
            "podName": n.id,
            "finishedAt": timestamp(n.finished_at),
        }
        for n in nodes
    ]
    return json.dumps(out, separators=(",", ":"))


__all__ = ["DagFrame", "ExitFrame", "GroupFrame", "StepsFrame", "failures_json"]
