"""The engine's ports: every interface the engine needs from the world around it.

The engine (``controller/engine/**``) depends on these protocols and records only;
the adapters (the JetStream store, the NATS plugin hooks, the executors, the event
publisher) implement them and may import from here. Nothing here imports an adapter.

- :class:`WorkflowStore`: durable workflows and nodes, with conditional writes
  (:class:`RevisionConflict`), keyed by :class:`WorkflowKey`.
- :class:`Executor`: starts, re-attaches to and cancels leaf nodes and reports their
  results to a sink the controller binds (records in :mod:`.tasks`).
- :class:`HookPoints`: the plugin hooks, batched per scheduling pass (records in :mod:`.hooks`).
- :class:`EventSink`: notifications, sent after the state they describe is persisted.
- :class:`WorkflowSource`: where submitted workflows come from.
- :class:`Clock`: time, injectable for tests.
- :class:`Cluster`: the Kubernetes API as ``resource`` templates use it (Kubernetes mode
  only; records in :mod:`.resource_call`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .keys import WorkflowKey
from .tasks import ContainerSetSpec, ProcessSpec, TaskResult, TaskSpec

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence

    from ..argo.manifest import Bundle
    from ..argo.types import JSON
    from .hooks import (
        Admission,
        MetadataPatch,
        NodeItem,
        PluginItem,
        PluginReply,
        PodDecision,
        PodItem,
        PostExecute,
        PreExecute,
        ResolvedValue,
        Verdict,
        WorkflowInfo,
    )
    from .resource_call import ResourceCall

__all__ = [
    "Clock",
    "ContainerSetSpec",
    "EventSink",
    "Executor",
    "HookPoints",
    "ProcessSpec",
    "RevisionConflict",
    "StoredWorkflow",
    "Submission",
    "TaskResult",
    "TaskSpec",
    "WorkflowKey",
    "WorkflowSource",
    "WorkflowStore",
]


# ------------------------------------------------------------------ store


@dataclass
class StoredWorkflow:
    """A workflow as read back from the store: the object, its nodes by id, and its revision."""

    key: WorkflowKey
    workflow: dict[str, Any]
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    revision: int = 0
    """The revision of the workflow record (what the next write is based on)."""


class RevisionConflict(Exception):
    """A write was based on a revision of the workflow record that is no longer the stored one.

    Another writer changed (or created, or deleted) the workflow since the revision the
    write was based on: the writer's state is stale and must be reloaded, not written.
    Never retryable as is.
    """

    retryable = False

    def __init__(self, key: WorkflowKey, expected: int, detail: str = "") -> None:
        message = f"workflow {key} is no longer at revision {expected}"
        super().__init__(f"{message}: {detail}" if detail else message)
        self.key = key
        self.expected = expected


class WorkflowStore(Protocol):
    """Durable workflows and their nodes.

    Every write names the revision of the workflow record it was based on (``0``: the
    workflow is not stored yet) and returns the revision after it; when the stored
    record is at another revision the write changes nothing and raises
    :class:`RevisionConflict`. Writing nodes leaves the workflow record, and so its
    revision, as it was: node writes are fenced by the record, which whoever takes a
    workflow over rewrites. Other failures raise an exception with a ``retryable``
    attribute (the store being away is retryable, a record too large is not).
    """

    async def open(self) -> None:
        """Make the store usable (create what is missing). Idempotent."""
        ...

    async def load(self, key: WorkflowKey) -> StoredWorkflow | None:
        """The stored workflow *key* with its nodes, or ``None`` if it is not stored."""
        ...

    async def load_all(self) -> list[StoredWorkflow]:
        """Every stored workflow with its nodes."""
        ...

    async def keys(self) -> list[WorkflowKey]:
        """Every stored workflow's key."""
        ...

    async def put_workflow(self, key: WorkflowKey, workflow: JSON, revision: int) -> int:
        """Store the workflow object (without ``status.nodes``); the new revision."""
        ...

    async def put_nodes(self, key: WorkflowKey, nodes: Mapping[str, JSON], revision: int) -> int:
        """Store these node records (by id), all acknowledged on return; the revision (unchanged)."""
        ...

    async def delete_nodes(self, key: WorkflowKey, ids: Iterable[str], revision: int) -> int:
        """Remove these node records (ids not stored are ignored); the revision (unchanged)."""
        ...

    async def delete(self, key: WorkflowKey, revision: int) -> None:
        """Remove the workflow and all its nodes."""
        ...


