"""The semantic pass of lint: what a schema table cannot say, per Argo's validation.

:class:`SemanticChecker` walks a spec and its templates. A template has a valid, unique
name; exactly one kind; an image (here or in ``templateDefaults``); no two mounts on
one path; ``parallelism`` only on steps/dag; a resource template one of
``manifest``/``manifestFrom`` whose manifest is YAML; a plugin template one plugin;
``activeDeadlineSeconds`` a positive integer or a variable; valid metric names. The
rule families it combines live beside it: names and arguments (:mod:`.lint_fields`),
references (:mod:`.lint_refs`), steps and DAGs (:mod:`.lint_flow`) and placeholders
(:mod:`.lint_vars`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import yaml

from .durations import DurationError, parse_duration
from .lint_flow import FlowRules
from .lint_report import PLACEHOLDER, idx, is_templated, key
from .lint_vars import VariableChecker
from .schema import TEMPLATE_KINDS

if TYPE_CHECKING:
    from .lint_refs import Scope

__all__ = ["SemanticChecker"]

_METRIC_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class SemanticChecker(FlowRules):
    """Checks a whole spec (:meth:`spec`) or one template (:meth:`template`)."""

    def spec(
        self,
        spec: Any,
        path: str,
        *,
        scope: Scope,
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
                tpath = idx(key(path, "templates"), index)
                if not isinstance(template, dict):
                    continue
                name = template.get("name")
                self.field_name(name, key(tpath, "name"))
                if not name:
                    self.error(key(tpath, "name"), "required")
                elif isinstance(name, str):
                    if name in seen:
                        self.error(
                            key(tpath, "name"),
                            f'duplicate template name "{name}" (also templates[{seen[name]}])',
                        )
                    else:
                        seen[name] = index
                self.template(template, tpath, scope)
        self.arguments(spec.get("arguments"), key(path, "arguments"), allow_empty=True)
        if isinstance(spec.get("metrics"), dict):
            self.metrics(spec["metrics"], key(path, "metrics"))
        entrypoint = spec.get("entrypoint")
        if entrypoint:
            self.template_name_ref(entrypoint, key(path, "entrypoint"), scope)
        elif entrypoint_required:
            self.error(key(path, "entrypoint"), "required (or use workflowTemplateRef)")
        self.at_least(1, spec.get("parallelism"), key(path, "parallelism"))
        on_exit = spec.get("onExit")
        if on_exit:
            self.template_name_ref(on_exit, key(path, "onExit"), scope)
        self.hooks(spec.get("hooks"), key(path, "hooks"), scope)

    # -- templates ----------------------------------------------------------------------

    def template(self, template: dict[str, Any], path: str, scope: Scope) -> None:
        VariableChecker(self, template, path, scope).run()
        kinds = [kind for kind in TEMPLATE_KINDS if template.get(kind) is not None]
        if not kinds:
            self.error(path, f"template needs exactly one of {', '.join(TEMPLATE_KINDS)}; has none")
        elif len(kinds) > 1:
            self.error(key(path, kinds[1]), f"template has more than one kind: {', '.join(kinds)}")
        for group_name in ("inputs", "outputs"):
            group = template.get(group_name)
            if isinstance(group, dict):
                for list_name in ("parameters", "artifacts"):
                    self.param_names(group.get(list_name), key(key(path, group_name), list_name))
                    self.unique_names(
                        group.get(list_name), key(key(path, group_name), list_name), "name"
                    )
        steps = template.get("steps")
        if isinstance(steps, list):
            self.steps(steps, key(path, "steps"), scope)
        dag = template.get("dag")
        if isinstance(dag, dict):
            self.dag(dag, key(path, "dag"), scope)
        for kind in ("container", "script"):
            body = template.get(kind)
            default = scope.defaults.get(kind)
            has_default = isinstance(default, dict) and bool(default.get("image"))
            if isinstance(body, dict) and not body.get("image") and not has_default:
                self.error(
                    key(key(path, kind), "image"), "required (here or in spec.templateDefaults)"
                )
            if isinstance(body, dict):
                self.mount_paths(template, body, key(path, kind))
        container_set = template.get("containerSet")
        if isinstance(container_set, dict):
            self.container_set(container_set, key(path, "containerSet"))
        resource = template.get("resource")
        if isinstance(resource, dict):
            has = [k for k in ("manifest", "manifestFrom") if resource.get(k) is not None]
            if resource.get("action") != "delete" and len(has) != 1:
                self.error(
                    key(path, "resource"),
                    "needs exactly one of manifest, manifestFrom"
                    + (f" (has {', '.join(has)})" if has else ""),
                )
        the_kind = kinds[0] if len(kinds) == 1 else None
        if template.get("parallelism") is not None and the_kind not in (None, "steps", "dag"):
            self.error(key(path, "parallelism"), "only valid for steps and dag templates")
        self.at_least(0, template.get("parallelism"), key(path, "parallelism"))  # 0: no limit, as Argo
        suspend = template.get("suspend")
        if isinstance(suspend, dict):
            self.duration(suspend.get("duration"), key(key(path, "suspend"), "duration"))
        outputs = template.get("outputs")
        if isinstance(outputs, dict) and isinstance(outputs.get("parameters"), list):
            for index, param in enumerate(outputs["parameters"]):
                if isinstance(param, dict):
                    self.output_parameter(
                        param, idx(key(key(path, "outputs"), "parameters"), index), the_kind
                    )
        self.deadline(template.get("activeDeadlineSeconds"), key(path, "activeDeadlineSeconds"))
        if isinstance(resource, dict) and isinstance(resource.get("manifest"), str):
            self.resource_manifest(resource["manifest"], key(key(path, "resource"), "manifest"))
        metrics = template.get("metrics")
        if isinstance(metrics, dict):
            self.metrics(metrics, key(path, "metrics"))
        plugin = template.get("plugin")
        if isinstance(plugin, dict) and len(plugin) != 1:
            self.error(key(path, "plugin"), f"must name exactly one plugin, has {len(plugin)}")

    def deadline(self, value: Any, path: str) -> None:
        """``activeDeadlineSeconds``: a positive number of seconds or a placeholder."""
        if isinstance(value, bool) or value is None or is_templated(value):
            return
        if isinstance(value, str):
            if not value.strip().isdigit():
                self.error(path, "must be a positive integer or an Argo variable")
        elif isinstance(value, int) and value < 0:
            self.error(path, "must be a positive integer or an Argo variable")

    def at_least(self, low: int, value: Any, path: str) -> None:
        """A limit (``parallelism``): a whole number of at least *low*, or a placeholder.

        A workflow's ``parallelism`` of 0 or less would hold every node back forever with
        no message; a template's 0 means no limit there (Argo's ``HasParallelism``).
        """
        if isinstance(value, int) and not isinstance(value, bool) and value < low:
            self.error(path, f"must be a whole number of at least {low}, not {value!r}")  # other types: the schema says

    def duration(self, value: Any, path: str) -> None:
        """A duration (``suspend.duration``): seconds or a Go duration, not negative, or a placeholder."""
        if value is None or is_templated(value):
            return
        try:
            parse_duration(value, what=path)
        except DurationError as exc:
            self.error(path, str(exc).removeprefix(f"{path}: "))

    def resource_manifest(self, manifest: str, path: str) -> None:
        """The manifest of a resource template must be YAML (placeholders aside)."""
        text = PLACEHOLDER.sub("placeholder", manifest)
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
                    key(idx(key(path, "prometheus"), index), "name"),
                    f"{name!r} is invalid: use letters, digits and '_'",
                )

    def mount_paths(self, template: dict[str, Any], body: dict[str, Any], path: str) -> None:
        """No two volume mounts, nor a mount and an input artifact, share a path."""
        seen: dict[str, str] = {}
        mounts = body.get("volumeMounts")
        if isinstance(mounts, list):
            for index, mount in enumerate(mounts):
                mpath = mount.get("mountPath") if isinstance(mount, dict) else None
                if not isinstance(mpath, str) or is_templated(mpath):
                    continue
                where = key(idx(key(path, "volumeMounts"), index), "mountPath")
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
                if not isinstance(apath, str) or is_templated(apath):
                    continue
                where = key(idx(key(key(base, "inputs"), "artifacts"), index), "path")
                if apath in seen:
                    self.error(where, f"{apath!r} already mounted by {seen[apath]}")
                else:
                    seen[apath] = where

    def container_set(self, body: dict[str, Any], path: str) -> None:
        containers = body.get("containers")
        if not isinstance(containers, list):
            return
        self.unique_names(containers, key(path, "containers"), "name")
        names = {c.get("name") for c in containers if isinstance(c, dict) and isinstance(c.get("name"), str)}
        for index, container in enumerate(containers):
            if not isinstance(container, dict):
                continue
            cpath = idx(key(path, "containers"), index)
            if not container.get("name"):
                self.error(key(cpath, "name"), "required")
            if not container.get("image"):
                self.error(key(cpath, "image"), "required")
            deps = container.get("dependencies")
            if isinstance(deps, list):
                for dep_index, dep in enumerate(deps):
                    if isinstance(dep, str) and dep not in names:
                        self.error(
                            idx(key(cpath, "dependencies"), dep_index),
                            f'unknown container "{dep}"',
                        )
