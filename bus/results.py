"""Result helpers for plugin handlers: each returns the plain dict the protocol defines.

A handler may return these, a dict of its own, or ``None`` (no opinion). The result
types are those of :mod:`hookbus.bus.wire`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar, cast

from .wire import (
    JSON,
    AdmissionResult,
    NodeResult,
    Outputs,
    PreExecuteResult,
    ResolveResult,
    ShortCircuitPhase,
    TemplateExecuteResult,
    TemplatePhase,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

Result = JSON
"""Any result as a plain map (what a handler may also return)."""

_Warned = TypeVar("_Warned", AdmissionResult, PreExecuteResult)


def allow(*, warnings: Iterable[str] = ()) -> AdmissionResult:
    """No objection (optionally with warnings shown to the user)."""
    return _warn(AdmissionResult(), warnings)


def reject(message: str, *, warnings: Iterable[str] = ()) -> AdmissionResult:
    """Reject the workflow, veto the pod, or fail the node, with *message* for the user."""
    return _warn(AdmissionResult(allowed=False, message=message), warnings)


def warn(*messages: str) -> AdmissionResult:
    """No objection, but tell the user something."""
    return {"warnings": list(messages)}


def patch(ops: list[Mapping[str, Any]], *, warnings: Iterable[str] = ()) -> AdmissionResult:
    """Change the hook's target with JSON Patch (RFC 6902) operations."""
    return _warn(AdmissionResult(patch=[dict(op) for op in ops]), warnings)


def merge_patch(changes: Mapping[str, Any], *, warnings: Iterable[str] = ()) -> AdmissionResult:
    """Change the hook's target with a JSON merge patch (RFC 7386)."""
    return _warn(AdmissionResult(mergePatch=dict(changes)), warnings)


def short_circuit(
    phase: ShortCircuitPhase = "Succeeded",
    *,
    outputs: Outputs | Mapping[str, Any] | None = None,
    message: str = "",
) -> PreExecuteResult:
    """``node.preExecute``: settle the node without running it; its outputs feed downstream."""
    out: PreExecuteResult = {"decision": "shortCircuit", "phase": phase}
    if outputs is not None:
        out["outputs"] = cast("Outputs", dict(outputs))
    if message:
        out["message"] = message
    return out


def take_over(*, requeue: float | None = None, message: str = "") -> PreExecuteResult:
    """``node.preExecute``: the plugin runs the node itself and reports completion later."""
    out: PreExecuteResult = {"decision": "takeOver"}
    if requeue is not None:
        out["requeue"] = requeue
    if message:
        out["message"] = message
    return out


def hold(seconds: float, *, message: str = "") -> PreExecuteResult:
    """``node.preExecute``: do not start the node yet; ask again after *seconds*."""
    out: PreExecuteResult = {"decision": "hold", "requeue": seconds}
    if message:
        out["message"] = message
    return out


def fail(message: str) -> PreExecuteResult:
    """``node.preExecute``: fail the node without running it."""
    return {"decision": "fail", "message": message}


def value(text: str, *, secret: bool = False) -> ResolveResult:
    """``parameters.resolve``: the value of one placeholder; *secret* values are redacted everywhere."""
    return {"value": text, "secret": secret} if secret else {"value": text}


def node_result(
    phase: TemplatePhase,
    *,
    message: str = "",
    outputs: Outputs | Mapping[str, Any] | None = None,
    requeue: float | None = None,
) -> TemplateExecuteResult:
    """``template.execute``: Argo's executor-plugin reply ``{node: {...}, requeue}``."""
    node: NodeResult = {"phase": phase}
    if message:
        node["message"] = message
    if outputs is not None:
        node["outputs"] = cast("Outputs", dict(outputs))
    out: TemplateExecuteResult = {"node": node}
    if requeue is not None:
        out["requeue"] = requeue
    return out


def _warn(result: _Warned, warnings: Iterable[str]) -> _Warned:
    listed = list(warnings)
    if listed:
        result["warnings"] = listed
    return result
