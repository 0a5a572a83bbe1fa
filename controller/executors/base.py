"""What every executor shares: result phases, Argo's result trimming, and the engine's contract.

The contract itself (:class:`Executor`, :class:`TaskSpec`, :class:`TaskResult`,
:class:`ProcessSpec`) belongs to the engine and is published by its ports module
(:mod:`..engine.ports`); it is re-exported here for the executors.
"""

from __future__ import annotations

from typing import Final

from ..engine.ports import Executor, ProcessSpec, TaskResult, TaskSpec

__all__ = [
    "ERROR",
    "FAILED",
    "PHASES",
    "RESULT_MAX_BYTES",
    "SUCCEEDED",
    "Executor",
    "ProcessSpec",
    "TaskResult",
    "TaskSpec",
    "trim_result",
]

SUCCEEDED: Final = "Succeeded"
"""The main process exited with code 0."""
FAILED: Final = "Failed"
"""The main process (or an init process) exited with a non-zero code, or timed out."""
ERROR: Final = "Error"
"""The node could not run at all (a command that cannot start, an isolation failure)."""

PHASES: Final = frozenset({SUCCEEDED, FAILED, ERROR})

RESULT_MAX_BYTES: Final = 256 * 1024
"""Argo keeps at most the last 256 kB of the main container's stdout as ``outputs.result``."""


def trim_result(stdout: bytes) -> str:
    """Argo's ``outputs.result`` from captured stdout: last 256 kB, one trailing newline removed."""
    if stdout.endswith(b"\n"):
        stdout = stdout[:-1]
    if len(stdout) > RESULT_MAX_BYTES:
        stdout = stdout[-RESULT_MAX_BYTES:]
    return stdout.decode("utf-8", errors="replace")
