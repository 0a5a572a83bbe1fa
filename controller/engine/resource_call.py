"""The records of ``resource`` templates the :class:`~.ports.Cluster` port is called with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .hooks import WorkflowInfo

__all__ = ["ClusterError", "ResourceCall"]


class ClusterError(Exception):
    """The cluster refused or failed an action; the message says what and why."""


@dataclass(frozen=True)
class ResourceCall:
    """One action of a resource template, as the :class:`~.ports.Cluster` receives it."""

    action: str
    manifest: Any
    """The object (a mapping); for ``mergeStrategy: json`` the list of JSON-patch operations."""
    merge_strategy: str
    """``strategic``, ``merge`` or ``json`` (``patch`` only)."""
    flags: tuple[str, ...]
    """kubectl-style arguments: ``[TYPE, NAME]`` name the object a ``patch`` changes when the
    manifest does not; ``--ignore-not-found`` is accepted."""
    workflow: WorkflowInfo
    """The workflow the node belongs to: its namespace is the default namespace."""
    owner: bool
    """``setOwnerReference``: the created object is owned by the Workflow."""
    service_account: str = "default"
    """The service account of the workflow's namespace the action is done as
    (:func:`~.resource_template.service_account`)."""
