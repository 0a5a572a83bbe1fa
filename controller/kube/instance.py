"""Which objects belong to this controller: Argo's instance-id label, as Argo selects by it.

A controller with instance id ``X`` owns the objects labelled
``workflows.argoproj.io/controller-instanceid=X`` and labels what it creates with it; a
controller whose id is empty owns the objects *without* that label. Nothing else is touched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

from ..argo.labels import INSTANCE_LABEL

DEFAULT_INSTANCE_ID = "hookbus"
"""hookbus's instance id unless told otherwise: never empty by default, so that a real Argo
controller (which takes unlabelled objects) and hookbus never share a Workflow."""


def instance_selector(instance_id: str) -> str:
    """The label selector of the objects *instance_id* owns (``!label`` for the empty id)."""
    return f"{INSTANCE_LABEL}={instance_id}" if instance_id else f"!{INSTANCE_LABEL}"


def owns(obj: Mapping[str, object], instance_id: str) -> bool:
    """Whether *obj* carries the label of *instance_id* (or, for the empty id, no such label)."""
    meta = obj.get("metadata")
    labels = (meta.get("labels") if isinstance(meta, dict) else None) or {}
    value = labels.get(INSTANCE_LABEL) if isinstance(labels, dict) else None
    if not instance_id:
        return value is None
    return value == instance_id


def instance_labels(instance_id: str) -> dict[str, str]:
    """The labels that mark an object created by *instance_id* (none for the empty id)."""
    return {INSTANCE_LABEL: instance_id} if instance_id else {}
