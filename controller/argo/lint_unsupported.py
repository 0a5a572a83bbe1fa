"""Lint warnings: valid Argo fields that hookbus does not (fully) act on yet.

A warning never fails ``hookbus lint`` or a submission; it says which field of the
manifest will not behave as in Argo, and how. ``docs/argo-compatibility.md`` lists the
same fields ("Not yet supported"); a test checks that every row there is warned about.
"""

from __future__ import annotations

from typing import Any

import yaml

from .errors import LintError
from .lint_report import idx, key

__all__ = ["POD_PATCH_APPLIED", "unsupported_warnings"]

POD_PATCH_APPLIED = frozenset({"containers", "initContainers"})
"""The PodSpec fields a ``podSpecPatch`` changes in local mode (the engine merges them)."""

_TEMPLATE_FIELDS = {
    "resource": "resource templates run in Kubernetes mode only: in local mode the node ends in Error",
    "data": "data templates are not supported in local mode: the node ends in Error",
}


def unsupported_warnings(doc: Any) -> list[LintError]:
    """The fields of a Workflow, WorkflowTemplate, ClusterWorkflowTemplate or
    CronWorkflow that hookbus does not act on as Argo does, each with its path."""
    if not isinstance(doc, dict):
        return []
    spec = doc.get("spec")
    path = "spec"
    if doc.get("kind") == "CronWorkflow" and isinstance(spec, dict):
        spec, path = spec.get("workflowSpec"), "spec.workflowSpec"
    out: list[LintError] = []
    if isinstance(spec, dict):
        _spec(spec, path, out)
    return out


def _spec(spec: dict[str, Any], path: str, out: list[LintError]) -> None:
    _pod_spec_patch(spec.get("podSpecPatch"), key(path, "podSpecPatch"), out)
    templates = spec.get("templates")
    if isinstance(templates, list):
        for index, tmpl in enumerate(templates):
            if isinstance(tmpl, dict):
                _template(tmpl, idx(key(path, "templates"), index), out)


def _template(tmpl: dict[str, Any], path: str, out: list[LintError]) -> None:
    for field, message in _TEMPLATE_FIELDS.items():
        if tmpl.get(field):
            out.append(LintError(key(path, field), message))
    _pod_spec_patch(tmpl.get("podSpecPatch"), key(path, "podSpecPatch"), out)


def _pod_spec_patch(patch: Any, path: str, out: list[LintError]) -> None:
    """Pod-level fields of a patch (``nodeSelector``, ``tolerations`` ...): not applied locally.

    A patch with ``{{...}}`` is read as written (a field name is rarely templated); one
    that does not parse is left to the run, which reports it on the node."""
    if isinstance(patch, str):
        try:
            patch = yaml.safe_load(patch)
        except yaml.YAMLError:
            return
    if not isinstance(patch, dict):
        return
    ignored = sorted(str(k) for k in patch if k not in POD_PATCH_APPLIED)
    if ignored:
        out.append(
            LintError(
                path,
                f"pod-level fields are not applied in local mode: {', '.join(ignored)} "
                "(containers and initContainers are)",
            )
        )
