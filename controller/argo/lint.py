"""Lint Argo manifests the way ``argo lint`` does: every problem, each with its field path.

Two passes. The *schema* pass (:mod:`.lint_schema`) walks the document against the
tables of :mod:`.schema`: unknown fields (with a "did you mean" hint), wrong types,
missing required fields, values outside an enumeration. The *semantic* pass
(:mod:`.lint_semantic`) checks what a table cannot say, following Argo's validation
rules:

* templates: a valid, unique name; exactly one kind; an image (here or in
  ``templateDefaults``); no two mounts on one path; ``parallelism`` only on steps/dag;
  output parameters with the source their kind needs; a resource template with one of
  ``manifest``/``manifestFrom`` whose manifest is YAML; a plugin template naming one
  plugin; ``activeDeadlineSeconds`` a positive integer or a variable; valid metric names
  (:mod:`.lint_semantic`, :mod:`.lint_fields`);
* references: the entrypoint, ``onExit``, every step/task ``template``, every
  ``templateRef`` and ``workflowTemplateRef`` (against a bundle, when one is given),
  lifecycle hooks (an ``expression`` unless the hook is ``exit``) (:mod:`.lint_refs`);
* steps and DAGs: names valid and unique; exactly one of ``template``/``templateRef``/
  ``inline``; one loop kind at most; ``depends`` parsed, naming known tasks and known
  results; ``depends`` excluding ``dependencies`` and ``continueOn`` in the whole DAG;
  no cycles; ``target`` naming known tasks (:mod:`.lint_flow`);
* arguments: unique valid names, a value (or ``valueFrom`` of the kinds arguments allow)
  for every step/task parameter, ``enum`` respected, an artifact source
  (:mod:`.lint_fields`);
* ``{{...}}`` references: declared inputs, known workflow parameters, steps of earlier
  groups, upstream tasks, ``item`` only inside a loop (:mod:`.lint_vars`);
* resource names: at most 63 characters (52 for a CronWorkflow) (here).

This module holds the entry points, one per kind of document. Paths look like
``spec.templates[2].dag.tasks[0].depends``. Linting never raises on a badly shaped
document: every problem, however odd, comes back as a :class:`LintError`.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any, ParamSpec

from .errors import LintError, ManifestError
from .lint_flow import depends_task_names
from .lint_refs import Scope
from .lint_report import is_map, key, type_name
from .lint_schema import SchemaChecker
from .lint_semantic import SemanticChecker
from .lint_unsupported import unsupported_warnings
from .manifest import ARGO_API_VERSION, Bundle, merge_specs

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "check_document",
    "check_workflow",
    "depends_task_names",
    "lint_document",
    "lint_template_resource",
    "lint_warnings",
    "lint_workflow",
    "object_name_problem",
]

_RESOURCE_NAME_MAX = {"CronWorkflow": 52}  # others: 63, a Kubernetes label value
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_MAX_SUBDOMAIN = 253


def object_name_problem(field: str, value: object) -> str | None:
    """Why *value* cannot be a Kubernetes ``metadata.name``/``generateName``/``namespace``.

    Names are RFC 1123 subdomains (what Kubernetes accepts for Workflows, templates and
    ConfigMaps), namespaces RFC 1123 labels; a ``generateName`` is a name prefix, so it
    may end in ``-`` or ``.``. ``None`` when it is fine. Matching is on bounded text
    (at most 253 characters) with patterns that cannot backtrack.
    """
    if not isinstance(value, str):
        return f"must be a string, not {type(value).__name__}"
    if field == "namespace":
        if len(value) > 63 or not _LABEL.fullmatch(value):
            return (
                f"invalid value {value[:80]!r}: a lowercase RFC 1123 label must consist of at most 63 lower case "
                "alphanumeric characters or '-', and must start and end with an alphanumeric character"
            )
        return None
    if len(value) > _MAX_SUBDOMAIN:
        return f"must be no more than {_MAX_SUBDOMAIN} characters (has {len(value)})"
    checked = value
    if field == "generateName" and value[-1] in "-.":
        checked = value[:-1] + "a"  # a prefix may end where the generated suffix joins
    if not _SUBDOMAIN.fullmatch(checked):
        return (
            f"invalid value {value[:80]!r}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
            "characters, '-' or '.', and must start and end with an alphanumeric character"
        )
    return None


def _header(doc: dict[str, Any], kind: str, errors: list[LintError]) -> None:
    api = doc.get("apiVersion")
    if api is not None and api != ARGO_API_VERSION and kind != "ConfigMap":
        errors.append(LintError("apiVersion", f"expected {ARGO_API_VERSION!r}, got {api!r}"))
    if kind == "ConfigMap" and api is not None and api != "v1":
        errors.append(LintError("apiVersion", f"expected 'v1', got {api!r}"))
    actual = doc.get("kind")
    if actual is not None and actual != kind:
        errors.append(LintError("kind", f"expected {kind!r}, got {actual!r}"))
    meta = doc.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    limit = _RESOURCE_NAME_MAX.get(kind, 63)
    if isinstance(name, str) and len(name) > limit and kind != "ConfigMap":
        errors.append(
            LintError("metadata.name", f"must be no more than {limit} characters (has {len(name)})")
        )
    if not isinstance(meta, dict):
        return
    for field in ("name", "generateName", "namespace"):
        value = meta.get(field)
        if value is None or value == "":
            continue
        problem = object_name_problem(field, value)
        if problem:
            errors.append(LintError(f"metadata.{field}", problem))


def _argument_names(spec: dict[str, Any]) -> set[str]:
    args = spec.get("arguments")
    params = args.get("parameters") if isinstance(args, dict) else None
    if not isinstance(params, list):
        return set()
    return {str(p["name"]) for p in params if isinstance(p, dict) and p.get("name") is not None}


def _own_template_names(spec: Any) -> set[str]:
    if not isinstance(spec, dict) or not isinstance(spec.get("templates"), list):
        return set()
    return {
        t["name"]
        for t in spec["templates"]
        if isinstance(t, dict) and isinstance(t.get("name"), str)
    }


_P = ParamSpec("_P")


def _depth_guard(lint: Callable[_P, list[LintError]]) -> Callable[_P, list[LintError]]:
    """A manifest nested deeper than Python's recursion limit is a lint error, not a crash."""

    @functools.wraps(lint)
    def guarded(*args: _P.args, **kwargs: _P.kwargs) -> list[LintError]:
        try:
            return lint(*args, **kwargs)
        except RecursionError:
            return [LintError("", "manifest is nested too deeply to check")]

    return guarded


