"""Substitution scopes: the flat ``{{name}}`` → value maps Argo templates see.

Keys follow Argo's variable names (``inputs.parameters.x``, ``steps.S.outputs.result``,
``tasks.T.status``, ``item``, ``item.field``, ``workflow.name`` ...). Values are strings,
as Argo's are.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .model import SUCCEEDED

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from .model import Node

Scope = dict[str, Any]


def format_value(value: Any) -> str:
    """Argo's string form of a parameter or item value (JSON for lists and maps)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def inputs_scope(inputs: Mapping[str, Any] | None) -> Scope:
    """``inputs.parameters.<name>`` (and ``inputs.parameters`` as JSON) from a node's inputs."""
    scope: Scope = {}
    params = (inputs or {}).get("parameters") or []
    for param in params:
        if "value" in param:
            scope[f"inputs.parameters.{param['name']}"] = format_value(param["value"])
    if params:
        scope["inputs.parameters"] = json.dumps(
            [{"name": p["name"], "value": format_value(p.get("value"))} for p in params],
            separators=(",", ":"),
        )
    for art in (inputs or {}).get("artifacts") or []:
        if art.get("path"):
            scope[f"inputs.artifacts.{art['name']}.path"] = art["path"]
    return scope


def node_scope(prefix: str, node: Node) -> Scope:
    """What a finished step/task contributes: ``<prefix>.status/id/startedAt/...`` and outputs."""
    from .model import timestamp

    scope: Scope = {
        f"{prefix}.status": node.phase,
        f"{prefix}.id": node.id,
        f"{prefix}.startedAt": timestamp(node.started_at) or "",
        f"{prefix}.finishedAt": timestamp(node.finished_at) or "",
    }
    outputs = node.outputs or {}
    if outputs.get("result") is not None:
        scope[f"{prefix}.outputs.result"] = outputs["result"]
    if outputs.get("exitCode") is not None:
        scope[f"{prefix}.exitCode"] = outputs["exitCode"]
    for param in outputs.get("parameters") or []:
        if param.get("value") is not None:
            scope[f"{prefix}.outputs.parameters.{param['name']}"] = format_value(param["value"])
    for art in outputs.get("artifacts") or []:
        scope[f"{prefix}.outputs.artifacts.{art['name']}"] = artifact_ref(node.id, art["name"])
    return scope


def artifact_ref(node_id: str, name: str) -> str:
    """The placeholder value standing for a node's output artifact (resolved when bound)."""
    return f"hookbus-artifact://{node_id}/{name}"


_JSON_STARTS = frozenset('[{"-0123456789tfnNI \t\r\n')
"""The characters a text :func:`json.loads` accepts can begin with (NaN and Infinity too)."""


def aggregate_scope(prefix: str, nodes: Iterable[Node]) -> Scope:
    """Outputs of an expanded step/task (withItems/withParam/withSequence), as JSON lists.

    Only Succeeded children count, in item order: ``<prefix>.outputs.result`` is a list of
    results (JSON-decoded where they parse), ``<prefix>.outputs.parameters`` a list of
    ``{name: value}`` maps, ``<prefix>.outputs.parameters.<name>`` a list of values.
    """
    results: list[Any] = []
    param_maps: list[dict[str, str]] = []
    per_name: dict[str, list[str]] = {}
    for node in nodes:
        if node.phase != SUCCEEDED or not node.outputs:
            continue
        params = node.outputs.get("parameters") or []
        if params:
            entry: dict[str, str] = {}
            for param in params:
                value = format_value(param.get("value"))
                entry[param["name"]] = value
                per_name.setdefault(param["name"], []).append(value)
            param_maps.append(entry)
        result = node.outputs.get("result")
        if result is not None:
            if result[:1] not in _JSON_STARTS:  # cannot be JSON: skip a raised and caught error
                results.append(result)
                continue
            try:
                results.append(json.loads(result))
            except ValueError:
                results.append(result)
    scope: Scope = {
        f"{prefix}.outputs.result": json.dumps(results, separators=(",", ":")),
        f"{prefix}.outputs.parameters": json.dumps(param_maps, separators=(",", ":")),
    }
    for name, values in per_name.items():
        scope[f"{prefix}.outputs.parameters.{name}"] = json.dumps(values, separators=(",", ":"))
    return scope
