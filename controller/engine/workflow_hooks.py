"""The workflow's own hooks: expression hooks on ``spec.hooks`` and its exit handler.

Workflow-level expression hooks (``spec.hooks.<name>.expression``) are evaluated when the
workflow starts and when its root node finishes, each fired at most once. When the root
finishes, the exit handler (``spec.onExit`` / ``spec.hooks.exit``) runs unless the
workflow was terminated; the workflow ends once both the handler and every hook it fired
are done.
"""

from __future__ import annotations

from collections import ChainMap
from typing import TYPE_CHECKING, Any

from . import frames
from .lifecycle import expression_hooks, holds
from .model import LEAF_TYPES, UNSUCCESSFUL, Node
from .scheduler import Callback, ExecCtx

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from ..argo.types import JSON
    from .scheduler import Scheduler

__all__ = ["WorkflowHooks"]


class WorkflowHooks:
    """Fires the workflow's hooks and exit handler, then reports the end (*complete*)."""

    def __init__(
        self,
        run: Scheduler,
        *,
        name: str,
        spec: JSON,
        status: JSON,
        globals_: dict[str, Any],
        nodes: Mapping[str, Node],
        shutdown: Callable[[], str | None],
        complete: Callable[[Node, Node | None], None],
    ) -> None:
        self.run = run
        self.name = name
        self.spec = spec
        self.status = status
        self.globals = globals_
        self.nodes = nodes
        self._shutdown = shutdown
        self._complete = complete
        self._hooks = expression_hooks(spec)
        self._fired: set[str] = set()
        self._pending: set[str] = set()
        self._deferred: tuple[Node, Node | None] | None = None
        self._root: Node | None = None

    def evaluate(self, status: str) -> None:
        """Fire the hooks whose expression holds with ``workflow.status`` = *status* (each at most once)."""
        if not self._hooks:
            return
        scope = ChainMap({"workflow.status": status}, self.globals)
        for name, hook in self._hooks.items():
            if name in self._fired or not holds(str(hook["expression"]), scope):
                continue
            self._fired.add(name)
            node = self.run.execute(
                f"{self.name}.hooks.{name}", hook, scope, ExecCtx("", hooked=True), Callback(self._hook_done),
                display=f"{self.name}.hooks.{name}", parents=[],
            )
            self._pending.add(node.id)

    def root_done(self, root: Node) -> None:
        """The workflow's root node finished: hooks, then the exit handler, then the end."""
        self.evaluate(root.phase)
        spec = self.spec
        exit_step: JSON | None = None
        if spec.get("onExit"):
            exit_step = {"template": spec["onExit"]}
        elif ((spec.get("hooks") or {}).get("exit") or {}).get("template"):
            exit_step = dict(spec["hooks"]["exit"])
        if exit_step is None or self._shutdown() == "Terminate":
            self._end(root, None)
            return
        now = self.run.clock.now()
        self.globals["workflow.status"] = root.phase
        self.globals["workflow.failures"] = frames.failures_json(
            [n for n in self.nodes.values() if n.phase in UNSUCCESSFUL and n.type in LEAF_TYPES]
        )
        began = float(self.status.get("x-startedAt", now))
        self.globals["workflow.duration"] = f"{now - began:.6f}"
        self._root = root
        self.run.execute(
            f"{self.name}.onExit", exit_step, self.globals, ExecCtx("", on_exit=True, hooked=True), Callback(self._exit_done),
            display=f"{self.name}.onExit", parents=[],
        )

    def _exit_done(self, exit_node: Node) -> None:
        assert self._root is not None
        self._end(self._root, exit_node)

    def _end(self, root: Node, exit_node: Node | None) -> None:
        if self._pending:
            self._deferred = (root, exit_node)  # finish once the workflow's hooks have
            return
        self._complete(root, exit_node)

    def _hook_done(self, node: Node) -> None:
        self._pending.discard(node.id)
        if self._deferred is not None and not self._pending:
            root, exit_node = self._deferred
            self._deferred = None
            self._complete(root, exit_node)
