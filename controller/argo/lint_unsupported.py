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

_SPEC_FIELDS = {
    "synchronization": "not supported yet: no mutex or semaphore is held, the workflow runs at once",
    "retryStrategy": "not supported yet at the workflow level: templates without their own retryStrategy are not retried",
}
_TEMPLATE_FIELDS = {
    "synchronization": "not supported yet: no mutex or semaphore is held, the template runs at once",
    "resource": "resource templates are not supported in local mode: the node ends in Error",
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
    for field, message in _SPEC_FIELDS.items():
        if spec.get(field):
            out.append(LintError(key(path, field), message))
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
    if tmpl.get("memoize") and (tmpl.get("steps") is not None or tmpl.get("dag") is not None):
        out.append(
            LintError(key(path, "memoize"), "not supported yet on steps and DAG templates: the template always runs")
        )
    _pod_spec_patch(tmpl.get("podSpecPatch"), key(path, "podSpecPatch"), out)
    container_set = tmpl.get("containerSet")
    if isinstance(container_set, dict):
        cpath = key(path, "containerSet")
        if container_set.get("retryStrategy"):
            out.append(LintError(key(cpath, "retryStrategy"), "not supported yet: containers are not retried"))
        containers = container_set.get("containers")
        for index, container in enumerate(containers if isinstance(containers, list) else []):
            if isinstance(container, dict) and container.get("dependencies"):
                out.append(
                    LintError(
                        key(idx(key(cpath, "containers"), index), "dependencies"),
                        "not supported yet: the containers run one after another in the order listed",
                    )
                )


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
