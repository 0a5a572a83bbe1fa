"""One workflow's node table: the nodes, their names, owners and links, and what changed.

The table is the state every part of a run shares: frames create and link nodes
through it, the launcher and the coordinator change phases through it, and the
persister stores what it marked changed (``dirty``) since the last save.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

import structlog

from ..argo import names
from .model import (
    LEAF_TYPES,
    PLUGIN,
    POD,
    RETRY,
    SKIPPED_TYPE,
    SUCCEEDED,
    SUSPEND,
    Node,
    merge_records,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..argo.types import JSON
    from .ports import Clock
    from .scheduler import Owner

log = structlog.get_logger(__name__)


class NodeTable:
    """The nodes of one workflow, by id and by name, with their owners and change marks."""

    def __init__(self, workflow_name: str, records: Mapping[str, JSON], clock: Clock) -> None:
        self.workflow_name = workflow_name
        self.clock = clock
        self.nodes: dict[str, Node] = {i: Node.from_dict(d) for i, d in merge_records(records).items()}
        self.by_name: dict[str, Node] = {n.name: n for n in self.nodes.values()}
        self.owners: dict[str, Owner] = {}
        self.done: deque[str] = deque()
        """Nodes that reached a final phase whose owners have not reacted yet."""
        self.dirty: set[str] = set()
        """Nodes changed since the last save."""
        self.changed_phase: set[str] = set()
        """Nodes whose phase changed since the last save (announced after it)."""
        self.watched: dict[str, Any] = {}
        """Lifecycles (expression hooks) by node id: a phase change of such a node is a check."""
        self.checks: set[str] = set()
        """Watched nodes whose phase changed since their hooks were last evaluated."""
        self._child_sets: dict[str, set[str]] = {}
        self.counts: dict[str, int] = {}
        """Leaf nodes per phase (what ``progress`` is computed from)."""
        for node in self.nodes.values():
            if node.type in LEAF_TYPES:
                self.counts[node.phase] = self.counts.get(node.phase, 0) + 1

    def node_id(self, name: str) -> str:
        return names.node_id(self.workflow_name, name)

    def lookup(self, name: str) -> Node | None:
        return self.by_name.get(name)

    def touch(self, node: Node) -> None:
        self.dirty.add(node.id)

    def own(self, node: Node, owner: Owner) -> None:
        self.owners[node.id] = owner

    def notify(self, node: Node) -> None:
        self.done.append(node.id)

    def link(self, parent_id: str, child_id: str) -> None:
        """Add *child_id* to the parent's children once (O(1): big fan-outs stay linear)."""
        parent = self.nodes.get(parent_id)
        if parent is None:
            return
        children = parent.children
        if len(children) < 16:
            if child_id in children:
                return
        else:
            known = self._child_sets.get(parent_id)
            if known is None:
                known = self._child_sets[parent_id] = set(children)
            if child_id in known:
                return
            known.add(child_id)
        children.append(child_id)
        self.dirty.add(parent_id)

    def set_phase(self, node: Node, phase: str) -> None:
        if node.phase == phase:
            return
        if node.type in LEAF_TYPES:
            self.counts[node.phase] = self.counts.get(node.phase, 1) - 1
            self.counts[phase] = self.counts.get(phase, 0) + 1
        node.phase = phase
        self.dirty.add(node.id)
        self.changed_phase.add(node.id)
        if node.id in self.watched:
            self.checks.add(node.id)

    def new_node(
        self,
        name: str,
        type_: str,
        template_name: str,
        phase: str,
        boundary_id: str,
        display: str,
        message: str = "",
        inputs: JSON | None = None,
    ) -> Node:
        """The node called *name*: the existing one (adopted after a restart) or a new one."""
        existing = self.by_name.get(name)
        if existing is not None:
            return existing
        node_id = self.node_id(name)
        if node_id in self.nodes:
            # fnv32a ids collide (likely past ~50k nodes): keep ids unique with a suffix
            base, k = node_id, 1
            while node_id in self.nodes:
                node_id = f"{base}-{k}"
                k += 1
            log.warning("node id collision", node=name, id=node_id, other=self.nodes[base].name)
        node = Node(
            id=node_id,
            name=name,
            display_name=display,
            type=type_,
            template_name=template_name,
            phase=phase,
            boundary_id=boundary_id,
            started_at=self.clock.now(),
            message=message,
            inputs=inputs or None,
        )
        self.nodes[node_id] = node
        self.by_name[name] = node
        if type_ in LEAF_TYPES:
            self.counts[phase] = self.counts.get(phase, 0) + 1
        self.dirty.add(node_id)
        self.changed_phase.add(node_id)
        return node

    def outbound(self, node: Node) -> list[str]:
        """Argo's outbound nodes of *node* (where the next step group or task attaches)."""
        if node.type in (POD, SKIPPED_TYPE, SUSPEND, PLUGIN) or node.type in LEAF_TYPES:
            return [node.id]
        if node.type == "TaskGroup":
            if not node.children:
                return [node.id]
            out: list[str] = []
            for child_id in node.children:
                child = self.nodes.get(child_id)
                if child is not None and not child.name.endswith(".onExit"):
                    out.extend(self.outbound(child))
            return out
        if node.type == RETRY:
            attempts = [c for c in node.children if not self.nodes[c].name.endswith(".onExit")] if node.children else []
            return [attempts[-1]] if attempts else [node.id]
        out = []
        for child_id in node.outbound_nodes:
            child = self.nodes.get(child_id)
            if child is not None:
                out.extend(self.outbound(child))
        return out or [node.id]

    def progress(self) -> str:
        """The workflow's ``progress``: Succeeded leaf nodes / leaf nodes that exist (as Argo counts)."""
        total = sum(v for v in self.counts.values() if v > 0)
        return f"{self.counts.get(SUCCEEDED, 0)}/{total}"

    def progress_of(self, node: Node) -> str:
        """A composite node's ``progress``: its Succeeded leaf descendants / its leaf descendants."""
        done = total = 0
        seen: set[str] = set()
        stack = list(node.children)
        while stack:
            child_id = stack.pop()
            if child_id in seen:
                continue
            seen.add(child_id)
            child = self.nodes.get(child_id)
            if child is None:
                continue
            if child.type in LEAF_TYPES:
                total += 1
                done += child.phase == SUCCEEDED
            stack.extend(child.children)
        return f"{done}/{total}"
