"""Where plugin warnings are kept: an annotation on the workflow, a field on the node.

Argo's Workflow has no field for warnings (Kubernetes admission warnings are
HTTP headers, shown once by ``kubectl`` and never stored). hookbus keeps plugin
warnings with the workflow, as the annotation ``hookbus.io/warnings``: a JSON
list of ``"plugin: message"`` strings. An annotation survives in ``argo get -o
yaml``-style output and in the store, and any Kubernetes tool shows it.

Warnings about one node (from ``node.preExecute``, ``pod.preCreate``,
``node.postExecute`` or ``template.execute``) are kept on that node as its
``warnings`` list, and each distinct text once on the workflow, up to
:data:`MAX_WORKFLOW_WARNINGS` (a plugin that warns about each of 100,000 nodes
must not grow the workflow record without bound).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

WARNINGS_ANNOTATION = "hookbus.io/warnings"
"""Annotation holding the JSON list of the plugin warnings about the workflow."""

MAX_WORKFLOW_WARNINGS = 50
"""Distinct warnings kept on the workflow; more are counted in a last entry."""

_MORE = "hookbus: more plugin warnings than shown here"


def set_warnings(workflow: dict[str, Any], warnings: Sequence[str]) -> None:
    """Record *warnings* on *workflow* (replacing any recorded before; none: no annotation)."""
    metadata = workflow.setdefault("metadata", {})
    annotations = metadata.get("annotations")
    if not isinstance(annotations, dict):
        annotations = {}
    if warnings:
        annotations[WARNINGS_ANNOTATION] = json.dumps(list(warnings), ensure_ascii=False)
    else:
        annotations.pop(WARNINGS_ANNOTATION, None)
    if annotations or "annotations" in metadata:
        metadata["annotations"] = annotations


def warnings_of(workflow: Mapping[str, Any]) -> list[str]:
    """The plugin warnings recorded on *workflow* (``[]`` when none or unreadable)."""
    annotations = (workflow.get("metadata") or {}).get("annotations") or {}
    text = annotations.get(WARNINGS_ANNOTATION) if isinstance(annotations, dict) else None
    if not text:
        return []
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return [str(text)]
    if isinstance(value, list):
        return [str(w) for w in value]
    return [str(value)]


def add_warnings(workflow: dict[str, Any], warnings: Sequence[str]) -> bool:
    """Add the *warnings* not yet recorded on *workflow*; ``True`` when the record changed.

    Past :data:`MAX_WORKFLOW_WARNINGS` distinct texts a last entry says that more were
    given (they stay on the nodes that received them).
    """
    kept = warnings_of(workflow)
    new = [w for w in dict.fromkeys(warnings) if w not in kept]
    if not new:
        return False
    more = bool(kept) and kept[-1] == _MORE
    if more:
        return False
    room = MAX_WORKFLOW_WARNINGS - len(kept)
    if len(new) > room:
        new = [*new[: max(room, 0)], _MORE]
    set_warnings(workflow, [*kept, *new])
    return True