# --------------------------------------------------------------- executor


@runtime_checkable
class Executor(Protocol):
    """Runs leaf nodes, each independently of any coroutine of the engine.

    The engine binds a sink once (:meth:`bind`), starts a node (:meth:`start`) and goes
    on; how the node ended arrives later through the sink, which the controller binds for
    every workflow and which routes each result by the identity it carries
    (:attr:`TaskResult.key`, :attr:`TaskResult.node_id`). A node is named by its task's
    ``namespace``, ``workflow`` and ``node_id``; those identify it in :meth:`attach` and
    :meth:`cancel` too.

    An executor whose nodes mount the template's volumes themselves (pods in a cluster)
    has the optional attribute ``mounts_volumes = True``; the engine then gives its tasks
    no host ``mounts`` and checks no ``persistentVolumeClaim`` against the state directory.

    An executor whose nodes outlive the controller (pods, supervised local steps) has the
    optional method ``detach()``: the controller calls it when it shuts down, and from then
    on :meth:`cancel` leaves nodes running for the next controller to :meth:`attach`.
    """

    name: str

    def bind(self, sink: Callable[[TaskResult], None]) -> None:
        """Report every finished node's result to *sink* from now on (it replaces any
        earlier sink: a restarted controller binds its own). Results that ended before a
        sink was bound are reported to it at once. *sink* is called on the event loop,
        returns at once and never raises; node failures are results, not exceptions."""
        ...

    async def start(self, task: TaskSpec) -> None:
        """Begin *task*; return once it is started, never waiting for it to end.

        A node that cannot start is not an exception: its result (``Error`` or ``Failed``,
        with the reason) is reported to the sink like any other.
        """
        ...

    async def attach(self, task: TaskSpec) -> bool:
        """After a controller restart, take *task*'s node up again if it still runs.

        True: the executor found the node and will report its result to the sink (also
        when it ended while the controller was away). False: nothing of it survives; the
        engine records the node as lost. *task* is rebuilt from the node's template, so
        only its identity is sure to match what :meth:`start` was given.
        """
        ...

    async def cancel(self, task: TaskSpec) -> None:
        """Stop *task*'s node promptly; return once its processes are gone.

        The engine records the cancelled node's outcome itself (stop, deadline, daemon end):
        a result reported for it afterwards is ignored. Unknown or finished nodes are ignored.
        """
        ...

    async def close(self) -> None:
        """Stop everything still running and release resources. Idempotent."""
        ...


# ------------------------------------------------------------------ hooks


class HookPoints(Protocol):
    """The blocking hooks of DESIGN.md, one method each, batched per scheduling pass.

    Each call carries the whole batch of one pass of one workflow and returns one
    result per item, in order. A result carries the plugin verdicts behind it
    (:class:`~.hooks.Verdict`); the engine announces them through
    :meth:`EventSink.plugin_verdicts` once the pass is persisted.
    """

    async def workflow_pre_operate(self, workflows: Sequence[JSON]) -> list[Admission]:
        """Before the controller first operates on each workflow (at submit), and again on an
        edited spec of a running one (``Controller.edit``)."""
        ...

    async def workflow_pre_update(self, workflow: WorkflowInfo, updates: Sequence[JSON]) -> list[MetadataPatch]:
        """Before a changed workflow object (phase change) is persisted."""
        ...

    async def node_pre_execute(
        self, workflow: WorkflowInfo, nodes: Sequence[NodeItem], ahead: Sequence[PodItem | None] = ()
    ) -> list[PreExecute]:
        """Once per node, before it executes.

        *ahead* (only given when :meth:`asks_ahead` said so) holds the pod each node will
        get if it continues (``None``: no pod); ``pod.preCreate`` may be asked about them
        at the same time, and its verdict comes back as :attr:`PreExecute.pod` for the
        nodes that continue. Verdicts on pods that are never created leave no trace.
        """
        ...

    async def node_post_execute(self, workflow: WorkflowInfo, nodes: Sequence[NodeItem]) -> list[PostExecute]:
        """Once per node, after its work reached a final phase (before it is recorded)."""
        ...

    async def pod_pre_create(self, workflow: WorkflowInfo, pods: Sequence[PodItem]) -> list[PodDecision]:
        """Before a process is started for each node."""
        ...

    async def parameters_resolve(self, workflow: WorkflowInfo, names: Sequence[str]) -> list[ResolvedValue | None]:
        """Values for placeholders no built-in namespace resolves (``{{vault.x}}``)."""
        ...

    async def template_execute(self, workflow: WorkflowInfo, nodes: Sequence[PluginItem]) -> list[PluginReply]:
        """Run ``plugin:`` templates."""
        ...

    def wants(self, hook: str, workflow: WorkflowInfo) -> bool:
        """Whether *hook* (``"node.preExecute"``, ...) may have anyone to ask for *workflow*.

        When it is False the engine builds no request items for that hook at all, so a
        controller without interested plugins pays nothing per node.
        """
        ...

    def asks_ahead(self, hook: str, workflow: WorkflowInfo) -> bool:
        """Whether *hook* may be asked before the engine knows it will use the answer.

        True when everyone who would be asked declared that answering has no side
        effects; the engine then offers pods to ``node.preExecute`` (``ahead``) so that
        both hooks are asked in one round trip.
        """
        ...


