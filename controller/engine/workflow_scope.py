"""A workflow's own variables: ``workflow.*`` globals, its ConfigMaps, its artifacts.

:class:`WorkflowScope` holds what every template of one workflow may read beyond its
inputs: the globals (``workflow.name``, ``workflow.parameters.x``, global outputs),
the ConfigMaps submitted with it, and the artifacts its nodes produced (by reference,
and by key for key-only artifacts).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..argo.errors import ArgoError, ExpressionError
from ..argo.expr import argo_env, compile_expression
from ..argo.names import label_value_problem
from ..argo.substitute import nested_env, substitute
from ..argo.types import Phase
from . import absent, key_artifacts
from .scope import artifact_ref, format_value
from .templates import (
    ARTIFACT_KEY,
    ARTIFACT_PATH_KEY,
    ARTIFACT_REF,
    StoredArtifact,
    TemplateError,
    repository_key,
)
from .volumes import workflow_dir

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from ..argo.types import JSON
    from .model import Node


class WorkflowScope:
    """The globals, ConfigMaps and artifact index of one workflow."""

    def __init__(
        self,
        workflow: JSON,
        namespace: str,
        nodes: Mapping[str, Node],
        config_maps: Mapping[tuple[str, str], JSON],
        volume_root: Path | None,
    ) -> None:
        self.wf = workflow
        self.namespace = namespace
        self.nodes = nodes
        self.config_maps = dict(config_maps)
        self.volume_root = volume_root
        self.globals: dict[str, Any] = {}
        self.failure: tuple[Phase, str] | None = None
        """Why the workflow cannot start (a global parameter Argo cannot set): the phase
        and message it ends with."""
        self._repository: dict[str, str | StoredArtifact] | None = None
        self._build_globals()

    def _build_globals(self) -> None:
        meta = self.wf["metadata"]
        spec = self.wf["spec"]
        g = self.globals
        g["workflow.name"] = meta["name"]
        g["workflow.namespace"] = self.namespace
        g["workflow.uid"] = str(meta.get("uid", ""))
        g["workflow.serviceAccountName"] = str(spec.get("serviceAccountName") or "default")
        g["workflow.creationTimestamp"] = str(meta.get("creationTimestamp", ""))
        g["workflow.mainEntrypoint"] = str(spec.get("entrypoint", ""))
        g["workflow.priority"] = str(spec.get("priority", 0))
        plist = []
        for p in (spec.get("arguments") or {}).get("parameters") or []:
            value = self._global_parameter(p)
            if value is not None:
                g[f"workflow.parameters.{p['name']}"] = format_value(value)
                plist.append({"name": p["name"], "value": format_value(value)})
        g["workflow.parameters"] = g["workflow.parameters.json"] = json.dumps(plist, separators=(",", ":"))
        if spec.get("workflowMetadata"):
            self._workflow_metadata(spec["workflowMetadata"], meta)
        for kind in ("labels", "annotations"):
            values = meta.get(kind) or {}
            for k, v in values.items():
                g[f"workflow.{kind}.{k}"] = format_value(v)
            g[f"workflow.{kind}"] = g[f"workflow.{kind}.json"] = json.dumps(values, separators=(",", ":"))
        for p in (self.wf["status"].get("outputs") or {}).get("parameters") or []:
            g[f"workflow.outputs.parameters.{p['name']}"] = p["value"]

    def rebind_parameters(self) -> None:
        """Set ``workflow.parameters.*`` again from the workflow's (edited) ``spec.arguments``,
        for the nodes created from now on."""
        g = self.globals
        for name in [k for k in g if k.startswith("workflow.parameters.") and k != "workflow.parameters.json"]:
            del g[name]
        plist = []
        for p in (self.wf["spec"].get("arguments") or {}).get("parameters") or []:
            value = self._global_parameter(p)
            if value is not None:
                g[f"workflow.parameters.{p['name']}"] = format_value(value)
                plist.append({"name": p["name"], "value": format_value(value)})
        g["workflow.parameters"] = g["workflow.parameters.json"] = json.dumps(plist, separators=(",", ":"))

    def _global_parameter(self, param: JSON) -> Any:
        """A workflow argument's value, as Argo's ``setGlobalParameters`` sets it: its
        ``value`` (an expression in it evaluated over the globals set so far), or its
        ConfigMap key (the ``default`` when the key is missing). What Argo refuses is kept
        in :attr:`failure`, the first problem only."""
        value = param.get("value")
        value_from = param.get("valueFrom") or {}
        try:
            if value is None and value_from.get("configMapKeyRef"):
                ref = value_from["configMapKeyRef"]
                name, key = str(ref.get("name") or ""), str(ref.get("key") or "")
                try:
                    return self.config_map(name, key, bool(ref.get("optional")), value_from.get("default"))
                except TemplateError as exc:
                    message = (
                        f"failed to set global parameters: failed to set global parameter {param.get('name')} "
                        f"from configmap with name {name} and key {key}: {exc}"
                    )
                    self.failure = self.failure or (Phase.FAILED, message)
                    return None
            if isinstance(value, str) and "{{=" in value:
                return substitute(value, self.globals, strict=False)
        except (ArgoError, ValueError) as exc:
            self.failure = self.failure or (Phase.ERROR, str(exc))
            return None
        return value

    def _workflow_metadata(self, wanted: Any, meta: JSON) -> None:
        """Set ``spec.workflowMetadata`` on the workflow's own metadata, as Argo's
        ``updateWorkflowMetadata``: ``labels`` and ``annotations`` (with the workflow's
        variables substituted), then each ``labelsFrom`` expression, which must give a
        valid label value. A failure ends the workflow Error (:attr:`failure`)."""
        if not isinstance(wanted, dict):
            return
        labels = meta.setdefault("labels", {})
        annotations = meta.setdefault("annotations", {})
        try:
            for name, value in (wanted.get("labels") or {}).items():
                text = format_value(substitute(value, self.globals, strict=False))
                if problem := label_value_problem(text):
                    raise TemplateError(f"invalid label value {text!r} for label {name!r}: {problem}")
                labels[name] = text
            for name, value in (wanted.get("annotations") or {}).items():
                annotations[name] = format_value(substitute(value, self.globals, strict=False))
            env = argo_env(nested_env(self.globals))
            for name, source in (wanted.get("labelsFrom") or {}).items():
                expression = str((source or {}).get("expression", ""))
                try:
                    result = compile_expression(expression).evaluate(env)
                except ExpressionError as exc:
                    raise TemplateError(f'failed to evaluate label "{name}" expression "{expression}": {exc}') from None
                if not isinstance(result, str):
                    raise TemplateError(
                        f'failed to evaluate label "{name}" expression "{expression}" evaluated to '
                        f"{type(result).__name__} but must be a string"
                    )
                if problem := label_value_problem(result):
                    raise TemplateError(f"invalid label value {result!r} for label {name!r} and expression {expression!r}: {problem}")
                labels[name] = result
        except (ArgoError, ValueError) as exc:
            self.failure = self.failure or (Phase.ERROR, str(exc))

    def entry_arguments(self) -> JSON:
        """The arguments the entrypoint runs with: the workflow's parameters (resolved) and artifacts."""
        return {
            "parameters": [
                {"name": k.split(".", 2)[2], "value": v}
                for k, v in self.globals.items()
                if k.startswith("workflow.parameters.") and k != "workflow.parameters.json"
            ],
            "artifacts": list((self.wf["spec"].get("arguments") or {}).get("artifacts") or []),
        }

    def config_map_doc(self, name: str) -> JSON | None:
        """The ConfigMap *name* of the workflow's namespace (or given without one)."""
        return self.config_maps.get((self.namespace, name)) or self.config_maps.get(("", name))

    def config_map(self, name: str, key: str, optional: bool, default: Any = None) -> str | None:
        """The value of *key* in ConfigMap *name* (``configMapKeyRef``); *name* and *key*
        may use the workflow's globals (``{{workflow.parameters.cm}}``).

        A missing ConfigMap or key gives *default* when there is one, ``None`` when
        *optional*, else :class:`TemplateError` with Argo's message."""
        try:
            name, key = (format_value(substitute(v, self.globals)) if "{{" in v else v for v in (str(name), str(key)))
        except ArgoError as exc:
            raise TemplateError(f"failed to substitute configMapKeyRef: {exc}") from None
        doc = self.config_map_doc(name)
        data = (doc or {}).get("data") or {}
        if key in data:
            return format_value(data[key])
        if default is not None:
            return format_value(default)
        if optional:
            return None
        if doc is None:
            raise TemplateError(
                f"ConfigMap '{name}' does not exist. Please make sure it has the label "
                "workflows.argoproj.io/configmap-type: Parameter to be detectable by the controller"
            )
        raise TemplateError(f"ConfigMap '{name}' does not have the key '{key}'")

    def artifact_data(self, ref: str) -> str | StoredArtifact | None:
        """The content (or host copy) behind an artifact reference (``{{steps.X.outputs.artifacts.Y}}``)."""
        if "{{" in ref:
            ref = format_value(substitute(ref, self.globals, strict=False))
        if ref.startswith("key:"):
            return self._repository_data(ref[4:])
        if not ref.startswith(ARTIFACT_REF):
            return None
        node_id, _, name = ref[len(ARTIFACT_REF) :].rpartition("/")
        node = self.nodes.get(node_id)
        for art in ((node.outputs or {}) if node else {}).get("artifacts") or []:
            if art.get("name") == name:
                return stored_artifact(art)
        return None

    def _repository_data(self, key: str) -> str | StoredArtifact | None:
        """Key-only artifacts: the latest output artifact stored under *key* in this workflow."""
        if self._repository is None:
            self._repository = {}
            finished = sorted((n for n in self.nodes.values() if n.outputs), key=lambda n: n.finished_at or 0.0)
            for node in finished:
                self.index_artifacts(node)
        root = self.volume_root
        scratch = None if root is None else workflow_dir(root, self.namespace, self.wf["metadata"]["name"]) / ".keys"
        return key_artifacts.lookup(self._repository, key, scratch)

    def index_artifacts(self, node: Node) -> None:
        """Remember *node*'s output artifacts by key (once the index is in use)."""
        if self._repository is None:
            return  # built lazily from every node on first use
        for art in (node.outputs or {}).get("artifacts") or []:
            key = repository_key(art)
            stored = stored_artifact(art)
            if key and stored is not None:
                self._repository[key] = stored

    def register_globals(self, node: Node) -> bool:
        """Make *node*'s global outputs (``globalName``) workflow variables; whether the
        workflow's own outputs changed."""
        changed = False
        for art in (node.outputs or {}).get("artifacts") or []:
            if art.get("globalName"):
                self.globals[f"workflow.outputs.artifacts.{art['globalName']}"] = artifact_ref(node.id, art["name"])
        for param in (node.outputs or {}).get("parameters") or []:
            global_name = param.get("globalName")
            if global_name and param.get("value") is not None:
                self.globals[f"workflow.outputs.parameters.{global_name}"] = param["value"]
                outs = self.wf["status"].setdefault("outputs", {}).setdefault("parameters", [])
                for entry in outs:
                    if entry["name"] == global_name:
                        entry["value"] = param["value"]
                        break
                else:
                    outs.append({"name": global_name, "value": param["value"]})
                changed = True
        return changed


