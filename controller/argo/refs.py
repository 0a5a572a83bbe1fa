"""How Argo's controller ends a submitted workflow whose template references do not resolve.

Argo accepts such a workflow (``argo submit`` does not need the referenced resources)
and its controller ends it on the first pass, without running anything:

* a ``spec.workflowTemplateRef`` whose WorkflowTemplate (or ClusterWorkflowTemplate)
  does not exist ends the workflow **Error** with the Kubernetes API's not-found message,
  ``workflowtemplate.argoproj.io "name" not found`` (``operator.go``, ``setStoredWfSpec``);
* a ``templateRef`` in a step, task or hook naming a missing resource or template fails
  validation, and the workflow ends **Failed** with
  ``invalid spec: templates.main.steps[0].s template reference lib.say not found``
  (``validate.go``, ``validateTemplateHolder``).

:func:`unresolved_reference` finds the first such reference and says how Argo ends the
workflow; lint reports the same references as errors (with a bundle).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import ManifestError
from .manifest import Bundle, resolve_template_ref
from .types import Phase

__all__ = ["UnresolvedReference", "is_reference_error", "unresolved_reference"]

_REF_FIELDS = ("workflowTemplateRef.name", "templateRef.name", "templateRef.template")


@dataclass(frozen=True, slots=True)
class UnresolvedReference:
    """A reference Argo's controller cannot resolve: the phase and message it ends with."""

    phase: Phase
    message: str


def is_reference_error(path: str) -> bool:
    """Whether a lint error at *path* is about a reference that did not resolve."""
    return path.endswith(_REF_FIELDS)


def unresolved_reference(workflow: dict[str, Any], bundle: Bundle) -> UnresolvedReference | None:
    """The first template reference of *workflow* that *bundle* cannot resolve, if any.

    The workflow's own ``workflowTemplateRef`` is checked first (Argo fetches it before
    validating); then every ``templateRef`` of the templates the workflow runs (its own,
    or those of the referenced WorkflowTemplate), in template order.
    """
    spec = workflow.get("spec")
    if not isinstance(spec, dict):
        return None
    templates: list[Any] = list(spec.get("templates") or [])
    ref = spec.get("workflowTemplateRef")
    if isinstance(ref, dict) and isinstance(ref.get("name"), str):
        cluster = bool(ref.get("clusterScope"))
        try:
            owner = bundle.template_resource(ref["name"], cluster_scope=cluster)
        except ManifestError:
            resource = "clusterworkflowtemplate" if cluster else "workflowtemplate"
            return UnresolvedReference(Phase.ERROR, f'{resource}.argoproj.io "{ref["name"]}" not found')
        owner_spec = owner.get("spec")
        if isinstance(owner_spec, dict):
            templates = list(owner_spec.get("templates") or [])
    for template in templates:
        if isinstance(template, dict):
            where = _first_missing(template, bundle)
            if where is not None:
                return UnresolvedReference(Phase.FAILED, f"invalid spec: {where}")
    return None


def _first_missing(template: dict[str, Any], bundle: Bundle) -> str | None:
    name = template.get("name")
    steps = template.get("steps")
    if isinstance(steps, list):
        for index, group in enumerate(steps):
            for step in group if isinstance(group, list) else []:
                found = _missing(step, bundle)
                if found is not None:
                    return f"templates.{name}.steps[{index}].{_name(step)} {found}"
    dag = template.get("dag")
    tasks = dag.get("tasks") if isinstance(dag, dict) else None
    if isinstance(tasks, list):
        for task in tasks:
            found = _missing(task, bundle)
            if found is not None:
                return f"templates.{name}.tasks.{_name(task)} {found}"
    return None


def _name(item: Any) -> str:
    return str(item.get("name", "")) if isinstance(item, dict) else ""


def _missing(item: Any, bundle: Bundle) -> str | None:
    """Argo's message for an unresolvable ``templateRef`` of a step or task (or of one of
    its hooks), or ``None``. A reference with a ``{{...}}`` placeholder is resolved at run
    time, as Argo skips it in validation."""
    if not isinstance(item, dict):
        return None
    refs = [item.get("templateRef")]
    hooks = item.get("hooks")
    if isinstance(hooks, dict):
        refs.extend(h.get("templateRef") for h in hooks.values() if isinstance(h, dict))
    for ref in refs:
        if not isinstance(ref, dict):
            continue
        name, template = ref.get("name"), ref.get("template")
        if not isinstance(name, str) or not isinstance(template, str):
            continue
        if "{{" in name or "{{" in template:
            continue
        try:
            resolve_template_ref(ref, bundle)
        except ManifestError:
            return f"template reference {name}.{template} not found"
    return None