@_depth_guard
def lint_workflow(workflow: dict[str, Any], bundle: Bundle | None = None) -> list[LintError]:
    """Every problem of a ``Workflow`` manifest, as ``argo lint`` would report it.

    With a ``bundle``, ``spec.workflowTemplateRef`` and every ``templateRef`` are
    resolved against it (a missing resource or template is an error), and the
    entrypoint and template names are checked against the merged spec. Without one,
    references into other resources are not checked.
    """
    errors: list[LintError] = []
    if not is_map(workflow):
        return [LintError("", f"expected a map, got {type_name(workflow)}")]
    _header(workflow, "Workflow", errors)
    SchemaChecker(errors).object(workflow, "Workflow", "")
    # A missing name/generateName is not a lint error (``argo lint`` does not report
    # it); :func:`~hookbus.controller.argo.manifest.workflow_name` refuses it at submit.
    _lint_workflow_spec(workflow.get("spec"), "spec", bundle, errors)
    return errors


def _lint_workflow_spec(
    spec: Any, path: str, bundle: Bundle | None, errors: list[LintError]
) -> None:
    if not isinstance(spec, dict):
        return
    names = _own_template_names(spec)
    ref = spec.get("workflowTemplateRef")
    semantic = SemanticChecker(errors)
    if isinstance(ref, dict) and isinstance(ref.get("name"), str):
        referenced: dict[str, Any] | None = None
        if bundle is not None:
            try:
                owner = bundle.template_resource(
                    ref["name"], cluster_scope=bool(ref.get("clusterScope"))
                )
            except ManifestError as exc:
                errors.append(
                    LintError(key(key(path, "workflowTemplateRef"), "name"), exc.errors[0].message)
                )
            else:
                referenced = owner.get("spec") if isinstance(owner.get("spec"), dict) else {}
        if referenced is not None:
            merged = merge_specs(spec, referenced)
            scope = Scope(
                names | _own_template_names(referenced),
                bundle,
                complete=True,
                global_params=_argument_names(merged),
            )
            semantic.spec(spec, path, scope=scope, entrypoint_required=False)
            if not merged.get("entrypoint"):
                errors.append(
                    LintError(
                        key(path, "entrypoint"),
                        "required: neither the workflow nor its workflowTemplateRef sets it",
                    )
                )
            elif not spec.get("entrypoint"):
                semantic.template_name_ref(merged["entrypoint"], key(path, "entrypoint"), scope)
        else:
            scope = Scope(names, bundle, complete=False)
            semantic.spec(spec, path, scope=scope, entrypoint_required=False)
    else:
        scope = Scope(names, bundle, complete=True, global_params=_argument_names(spec))
        semantic.spec(spec, path, scope=scope, entrypoint_required=True)


