"""Templates: finding them, binding their inputs, turning them into executor tasks,
and reading their outputs back, the way Argo does."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from ..argo.errors import ArgoError
from ..argo.types import Phase
from . import absent
from .scope import format_value

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..argo.types import JSON
    from .tasks import TaskResult


LEAF_KINDS = ("container", "script", "containerSet", "resource", "http", "data", "plugin")


class TemplateError(ArgoError, ValueError):
    """A template could not be resolved or bound (a user error: fix the manifest)."""


def template_kind(tmpl: Mapping[str, Any]) -> str:
    """Which of Argo's template types *tmpl* is (``container``, ``steps``, ``dag`` ...)."""
    for kind in ("steps", "dag", "suspend", *LEAF_KINDS):
        if kind in tmpl and tmpl[kind] is not None:
            return kind
    raise TemplateError(f"template {tmpl.get('name', '<inline>')!r} has no type (container, script, steps, dag, ...)")


def stored_template_key(ref: Mapping[str, Any]) -> str:
    """Argo's ``status.storedTemplates`` key for a ``templateRef``."""
    scope = "cluster" if ref.get("clusterScope") else "namespaced"
    return f"{scope}/{ref.get('name', '')}/{ref.get('template', '')}"


def _from_config_map(name: str, value_from: Mapping[str, Any], config_map: Any) -> Any:
    """An input parameter's value from ``valueFrom.configMapKeyRef`` (its ``default`` when
    the key is missing), or Argo's error naming the parameter."""
    ref = value_from["configMapKeyRef"]
    try:
        return config_map(ref.get("name", ""), ref.get("key", ""), bool(ref.get("optional")), value_from.get("default"))
    except TemplateError as exc:
        raise TemplateError(f"unable to retrieve inputs.parameters.{name} from ConfigMap: {exc}") from None


def bind_inputs(
    tmpl: Mapping[str, Any],
    arguments: Mapping[str, Any] | None,
    config_map: Any = None,
    artifact_data: Any = None,
) -> JSON:
    """The node's ``inputs``: each declared input parameter with its value.

    Argument value first, then the template's ``value``/``default``, then
    ``valueFrom.configMapKeyRef`` (via *config_map(name, key, optional, default)*). A parameter
    with none of them raises :class:`TemplateError` (``inputs.parameters.x was not supplied``).
    An argument that is exactly an absent optional (:mod:`.absent`) counts as not supplied;
    one that contains it within other text is an error.
    Input artifacts take ``raw.data`` or ``from`` (a reference resolved by
    *artifact_data(ref)*, a ``str`` or a :class:`StoredArtifact`); their content travels
    under :data:`ARTIFACT_KEY`, or their host path under :data:`ARTIFACT_PATH_KEY`
    (``subPath`` picks a file or folder inside a directory artifact).
    """
    given = {p["name"]: p for p in (arguments or {}).get("parameters") or [] if "name" in p}
    params: list[JSON] = []
    for decl in (tmpl.get("inputs") or {}).get("parameters") or []:
        name = decl["name"]
        arg = given.get(name)
        value: Any = None
        if arg is not None and arg.get("value") == absent.ABSENT:
            arg = None  # a Skipped/Omitted producer's output with no default: not supplied
            if "value" not in decl and "default" not in decl and not decl.get("valueFrom"):
                raise TemplateError(absent.argument_message(name))
        if arg is not None and "value" in arg:
            value = arg["value"]
        elif arg is not None and (arg.get("valueFrom") or {}).get("configMapKeyRef") and config_map:
            value = _from_config_map(name, arg["valueFrom"], config_map)
        elif (decl.get("valueFrom") or {}).get("configMapKeyRef") and config_map:
            value = _from_config_map(name, decl["valueFrom"], config_map)
        elif "value" in decl:
            value = decl["value"]
        elif "default" in decl:
            value = decl["default"]
        if value is None:
            raise TemplateError(f"inputs.parameters.{name} was not supplied")
        text = format_value(value)
        if absent.ABSENT in text:  # within a longer text: no default can stand in for it
            raise TemplateError(absent.argument_message(name))
        enum = decl.get("enum")
        if enum and text not in [format_value(e) for e in enum]:
            raise TemplateError(f"inputs.parameters.{name}: value {text!r} is not one of {enum}")
        bound: JSON = {"name": name, "value": text}
        params.append(bound)
    out: JSON = {}
    if params:
        out["parameters"] = params
    given_art = {a["name"]: a for a in (arguments or {}).get("artifacts") or [] if "name" in a}
    artifacts: list[JSON] = []
    for decl in (tmpl.get("inputs") or {}).get("artifacts") or []:
        name = decl["name"]
        arg = given_art.get(name) or {}
        raw = arg.get("raw") or decl.get("raw")
        source = arg.get("from") or decl.get("from")
        data: str | StoredArtifact | None = None
        if raw is not None:
            data = format_value(raw.get("data", ""))
        elif source:
            data = artifact_data(str(source)) if artifact_data else None
            if data is None and not decl.get("optional"):
                raise TemplateError(f"inputs.artifacts.{name}: cannot resolve {source!r}")
        elif repository_key(arg) or repository_key(decl):
            data = artifact_data("key:" + (repository_key(arg) or repository_key(decl))) if artifact_data else None
            if data is None and not decl.get("optional"):
                raise TemplateError(f"inputs.artifacts.{name}: no artifact stored under key {repository_key(arg) or repository_key(decl)!r}")
        elif arg.get(ARTIFACT_KEY) is not None:
            data = str(arg[ARTIFACT_KEY])
        elif arg.get(ARTIFACT_PATH_KEY):
            data = StoredArtifact(str(arg[ARTIFACT_PATH_KEY]))
        elif not decl.get("optional") and not _located(arg) and not _located(decl):
            raise TemplateError(f"inputs.artifacts.{name} was not supplied")
        entry: JSON = {"name": name}
        if decl.get("path"):
            entry["path"] = decl["path"]
        sub_path = str(arg.get("subPath") or decl.get("subPath") or "")
        if sub_path and data is not None:
            data = _sub_path(data, sub_path, name)
        if isinstance(data, StoredArtifact):
            entry[ARTIFACT_PATH_KEY] = data.path
        elif data is not None:
            entry[ARTIFACT_KEY] = data
        artifacts.append(entry)
    if artifacts:
        out["artifacts"] = artifacts
    return out