# ----------------------------------------------------------------- events


class EventSink(Protocol):
    """Notifications, sent after the state they describe is persisted (persist, then notify)."""

    async def workflow_phase(self, workflow: WorkflowInfo, phase: str, message: str) -> None:
        """The workflow's phase changed (Pending, Running, Succeeded, Failed, Error)."""
        ...

    async def node_phases(self, workflow: WorkflowInfo, nodes: Sequence[JSON]) -> None:
        """Nodes whose phase changed in one pass (Argo-shaped node dicts)."""
        ...

    async def pod_created(self, workflow: WorkflowInfo, pods: Sequence[JSON]) -> None:
        """Processes started in one pass (``{node, pod}`` dicts)."""
        ...

    async def progress(self, workflow: WorkflowInfo, done: int, total: int, phases: Mapping[str, int]) -> None:
        """Coalesced progress after a pass: leaf nodes done/total and counts per phase."""
        ...

    async def plugin_verdicts(self, workflow: WorkflowInfo, verdicts: Sequence[Verdict]) -> None:
        """What plugins decided in one pass (rejections, vetoes, holds, warnings ...), in order."""
        ...

    # Optional: ``restored(workflow, phase, message, nodes)``, called once per stored workflow
    # when a controller starts, with the workflow's phase and message and every node as
    # stored (an iterable of Argo-shaped dicts, built as it is read). It publishes the phase events this state implies, which a
    # crash right after a save may have kept from going out; event ids are deterministic,
    # so the ones that did go out are dropped as duplicates. A sink without it is not asked.


# ---------------------------------------------------------------- sources


@dataclass(frozen=True)
class Submission:
    """A workflow to run, as a source hands it over."""

    workflow: JSON
    parameters: Mapping[str, str] | None = None
    bundle: Bundle | None = None
    """The WorkflowTemplates and ConfigMaps the workflow refers to."""


class WorkflowSource(Protocol):
    """Where workflows come from (the CLI and API today, Kubernetes custom resources next).

    The controller follows a source (:meth:`~.controller.Controller.follow`): it submits
    every workflow the source yields and tells the source how each submission went.
    """

    def submissions(self) -> AsyncIterator[Submission]:
        """The workflows to submit, as they arrive; ends when the source closes."""
        ...

    async def accepted(self, submission: Submission, key: WorkflowKey) -> None:
        """*submission* is stored as workflow *key* (it may still have been rejected by a plugin)."""
        ...

    async def refused(self, submission: Submission, error: Exception) -> None:
        """*submission* could not be stored (an invalid manifest, a name that exists)."""
        ...


# ------------------------------------------------------------------ clock


class Clock(Protocol):
    """A source of time the engine can wait on."""

    def now(self) -> float:
        """Seconds since the epoch (used for ``startedAt``/``finishedAt`` and deadlines)."""
        ...

    async def sleep_until(self, when: float) -> None:
        """Return once :meth:`now` is at or past *when*."""
        ...


# ---------------------------------------------------------------- cluster


class Cluster(Protocol):
    """The Kubernetes API as ``resource`` templates use it. Failures raise
    :class:`~.resource_call.ClusterError` with a message naming the object and the reason."""

    async def resource(self, call: ResourceCall) -> JSON | None:
        """Do *call*'s action; the object as the API answered (``None`` after ``delete``)."""
        ...

    async def read(self, call: ResourceCall, obj: JSON) -> JSON:
        """*obj* (an object :meth:`resource` returned for *call*) as it is now, read as *call*'s
        service account."""
        ...
