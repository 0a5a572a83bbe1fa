"""Looking at Argo-shaped Workflow objects as the controller hands them out.

Snapshot digests and summaries for following a workflow, finding a node by any
of its names, the pod name of a node, and the documents a submit sends along.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any, Protocol

from ..bus.control import FINAL_PHASES, NotFound
from .argo.names import pod_name

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .argo.manifest import Bundle
    from .engine.ports import WorkflowKey

SUMMARY_POLL = 0.2
"""Seconds between looks at a workflow's summary while following it without its nodes."""


class WorkflowLister(Protocol):
    """Whatever lists workflows as :meth:`hookbus.controller.engine.controller.Controller.list` does."""

    def list(self, namespace: str | None = None) -> list[dict[str, Any]]: ...


def fingerprint(workflow: Mapping[str, Any]) -> str:
    """A short digest of a workflow snapshot's status, to tell whether it changed."""
    status = workflow.get("status") or {}
    data = json.dumps(status, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.blake2b(data, digest_size=12).hexdigest()


def is_finished(workflow: Mapping[str, Any]) -> bool:
    """Whether the workflow reached a final phase."""
    return (workflow.get("status") or {}).get("phase") in FINAL_PHASES


def without_nodes(workflow: Mapping[str, Any]) -> dict[str, Any]:
    """A shallow copy of *workflow* whose status has no ``nodes`` (for listings)."""
    copy = dict(workflow)
    status = dict(copy.get("status") or {})
    status.pop("nodes", None)
    copy["status"] = status
    return copy


def workflow_summary(controller: WorkflowLister, key: WorkflowKey) -> dict[str, Any]:
    """The workflow without its nodes, from ``Controller.list``: cheap however big it is.

    (A full snapshot costs time in proportion to the node count; following a
    100k-node workflow by snapshots would cost more than running it.)
    """
    for workflow in controller.list(key.namespace):
        if (workflow.get("metadata") or {}).get("name") == key.name:
            return without_nodes(workflow)
    raise NotFound(f"workflow {key.namespace}/{key.name} not found")


def node_pod_name(workflow_name: str, node: Mapping[str, Any]) -> str:
    """The pod name of a node of the workflow *workflow_name* (Argo's v2 pod names).

    :func:`hookbus.controller.argo.names.pod_name` of the node's name and its
    template (the referenced one for a ``templateRef`` node).
    """
    ref = node.get("templateRef")
    template = node.get("templateName") or (ref.get("template") if isinstance(ref, dict) else "") or ""
    name = node.get("name")
    if not name:
        return str(node.get("id") or "")
    return pod_name(workflow_name, str(name), str(template))


def find_node(workflow: Mapping[str, Any], wanted: str) -> dict[str, Any] | None:
    """The node named *wanted* by id, pod name, full name or display name."""
    name = (workflow.get("metadata") or {}).get("name", "")
    nodes: dict[str, dict[str, Any]] = (workflow.get("status") or {}).get("nodes") or {}
    if wanted in nodes:
        return nodes[wanted]
    for node in nodes.values():
        if wanted in (node_pod_name(name, node), node.get("name")):
            return node
    matches = [n for n in nodes.values() if n.get("displayName") == wanted]
    return matches[0] if len(matches) == 1 else None


def documents_of(bundle: Bundle) -> list[dict[str, Any]]:
    """The templates, ConfigMaps and Secrets of *bundle*, as documents to send along with a submit."""
    docs: list[dict[str, Any]] = []
    docs.extend(bundle.workflow_templates.values())
    docs.extend(bundle.cluster_workflow_templates.values())
    docs.extend(bundle.config_maps.values())
    docs.extend(bundle.secrets.values())
    return docs