def composite_outputs(tmpl: Mapping[str, Any], scope: Mapping[str, Any]) -> JSON:
    """A steps/DAG template's outputs, from ``valueFrom.parameter`` / ``expression`` / ``default``."""
    params = []
    for decl in (tmpl.get("outputs") or {}).get("parameters") or []:
        value_from = decl.get("valueFrom") or {}
        value: Any = None
        absent_ref = False
        if "parameter" in value_from:
            text = substitute(value_from["parameter"], scope, strict=False)
            absent_ref = absent.ABSENT in format_value(text)
            if "{{" not in format_value(text) and not absent_ref:
                value = text
        elif "expression" in value_from:
            try:
                value = substitute("{{=" + str(value_from["expression"]) + "}}", scope, strict=False)
            except (ArgoError, ValueError):
                value = None
        elif "value" in decl:
            value = substitute(decl["value"], scope, strict=False)
        if value is None and "default" in value_from:
            value = value_from["default"]
        if value is None and absent_ref:
            raise TemplateError(absent.output_message(decl["name"], str(value_from["parameter"])))
        if value is None:
            raise TemplateError(f"output parameter {decl['name']!r} could not be resolved")
        entry: JSON = {"name": decl["name"], "value": format_value(value)}
        if decl.get("globalName"):
            entry["globalName"] = decl["globalName"]
        params.append(entry)
    return {"parameters": params} if params else {}


def stored_artifact(art: Mapping[str, Any]) -> str | StoredArtifact | None:
    """An output artifact's content (text kept in the record) or its host copy, ``None`` if neither."""
    if art.get(ARTIFACT_KEY) is not None:
        return str(art[ARTIFACT_KEY])
    if art.get(ARTIFACT_PATH_KEY):
        return StoredArtifact(str(art[ARTIFACT_PATH_KEY]))
    return None
