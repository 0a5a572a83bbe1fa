"""Argo's vocabulary, spelled once: node phases, node types and the JSON alias.

Every layer of the controller (engine, adapters, API, CLI) takes these names from here.
``Phase`` is a :class:`~enum.StrEnum`, so a member equals, hashes and serialises as
the plain string Argo writes (``Phase.SUCCEEDED == "Succeeded"``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Final

__all__ = ["FULFILLED", "JSON", "UNSUCCESSFUL", "NodeType", "Phase"]

JSON = dict[str, Any]
"""A decoded JSON/YAML object: a manifest, a status, a node record."""


class Phase(StrEnum):
    """Argo's ``NodePhase`` (a workflow's phase uses the same names, plus nothing else)."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    SKIPPED = "Skipped"
    FAILED = "Failed"
    ERROR = "Error"
    OMITTED = "Omitted"


FULFILLED: Final = frozenset(
    {Phase.SUCCEEDED, Phase.SKIPPED, Phase.FAILED, Phase.ERROR, Phase.OMITTED}
)
"""Phases after which a node never changes again."""

UNSUCCESSFUL: Final = frozenset({Phase.FAILED, Phase.ERROR})
"""The phases that count as a failure for ``failFast``, retries and exit handlers."""


class NodeType(StrEnum):
    """Argo's ``NodeType``."""

    POD = "Pod"
    CONTAINER = "Container"
    STEPS = "Steps"
    STEP_GROUP = "StepGroup"
    DAG = "DAG"
    TASK_GROUP = "TaskGroup"
    RETRY = "Retry"
    SKIPPED = "Skipped"
    SUSPEND = "Suspend"
    HTTP = "HTTP"
    PLUGIN = "Plugin"
