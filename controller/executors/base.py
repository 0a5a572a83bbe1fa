"""The executor interface: what the engine hands an executor and what it gets back.

An executor runs one leaf node (a container or script template) at a time per
call of :meth:`Executor.run`; the engine runs many calls concurrently. The
records here are plain frozen dataclasses so they are cheap to build for 100k
nodes and safe to share between tasks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Mapping

SUCCEEDED: Final = "Succeeded"
"""The main process exited with code 0."""
FAILED: Final = "Failed"
"""The main process (or an init process) exited with a non-zero code, or timed out."""
ERROR: Final = "Error"
"""The node could not run at all (a command that cannot start, an isolation failure)."""

PHASES: Final = frozenset({SUCCEEDED, FAILED, ERROR})

RESULT_MAX_BYTES: Final = 256 * 1024
"""Argo keeps at most the last 256 kB of the main container's stdout as ``outputs.result``."""

_EMPTY: Final[Mapping[str, str]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    """One container of a node (main, init or sidecar) as the executor sees it.

    ``command``/``args`` follow Kubernetes: an empty ``command`` means the image's
    entrypoint. ``source`` is set for script templates: the executor writes it to a
    file and runs ``command + (file,)``.
    """

    name: str
    image: str | None
    command: tuple[str, ...]
    args: tuple[str, ...]
    env: Mapping[str, str]
    working_dir: str | None = None
    source: str | None = None


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


@dataclass(frozen=True)
class TaskResult:
    """How a node's run ended.

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


@runtime_checkable
class Executor(Protocol):
    """Runs leaf nodes. Cancelling :meth:`run` stops the node's processes promptly."""

    name: str

    async def run(self, task: TaskSpec) -> TaskResult:
        """Run *task* to completion and report how it ended (never raises for a node failure)."""
        ...

    async def close(self) -> None:
        """Stop everything still running and release resources. Idempotent."""
        ...


def trim_result(stdout: bytes) -> str:
    """Argo's ``outputs.result`` from captured stdout: last 256 kB, one trailing newline removed."""
    if stdout.endswith(b"\n"):
        stdout = stdout[:-1]
    if len(stdout) > RESULT_MAX_BYTES:
        stdout = stdout[-RESULT_MAX_BYTES:]
    return stdout.decode("utf-8", errors="replace")
