"""Node hooks: lifecycle hooks with an ``expression`` (Argo's ``hooks.<name>``), and exit handlers.

A step, task or the workflow itself may declare hooks that run a template once their
expression becomes true (``steps.s.status == "Running"``, ``workflow.status ==
"Succeeded"``). Expressions are evaluated when the node's phase changes (event-driven,
never by polling); a hook fires at most once, as node ``<node>.hooks.<name>``, and the
node is reported to its owner only after the hooks it fired have finished. A step or
task with an exit handler (``onExit``, ``hooks.exit``) runs it when the node finishes
and is reported after it (:class:`NodeHooks`).
"""

from __future__ import annotations

from collections import ChainMap
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog

from ..argo.errors import ArgoError
from ..argo.substitute import substitute
from .frames import ExitFrame
from .scheduler import Callback
from .scope import format_value, node_scope

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .model import Node
    from .nodes import NodeTable
    from .scheduler import ExecCtx, Owner, Scheduler

log = structlog.get_logger(__name__)


def expression_hooks(holder: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The ``hooks`` of a step/task/workflow spec that have an expression (``exit`` excluded)."""
    hooks = holder.get("hooks") or {}
    return {
        str(name): dict(hook)
        for name, hook in hooks.items()
        if name != "exit" and isinstance(hook, dict) and hook.get("expression")
    }


def holds(expression: str, scope: Mapping[str, Any]) -> bool:
    """Evaluate a hook expression against a flat scope (``steps.x.status`` ...)."""
    try:
        value = substitute("{{=" + expression + "}}", scope, strict=False)
    except (ArgoError, ValueError) as exc:
        log.warning("lifecycle hook expression failed", expression=expression, error=str(exc))
        return False
    return format_value(value) == "true"


@dataclass(eq=False)
class LifeCycle:
    """The expression hooks of one node, and the hook nodes it is waiting for."""

    run: Scheduler
    node: Node
    hooks: dict[str, dict[str, Any]]
    ctx: ExecCtx
    scope: Mapping[str, Any]
    step_name: str
    inner: Owner
    fired: set[str] = field(default_factory=set)
    pending: set[str] = field(default_factory=set)
    finished: bool = False

    def evaluate(self) -> None:
        """Fire every hook whose expression holds now (each at most once)."""
        own: dict[str, Any] = {}
        for prefix in (f"steps.{self.step_name}", f"tasks.{self.step_name}"):
            own.update(node_scope(prefix, self.node))
        scope: Mapping[str, Any] = ChainMap(own, self.scope)  # type: ignore[arg-type]
        for name, hook in self.hooks.items():
            if name in self.fired or not holds(str(hook["expression"]), scope):
                continue
            self.fired.add(name)
            hook_node = self.run.execute(
                f"{self.node.name}.hooks.{name}", hook, scope, self.ctx.hook(self.node.boundary_id),
                _HookDone(self), display=f"{self.node.display_name}.hooks.{name}", parents=[self.node.id],
            )
            self.pending.add(hook_node.id)

    def child_done(self, node: Node) -> None:
        """The node itself finished: last look at the hooks, then report once they are done."""
        self.finished = True
        self.evaluate()
        self._maybe_report()

    def hook_done(self, hook_node: Node) -> None:
        self.pending.discard(hook_node.id)
        self._maybe_report()

    def _maybe_report(self) -> None:
        if self.finished and not self.pending:
            self.run.lifecycle_done(self.node)
            self.inner.child_done(self.node)


class _HookDone:
    def __init__(self, lifecycle: LifeCycle) -> None:
        self.lifecycle = lifecycle

    def child_done(self, node: Node) -> None:
        self.lifecycle.hook_done(node)


class NodeHooks:
    """The hooks of steps and tasks: who a node reports to once its exit handler
    (``onExit`` / ``hooks.exit``) and its expression hooks are done."""

    def __init__(self, run: Scheduler, table: NodeTable) -> None:
        self.run = run
        self.table = table
        self._exits: dict[str, tuple[ExitFrame, Mapping[str, Any], ExecCtx, Mapping[str, Any], str]] = {}

    def own(self, node: Node, step: Mapping[str, Any], ctx: ExecCtx, owner: Owner, scope: Mapping[str, Any]) -> None:
        """Register *owner* of *node*; with an exit hook run it first, with expression hooks watch them."""
        exit_step = exit_hook(step)
        step_name = str(step.get("name") or node.display_name)
        inner: Owner = owner
        if exit_step is not None:
            self._exits[node.id] = (ExitFrame(self.run, node, owner), exit_step, ctx, scope, step_name)
            inner = Callback(self._run_exit_hook)
        hooks = expression_hooks(step)
        if hooks:
            lifecycle = LifeCycle(self.run, node, hooks, ctx, scope, step_name, inner)
            self.table.watched[node.id] = lifecycle
            self.table.checks.add(node.id)
            inner = lifecycle
        self.table.owners[node.id] = inner

    def _run_exit_hook(self, node: Node) -> None:
        """*node*, which has an exit hook, finished: run the hook, then report the node."""
        frame, step, ctx, outer, step_name = self._exits.pop(node.id)
        own: dict[str, Any] = {}
        for prefix in (f"steps.{step_name}", f"tasks.{step_name}"):
            own.update(node_scope(prefix, node))
        scope = ChainMap(own, outer)  # type: ignore[arg-type]
        display = f"{node.display_name}.onExit"
        self.run.execute(f"{node.name}.onExit", step, scope, ctx.hook(node.boundary_id), frame, display=display, parents=[node.id])


def exit_hook(step: Mapping[str, Any]) -> dict[str, Any] | None:
    """The exit handler of a step or task (``hooks.exit``, or ``onExit``), if it has one."""
    hooks = step.get("hooks") or {}
    if isinstance(hooks.get("exit"), dict):
        return dict(hooks["exit"])
    if step.get("onExit"):
        return {"template": step["onExit"]}
    return None
