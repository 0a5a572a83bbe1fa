"""Argo-like Workflow objects built from a run's node table (``get``, ``watch``)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from .model import LEAF_TYPES, SKIPPED_TYPE, Node, public_node

if TYPE_CHECKING:
    from ..argo.types import JSON
    from .nodes import NodeTable

SNAPSHOT_SLICE = 2_000
"""Nodes a snapshot built in slices turns into dicts between two turns of the event loop (a few ms)."""


def workflow_record(workflow: JSON, status: JSON) -> JSON:
    """The workflow without ``status.nodes`` (what the store keeps as the workflow record)."""
    return {**workflow, "status": {k: v for k, v in status.items() if v is not None}}


def snapshot(table: NodeTable, workflow: JSON, phase: str) -> JSON:
    """An Argo-like Workflow object with every node."""
    nodes: JSON = {}
    for node in table.nodes.values():
        nodes[node.id] = shown_node(table, node)
    return _with_nodes(table, workflow, phase, nodes)


async def snapshot_in_slices(table: NodeTable, workflow: JSON, phase: str, slice_size: int = SNAPSHOT_SLICE) -> JSON:
    """:func:`snapshot`, giving the event loop back every *slice_size* nodes.

    Only for the workflow's own worker, between passes (a ``read`` command): no pass
    of this workflow changes a node meanwhile, so the object is as consistent as
    :func:`snapshot`'s, while other workflows' passes are not held up for the second
    100,000 nodes take.
    """
    nodes: JSON = {}
    for count, node in enumerate(list(table.nodes.values()), 1):
        nodes[node.id] = shown_node(table, node)
        if count % slice_size == 0:
            await asyncio.sleep(0)
    return _with_nodes(table, workflow, phase, nodes)


def shown_node(table: NodeTable, node: Node) -> JSON:
    """*node* as ``get`` shows it (a running composite node with its current progress)."""
    data = public_node(node.to_dict())
    if node.type not in LEAF_TYPES and not node.fulfilled and node.type != SKIPPED_TYPE:
        data["progress"] = table.progress_of(node)
    return data


def _with_nodes(table: NodeTable, workflow: JSON, phase: str, nodes: JSON) -> JSON:
    status: JSON = {
        k: v for k, v in workflow["status"].items() if v is not None and not k.startswith("x-") and k != "storedTemplates"
    }
    status.setdefault("phase", phase)
    status["progress"] = table.progress()
    status["nodes"] = nodes
    return {
        "apiVersion": workflow.get("apiVersion", "argoproj.io/v1alpha1"),
        "kind": "Workflow",
        "metadata": workflow["metadata"],
        "spec": workflow["spec"],
        "status": status,
    }
