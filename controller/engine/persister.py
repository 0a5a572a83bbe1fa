"""The persister: what changed since the last save, stored, then announced.

Each pass ends with one save: every node marked changed in the node table in one
``put_nodes``, then the workflow record when it changed (after ``workflow.preUpdate``),
then the events: plugin verdicts, node phases, pods created, the workflow's phase,
progress (persist, then notify). Writes carry the workflow's revision; a write the
store refuses as stale (:class:`~.ports.RevisionConflict`) leaves everything marked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .model import CHILD_CHUNK, SUCCEEDED, Node, public_node, storage_records

if TYPE_CHECKING:
    from ..argo.types import JSON
    from .hooks import Verdict, WorkflowInfo
    from .nodes import NodeTable
    from .ports import EventSink, HookPoints, WorkflowKey, WorkflowStore


class Persister:
    """Saves one workflow's changes and sends the notifications about them."""

    def __init__(
        self,
        key: WorkflowKey,
        table: NodeTable,
        *,
        store: WorkflowStore,
        hooks: HookPoints,
        events: EventSink,
        info: WorkflowInfo,
        revision: int,
    ) -> None:
        self.key = key
        self.table = table
        self.store = store
        self.hooks = hooks
        self.events = events
        self.info = info
        self.revision = revision
        """The stored revision of the workflow record this run's writes are based on."""
        self.workflow_dirty = False
        """The workflow record changed since the last save."""
        self.phase_event: tuple[str, str] | None = None
        """The workflow's new phase and message, announced after the next save."""
        self._stored_ids: dict[tuple[str, str], tuple[list[str], int]] = {}
        """(node id, ``children``/``outboundNodes``) -> (that list, how many of its ids are
        stored): lists long enough to be chunked, so a growing one rewrites only new chunks."""

    async def save(self, workflow: JSON, status: JSON, pods_created: list[JSON], verdicts: list[Verdict]) -> tuple[str, str] | None:
        """Store what changed, then notify; the workflow phase announced, if any.

        *workflow* is the record without ``status`` (its ``metadata`` may be patched by
        ``workflow.preUpdate``), *status* its status; *pods_created* and *verdicts* are
        emptied once announced.
        """
        table = self.table
        # Nothing is forgotten before the store acknowledged it: a failed write leaves the
        # dirty sets in place and the next pass writes them again.
        dirty = set(table.dirty)
        nodes = table.nodes
        changed = [nodes[i] for i in dirty if i in nodes]
        phase_ids = set(table.changed_phase)
        phase_changed = [i for i in phase_ids if i in nodes]
        dicts: dict[str, JSON] = {n.id: n.to_dict() for n in changed}
        records: dict[str, JSON] = {}
        for node in changed:
            records.update(storage_records(node, dicts[node.id], stored=self._stored_counts(node)))
        if records:
            self.revision = await self.store.put_nodes(self.key, records, self.revision)
            for node in changed:
                self._remember_stored(node)
        table.dirty -= dirty
        if self.workflow_dirty:
            if self.phase_event is not None:
                patches = await self.hooks.workflow_pre_update(self.info, [_record(workflow, status)])
                for patch in patches:
                    if patch.verdicts:
                        verdicts.extend(patch.verdicts)
                    meta = workflow["metadata"]
                    if patch.labels:
                        meta.setdefault("labels", {}).update(patch.labels)
                    if patch.annotations:
                        meta.setdefault("annotations", {}).update(patch.annotations)
            status["progress"] = table.progress()
            # nodes first, then the workflow record: a finished phase is never stored
            # ahead of the nodes that justify it
            self.revision = await self.store.put_workflow(self.key, _record(workflow, status), self.revision)
            self.workflow_dirty = False
        table.changed_phase -= phase_ids
        events = self.events
        if verdicts:
            announced = list(verdicts)
            verdicts.clear()
            await events.plugin_verdicts(self.info, announced)
        if phase_changed:
            await events.node_phases(
                self.info, [public_node(dicts[i]) if i in dicts else public_node(nodes[i].to_dict()) for i in phase_changed]
            )
        if pods_created:
            pods = list(pods_created)
            pods_created.clear()
            await events.pod_created(self.info, pods)
        announced_phase = self.phase_event
        if announced_phase is not None:
            self.phase_event = None
            await events.workflow_phase(self.info, *announced_phase)
        if changed:
            counts = table.counts
            await events.progress(self.info, counts.get(SUCCEEDED, 0), sum(counts.values()), dict(counts))
        return announced_phase

    def _stored_counts(self, node: Node) -> dict[str, int] | None:
        """How many leading ids of *node*'s long lists the store holds (see :func:`storage_records`)."""
        counts: dict[str, int] | None = None
        for key, ids in (("children", node.children), ("outboundNodes", node.outbound_nodes)):
            known = self._stored_ids.get((node.id, key))
            # the same list, only appended to since (link() appends; other changes replace the list)
            if known is not None and known[0] is ids and known[1] <= len(ids):
                counts = counts or {}
                counts[key] = known[1]
        return counts

    def _remember_stored(self, node: Node) -> None:
        for key, ids in (("children", node.children), ("outboundNodes", node.outbound_nodes)):
            if len(ids) > CHILD_CHUNK:
                self._stored_ids[(node.id, key)] = (ids, len(ids))
            elif self._stored_ids:
                self._stored_ids.pop((node.id, key), None)


def _record(workflow: JSON, status: JSON) -> JSON:
    """The workflow record: the object without ``status.nodes``, unset status fields left out."""
    return {**workflow, "status": {k: v for k, v in status.items() if v is not None}}
