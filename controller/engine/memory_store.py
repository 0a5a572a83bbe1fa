"""An in-memory stand-in for :class:`~hookbus.controller.adapters.store.WorkflowStore`.

Same async interface, no durability: for dry runs, benchmarks that measure the
engine alone, and unit tests of scheduling. Durable runs use the JetStream store.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from ..adapters.store import StoredWorkflow, WorkflowKey

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping


class MemoryStore:
    """Keeps workflows and nodes in dicts; ``put_nodes`` stores the given dicts as-is."""

    def __init__(self) -> None:
        self._workflows: dict[WorkflowKey, dict[str, Any]] = {}
        self._nodes: dict[WorkflowKey, dict[str, dict[str, Any]]] = {}
        self._revision = 0
        self.put_nodes_calls = 0

    async def open(self) -> None:
        return None

    async def put_workflow(self, key: WorkflowKey, workflow: dict[str, Any]) -> int:
        self._revision += 1
        self._workflows[key] = copy.deepcopy(workflow)
        self._nodes.setdefault(key, {})
        return self._revision

    async def put_nodes(self, key: WorkflowKey, nodes: Mapping[str, dict[str, Any]]) -> None:
        self.put_nodes_calls += 1
        self._nodes.setdefault(key, {}).update(nodes)

    async def delete_nodes(self, key: WorkflowKey, ids: Iterable[str]) -> None:
        stored = self._nodes.get(key, {})
        for node_id in ids:
            stored.pop(node_id, None)

    async def load(self, key: WorkflowKey) -> StoredWorkflow | None:
        if key not in self._workflows:
            return None
        return StoredWorkflow(
            key=key,
            workflow=copy.deepcopy(self._workflows[key]),
            nodes=dict(self._nodes.get(key, {})),
            revision=self._revision,
        )

    async def keys(self) -> list[WorkflowKey]:
        return list(self._workflows)

    async def load_all(self) -> list[StoredWorkflow]:
        out = []
        for key in list(self._workflows):
            stored = await self.load(key)
            if stored is not None:
                out.append(stored)
        return out

    async def delete(self, key: WorkflowKey) -> None:
        self._workflows.pop(key, None)
        self._nodes.pop(key, None)
