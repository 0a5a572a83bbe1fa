"""The workflow's record of plugin warnings: distinct texts, bounded."""

from __future__ import annotations

from typing import Any

from hookbus.controller.engine.warnings import (
    MAX_WORKFLOW_WARNINGS,
    add_warnings,
    set_warnings,
    warnings_of,
)


def test_add_warnings_keeps_each_text_once_after_the_admission_warnings() -> None:
    workflow: dict[str, Any] = {"metadata": {"name": "w"}}
    set_warnings(workflow, ["tag-advisor: image 'busybox' has no tag"])
    assert add_warnings(workflow, ["cost: no limits", "cost: no limits"]) is True
    assert add_warnings(workflow, ["cost: no limits"]) is False
    assert warnings_of(workflow) == ["tag-advisor: image 'busybox' has no tag", "cost: no limits"]


def test_add_warnings_stops_growing_at_the_limit_and_says_so() -> None:
    workflow: dict[str, Any] = {"metadata": {}}
    assert add_warnings(workflow, [f"p: warning {i}" for i in range(MAX_WORKFLOW_WARNINGS + 30)])
    kept = warnings_of(workflow)
    assert len(kept) == MAX_WORKFLOW_WARNINGS + 1
    assert kept[:2] == ["p: warning 0", "p: warning 1"]
    assert "more plugin warnings" in kept[-1]
    assert add_warnings(workflow, ["p: yet another"]) is False
    assert len(warnings_of(workflow)) == MAX_WORKFLOW_WARNINGS + 1


def test_dropped_node_warnings_are_counted_in_one_last_entry() -> None:
    from hookbus.controller.engine.warnings import dropped_count, note_dropped

    workflow: dict[str, Any] = {"metadata": {}}
    add_warnings(workflow, ["p: first"])
    note_dropped(workflow, 1)
    assert warnings_of(workflow) == ["p: first", "hookbus: 1 further plugin warning dropped"]
    assert add_warnings(workflow, ["p: second"]) is True, "distinct texts still fit before the note"
    note_dropped(workflow, 4)
    assert warnings_of(workflow) == ["p: first", "p: second", "hookbus: 5 further plugin warnings dropped"]
    assert dropped_count(workflow) == 5