@_depth_guard
def lint_template_resource(doc: dict[str, Any], bundle: Bundle | None = None) -> list[LintError]:
    """Every problem of a ``WorkflowTemplate`` or ``ClusterWorkflowTemplate`` manifest.

    The entrypoint is optional here (a workflow referring to the template may set it);
    when present it must name one of the template's templates.
    """
    if not is_map(doc):
        return [LintError("", f"expected a map, got {type_name(doc)}")]
    kind = doc.get("kind")
    if kind not in ("WorkflowTemplate", "ClusterWorkflowTemplate"):
        return [
            LintError("kind", f"expected WorkflowTemplate or ClusterWorkflowTemplate, got {kind!r}")
        ]
    errors: list[LintError] = []
    _header(doc, kind, errors)
    SchemaChecker(errors).object(doc, kind, "")
    meta = doc.get("metadata")
    if isinstance(meta, dict) and not meta.get("name"):
        errors.append(LintError("metadata.name", "required"))
    spec = doc.get("spec")
    if isinstance(spec, dict):
        if spec.get("workflowTemplateRef") is not None:
            errors.append(LintError("spec.workflowTemplateRef", f"not allowed in a {kind}"))
        scope = Scope(_own_template_names(spec), bundle, complete=True)
        SemanticChecker(errors).spec(spec, "spec", scope=scope, entrypoint_required=False)
    return errors


def _lint_cron_workflow(doc: dict[str, Any], bundle: Bundle | None) -> list[LintError]:
    errors: list[LintError] = []
    _header(doc, "CronWorkflow", errors)
    SchemaChecker(errors).object(doc, "CronWorkflow", "")
    spec = doc.get("spec")
    if isinstance(spec, dict):
        if not spec.get("schedules") and not spec.get("schedule"):
            errors.append(LintError("spec.schedules", "required"))
        _lint_workflow_spec(spec.get("workflowSpec"), "spec.workflowSpec", bundle, errors)
    return errors


def _lint_config_map(doc: dict[str, Any]) -> list[LintError]:
    errors: list[LintError] = []
    _header(doc, "ConfigMap", errors)
    SchemaChecker(errors).object(doc, "ConfigMap", "")
    return errors


@_depth_guard
def lint_document(doc: dict[str, Any], bundle: Bundle | None = None) -> list[LintError]:
    """Lint any supported document by its kind (Workflow, WorkflowTemplate,
    ClusterWorkflowTemplate, CronWorkflow, ConfigMap); other kinds give one error."""
    if not is_map(doc):
        return [LintError("", f"expected a map, got {type_name(doc)}")]
    kind = doc.get("kind")
    if kind == "Workflow":
        return lint_workflow(doc, bundle)
    if kind in ("WorkflowTemplate", "ClusterWorkflowTemplate"):
        return lint_template_resource(doc, bundle)
    if kind == "CronWorkflow":
        return _lint_cron_workflow(doc, bundle)
    if kind == "ConfigMap":
        return _lint_config_map(doc)
    return [LintError("kind", f"unsupported kind {kind!r}")]


@_depth_guard
def lint_warnings(doc: dict[str, Any]) -> list[LintError]:
    """Fields of a valid document that hookbus does not act on as Argo does (see
    ``docs/argo-compatibility.md``): warnings, never errors."""
    return unsupported_warnings(doc)


def _label(doc: dict[str, Any]) -> str:
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    name = meta.get("name") or meta.get("generateName") or "<unnamed>"
    return f"{doc.get('kind', 'document')} {name}"


def check_workflow(workflow: dict[str, Any], bundle: Bundle | None = None) -> None:
    """Raise :class:`ManifestError` listing every problem :func:`lint_workflow` finds."""
    errors = lint_workflow(workflow, bundle)
    if errors:
        raise ManifestError(errors, source=_label(workflow) if isinstance(workflow, dict) else "")


def check_document(doc: dict[str, Any], bundle: Bundle | None = None) -> None:
    """Raise :class:`ManifestError` listing every problem :func:`lint_document` finds."""
    errors = lint_document(doc, bundle)
    if errors:
        raise ManifestError(errors, source=_label(doc) if isinstance(doc, dict) else "")
