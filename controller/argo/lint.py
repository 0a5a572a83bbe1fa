"""Lint Argo manifests the way ``argo lint`` does: every problem, each with its field path.

Two passes. The *schema* pass walks the document against the tables of
:mod:`hookbus.controller.argo.schema`: unknown fields (with a "did you mean" hint),
wrong types, missing required fields, values outside an enumeration. The *semantic*
pass checks what a table cannot say, following Argo's validation rules:

* templates: a valid, unique name; exactly one kind; an image (here or in
  ``templateDefaults``); no two mounts on one path; ``parallelism`` only on steps/dag;
  output parameters with the source their kind needs; a resource template with one of
  ``manifest``/``manifestFrom`` whose manifest is YAML; a plugin template naming one
  plugin; ``activeDeadlineSeconds`` a positive integer or a variable; valid metric names;
* references: the entrypoint, ``onExit``, every step/task ``template``, every
  ``templateRef`` and ``workflowTemplateRef`` (against a bundle, when one is given),
  lifecycle hooks (an ``expression`` unless the hook is ``exit``);
* steps and DAGs: names valid and unique; exactly one of ``template``/``templateRef``/
  ``inline``; one loop kind at most; ``depends`` parsed, naming known tasks and known
  results; ``depends`` excluding ``dependencies`` and ``continueOn`` in the whole DAG;
  no cycles; ``target`` naming known tasks;
* arguments: unique valid names, a value (or ``valueFrom`` of the kinds arguments allow)
  for every step/task parameter, ``enum`` respected, an artifact source;
* ``{{...}}`` references: declared inputs, known workflow parameters, steps of earlier
  groups, upstream tasks, ``item`` only inside a loop;
* resource names: at most 63 characters (52 for a CronWorkflow).

Paths look like ``spec.templates[2].dag.tasks[0].depends``. Linting never raises on a
badly shaped document: every problem, however odd, comes back as a :class:`LintError`.
"""

from __future__ import annotations

import difflib
import functools
import re
from typing import TYPE_CHECKING, Any, ParamSpec

import yaml

from .errors import LintError, ManifestError
from .manifest import (
    ARGO_API_VERSION,
    Bundle,
    merge_specs,
    resolve_template_ref,
)
from .schema import OBJECTS, TEMPLATE_KINDS, FieldType, parse_type

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

__all__ = [
    "check_document",
    "check_workflow",
    "depends_task_names",
    "lint_document",
    "lint_template_resource",
    "lint_workflow",
]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DEPENDS_RESULTS = frozenset(
    {
        "Succeeded",
        "Failed",
        "Errored",
        "Skipped",
        "Omitted",
        "Daemoned",
        "AnySucceeded",
        "AllFailed",
    }
)
_DEPENDS_TOKEN = re.compile(r"\s*(&&|\|\||!|\(|\)|[^\s&|!()]+)")
_LOOPS = ("withItems", "withParam", "withSequence")
# Argo's name rules: templates, steps and tasks; parameters and artifacts.
_FIELD_NAME = re.compile(r"^[a-zA-Z0-9][-a-zA-Z0-9]*$")
_FIELD_NAME_MAX = 128
_PARAM_NAME = re.compile(r"^[-a-zA-Z0-9_]+$")
_METRIC_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_PLACEHOLDER = re.compile(r"\{\{[^{}]*\}\}")
_RESOURCE_NAME_MAX = {"CronWorkflow": 52}  # others: 63, a Kubernetes label value
_ARTIFACT_LOCATIONS = (
    "artifactory",
    "azure",
    "gcs",
    "git",
    "hdfs",
    "http",
    "oss",
    "plugin",
    "raw",
    "s3",
)


@functools.lru_cache(maxsize=8192)
def _plain_key(text: str) -> bool:
    return _IDENT.match(text) is not None


def _key(path: str, key: object) -> str:
    text = key if isinstance(key, str) else str(key)
    if not _plain_key(text):
        return f'{path}["{text}"]'
    return f"{path}.{text}" if path else text


def _idx(path: str, index: int) -> str:
    return f"{path}[{index}]"


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "map"
    return type(value).__name__


def _is_map(value: object) -> bool:
    return isinstance(value, dict)


