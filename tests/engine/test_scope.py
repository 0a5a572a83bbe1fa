"""Scopes of finished nodes: what later steps and tasks can refer to."""

from __future__ import annotations

import json
from typing import Any

from hookbus.controller.engine.model import Node
from hookbus.controller.engine.scope import aggregate_scope

RESULTS = ["", "hello", "1", " 2", '{"a":1}', "[1,2]", "true", "null", "-3", "tru", "1e5", "\n[3]", "3 4", '"s"', "NaN", "Infinity", "Inf"]


def _pod(index: int, result: str | None, phase: str = "Succeeded") -> Node:
    outputs = None if result is None else {"result": result, "exitCode": "0"}
    return Node(f"n{index}", f"wf[0].fan({index})", f"fan({index})", "Pod", "work", phase, "wf", 0.0, outputs=outputs)


def _as_json_loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def test_aggregated_results_are_decoded_where_they_are_json_and_kept_as_text_where_not() -> None:
    nodes = [_pod(i, text) for i, text in enumerate(RESULTS)]
    scope = aggregate_scope("steps.fan", nodes)
    # compared as text: NaN is not equal to itself, its JSON text is
    expected = json.dumps([_as_json_loads(t) for t in RESULTS], separators=(",", ":"))
    assert scope["steps.fan.outputs.result"] == expected


def test_only_succeeded_children_with_outputs_are_aggregated_in_order() -> None:
    nodes = [_pod(0, "1"), _pod(1, "2", phase="Failed"), _pod(2, None), _pod(3, "x")]
    assert json.loads(aggregate_scope("tasks.fan", nodes)["tasks.fan.outputs.result"]) == [1, "x"]
