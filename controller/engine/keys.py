"""The identity of a workflow, shared by the store's records and the executor's tasks."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["WorkflowKey"]


@dataclass(frozen=True, slots=True)
class WorkflowKey:
    """Identity of a stored workflow."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"
