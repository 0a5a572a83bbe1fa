"""What frames and lifecycle hooks may ask of the run they belong to.

:mod:`.frames` and :mod:`.lifecycle` depend on the :class:`Scheduler` protocol only,
never on :class:`~.run.WorkflowRun` (which implements it), so the engine's modules
form no import cycle. The protocol lists exactly what they call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..argo.errors import ArgoError
from ..argo.types import Phase

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from ..argo.types import JSON
    from .model import Node
    from .ports import Clock

__all__ = ["Callback", "ExecCtx", "Owner", "Scheduler"]


class Owner(Protocol):
    """Whoever reacts when a node reaches a final phase (a frame, a lifecycle, the root)."""

    def child_done(self, node: Node) -> None: ...


@dataclass(frozen=True, slots=True)
class ExecCtx:
    """Where a template executes: its boundary, template owner, exit-handler flag, attempt."""

    boundary_id: str
    owner: str = ""
    """``namespaced/<WorkflowTemplate>`` when running a template of a templateRef."""
    on_exit: bool = False
    retry_attempt: int | None = None
    depth: int = 0
    """Templates nested around this one (a template's children are one deeper)."""
    hooked: bool = False
    """Run by a lifecycle hook or an exit handler (Argo's ``nodeFlag.hooked``)."""
    fail_fast: bool = False
    """The boundary's template has ``failFast: true``: as Argo counts every failed pod in
    the boundary, a failed retry attempt stops its Retry node from trying again."""

    def inner(self, boundary_id: str, *, fail_fast: bool = False) -> ExecCtx:
        return ExecCtx(boundary_id, self.owner, self.on_exit, None, self.depth + 1, fail_fast=fail_fast)

    def hook(self, boundary_id: str) -> ExecCtx:
        """The context of a hook or exit handler of a node inside *boundary_id*."""
        return ExecCtx(boundary_id, self.owner, self.on_exit, None, self.depth + 1, hooked=True)

    def attempt(self, number: int) -> ExecCtx:
        return ExecCtx(self.boundary_id, self.owner, self.on_exit, number, self.depth, self.hooked, fail_fast=self.fail_fast)

    def node_flag(self) -> dict[str, bool] | None:
        """Argo's ``nodeFlag`` of the node this context creates (``None``: no flag)."""
        if not self.hooked and self.retry_attempt is None:
            return None
        flag = {"hooked": True} if self.hooked else {}
        return {**flag, "retried": True} if self.retry_attempt is not None else flag


MAX_DEPTH = 100
"""Templates nested deeper than this end the workflow, as Argo's ``maxAllowedStackDepth``."""


class MaxDepthExceeded(ArgoError):
    """A template nested past :data:`MAX_DEPTH` (a template that calls itself without end)."""

    def __init__(self) -> None:
        super().__init__(
            "Maximum recursion depth exceeded. See "
            "https://argo-workflows.readthedocs.io/en/latest/scaling/#maximum-recursion-depth"
        )


class Scheduler(Protocol):
    """One workflow's scheduling, as its frames see it."""

    clock: Clock
    pass_no: int
    """Scheduling passes so far (frames budget their work per pass)."""
    pass_budget: int
    """Node work the current pass may do."""
    backoffs: dict[str, Any]
    """Retry frames waiting out a backoff, by Retry node id."""

    def lookup(self, name: str) -> Node | None:
        """The node called *name*, if it exists."""
        ...

    def new_node(
        self,
        name: str,
        type_: str,
        template_name: str,
        phase: str,
        boundary_id: str,
        display: str,
        message: str = "",
        inputs: JSON | None = None,
    ) -> Node:
        """The node called *name*: the existing one (adopted after a restart) or a new one."""
        ...

    def link(self, parent_id: str, child_id: str) -> None:
        """Add *child_id* to the parent's children once."""
        ...

    def own(self, node: Node, owner: Owner) -> None:
        """*owner* reacts when *node* finishes."""
        ...

    def notify(self, node: Node) -> None:
        """Queue the reaction of *node*'s owner (a node adopted already finished)."""
        ...

    def touch(self, node: Node) -> None:
        """*node* changed: store it with the pass."""
        ...

    def outbound(self, node: Node) -> list[str]:
        """Argo's outbound nodes of *node*."""
        ...

    def execute(
        self,
        name: str,
        step: Mapping[str, Any],
        scope: Mapping[str, Any],
        ctx: ExecCtx,
        owner: Owner,
        *,
        display: str,
        parents: list[str],
        arguments: Mapping[str, Any] | None = None,
    ) -> Node:
        """Run the template *step* refers to as node *name*."""
        ...

    def skipped_node(
        self,
        name: str,
        display: str,
        step: Mapping[str, Any],
        ctx: ExecCtx,
        parents: list[str],
        owner: Owner,
        message: str,
        *,
        phase: str = Phase.SKIPPED,
    ) -> Node:
        """A node that does not run (``when`` false, an empty loop; *phase* Omitted: ``depends`` not met)."""
        ...

    def error_node(
        self, name: str, display: str, step: Mapping[str, Any], ctx: ExecCtx, parents: Any, owner: Owner, message: str
    ) -> Node:
        """A node that cannot run (a step that cannot expand, a broken ``when``)."""
        ...

    def finish(self, node: Node, phase: str, message: str = "", outputs: JSON | None = None) -> None:
        """Put *node* in a final phase and queue its owner's reaction."""
        ...

    def finish_composite(self, node: Node, tmpl: Mapping[str, Any], scope: Mapping[str, Any]) -> None:
        """Finish a steps/DAG node Succeeded, resolving its template outputs from *scope*."""
        ...

    def accepting(self, ctx: ExecCtx) -> bool:
        """Whether new work may start in *ctx*."""
        ...

    def shutdown_message(self) -> str:
        """The message of nodes failed by a stop, terminate or deadline."""
        ...

    def call_at(self, when: float, callback: Callable[[], None]) -> None:
        """Run *callback* in the first pass at or after *when*."""
        ...

    def soon(self, callback: Callable[[], None]) -> None:
        """Run *callback* at the start of the next pass."""
        ...

    def declared_outputs(self, step: Mapping[str, Any], ctx: ExecCtx) -> list[JSON]:
        """The output parameters the template of *step* declares (none if it cannot be resolved)."""
        ...

    def lifecycle_done(self, node: Node) -> None:
        """*node*'s expression hooks are all done (its lifecycle is forgotten)."""
        ...


class Callback:
    """An owner that calls a function (the root node's, a workflow hook's, an exit handler's)."""

    __slots__ = ("_done",)

    def __init__(self, done: Callable[[Node], None]) -> None:
        self._done = done

    def child_done(self, node: Node) -> None:
        self._done(node)
