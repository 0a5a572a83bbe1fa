"""An in-memory :class:`~.ports.WorkflowStore`.

Same async interface and the same conditional writes, no durability: for dry runs,
benchmarks that measure the engine alone, and unit tests of scheduling. Durable runs
use the JetStream store.
"""

from __future__ import annotations

import copy
import itertools
from typing import TYPE_CHECKING, Any

from .ports import RevisionConflict, StoredWorkflow, WorkflowKey

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping


class MemoryStore:
    """Keeps workflows and nodes in dicts; ``put_nodes`` stores the given dicts as-is.

    Revisions come from one counter, as a stream's sequence does: a workflow written
    again, or deleted and created anew, never gets a revision it had before.
    """

    def __init__(self) -> None:
        self._workflows: dict[WorkflowKey, dict[str, Any]] = {}
        self._nodes: dict[WorkflowKey, dict[str, dict[str, Any]]] = {}
        self._revisions: dict[WorkflowKey, int] = {}
        self._sequence = itertools.count(1)
        self.put_nodes_calls = 0

    async def open(self) -> None:
        return None

    def _check(self, key: WorkflowKey, revision: int) -> None:
        stored = self._revisions.get(key, 0)
        if stored != revision:
            raise RevisionConflict(key, revision, f"stored revision is {stored}")

    async def put_workflow(self, key: WorkflowKey, workflow: dict[str, Any], revision: int) -> int:
        self._check(key, revision)
        self._workflows[key] = copy.deepcopy(workflow)
        self._nodes.setdefault(key, {})
        new = self._revisions[key] = next(self._sequence)
        return new

    async def put_nodes(self, key: WorkflowKey, nodes: Mapping[str, dict[str, Any]], revision: int) -> int:
        self._check(key, revision)
        self.put_nodes_calls += 1
        self._nodes.setdefault(key, {}).update(nodes)
        return revision

    async def delete_nodes(self, key: WorkflowKey, ids: Iterable[str], revision: int) -> int:
        self._check(key, revision)
        stored = self._nodes.get(key, {})
        for node_id in ids:
            stored.pop(node_id, None)
        return revision

    async def load(self, key: WorkflowKey) -> StoredWorkflow | None:
        if key not in self._workflows:
            return None
        return StoredWorkflow(
            key=key,
            workflow=copy.deepcopy(self._workflows[key]),
            nodes=dict(self._nodes.get(key, {})),
            revision=self._revisions[key],
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

    async def delete(self, key: WorkflowKey, revision: int) -> None:
        self._check(key, revision)
        self._workflows.pop(key, None)
        self._nodes.pop(key, None)
        self._revisions.pop(key, None)
