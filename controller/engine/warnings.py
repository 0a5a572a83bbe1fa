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
must not grow the workflow record without bound). The nodes of one workflow keep
at most :data:`MAX_NODE_WARNINGS` warnings in all; past that, node warnings are
dropped and the workflow's last entry counts them
(``hookbus: 12 further plugin warnings dropped``). A warning never fails anything.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

WARNINGS_ANNOTATION = "hookbus.io/warnings"
"""Annotation holding the JSON list of the plugin warnings about the workflow."""

MAX_WORKFLOW_WARNINGS = 50
"""Distinct warnings kept on the workflow; more are counted in a last entry."""

MAX_NODE_WARNINGS = 256
"""Plugin warnings kept on the nodes of one workflow, in all; more are dropped and counted."""

_MORE = "hookbus: more plugin warnings than shown here"
_DROPPED = re.compile(r"hookbus: (\d+) further plugin warnings? dropped")


def _is_note(text: str) -> bool:
    return text == _MORE or _DROPPED.fullmatch(text) is not None


def dropped_count(workflow: Mapping[str, Any]) -> int:
    """How many plugin warnings the workflow's nodes dropped (past :data:`MAX_NODE_WARNINGS`)."""
    kept = warnings_of(workflow)
    found = _DROPPED.fullmatch(kept[-1]) if kept else None
    return int(found.group(1)) if found else 0


def note_dropped(workflow: dict[str, Any], count: int) -> None:
    """Count *count* more dropped node warnings in the workflow's last entry (one entry,
    replaced as the count grows)."""
    kept = warnings_of(workflow)
    total = dropped_count(workflow) + count
    if kept and _is_note(kept[-1]):
        kept.pop()
    kept.append(f"hookbus: {total} further plugin warning{'' if total == 1 else 's'} dropped")
    set_warnings(workflow, kept)


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
    note = kept.pop() if kept and _is_note(kept[-1]) else None
    room = MAX_WORKFLOW_WARNINGS - len(kept)
    if note == _MORE or room <= 0:
        return False
    if len(new) > room:
        new = new[:room]
        note = note or _MORE
    set_warnings(workflow, [*kept, *new, *([note] if note else [])])
    return True