def _is_templated(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


# ---------------------------------------------------------------------------------------
# Schema pass


class _SchemaChecker:
    def __init__(self, errors: list[LintError]) -> None:
        self.errors = errors

    def error(self, path: str, message: str) -> None:
        self.errors.append(LintError(path, message))

    def check(self, value: Any, ftype: FieldType, path: str) -> None:
        if value is None:
            return  # JSON null is "unset" to Kubernetes' decoder
        if ftype.kind == "scalar":
            self._scalar(value, ftype.name, path)
        elif ftype.kind == "enum":
            if not isinstance(value, str):
                self.error(path, f"expected string, got {_type_name(value)}")
            elif value and value not in ftype.values and not _is_templated(value):
                self.error(
                    path, f"invalid value {value!r}: must be one of {', '.join(ftype.values)}"
                )
        elif ftype.kind == "list":
            assert ftype.item is not None
            if not isinstance(value, list):
                hint = ""
                if isinstance(value, dict) and re.search(r"\.steps\[\d+\]$", path):
                    hint = (
                        " (steps is a list of parallel groups: write each step as '- - name: ...')"
                    )
                self.error(path, f"expected list, got {_type_name(value)}{hint}")
                return
            for index, item in enumerate(value):
                self.check(item, ftype.item, _idx(path, index))
        elif ftype.kind == "map":
            assert ftype.item is not None
            if not isinstance(value, dict):
                self.error(path, f"expected map, got {_type_name(value)}")
                return
            for key, item in value.items():
                if not isinstance(key, str):
                    self.error(_key(path, key), f"map key must be a string, got {_type_name(key)}")
                self.check(item, ftype.item, _key(path, key))
        else:
            self.object(value, ftype.name, path)

    def _scalar(self, value: Any, name: str, path: str) -> None:
        ok: bool
        if name == "any":
            ok = True
        elif name == "object":
            ok = isinstance(value, dict)
        elif name == "string":
            ok = isinstance(value, str)
        elif name == "bool":
            ok = isinstance(value, bool)
        elif name == "int":
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif name == "number":
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        elif name == "intstr":
            ok = isinstance(value, int | str) and not isinstance(value, bool)
        elif name == "anystr":
            ok = isinstance(value, str | int | float | bool)
        elif name == "quantity":
            ok = isinstance(value, str | int | float) and not isinstance(value, bool)
        else:  # pragma: no cover - schema self-check forbids it
            raise AssertionError(name)
        if not ok:
            wanted = {
                "object": "map",
                "intstr": "int or string",
                "anystr": "string, number or bool",
                "quantity": "quantity (string or number)",
            }.get(name, name)
            self.error(path, f"expected {wanted}, got {_type_name(value)}")

    def object(self, value: Any, schema_name: str, path: str) -> None:
        if not isinstance(value, dict):
            self.error(path, f"expected map ({schema_name}), got {_type_name(value)}")
            return
        schema = OBJECTS[schema_name]
        for key, item in value.items():
            sub = _key(path, key)
            type_text = schema.fields.get(key) if isinstance(key, str) else None
            if type_text is None:
                hint = difflib.get_close_matches(str(key), list(schema.fields), n=1, cutoff=0.75)
                suffix = f' (did you mean "{hint[0]}"?)' if hint else ""
                self.error(sub, f"unknown field{suffix}")
                continue
            self.check(item, parse_type(type_text), sub)
        for name in sorted(schema.required):
            if value.get(name) is None:
                self.error(_key(path, name), "required")


# ---------------------------------------------------------------------------------------
# Semantic pass


def depends_task_names(text: str) -> tuple[set[str], list[str]]:
    """Task names an Argo ``depends`` expression mentions, and problems found in it.

    A term is ``task`` or ``task.Result`` (``Succeeded Failed Errored Skipped Omitted
    Daemoned AnySucceeded AllFailed``), joined by ``&&``, ``||``, ``!`` and parentheses.
    """
    names: set[str] = set()
    problems: list[str] = []
    depth = 0
    expect_operand = True
    position = 0
    text = text.strip()
    while position < len(text):
        match = _DEPENDS_TOKEN.match(text, position)
        if match is None:  # pragma: no cover - the token pattern matches any non-space
            break
        token = match.group(1)
        position = match.end()
        if token in ("&&", "||"):
            if expect_operand:
                problems.append(f"unexpected {token!r}")
            expect_operand = True
        elif token == "!":
            if not expect_operand:
                problems.append("unexpected '!'")
        elif token == "(":
            if not expect_operand:
                problems.append("unexpected '('")
            depth += 1
        elif token == ")":
            depth -= 1
            if depth < 0 or expect_operand:
                problems.append("unexpected ')'")
                depth = max(depth, 0)
            expect_operand = False
        else:
            if not expect_operand:
                problems.append(f"missing operator before {token!r}")
            task, dot, result = token.partition(".")
            if dot and result not in _DEPENDS_RESULTS:
                problems.append(
                    f"unknown result {result!r} of task {task!r} "
                    f"(one of {', '.join(sorted(_DEPENDS_RESULTS))})"
                )
            names.add(task)
            expect_operand = False
    if depth > 0:
        problems.append("unbalanced '('")
    if expect_operand and text:
        problems.append("expression ends with an operator")
    return names, problems


class _Scope:
    """The templates a reference may name, and the bundle for ``templateRef``."""

    def __init__(
        self,
        names: Iterable[str],
        bundle: Bundle | None,
        complete: bool,
        global_params: Iterable[str] | None = None,
    ) -> None:
        self.names = set(names)
        self.bundle = bundle
        self.complete = complete  # False when templates may come from an unknown resource
        # Names ``{{workflow.parameters.X}}`` may use; None when they cannot be known
        # (a WorkflowTemplate's come from the workflow that submits it).
        self.global_params = None if global_params is None else set(global_params)
        self.defaults: dict[str, Any] = {}  # spec.templateDefaults


class _SemanticChecker:
    def __init__(self, errors: list[LintError]) -> None:
        self.errors = errors

    def error(self, path: str, message: str) -> None:
        self.errors.append(LintError(path, message))

    # -- names --------------------------------------------------------------------------

    def field_name(self, name: Any, path: str) -> None:
        """A template, step or task name: letters, digits and '-', starting alphanumeric."""
        if not isinstance(name, str) or not name:
            return
        plain = _PLACEHOLDER.sub("x", name)
        if len(plain) > _FIELD_NAME_MAX:
            self.error(path, f"must be no more than {_FIELD_NAME_MAX} characters")
        elif not _FIELD_NAME.match(plain):
            self.error(
                path,
                f"{name!r} is invalid: use letters, digits and '-', starting with a letter or digit",
            )

    def param_name(self, name: Any, path: str) -> None:
        """A parameter or artifact name: letters, digits, '_' and '-'."""
        if isinstance(name, str) and name and not _PARAM_NAME.match(name):
            self.error(path, f"{name!r} is invalid: use letters, digits, '_' and '-'")

    # -- references ---------------------------------------------------------------------

    def template_name_ref(self, name: Any, path: str, scope: _Scope) -> None:
        if not isinstance(name, str) or _is_templated(name):
            return
        if name not in scope.names and scope.complete:
            self.error(path, f'template "{name}" not found')

    def template_ref(self, ref: Any, path: str, scope: _Scope) -> None:
        if not isinstance(ref, dict) or scope.bundle is None:
            return
        if any(_is_templated(ref.get(k)) for k in ("name", "template")):
            return
        if not isinstance(ref.get("name"), str) or not isinstance(ref.get("template"), str):
            return  # the schema pass reported it
        try:
            resolve_template_ref(ref, scope.bundle)
        except ManifestError as exc:
            for err in exc.errors:
                self.error(_key(path, err.path.rpartition(".")[2]), err.message)

    def hooks(self, hooks: Any, path: str, scope: _Scope) -> None:
        if not isinstance(hooks, dict):
            return
        for name, hook in hooks.items():
            sub = _key(path, name)
            if not isinstance(hook, dict):
                continue
            if hook.get("template") is None and hook.get("templateRef") is None:
                self.error(sub, "needs template or templateRef")
            elif hook.get("template") is not None and hook.get("templateRef") is not None:
                self.error(sub, "template and templateRef are mutually exclusive")
            if name != "exit" and not hook.get("expression"):
                self.error(
                    _key(sub, "expression"),
                    f'required for hook "{name}" (only "exit" runs without one)',
                )
            self.template_name_ref(hook.get("template"), _key(sub, "template"), scope)
            self.template_ref(hook.get("templateRef"), _key(sub, "templateRef"), scope)

    # -- a whole spec -------------------------------------------------------------------

    def spec(
        self,
        spec: Any,
        path: str,
        *,
        scope: _Scope,
        entrypoint_required: bool,
    ) -> None:
        if not isinstance(spec, dict):
            return
        defaults = spec.get("templateDefaults")
        scope.defaults = defaults if isinstance(defaults, dict) else {}
        templates = spec.get("templates")
        if isinstance(templates, list):
            seen: dict[str, int] = {}
            for index, template in enumerate(templates):
                tpath = _idx(_key(path, "templates"), index)
                if not isinstance(template, dict):
                    continue
                name = template.get("name")
                self.field_name(name, _key(tpath, "name"))
                if not name:
                    self.error(_key(tpath, "name"), "required")
                elif isinstance(name, str):
                    if name in seen:
                        self.error(
                            _key(tpath, "name"),
                            f'duplicate template name "{name}" (also templates[{seen[name]}])',
                        )
                    else:
                        seen[name] = index
                self.template(template, tpath, scope)
        self.arguments(spec.get("arguments"), _key(path, "arguments"), allow_empty=True)
        if isinstance(spec.get("metrics"), dict):
            self.metrics(spec["metrics"], _key(path, "metrics"))
        entrypoint = spec.get("entrypoint")
        if entrypoint:
            self.template_name_ref(entrypoint, _key(path, "entrypoint"), scope)
        elif entrypoint_required:
            self.error(_key(path, "entrypoint"), "required (or use workflowTemplateRef)")
        on_exit = spec.get("onExit")
        if on_exit:
            self.template_name_ref(on_exit, _key(path, "onExit"), scope)
        self.hooks(spec.get("hooks"), _key(path, "hooks"), scope)

    # -- templates ----------------------------------------------------------------------

    def template(self, template: dict[str, Any], path: str, scope: _Scope) -> None:
        _VariableChecker(self, template, path, scope).run()
        kinds = [kind for kind in TEMPLATE_KINDS if template.get(kind) is not None]
        if not kinds:
            self.error(path, f"template needs exactly one of {', '.join(TEMPLATE_KINDS)}; has none")
        elif len(kinds) > 1:
            self.error(_key(path, kinds[1]), f"template has more than one kind: {', '.join(kinds)}")
        for group_name in ("inputs", "outputs"):
            group = template.get(group_name)
            if isinstance(group, dict):
                for list_name in ("parameters", "artifacts"):
                    self.param_names(group.get(list_name), _key(_key(path, group_name), list_name))
                    self.unique_names(
                        group.get(list_name), _key(_key(path, group_name), list_name), "name"
                    )
        steps = template.get("steps")
        if isinstance(steps, list):
            self.steps(steps, _key(path, "steps"), scope)
        dag = template.get("dag")
        if isinstance(dag, dict):
            self.dag(dag, _key(path, "dag"), scope)
        for kind in ("container", "script"):
            body = template.get(kind)
            default = scope.defaults.get(kind)
            has_default = isinstance(default, dict) and bool(default.get("image"))
            if isinstance(body, dict) and not body.get("image") and not has_default:
                self.error(
                    _key(_key(path, kind), "image"), "required (here or in spec.templateDefaults)"
                )
            if isinstance(body, dict):
                self.mount_paths(template, body, _key(path, kind))
        container_set = template.get("containerSet")
        if isinstance(container_set, dict):
            self.container_set(container_set, _key(path, "containerSet"))
        resource = template.get("resource")
        if isinstance(resource, dict):
            has = [k for k in ("manifest", "manifestFrom") if resource.get(k) is not None]
            if resource.get("action") != "delete" and len(has) != 1:
                self.error(
                    _key(path, "resource"),
                    "needs exactly one of manifest, manifestFrom"
                    + (f" (has {', '.join(has)})" if has else ""),
                )
        the_kind = kinds[0] if len(kinds) == 1 else None
        if template.get("parallelism") is not None and the_kind not in (None, "steps", "dag"):
            self.error(_key(path, "parallelism"), "only valid for steps and dag templates")
        outputs = template.get("outputs")
        if isinstance(outputs, dict) and isinstance(outputs.get("parameters"), list):
            for index, param in enumerate(outputs["parameters"]):
                if isinstance(param, dict):
                    self.output_parameter(
                        param, _idx(_key(_key(path, "outputs"), "parameters"), index), the_kind
                    )
        self.deadline(template.get("activeDeadlineSeconds"), _key(path, "activeDeadlineSeconds"))
        if isinstance(resource, dict) and isinstance(resource.get("manifest"), str):
            self.resource_manifest(resource["manifest"], _key(_key(path, "resource"), "manifest"))
        metrics = template.get("metrics")
        if isinstance(metrics, dict):
            self.metrics(metrics, _key(path, "metrics"))
        plugin = template.get("plugin")
        if isinstance(plugin, dict) and len(plugin) != 1:
            self.error(_key(path, "plugin"), f"must name exactly one plugin, has {len(plugin)}")

    def arguments(self, args: Any, path: str, *, allow_empty: bool) -> None:
        """Arguments passed to a template (or to the workflow): names unique, every
        parameter given a value (``allow_empty`` for workflow arguments under lint, which
        may be supplied at submit), enum respected, every artifact given a source."""
        if not isinstance(args, dict):
            return
        params = args.get("parameters")
        self.param_names(params, _key(path, "parameters"))
        self.param_names(args.get("artifacts"), _key(path, "artifacts"))
        self.unique_names(params, _key(path, "parameters"), "name")
        if isinstance(params, list):
            for index, param in enumerate(params):
                if isinstance(param, dict):
                    self.argument_parameter(
                        param, _idx(_key(path, "parameters"), index), allow_empty
                    )
        artifacts = args.get("artifacts")
        self.unique_names(artifacts, _key(path, "artifacts"), "name")
        if isinstance(artifacts, list):
            for index, art in enumerate(artifacts):
                if not isinstance(art, dict):
                    continue
                apath = _idx(_key(path, "artifacts"), index)
                sources = [
                    k for k in ("from", "fromExpression", *_ARTIFACT_LOCATIONS) if art.get(k)
                ]
                if not sources:
                    self.error(apath, "needs from, fromExpression or an artifact location")
                if art.get("from") and art.get("fromExpression"):
                    self.error(
                        _key(apath, "fromExpression"),
                        "from and fromExpression are mutually exclusive",
                    )

    def argument_parameter(self, param: dict[str, Any], path: str, allow_empty: bool) -> None:
        value_from = param.get("valueFrom")
        if param.get("value") is None and value_from is None and not allow_empty:
            self.error(path, "needs value or valueFrom")
        if isinstance(value_from, dict):
            if not any(
                value_from.get(k) is not None for k in ("configMapKeyRef", "event", "supplied")
            ):
                self.error(
                    _key(path, "valueFrom"),
                    "arguments allow only configMapKeyRef, supplied or event (with default)",
                )
            for key in ("path", "jsonPath", "jqFilter", "parameter", "expression"):
                if value_from.get(key):
                    self.error(_key(_key(path, "valueFrom"), key), "not allowed in arguments")
        enum = param.get("enum")
        if isinstance(enum, list):
            if not enum:
                self.error(_key(path, "enum"), "should contain at least one value")
            value = param.get("value")
            if value is not None and not _is_templated(value):
                if str(value) not in {str(v) for v in enum}:
                    self.error(_key(path, "value"), f"{value!r} is not one of the enum values")

    def output_parameter(self, param: dict[str, Any], path: str, kind: str | None) -> None:
        value_from = param.get("valueFrom")
        if param.get("value") is not None:
            if value_from is not None:
                self.error(path, "has both value and valueFrom; choose one")
            return
        if not isinstance(value_from, dict):
            self.error(path, "needs valueFrom or value")
            return
        sources = [
            k
            for k in ("path", "jqFilter", "jsonPath", "parameter", "expression", "event")
            if value_from.get(k)
        ]
        vpath = _key(path, "valueFrom")
        if (
            not sources
            and value_from.get("supplied") is None
            and value_from.get("configMapKeyRef") is None
        ):
            self.error(vpath, "needs one of path, jqFilter, jsonPath, parameter, expression")
        elif len(sources) > 1:
            self.error(vpath, f"has more than one source: {', '.join(sources)}")
        if (
            kind in ("container", "containerSet", "script")
            and not value_from.get("path")
            and value_from.get("supplied") is None
        ):
            self.error(_key(vpath, "path"), f"required for {kind} templates")
        elif kind == "resource" and not (value_from.get("jqFilter") or value_from.get("jsonPath")):
            self.error(vpath, "needs jqFilter or jsonPath for resource templates")
        elif kind in ("steps", "dag") and not (
            value_from.get("parameter") or value_from.get("expression")
        ):
            if value_from.get("supplied") is None:
                self.error(vpath, f"needs parameter or expression for {kind} templates")

    def deadline(self, value: Any, path: str) -> None:
        """``activeDeadlineSeconds``: a positive number of seconds or a placeholder."""
        if isinstance(value, bool) or value is None or _is_templated(value):
            return
        if isinstance(value, str):
            if not value.strip().isdigit():
                self.error(path, "must be a positive integer or an Argo variable")
        elif isinstance(value, int) and value < 0:
            self.error(path, "must be a positive integer or an Argo variable")

    def resource_manifest(self, manifest: str, path: str) -> None:
        """The manifest of a resource template must be YAML (placeholders aside)."""
        text = _PLACEHOLDER.sub("placeholder", manifest)
        try:
            list(yaml.safe_load_all(text))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark is not None else ""
            problem = getattr(exc, "problem", None) or "invalid YAML"
            self.error(path, f"must be valid YAML: {problem}{where}")

    def metrics(self, metrics: dict[str, Any], path: str) -> None:
        prometheus = metrics.get("prometheus")
        if not isinstance(prometheus, list):
            return
        for index, metric in enumerate(prometheus):
            name = metric.get("name") if isinstance(metric, dict) else None
            if isinstance(name, str) and name and not _METRIC_NAME.match(name):
                self.error(
                    _key(_idx(_key(path, "prometheus"), index), "name"),
                    f"{name!r} is invalid: use letters, digits and '_'",
                )

    def mount_paths(self, template: dict[str, Any], body: dict[str, Any], path: str) -> None:
        """No two volume mounts, nor a mount and an input artifact, share a path."""
        seen: dict[str, str] = {}
        mounts = body.get("volumeMounts")
        if isinstance(mounts, list):
            for index, mount in enumerate(mounts):
                mpath = mount.get("mountPath") if isinstance(mount, dict) else None
                if not isinstance(mpath, str) or _is_templated(mpath):
                    continue
                where = _key(_idx(_key(path, "volumeMounts"), index), "mountPath")
                if mpath in seen:
                    self.error(where, f"{mpath!r} already mounted by {seen[mpath]}")
                else:
                    seen[mpath] = where
        inputs = template.get("inputs")
        artifacts = inputs.get("artifacts") if isinstance(inputs, dict) else None
        if isinstance(artifacts, list):
            base = path.rpartition(".")[0]
            for index, art in enumerate(artifacts):
                apath = art.get("path") if isinstance(art, dict) else None
                if not isinstance(apath, str) or _is_templated(apath):
                    continue
                where = _key(_idx(_key(_key(base, "inputs"), "artifacts"), index), "path")
                if apath in seen:
                    self.error(where, f"{apath!r} already mounted by {seen[apath]}")
                else:
                    seen[apath] = where

    def param_names(self, items: Any, path: str) -> None:
        if isinstance(items, list):
            for index, item in enumerate(items):
                if isinstance(item, dict):
                    self.param_name(item.get("name"), _key(_idx(path, index), "name"))

    def unique_names(self, items: Any, path: str, key: str) -> None:
        if not isinstance(items, list):
            return
        seen: dict[Any, int] = {}
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                continue
            value = item.get(key)
            if not isinstance(value, str | int | float) or _is_templated(value):
                continue
            if value in seen:
                self.error(
                    _key(_idx(path, index), key),
                    f'duplicate {key} "{value}" (also [{seen[value]}])',
                )
            else:
                seen[value] = index

    def invocation(self, item: dict[str, Any], path: str, scope: _Scope) -> None:
        """A step, a DAG task: what it runs and how it loops."""
        has = [k for k in ("template", "templateRef", "inline") if item.get(k) is not None]
        if not has:
            self.error(path, "needs one of template, templateRef, inline")
        elif len(has) > 1:
            self.error(_key(path, has[1]), f"{', '.join(has)} are mutually exclusive")
        self.template_name_ref(item.get("template"), _key(path, "template"), scope)
        self.template_ref(item.get("templateRef"), _key(path, "templateRef"), scope)
        inline = item.get("inline")
        if isinstance(inline, dict):
            self.template(inline, _key(path, "inline"), scope)
        self.arguments(item.get("arguments"), _key(path, "arguments"), allow_empty=False)
        loops = [k for k in _LOOPS if item.get(k) is not None]
        if len(loops) > 1:
            self.error(_key(path, loops[1]), f"{', '.join(loops)} are mutually exclusive")
        if item.get("onExit"):
            self.template_name_ref(item["onExit"], _key(path, "onExit"), scope)
        self.hooks(item.get("hooks"), _key(path, "hooks"), scope)

    def steps(self, groups: list[Any], path: str, scope: _Scope) -> None:
        seen: dict[str, str] = {}
        for group_index, group in enumerate(groups):
            gpath = _idx(path, group_index)
            if not isinstance(group, list):
                continue
            for step_index, step in enumerate(group):
                spath = _idx(gpath, step_index)
                if not isinstance(step, dict):
                    continue
                name = step.get("name")
                self.field_name(name, _key(spath, "name"))
                if not name:
                    self.error(_key(spath, "name"), "required")
                elif isinstance(name, str):
                    if name in seen:
                        self.error(
                            _key(spath, "name"), f'duplicate step name "{name}" (also {seen[name]})'
                        )
                    else:
                        seen[name] = f"steps[{group_index}][{step_index}]"
                self.invocation(step, spath, scope)

    def dag(self, dag: dict[str, Any], path: str, scope: _Scope) -> None:
        tasks = dag.get("tasks")
        if not isinstance(tasks, list):
            return
        names: dict[str, int] = {}
        for index, task in enumerate(tasks):
            if isinstance(task, dict) and isinstance(task.get("name"), str):
                name = task["name"]
                self.field_name(name, _key(_idx(_key(path, "tasks"), index), "name"))
                if name in names:
                    self.error(
                        _key(_idx(_key(path, "tasks"), index), "name"),
                        f'duplicate task name "{name}" (also tasks[{names[name]}])',
                    )
                else:
                    names[name] = index
        if not tasks:
            self.error(_key(path, "tasks"), "must have at least one task")
        using_depends = any(isinstance(t, dict) and t.get("depends") for t in tasks)
        edges: dict[str, set[str]] = {name: set() for name in names}
        for index, task in enumerate(tasks):
            tpath = _idx(_key(path, "tasks"), index)
            if not isinstance(task, dict):
                continue
            self.invocation(task, tpath, scope)
            self.dag_task_rules(task, tpath, using_depends)
            deps = self.task_dependencies(task, tpath, names)
            if isinstance(task.get("name"), str):
                edges[task["name"]] |= deps
        self.cycles(edges, names, _key(path, "tasks"))
        target = dag.get("target")
        if isinstance(target, str) and target and not _is_templated(target):
            for name in re.split(r"[\s,]+", target.strip()):
                if name and name not in names:
                    self.error(_key(path, "target"), f'unknown task "{name}"')

    def dag_task_rules(self, task: dict[str, Any], path: str, using_depends: bool) -> None:
        """Argo's DAG-wide rules: ``depends`` excludes ``dependencies`` and ``continueOn``
        in the whole DAG, and task names cannot start with a digit once either is used."""
        if task.get("depends") and task.get("dependencies"):
            self.error(_key(path, "depends"), "cannot be used together with dependencies")
        elif using_depends and task.get("dependencies"):
            self.error(
                _key(path, "dependencies"),
                "cannot use both 'depends' and 'dependencies' in the same DAG template",
            )
        if using_depends and task.get("continueOn") is not None:
            self.error(
                _key(path, "continueOn"),
                "cannot be used in a DAG that uses 'depends'; use 'task.Failed' / 'task.Errored' there",
            )
        name = task.get("name")
        uses_deps = using_depends or bool(task.get("dependencies"))
        if uses_deps and isinstance(name, str) and name[:1].isdigit():
            self.error(
                _key(path, "name"),
                "cannot begin with a digit when using 'depends' or 'dependencies'",
            )

    def task_dependencies(self, task: dict[str, Any], path: str, names: dict[str, int]) -> set[str]:
        dependencies = task.get("dependencies")
        depends = task.get("depends")
        found: set[str] = set()
        if isinstance(dependencies, list):
            for index, dep in enumerate(dependencies):
                if not isinstance(dep, str):
                    continue
                if dep not in names:
                    self.error(_idx(_key(path, "dependencies"), index), f'unknown task "{dep}"')
                else:
                    found.add(dep)
        if isinstance(depends, str) and depends.strip() and not _is_templated(depends):
            mentioned, problems = depends_task_names(depends)
            for problem in problems:
                self.error(_key(path, "depends"), f"{problem} in {depends!r}")
            for dep in sorted(mentioned):
                if dep not in names:
                    self.error(_key(path, "depends"), f'unknown task "{dep}" in {depends!r}')
                else:
                    found.add(dep)
        return found

    def cycles(self, edges: dict[str, set[str]], names: dict[str, int], path: str) -> None:
        """Report each dependency cycle once (iterative depth-first search: DAGs with
        thousands of tasks in a chain must not hit Python's recursion limit)."""
        white, grey, black = 0, 1, 2
        color = dict.fromkeys(edges, white)
        reported: set[str] = set()
        for root in sorted(edges, key=names.__getitem__):
            if color[root] != white:
                continue
            color[root] = grey
            trail = [root]
            stack = [iter(sorted(edges[root]))]
            while stack:
                dep = next(stack[-1], None)
                if dep is None:
                    color[trail.pop()] = black
                    stack.pop()
                    continue
                if color[dep] == grey and dep not in reported:
                    reported.add(dep)
                    cycle = [*trail[trail.index(dep) :], dep]
                    if len(cycle) > 12:
                        cycle = [*cycle[:6], f"... {len(cycle) - 9} more ...", *cycle[-3:]]
                    self.error(
                        _key(_idx(path, names[dep]), "name"),
                        f"dependency cycle: {' -> '.join(cycle)}",
                    )
                elif color[dep] == white:
                    color[dep] = grey
                    trail.append(dep)
                    stack.append(iter(sorted(edges[dep])))

    def container_set(self, body: dict[str, Any], path: str) -> None:
        containers = body.get("containers")
        if not isinstance(containers, list):
            return
        self.unique_names(containers, _key(path, "containers"), "name")
        names = {c.get("name") for c in containers if isinstance(c, dict)}
        for index, container in enumerate(containers):
            if not isinstance(container, dict):
                continue
            cpath = _idx(_key(path, "containers"), index)
            if not container.get("name"):
                self.error(_key(cpath, "name"), "required")
            if not container.get("image"):
                self.error(_key(cpath, "image"), "required")
            deps = container.get("dependencies")
            if isinstance(deps, list):
                for dep_index, dep in enumerate(deps):
                    if isinstance(dep, str) and dep not in names:
                        self.error(
                            _idx(_key(cpath, "dependencies"), dep_index),
                            f'unknown container "{dep}"',
                        )


# ---------------------------------------------------------------------------------------
# {{variables}}

_TAG = re.compile(r"\{\{\s*([^=\s{}][^{}]*?)\s*\}\}")


def _strings(
    value: Any, path: str, skip: frozenset[str] = frozenset()
) -> Iterable[tuple[str, str]]:
    """Every string in a JSON-like value with its path, not entering keys in ``skip``."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in skip:
                yield from _strings(item, _key(path, key), skip)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, _idx(path, index), skip)


def _declared(template: dict[str, Any], group: str, kind: str) -> set[str]:
    section = template.get(group)
    items = section.get(kind) if isinstance(section, dict) else None
    if not isinstance(items, list):
        return set()
    return {str(i["name"]) for i in items if isinstance(i, dict) and i.get("name") is not None}


class _Reach:
    """Which tasks of a DAG each task depends on, directly or not.

    Computed once, on first use, as bit sets in topological order: a DAG of ten thousand
    tasks costs milliseconds, not a set per task. A cyclic DAG (already reported)
    answers "yes" to everything.
    """

    def __init__(self, direct: dict[str, set[str]]) -> None:
        self.direct = direct
        self.index = {name: i for i, name in enumerate(direct)}
        self._bits: dict[str, int] | None = None
        self.cyclic = False

    def bits(self) -> dict[str, int]:
        if self._bits is None:
            bits: dict[str, int] = {}
            pending = {n: {d for d in deps if d in self.direct} for n, deps in self.direct.items()}
            users: dict[str, list[str]] = {n: [] for n in self.direct}
            for name, deps in pending.items():
                for dep in deps:
                    users[dep].append(name)
            ready = [n for n, deps in pending.items() if not deps]
            while ready:
                name = ready.pop()
                value = 0
                for dep in self.direct[name]:
                    if dep in self.index:
                        value |= bits[dep] | (1 << self.index[dep])
                bits[name] = value
                for user in users[name]:
                    pending[user].discard(name)
                    if not pending[user]:
                        ready.append(user)
            self.cyclic = len(bits) != len(self.direct)
            self._bits = bits
        return self._bits

    def reaches(self, name: str, other: str) -> bool:
        bits = self.bits()
        if self.cyclic:
            return True
        return other in self.index and bool(bits.get(name, 0) >> self.index[other] & 1)

    def upstream(self, name: str) -> set[str]:
        value = self.bits().get(name, 0)
        return {n for n, i in self.index.items() if value >> i & 1}


class _Upstream:
    """The names a task's ``{{tasks.X}}`` may use: its upstream tasks (plus ``extra``)."""

    def __init__(self, name: str, reach: _Reach, extra: frozenset[str] = frozenset()) -> None:
        self.name = name
        self.reach = reach
        self.extra = extra

    def __contains__(self, other: object) -> bool:
        return isinstance(other, str) and (
            other in self.extra or self.reach.reaches(self.name, other)
        )

    def __or__(self, extra: set[str]) -> _Upstream:
        return _Upstream(self.name, self.reach, self.extra | extra)

    def __iter__(self) -> Iterator[str]:
        return iter(self.reach.upstream(self.name) | self.extra)


_Names = set[str] | _Upstream


class _VariableChecker:
    """Checks the ``{{...}}`` references of one template resolve, as ``argo lint`` does
    for the ones it can know statically:

    * ``inputs.parameters.X`` / ``inputs.artifacts.X`` name a declared input;
    * ``workflow.parameters.X`` names a workflow argument (Workflows only);
    * in a steps template, ``steps.X`` names a step of an *earlier* group (any step
      in the template's outputs); in a DAG, ``tasks.X`` names a task the referring task
      depends on, directly or not (any task in the template's outputs).

    Expression tags (``{{=...}}``) and other prefixes are left to run time.
    """

    def __init__(
        self, owner: _SemanticChecker, template: dict[str, Any], path: str, scope: _Scope
    ) -> None:
        self.owner = owner
        self.template = template
        self.path = path
        self.scope = scope
        self.input_params = _declared(template, "inputs", "parameters")
        self.input_artifacts = _declared(template, "inputs", "artifacts")

    def run(self) -> None:
        body = {k: v for k, v in self.template.items() if k not in ("steps", "dag")}
        self.check_strings(body, self.path, steps=None, tasks=None)
        steps = self.template.get("steps")
        if isinstance(steps, list):
            all_steps = {
                str(step.get("name"))
                for group in steps
                if isinstance(group, list)
                for step in group
                if isinstance(step, dict)
            }
            # The template's outputs may name any step: re-check them with all in scope.
            self.check_strings(
                self.template.get("outputs"),
                _key(self.path, "outputs"),
                steps=all_steps,
                tasks=None,
            )
            earlier: set[str] = set()
            for group_index, group in enumerate(steps):
                if not isinstance(group, list):
                    continue
                gpath = _idx(_key(self.path, "steps"), group_index)
                for step_index, step in enumerate(group):
                    if isinstance(step, dict):
                        own = {str(step.get("name"))}
                        spath = _idx(gpath, step_index)
                        self.check_strings(
                            step,
                            spath,
                            steps=earlier,
                            tasks=None,
                            hooks_extra=own,
                            looped=any(step.get(k) is not None for k in _LOOPS),
                        )
                earlier.update(str(step.get("name")) for step in group if isinstance(step, dict))
        dag = self.template.get("dag")
        if isinstance(dag, dict) and isinstance(dag.get("tasks"), list):
            tasks = [t for t in dag["tasks"] if isinstance(t, dict)]
            all_tasks = {str(t.get("name")) for t in tasks}
            self.check_strings(
                self.template.get("outputs"),
                _key(self.path, "outputs"),
                steps=None,
                tasks=all_tasks,
            )
            reach = _Reach(self.direct_dependencies(tasks))
            self.check_strings(
                {k: v for k, v in dag.items() if k != "tasks"},
                _key(self.path, "dag"),
                steps=None,
                tasks=all_tasks,
            )
            for index, task in enumerate(dag["tasks"]):
                if isinstance(task, dict):
                    name = str(task.get("name"))
                    tpath = _idx(_key(_key(self.path, "dag"), "tasks"), index)
                    self.check_strings(
                        task,
                        tpath,
                        steps=None,
                        tasks=_Upstream(name, reach),
                        hooks_extra={name},
                        looped=any(task.get(k) is not None for k in _LOOPS),
                    )

    @staticmethod
    def direct_dependencies(tasks: list[dict[str, Any]]) -> dict[str, set[str]]:
        direct: dict[str, set[str]] = {}
        for task in tasks:
            deps: set[str] = set()
            if isinstance(task.get("dependencies"), list):
                deps |= {str(d) for d in task["dependencies"]}
            if isinstance(task.get("depends"), str):
                deps |= depends_task_names(task["depends"])[0]
            direct[str(task.get("name"))] = deps
        return direct

    def check_strings(
        self,
        value: Any,
        path: str,
        *,
        steps: set[str] | None,
        tasks: _Names | None,
        hooks_extra: set[str] | None = None,
        looped: bool = False,
    ) -> None:
        skip = frozenset({"inline", "hooks"}) if hooks_extra is not None else frozenset({"inline"})
        for spath, text in _strings(value, path, skip):
            self.check_text(text, spath, steps, tasks, looped)
        if (
            hooks_extra is not None
            and isinstance(value, dict)
            and isinstance(value.get("hooks"), dict)
        ):
            hook_steps = None if steps is None else steps | hooks_extra
            hook_tasks = None if tasks is None else tasks | hooks_extra
            for spath, text in _strings(value["hooks"], _key(path, "hooks"), frozenset({"inline"})):
                self.check_text(text, spath, hook_steps, hook_tasks, looped)

    def check_text(
        self, text: str, path: str, steps: set[str] | None, tasks: _Names | None, looped: bool
    ) -> None:
        if "{{" not in text:
            return
        for match in _TAG.finditer(text):
            problem = self.problem(match.group(1), steps, tasks, looped)
            if problem is not None:
                self.owner.error(path, f"failed to resolve {{{{{match.group(1)}}}}}{problem}")

    def problem(
        self, tag: str, steps: set[str] | None, tasks: _Names | None, looped: bool
    ) -> str | None:
        parts = tag.split(".")
        if (parts[0] == "item" or tag.startswith("item[")) and not looped:
            return " (item is only set in a step or task with withItems, withParam or withSequence)"
        if len(parts) >= 3 and parts[0] == "inputs" and parts[1] in ("parameters", "artifacts"):
            declared = self.input_params if parts[1] == "parameters" else self.input_artifacts
            if parts[2] not in declared:
                return _known(f"inputs.{parts[1]}", declared)
        elif len(parts) >= 3 and parts[0] == "workflow" and parts[1] == "parameters":
            known = self.scope.global_params
            if known is not None and parts[2] not in known and parts[2] != "json":
                return _known("workflow arguments", known)
        elif len(parts) >= 2 and parts[0] == "steps" and steps is not None and parts[1] != "name":
            if parts[1] not in steps:
                return _known("steps before this one", steps)
        elif len(parts) >= 2 and parts[0] == "tasks" and tasks is not None and parts[1] != "name":
            if parts[1] not in tasks:
                return _known("tasks this one depends on", tasks)
        return None


def _known(what: str, names: Iterable[str]) -> str:
    names = set(names)
    return f" ({what}: {', '.join(sorted(names)) if names else 'none'})"


# ---------------------------------------------------------------------------------------
# Entry points


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
    if not _is_map(workflow):
        return [LintError("", f"expected a map, got {_type_name(workflow)}")]
    _header(workflow, "Workflow", errors)
    _SchemaChecker(errors).object(workflow, "Workflow", "")
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
    semantic = _SemanticChecker(errors)
    if isinstance(ref, dict) and isinstance(ref.get("name"), str):
        referenced: dict[str, Any] | None = None
        if bundle is not None:
            try:
                owner = bundle.template_resource(
                    ref["name"], cluster_scope=bool(ref.get("clusterScope"))
                )
            except ManifestError as exc:
                errors.append(
                    LintError(
                        _key(_key(path, "workflowTemplateRef"), "name"), exc.errors[0].message
                    )
                )
            else:
                referenced = owner.get("spec") if isinstance(owner.get("spec"), dict) else {}
        if referenced is not None:
            merged = merge_specs(spec, referenced)
            scope = _Scope(
                names | _own_template_names(referenced),
                bundle,
                complete=True,
                global_params=_argument_names(merged),
            )
            semantic.spec(spec, path, scope=scope, entrypoint_required=False)
            if not merged.get("entrypoint"):
                errors.append(
                    LintError(
                        _key(path, "entrypoint"),
                        "required: neither the workflow nor its workflowTemplateRef sets it",
                    )
                )
            elif not spec.get("entrypoint"):
                semantic.template_name_ref(merged["entrypoint"], _key(path, "entrypoint"), scope)
        else:
            scope = _Scope(names, bundle, complete=False)
            semantic.spec(spec, path, scope=scope, entrypoint_required=False)
    else:
        scope = _Scope(names, bundle, complete=True, global_params=_argument_names(spec))
        semantic.spec(spec, path, scope=scope, entrypoint_required=True)


@_depth_guard
def lint_template_resource(doc: dict[str, Any], bundle: Bundle | None = None) -> list[LintError]:
    """Every problem of a ``WorkflowTemplate`` or ``ClusterWorkflowTemplate`` manifest.

    The entrypoint is optional here (a workflow referring to the template may set it);
    when present it must name one of the template's templates.
    """
    if not _is_map(doc):
        return [LintError("", f"expected a map, got {_type_name(doc)}")]
    kind = doc.get("kind")
    if kind not in ("WorkflowTemplate", "ClusterWorkflowTemplate"):
        return [
            LintError("kind", f"expected WorkflowTemplate or ClusterWorkflowTemplate, got {kind!r}")
        ]
    errors: list[LintError] = []
    _header(doc, kind, errors)
    _SchemaChecker(errors).object(doc, kind, "")
    meta = doc.get("metadata")
    if isinstance(meta, dict) and not meta.get("name"):
        errors.append(LintError("metadata.name", "required"))
    spec = doc.get("spec")
    if isinstance(spec, dict):
        if spec.get("workflowTemplateRef") is not None:
            errors.append(LintError("spec.workflowTemplateRef", f"not allowed in a {kind}"))
        scope = _Scope(_own_template_names(spec), bundle, complete=True)
        _SemanticChecker(errors).spec(spec, "spec", scope=scope, entrypoint_required=False)
    return errors


def _lint_cron_workflow(doc: dict[str, Any], bundle: Bundle | None) -> list[LintError]:
    errors: list[LintError] = []
    _header(doc, "CronWorkflow", errors)
    _SchemaChecker(errors).object(doc, "CronWorkflow", "")
    spec = doc.get("spec")
    if isinstance(spec, dict):
        if not spec.get("schedules") and not spec.get("schedule"):
            errors.append(LintError("spec.schedules", "required"))
        _lint_workflow_spec(spec.get("workflowSpec"), "spec.workflowSpec", bundle, errors)
    return errors


def _lint_config_map(doc: dict[str, Any]) -> list[LintError]:
    errors: list[LintError] = []
    _header(doc, "ConfigMap", errors)
    _SchemaChecker(errors).object(doc, "ConfigMap", "")
    return errors


@_depth_guard
def lint_document(doc: dict[str, Any], bundle: Bundle | None = None) -> list[LintError]:
    """Lint any supported document by its kind (Workflow, WorkflowTemplate,
    ClusterWorkflowTemplate, CronWorkflow, ConfigMap); other kinds give one error."""
    if not _is_map(doc):
        return [LintError("", f"expected a map, got {_type_name(doc)}")]
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
