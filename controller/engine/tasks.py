"""What the engine hands an executor for one leaf node, and what it gets back.

The records are plain frozen dataclasses so they are cheap to build for 100k nodes
and safe to share between tasks. Executors import them from here (the engine owns
the contract; it imports nothing from the executors).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from .keys import WorkflowKey

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["ContainerSetSpec", "ProcessSpec", "TaskResult", "TaskSpec"]

_EMPTY: Final[Mapping[str, str]] = MappingProxyType({})
_NO_FIELDS: Final[Mapping[str, Any]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    """One container of a node (main, init or sidecar) as the executor sees it.

    ``command``/``args`` follow Kubernetes: an empty ``command`` means the image's
    entrypoint. ``source`` is set for script templates: the executor writes it to a
    file and runs ``command + (file,)``. ``container`` carries the other container fields
    of a plugin-patched pod (the Kubernetes executor puts them in the pod).
    """

    name: str
    image: str | None
    command: tuple[str, ...]
    args: tuple[str, ...]
    env: Mapping[str, str]
    working_dir: str | None = None
    source: str | None = None
    container: Mapping[str, Any] = field(default_factory=lambda: _NO_FIELDS)
    """The container's other fields (``resources``, ``securityContext`` ...) as a ``pod.preCreate``
    patch left them; empty when no plugin changed the pod (the template's fields apply)."""
    security_context: Mapping[str, Any] | None = None
    """The container's ``securityContext`` (``runAsUser`` ...), as the template has it."""
    resources: Mapping[str, Any] | None = None
    """The container's ``resources`` (``limits.memory``, ``limits.cpu``), as the template has it."""
    secret_env: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    """Environment variables whose values come from Secrets (``valueFrom.secretKeyRef``):
    given to the process like :attr:`env`, never shown to plugins or in the node's record."""


@dataclass(frozen=True, slots=True)
class ContainerSetSpec:
    """A ``containerSet``: its containers run by their ``dependencies``, each retried in place.

    The set's containers are the node's last ``len(dependencies)`` processes: the tail of
    ``init`` (in order), then ``main``. A container starts once every container it depends
    on succeeded; one whose dependency failed does not run.
    """

    dependencies: Mapping[str, tuple[str, ...]]
    """Container name → the containers it waits for, in the template's order."""
    attempts: int = 1
    """How many times one container may run before the set fails (Argo's ``retries``)."""
    retry_delay: float = 0.0
    """Seconds between two runs of a container (Argo's ``retryStrategy.duration``)."""


@dataclass(frozen=True)
class TaskSpec:
    """Everything needed to run one leaf node.

    ``output_parameters`` maps an output parameter name to the absolute path the
    template reads it from (``outputs.parameters[].valueFrom.path``). ``timeout``
    is the node's deadline in seconds (``activeDeadlineSeconds``), ``None`` for none.
    """

    namespace: str
    workflow: str
    node_id: str
    node_name: str
    template_name: str
    main: ProcessSpec
    sidecars: tuple[ProcessSpec, ...] = ()
    init: tuple[ProcessSpec, ...] = ()
    output_parameters: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    timeout: float | None = None
    annotations: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    labels: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    output_artifacts: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    """Output artifact name -> absolute path in the node (file or directory) to hand back."""
    input_files: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    """Absolute path in the node -> host file or directory copied there before the node starts
    (input artifacts: ``raw`` data written to a host file, or another node's output artifact)."""
    mounts: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    """Volume mounts: absolute mount path in the node -> host directory shared there by every
    container of the node (and by other nodes given the same directory, as a PVC is). An empty
    host directory string means a fresh directory private to this node (an ``emptyDir``)."""
    container_set: ContainerSetSpec | None = None
    """A ``containerSet`` template's graph and retries (``None``: not a container set)."""
    pod_security_context: Mapping[str, Any] | None = None
    """The pod's ``securityContext`` (the template's, else the workflow's ``spec.securityContext``):
    what a container's own ``securityContext`` does not say."""
    workflow_key: WorkflowKey | None = None
    """The workflow as a key (the engine passes the one it routes results by); read :attr:`key`."""
    attempt: str = ""
    """Names this run of the node: the same for every :meth:`~.ports.Executor.start` and
    :meth:`~.ports.Executor.attach` of it across controller restarts, different when the node
    runs again (the workflow was retried, or deleted and submitted again under its name). An
    executor whose nodes outlive the controller adopts a node it already has only when the
    attempt matches."""
    pod_fields: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    """Pod-level fields a ``pod.preCreate`` plugin set (``nodeSelector``, ``tolerations``,
    ``volumes`` ...; ``None``: removed), applied last when the node becomes a Pod; executors
    without pods ignore them."""

    pod_spec_patch: tuple[Mapping[str, Any], ...] = ()
    """The workflow's then the template's ``podSpecPatch``, substituted for this node and parsed:
    an executor that builds pods applies them last (the engine applied their containers already)."""

    @property
    def key(self) -> WorkflowKey:
        """The workflow the node belongs to (with :attr:`node_id`, the node's identity)."""
        return self.workflow_key or WorkflowKey(self.namespace, self.workflow)


@dataclass(frozen=True)
class TaskResult:
    """How a node's run ended.

    ``key`` and ``node_id`` name the node (its task's :attr:`TaskSpec.key` and
    :attr:`TaskSpec.node_id`): the engine routes the result by them. An executor that
    builds a result without them stamps them before reporting it.

    ``phase`` is ``Succeeded``, ``Failed`` or ``Error``. ``result`` is the main
    process's stdout as Argo's ``outputs.result`` (one trailing newline removed,
    at most the last 256 kB); ``None`` when the process never ran.
    ``parameters`` holds the output parameter values read from their paths; a
    parameter whose file was not written is absent (the engine applies
    ``default`` or fails the node, as Argo does).
    """

    phase: str
    exit_code: int | None
    message: str
    result: str | None
    parameters: Mapping[str, str]
    log_path: str | None
    started_at: float
    finished_at: float
    artifacts: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    """Output artifact name -> host path of what the node wrote there (absent when it wrote nothing).
    The path stays valid until the executor's state for the node is removed."""
    key: WorkflowKey | None = None
    """The workflow of the node this result is about."""
    node_id: str = ""
    """The node this result is about."""