EnvSource = Callable[[str, str, str, bool], "str | None"]
"""``(kind, name, key, optional)`` -> the value of *key* in the ConfigMap (kind ``ConfigMap``)
or Secret (kind ``Secret``) *name*, ``None`` for an absent optional one; raises
:class:`TemplateError` with Kubernetes' message when a required one is missing."""


def process_spec_fields(container: Mapping[str, Any], env_source: EnvSource | None = None) -> JSON:
    """The executor-facing fields of a container (image, command, args, env, workingDir,
    securityContext, resources).

    ``env[].valueFrom`` ``configMapKeyRef``/``secretKeyRef`` are read through *env_source*
    (without one, such variables are left out); values from Secrets go to ``secretEnv``,
    apart from the plain ``env``, so that they are shown nowhere.
    """
    env: dict[str, str] = {}
    secret_env: dict[str, str] = {}
    for var in container.get("env") or []:
        name = str(var.get("name", ""))
        if "value" in var:
            env[name] = format_value(var["value"])
            continue
        value_from = var.get("valueFrom") or {}
        for field, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
            ref = value_from.get(field)
            if ref and env_source is not None:
                value = env_source(kind, str(ref.get("name", "")), str(ref.get("key", "")), bool(ref.get("optional")))
                if value is not None:
                    (secret_env if kind == "Secret" else env)[name] = value
    out: JSON = {
        "name": str(container.get("name") or "main"),
        "image": container.get("image"),
        "command": [format_value(c) for c in container.get("command") or []],
        "args": [format_value(a) for a in container.get("args") or []],
        "env": env,
        "workingDir": container.get("workingDir"),
        "source": container.get("source"),
        "securityContext": container.get("securityContext"),
        "resources": container.get("resources"),
    }
    if secret_env:
        out["secretEnv"] = secret_env
    return out


