"""Where plugin warnings of a submitted workflow are kept: an annotation.

Argo's Workflow has no field for warnings (Kubernetes admission warnings are
HTTP headers, shown once by ``kubectl`` and never stored). hookbus keeps the
``workflow.preOperate`` warnings with the workflow, as the annotation
``hookbus.io/warnings``: a JSON list of ``"plugin: message"`` strings. An
annotation survives in ``argo get -o yaml``-style output and in the store,
and any Kubernetes tool shows it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

WARNINGS_ANNOTATION = "hookbus.io/warnings"
"""Annotation holding the JSON list of the plugin warnings given at submission."""


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
