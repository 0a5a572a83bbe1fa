"""Result helpers for plugin handlers: each returns the plain dict the protocol defines.

A handler may return these, a dict of its own, or ``None`` (no opinion).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

Result = dict[str, Any]


def allow(*, warnings: Iterable[str] = ()) -> Result:
    """No objection (optionally with warnings shown to the user)."""
    return _warn({}, warnings)


def reject(message: str, *, warnings: Iterable[str] = ()) -> Result:
    """Reject the workflow, veto the pod, or fail the node, with *message* for the user."""
    return _warn({"allowed": False, "message": message}, warnings)


def warn(*messages: str) -> Result:
    """No objection, but tell the user something."""
    return {"warnings": list(messages)}


def patch(ops: list[Mapping[str, Any]], *, warnings: Iterable[str] = ()) -> Result:
    """Change the hook's target with JSON Patch (RFC 6902) operations."""
    return _warn({"patch": [dict(op) for op in ops]}, warnings)


def merge_patch(changes: Mapping[str, Any], *, warnings: Iterable[str] = ()) -> Result:
    """Change the hook's target with a JSON merge patch (RFC 7386)."""
    return _warn({"mergePatch": dict(changes)}, warnings)


def short_circuit(
    phase: Literal["Succeeded", "Skipped", "Failed"] = "Succeeded",
    *,
    outputs: Mapping[str, Any] | None = None,
    message: str = "",
) -> Result:
    """``node.preExecute``: settle the node without running it; its outputs feed downstream."""
    out: Result = {"decision": "shortCircuit", "phase": phase}
    if outputs is not None:
        out["outputs"] = dict(outputs)
    if message:
        out["message"] = message
    return out


def take_over(*, requeue: float | None = None, message: str = "") -> Result:
    """``node.preExecute``: the plugin runs the node itself and reports completion later."""
    out: Result = {"decision": "takeOver"}
    if requeue is not None:
        out["requeue"] = requeue
    if message:
        out["message"] = message
    return out


def hold(seconds: float, *, message: str = "") -> Result:
    """``node.preExecute``: do not start the node yet; ask again after *seconds*."""
    out: Result = {"decision": "hold", "requeue": seconds}
    if message:
        out["message"] = message
    return out


def fail(message: str) -> Result:
    """``node.preExecute``: fail the node without running it."""
    return {"decision": "fail", "message": message}


def value(text: str, *, secret: bool = False) -> Result:
    """``parameters.resolve``: the value of one placeholder; *secret* values are redacted everywhere."""
    return {"value": text, "secret": secret} if secret else {"value": text}


def node_result(
    phase: Literal["Pending", "Running", "Succeeded", "Failed", "Error"],
    *,
    message: str = "",
    outputs: Mapping[str, Any] | None = None,
    requeue: float | None = None,
) -> Result:
    """``template.execute``: Argo's executor-plugin reply ``{node: {...}, requeue}``."""
    node: Result = {"phase": phase}
    if message:
        node["message"] = message
    if outputs is not None:
        node["outputs"] = dict(outputs)
    out: Result = {"node": node}
    if requeue is not None:
        out["requeue"] = requeue
    return out


def _warn(result: Result, warnings: Iterable[str]) -> Result:
    listed = list(warnings)
    if listed:
        result["warnings"] = listed
    return result