def pod_dict(tmpl: Mapping[str, Any], workflow: Mapping[str, Any], env_source: EnvSource | None = None) -> JSON:
    """A pod-like description of a leaf template, what ``pod.preCreate`` sees and patches.

    *env_source* reads ``env[].valueFrom`` references (see :func:`process_spec_fields`).
    """
    kind = template_kind(tmpl)
    init = [process_spec_fields(c, env_source) for c in tmpl.get("initContainers") or []]
    sidecars = [process_spec_fields(c, env_source) for c in tmpl.get("sidecars") or []]
    if kind == "script":
        main = process_spec_fields(tmpl["script"], env_source)
        if not main["command"]:
            main["command"] = ["sh"]
    elif kind == "containerSet":
        # A containerSet's containers are one "pod": all but the last listed as init
        # processes, the last as main; the executor runs them by their dependencies
        # (TaskSpec.container_set, see container_set.py).
        containers = [process_spec_fields(c, env_source) for c in tmpl["containerSet"].get("containers") or []]
        if not containers:
            raise TemplateError("containerSet has no containers")
        init.extend(containers[:-1])
        main = containers[-1]
    else:
        main = process_spec_fields(tmpl.get("container") or {}, env_source)
    meta = tmpl.get("metadata") or {}
    pod_meta = (workflow.get("spec") or {}).get("podMetadata") or {}
    labels = {**(pod_meta.get("labels") or {}), **(meta.get("labels") or {})}
    annotations = {**(pod_meta.get("annotations") or {}), **(meta.get("annotations") or {})}
    security = tmpl.get("securityContext") or (workflow.get("spec") or {}).get("securityContext")
    return {
        "main": main,
        "init": init,
        "sidecars": sidecars,
        "securityContext": security,
        "labels": {str(k): format_value(v) for k, v in labels.items()},
        "annotations": {str(k): format_value(v) for k, v in annotations.items()},
    }


ARTIFACT_KEY = "x-hookbus-data"
"""Where a (small, text) artifact's content travels inside ``inputs``/``outputs`` records."""
ARTIFACT_PATH_KEY = "x-hookbus-path"
"""Where a directory (or large file) artifact's host path travels instead of its content."""
ARTIFACT_MAX = 256 * 1024
ARTIFACT_REF = "hookbus-artifact://"


@dataclass(frozen=True, slots=True)
class StoredArtifact:
    """An artifact kept on the host (a directory, or a file too large for node records)."""

    path: str


def _sub_path(data: str | StoredArtifact, sub_path: str, name: str) -> StoredArtifact:
    """Argo's input ``subPath``: that file or directory inside a directory artifact."""
    parts = PurePosixPath(sub_path.strip("/")).parts
    if ".." in parts:
        raise TemplateError(f"inputs.artifacts.{name}: subPath {sub_path!r} must not contain '..'")
    if not isinstance(data, StoredArtifact) or not os.path.isdir(data.path):
        raise TemplateError(f"inputs.artifacts.{name}: subPath {sub_path!r} needs a directory artifact (this one is a single file)")
    target = os.path.join(data.path, *parts)
    if not os.path.lexists(target):
        raise TemplateError(f"inputs.artifacts.{name}: subPath {sub_path!r} is not in the artifact")
    return StoredArtifact(target)


def input_files(inputs: Mapping[str, Any] | None) -> dict[str, str]:
    """Input artifacts kept on the host: path in the node -> host file or directory to copy there."""
    out: dict[str, str] = {}
    for art in (inputs or {}).get("artifacts") or []:
        if art.get(ARTIFACT_PATH_KEY) and art.get("path"):
            out[str(art["path"])] = str(art[ARTIFACT_PATH_KEY])
    return out


def output_artifact_paths(tmpl: Mapping[str, Any]) -> dict[str, str]:
    """Output artifact name -> path in the node, for the executor to hand back (files or directories)."""
    outputs = tmpl.get("outputs") or {}
    return {str(a["name"]): str(a["path"]) for a in outputs.get("artifacts") or [] if a.get("path") and a.get("name")}


def output_paths(tmpl: Mapping[str, Any]) -> dict[str, str]:
    """Files the executor reads back: output parameters by name, artifacts as ``artifact:<name>``."""
    out: dict[str, str] = {}
    outputs = tmpl.get("outputs") or {}
    for param in outputs.get("parameters") or []:
        path = (param.get("valueFrom") or {}).get("path")
        if path:
            out[param["name"]] = str(path)
    for art in outputs.get("artifacts") or []:
        if art.get("path"):
            out[f"artifact:{art['name']}"] = str(art["path"])
    return out


