"""The records of the hook points: what each hook is asked, and what it answers.

Every hook of DESIGN.md has one method on :class:`~.ports.HookPoints`. Each call carries
the whole batch of one scheduling pass of one workflow (a list, in order) and
returns one result per item, in the same order. Every hook is called once per
transition of an item, never once per loop. A result carries the plugin verdicts
behind it (:class:`Verdict`), which the engine announces after persisting the pass.
:class:`NullHooks` has no opinion anywhere; :class:`NullEvents` drops every
notification.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from ..argo.types import Phase

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ..argo.types import JSON
    from .tasks import TaskSpec


@dataclass(frozen=True)
class WorkflowInfo:
    """Identity of the workflow a batch belongs to (what filters and logs need)."""

    namespace: str
    name: str
    uid: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------- requests


@dataclass(frozen=True)
class NodeItem:
    """A node about to execute (``node.preExecute``) or just finished (``node.postExecute``)."""

    node: JSON
    """The Argo-shaped node status (``status.nodes[id]``)."""
    template: JSON
    """The template the node runs, after substitution."""


@dataclass(frozen=True)
class PodItem:
    """A process (pod) about to be created for a node (``pod.preCreate``)."""

    node: JSON
    pod: JSON
    """``{name, image, command, args, env, workingDir, source, labels, annotations}``."""
    task: TaskSpec | None = None
    """The node's task as the executor would get it (an executor that builds real pods shows
    plugins the pod it would create from it)."""


@dataclass(frozen=True)
class PluginItem:
    """A ``plugin:`` template node to run (``template.execute``, Argo's executor-plugin contract)."""

    node: JSON
    template: JSON


# ----------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Verdict:
    """One plugin decision worth announcing: a rejection, veto, hold, take-over, warning ..."""

    plugin: str
    hook: str
    """The hook it was given on (``"node.preExecute"`` ...)."""
    verdict: str
    """``reject``, ``veto``, ``fail``, ``short-circuit``, ``hold``, ``take-over``, ``warning``, ``shadow`` ..."""
    node_id: str | None = None
    message: str = ""


@dataclass(frozen=True)
class Admission:
    """``workflow.preOperate`` result: allow (optionally patched) or reject."""

    allowed: bool = True
    message: str = ""
    workflow: JSON | None = None
    """A replacement workflow object (mutating plugins), or ``None`` to keep it."""
    warnings: tuple[str, ...] = ()
    verdicts: tuple[Verdict, ...] = ()
    """The plugin verdicts behind this result, announced once the pass is persisted."""


@dataclass(frozen=True)
class MetadataPatch:
    """``workflow.preUpdate`` result: labels/annotations to merge before persisting."""

    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    verdicts: tuple[Verdict, ...] = ()
    """The plugin verdicts behind this result, announced once the pass is persisted."""


PreExecuteDecision = Literal["continue", "shortCircuit", "takeOver", "hold", "fail"]


@dataclass(frozen=True)
class PreExecute:
    """``node.preExecute`` result."""

    decision: PreExecuteDecision = "continue"
    phase: str = Phase.SUCCEEDED.value
    """For ``shortCircuit``: Succeeded, Skipped or Failed."""
    outputs: JSON | None = None
    message: str = ""
    requeue: float | None = None
    """For ``hold``: seconds until the node is offered again."""
    warnings: tuple[str, ...] = ()
    verdicts: tuple[Verdict, ...] = ()
    """The plugin verdicts behind this result, announced once the pass is persisted."""
    pod: PodDecision | None = None
    """``pod.preCreate``'s verdict on the node's pod, when the pod was offered ahead
    (see :meth:`HookPoints.asks_ahead`) and the node continues: the engine then does not
    ask again. ``None``: ask ``pod.preCreate`` as usual."""


@dataclass(frozen=True)
class PostExecute:
    """``node.postExecute`` result: replace outputs and/or message (``None`` keeps them)."""

    outputs: JSON | None = None
    message: str | None = None
    warnings: tuple[str, ...] = ()
    verdicts: tuple[Verdict, ...] = ()
    """The plugin verdicts behind this result, announced once the pass is persisted."""


@dataclass(frozen=True)
class PodDecision:
    """``pod.preCreate`` result: veto, or a replacement pod dict."""

    allowed: bool = True
    message: str = ""
    pod: JSON | None = None
    warnings: tuple[str, ...] = ()
    verdicts: tuple[Verdict, ...] = ()
    """The plugin verdicts behind this result, announced once the pass is persisted."""


CONTINUE = PreExecute()
"""``node.preExecute``'s answer when no plugin had anything to say (frozen: one for all)."""
ALLOW = PodDecision()
"""``pod.preCreate``'s answer when no plugin had anything to say."""
KEEP = PostExecute()
"""``node.postExecute``'s answer when no plugin had anything to say."""


@dataclass(frozen=True)
class ResolvedValue:
    """``parameters.resolve`` result for one placeholder."""

    value: str
    secret: bool = False
    error: str = ""
    """Set when the plugin owning the placeholder failed (``Fail`` policy): the node errors with it."""
    missing: bool = False
    """No value was given (as ``None`` is), but the answer carries verdicts to announce."""
    verdicts: tuple[Verdict, ...] = ()
    """The plugin verdicts behind this result, announced once the pass is persisted."""


@dataclass(frozen=True)
class PluginReply:
    """``template.execute`` result (Argo executor-plugin reply).

    ``phase`` ``None`` means no plugin handled the template.
    """

    phase: str | None = None
    message: str = ""
    outputs: JSON | None = None
    requeue: float | None = None
    warnings: tuple[str, ...] = ()
    verdicts: tuple[Verdict, ...] = ()
    """The plugin verdicts behind this result, announced once the pass is persisted."""


# ------------------------------------------------------------------ protocols


class NoOpinionHooks:
    """Every hook answered with "no opinion"; a base for hook points that override a few."""

    def wants(self, hook: str, workflow: WorkflowInfo) -> bool:
        return True

    def asks_ahead(self, hook: str, workflow: WorkflowInfo) -> bool:
        return False

    async def workflow_pre_operate(self, workflows: Sequence[JSON]) -> list[Admission]:
        return [Admission() for _ in workflows]

    async def workflow_pre_update(
        self, workflow: WorkflowInfo, updates: Sequence[JSON]
    ) -> list[MetadataPatch]:
        return [MetadataPatch() for _ in updates]

    async def node_pre_execute(
        self, workflow: WorkflowInfo, nodes: Sequence[NodeItem], ahead: Sequence[PodItem | None] = ()
    ) -> list[PreExecute]:
        return [CONTINUE] * len(nodes)

    async def node_post_execute(
        self, workflow: WorkflowInfo, nodes: Sequence[NodeItem]
    ) -> list[PostExecute]:
        return [KEEP] * len(nodes)

    async def pod_pre_create(
        self, workflow: WorkflowInfo, pods: Sequence[PodItem]
    ) -> list[PodDecision]:
        return [ALLOW] * len(pods)

    async def parameters_resolve(
        self, workflow: WorkflowInfo, names: Sequence[str]
    ) -> list[ResolvedValue | None]:
        return [None for _ in names]

    async def template_execute(
        self, workflow: WorkflowInfo, nodes: Sequence[PluginItem]
    ) -> list[PluginReply]:
        return [PluginReply() for _ in nodes]



class NullHooks(NoOpinionHooks):
    """No plugins: nobody is asked, nothing changes, no request is ever built."""

    def wants(self, hook: str, workflow: WorkflowInfo) -> bool:
        return False


class NullEvents:
    """Drops every notification."""

    async def workflow_phase(self, workflow: WorkflowInfo, phase: str, message: str) -> None:
        return None

    async def node_phases(self, workflow: WorkflowInfo, nodes: Sequence[JSON]) -> None:
        return None

    async def pod_created(self, workflow: WorkflowInfo, pods: Sequence[JSON]) -> None:
        return None

    async def progress(
        self, workflow: WorkflowInfo, done: int, total: int, phases: Mapping[str, int]
    ) -> None:
        return None

    async def plugin_verdicts(self, workflow: WorkflowInfo, verdicts: Sequence[Verdict]) -> None:
        return None