def leaf_outputs(tmpl: Mapping[str, Any], result: TaskResult) -> tuple[JSON, str | None]:
    """A finished leaf's ``outputs`` and, if a required output is missing, an error message."""
    outputs: JSON = {}
    params: list[JSON] = []
    problem: str | None = None
    for decl in (tmpl.get("outputs") or {}).get("parameters") or []:
        name = decl["name"]
        value_from = decl.get("valueFrom") or {}
        value: str | None = None
        if name in result.parameters:
            value = result.parameters[name]
            # Argo trims one trailing newline from a parameter file, for convenience
            if value.endswith("\n"):
                value = value[:-1]
        elif "default" in value_from:
            value = format_value(value_from["default"])
        elif "value" in decl:
            value = format_value(decl["value"])
        elif value_from.get("path") and result.phase == Phase.SUCCEEDED and problem is None:
            problem = f"output parameter {name!r}: no file at {value_from['path']}"
        if value is not None:
            entry: JSON = {"name": name, "value": value}
            if decl.get("globalName"):
                entry["globalName"] = decl["globalName"]
            params.append(entry)
    if params:
        outputs["parameters"] = params
    artifacts: list[JSON] = []
    for decl in (tmpl.get("outputs") or {}).get("artifacts") or []:
        name = decl["name"]
        data = result.parameters.get(f"artifact:{name}")
        host = result.artifacts.get(name)
        if data is None and host is None:
            if not decl.get("optional") and decl.get("path") and result.phase == Phase.SUCCEEDED and problem is None:
                problem = f"output artifact {name!r}: nothing at {decl['path']}"
            continue
        if data is not None and len(data) <= ARTIFACT_MAX:
            entry = {"name": name, "path": decl.get("path"), ARTIFACT_KEY: data}
        elif host is not None:
            entry = {"name": name, "path": decl.get("path"), ARTIFACT_PATH_KEY: host}
        else:
            problem = problem or f"output artifact {name!r} is larger than {ARTIFACT_MAX} bytes (local mode limit)"
            continue
        for loc in _REPOSITORIES:
            if isinstance(decl.get(loc), dict):
                entry[loc] = dict(decl[loc])
        if decl.get("globalName"):
            entry["globalName"] = decl["globalName"]
        artifacts.append(entry)
    if artifacts:
        outputs["artifacts"] = artifacts
    if result.result is not None:
        outputs["result"] = result.result
    if result.exit_code is not None:
        outputs["exitCode"] = str(result.exit_code)
    return outputs, problem


def json_list(text: str, what: str) -> list[Any]:
    """Parse a JSON list (``withParam``), naming *what* in the error."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise TemplateError(f"{what}: {text[:80]!r} is not a JSON list: {exc}") from None
    if not isinstance(value, list):
        raise TemplateError(f"{what}: {text[:80]!r} is not a JSON list")
    return value


_WRITE_ARTIFACT = 'mkdir -p "$(dirname "$HOOKBUS_PATH")" && printf %s "$HOOKBUS_DATA" > "$HOOKBUS_PATH"'


def artifact_writers(inputs: Mapping[str, Any] | None) -> list[JSON]:
    """Init processes that place each input artifact's content at its path (in the node's view)."""
    out: list[JSON] = []
    for art in (inputs or {}).get("artifacts") or []:
        if art.get(ARTIFACT_KEY) is None or not art.get("path"):
            continue
        out.append(
            {
                "name": f"artifact-{art['name']}",
                "image": None,
                "command": ["sh", "-c", _WRITE_ARTIFACT],
                "args": [],
                "env": {"HOOKBUS_PATH": str(art["path"]), "HOOKBUS_DATA": str(art[ARTIFACT_KEY])},
                "workingDir": None,
                "source": None,
            }
        )
    return out


REPOSITORIES = ("s3", "gcs", "artifactory", "hdfs", "oss", "azure")
"""Artifact locations that name a repository (whose ``key`` makes key-only artifacts)."""
_REPOSITORIES = REPOSITORIES
_LOCATIONS = ("s3", "gcs", "http", "git", "artifactory", "hdfs", "oss", "azure", "raw", "from", "fromExpression", "key", "url")


def _located(art: Mapping[str, Any]) -> bool:
    """Whether an artifact names a location (a repository this engine cannot fetch counts)."""
    return any(art.get(k) for k in _LOCATIONS)


def repository_key(art: Mapping[str, Any]) -> str:
    """The ``key`` of an artifact's repository location (``s3: {key: ...}``), or ``""``."""
    for loc in _REPOSITORIES:
        value = art.get(loc)
        if isinstance(value, dict) and value.get("key"):
            return str(value["key"])
    return ""


def output_path_scope(tmpl: Mapping[str, Any]) -> dict[str, str]:
    """``outputs.parameters.<n>.path`` and ``outputs.artifacts.<n>.path`` placeholders."""
    out: dict[str, str] = {}
    outputs = tmpl.get("outputs") or {}
    for param in outputs.get("parameters") or []:
        path = (param.get("valueFrom") or {}).get("path")
        if path:
            out[f"outputs.parameters.{param['name']}.path"] = str(path)
    for art in outputs.get("artifacts") or []:
        if art.get("path"):
            out[f"outputs.artifacts.{art['name']}.path"] = str(art["path"])
    return out
