"""The Pod a leaf node becomes in Kubernetes mode, built as Argo builds it (pure, no I/O).

:func:`build_pod` turns a node's :class:`~..engine.ports.TaskSpec` (its processes after
substitution and ``pod.preCreate`` patches), its resolved template and the workflow's
identity into a Pod manifest:

* **name** Argo's v2 pod name ``<workflow>-<template>-<fnv32a(node name)>``, so a repeated
  create finds the same pod;
* **labels** the node's (``podMetadata`` of workflow and template, plugin patches), plus
  ``workflows.argoproj.io/workflow``, ``workflows.argoproj.io/completed=false`` and
  ``workflows.argoproj.io/controller-instanceid`` when the controller has an instance id;
* **annotations** the node's, plus ``workflows.argoproj.io/node-name``,
  ``workflows.argoproj.io/node-id`` and ``kubectl.kubernetes.io/default-container=main``;
* one **ownerReference** to the Workflow; ``restartPolicy: Never``;
  ``activeDeadlineSeconds`` the smaller of the template's and the time the workflow has left;
  the service account and pod-level fields of the template, else of the workflow;
* an init container ``init`` copying the launcher from the hookbus image into the
  ``emptyDir`` ``hookbus-launcher`` at ``/var/run/hookbus`` (and writing a script
  template's source to ``/argo/staging/script``, as Argo stages it); ``main``'s command
  becomes ``/var/run/hookbus/launcher [options] -- <command>``, its ``args`` unchanged;
* the node's init containers and sidecars, env (``valueFrom`` kept), volumes
  (``emptyDir``, ``configMap``, ``secret``, ``hostPath``, existing claims, and the
  workflow's ``volumeClaimTemplates`` as the claims :mod:`.claims` names ``<workflow>-<claim>``);
* the node's input artifacts (:mod:`.pods_inputs`): placed by ``init`` from the node's
  ConfigMap into the ``hookbus-inputs`` emptyDir, mounted in ``main`` by subPath;
* the workflow's then the template's ``podSpecPatch`` applied last (:func:`merge_patch`),
  as the engine substituted them for the node (``TaskSpec.pod_spec_patch``), then the
  pod-level fields ``pod.preCreate`` plugins set (``TaskSpec.pod_fields``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

import yaml

from ..argo.labels import (
    COMPLETED_LABEL,
    DEFAULT_CONTAINER_ANNOTATION,
    INSTANCE_LABEL,
    NODE_ID_ANNOTATION,
    NODE_NAME_ANNOTATION,
    WORKFLOW_LABEL,
)
from ..argo.names import pod_name
from .claims import claim_name
from .launcher import LAUNCHER_DIR, launcher_argv
from .pods_images import ImageConfigError, ImageEntry, resolve_argv
from .pods_inputs import (
    ARTIFACTS_DIR,
    ARTIFACTS_VOLUME,
    INPUTS_DIR,
    INPUTS_VOLUME,
    InputArtifact,
    init_arguments,
    is_writer,
    main_mounts,
)
from .pods_patch import FIXED_POD_FIELDS

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from ..engine.ports import ProcessSpec, TaskSpec

__all__ = [
    "ARGO_API_VERSION",
    "COMPLETED_LABEL",
    "INSTANCE_LABEL",
    "NODE_ID_ANNOTATION",
    "NODE_NAME_ANNOTATION",
    "SCRIPT_PATH",
    "WORKFLOW_LABEL",
    "PodBuildError",
    "PodSettings",
    "WorkflowRef",
    "build_pod",
    "merge_patch",
]

ARGO_API_VERSION: Final = "argoproj.io/v1alpha1"
LAUNCHER_VOLUME: Final = "hookbus-launcher"
STAGING_VOLUME: Final = "argo-staging"
STAGING_DIR: Final = "/argo/staging"
SCRIPT_PATH: Final = f"{STAGING_DIR}/script"
"""Where a script template's source is staged (Argo's path); appended to main's args."""
SCRIPT_ENV: Final = "HOOKBUS_SCRIPT"
ARTIFACT_PREFIX: Final = "artifact:"
"""How the engine names an output artifact among a task's output parameters (its text content)."""

_CONTAINER_FIELDS: Final = frozenset(
    {
        "name", "image", "command", "args", "workingDir", "ports", "envFrom", "env", "resources",
        "resizePolicy", "restartPolicy", "volumeMounts", "volumeDevices", "livenessProbe",
        "readinessProbe", "startupProbe", "lifecycle", "terminationMessagePath",
        "terminationMessagePolicy", "imagePullPolicy", "securityContext", "stdin", "stdinOnce", "tty",
    }
)
"""Fields of a Kubernetes Container; Argo's own fields (``source``, ``mirrorVolumeMounts``,
``dependencies``) are not copied into the pod."""
_POD_FIELDS: Final = (
    "nodeSelector", "affinity", "tolerations", "securityContext", "priorityClassName",
    "schedulerName", "hostAliases", "dnsPolicy", "dnsConfig", "hostNetwork", "imagePullSecrets",
    "runtimeClassName", "automountServiceAccountToken", "priority", "preemptionPolicy",
)
"""Pod-level fields a template sets, or else the workflow spec (Argo's precedence)."""
_SPEC_KEYS: Final = {"securityContext": "securityContext", "priorityClassName": "podPriorityClassName"}
"""Workflow spec fields named differently from the pod field (falls back to the pod name)."""
_LABEL_VALUE: Final = re.compile(r"[^A-Za-z0-9_.-]")
_EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})


class PodBuildError(ValueError):
    """The node cannot become a pod (an unknown entrypoint, a mount of a missing volume, a bad
    ``podSpecPatch``). The message names the template and what is wrong; retrying does not help."""


@dataclass(frozen=True)
class PodSettings:
    """How the controller builds pods (the Kubernetes part of the controller's settings)."""

    launcher_image: str = "ghcr.io/hookbus/hookbus:0.1.0"
    """The hookbus image, which holds the launcher at :attr:`launcher_binary`."""
    launcher_binary: str = "/usr/local/bin/hookbus-launcher"
    launcher_pull_policy: str = "IfNotPresent"
    instance_id: str | None = None
    """Argo's ``instanceID``: pods carry it as the ``controller-instanceid`` label."""
    images: Mapping[str, ImageEntry] = field(default_factory=lambda: _EMPTY)
    """Entrypoint and CMD of images whose templates set no ``command`` (see :mod:`.pods_images`)."""
    service_account: str | None = None
    """The service account of pods whose workflow and template name none (``None``: the namespace's default)."""
    input_limit: int = 1_000_000
    """Bytes a node's input artifacts may hold in all: they travel in one ConfigMap (at most 1 MiB)."""


@dataclass(frozen=True)
class WorkflowRef:
    """The workflow a pod belongs to: its identity and its (resolved) spec.

    ``uid`` is the Workflow object's; empty when the workflow is no custom resource, and
    then its pods have no ownerReference.
    """

    name: str
    namespace: str
    uid: str
    spec: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)


def build_pod(
    task: TaskSpec,
    workflow: WorkflowRef,
    settings: PodSettings,
    *,
    template: Mapping[str, Any] | None = None,
    deadline: int | None = None,
    inputs: Sequence[InputArtifact] = (),
) -> dict[str, Any]:
    """The Pod manifest of *task*'s node.

    *template* is the node's resolved template (container fields beyond the processes,
    volumes, pod-level fields, ``podSpecPatch``); *deadline* the seconds the workflow has
    left (its ``activeDeadlineSeconds`` minus the time it has run), ``None`` for no limit;
    *inputs* the node's input artifacts (:func:`.pods_inputs.plan_inputs`), which ``init``
    places and ``main`` mounts. Raises :class:`PodBuildError` naming the template.
    """
    tmpl: Mapping[str, Any] = template or {}
    spec = workflow.spec
    name = pod_name(workflow.name, task.node_name, task.template_name)
    mounts_of_main = _main_container_spec(tmpl)
    staged = task.main.source is not None

    init = [_launcher_init(settings, task.main.source, inputs, name)]
    set_containers = (tmpl.get("containerSet") or {}).get("containers")
    init += [
        _container(p, _named(tmpl.get("initContainers"), p.name) or _named(set_containers, p.name), settings)
        for p in task.init
        if not is_writer(p)  # the launcher's init places input artifacts
    ]
    main = _main(task, mounts_of_main, settings, template_name=task.template_name, staged=staged)
    if inputs:
        for c in [main, *(init[1:] if set_containers else [])]:
            c["volumeMounts"] = _merge_mounts(c.get("volumeMounts"), main_mounts(inputs))
    sidecars = []
    for p in task.sidecars:
        side_spec = _named(tmpl.get("sidecars"), p.name)
        side = _container(p, side_spec, settings)
        if side_spec and side_spec.get("mirrorVolumeMounts"):
            side["volumeMounts"] = _merge_mounts(side.get("volumeMounts"), mounts_of_main.get("volumeMounts"))
        sidecars.append(side)
    set_mounts = (tmpl.get("containerSet") or {}).get("volumeMounts") or []
    if set_mounts:
        for c in [main, *init[1:]]:
            c["volumeMounts"] = _merge_mounts(c.get("volumeMounts"), set_mounts)

    pod_spec: dict[str, Any] = {"restartPolicy": "Never"}
    active = _deadline(tmpl.get("activeDeadlineSeconds"), deadline, task.template_name)
    if active is not None:
        pod_spec["activeDeadlineSeconds"] = active
    account = tmpl.get("serviceAccountName") or spec.get("serviceAccountName") or settings.service_account
    if account:
        pod_spec["serviceAccountName"] = str(account)
    for key in _POD_FIELDS:
        value = tmpl.get(key)
        if value is None:
            value = spec.get(_SPEC_KEYS.get(key, key))
            if value is None and key in _SPEC_KEYS:
                value = spec.get(key)
        if value is not None:
            pod_spec[key] = value
    pod_spec["initContainers"] = init
    pod_spec["containers"] = [main, *sidecars]
    plugin_fields = task.pod_fields
    if "volumes" in plugin_fields:  # the node's volumes as a pod.preCreate plugin left them
        tmpl = {**tmpl, "volumes": plugin_fields["volumes"] or []}
    pod_spec["volumes"] = _volumes(workflow, tmpl, [main, *init, *sidecars], staged=staged, inputs=name if inputs else None)

    labels = {str(k): str(v) for k, v in task.labels.items()}
    labels[WORKFLOW_LABEL] = workflow.name
    labels[COMPLETED_LABEL] = "false"
    if settings.instance_id:
        labels[INSTANCE_LABEL] = settings.instance_id
    annotations = {str(k): str(v) for k, v in task.annotations.items()}
    annotations[NODE_NAME_ANNOTATION] = task.node_name
    annotations[NODE_ID_ANNOTATION] = task.node_id
    annotations[DEFAULT_CONTAINER_ANNOTATION] = "main"
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": workflow.namespace,
            "labels": labels,
            "annotations": annotations,
        },
        "spec": pod_spec,
    }
    if workflow.uid:  # a workflow that is no custom resource (submitted over the control API) owns nothing
        pod["metadata"]["ownerReferences"] = [
            {
                "apiVersion": ARGO_API_VERSION,
                "kind": "Workflow",
                "name": workflow.name,
                "uid": workflow.uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    if task.pod_spec_patch:  # substituted for this node by the engine
        for patch in task.pod_spec_patch:
            pod["spec"] = merge_patch(pod["spec"], patch)
    else:
        for source, raw in (("workflow", spec.get("podSpecPatch")), (f"template {task.template_name!r}", tmpl.get("podSpecPatch"))):
            if raw:
                pod["spec"] = merge_patch(pod["spec"], _parse_patch(raw, source))
    for key, value in plugin_fields.items():  # what pod.preCreate plugins set, over everything else
        if key in FIXED_POD_FIELDS or key == "volumes":
            continue
        if value is None:
            pod["spec"].pop(key, None)
        else:
            pod["spec"][key] = value
    return pod


# ---------------------------------------------------------------- containers


def _main_container_spec(tmpl: Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(tmpl.get("container"), dict):
        return tmpl["container"]  # type: ignore[no-any-return]
    if isinstance(tmpl.get("script"), dict):
        return tmpl["script"]  # type: ignore[no-any-return]
    containers = (tmpl.get("containerSet") or {}).get("containers") or []
    return containers[-1] if containers and isinstance(containers[-1], dict) else _EMPTY


def _named(specs: object, name: str) -> Mapping[str, Any] | None:
    if not isinstance(specs, list):
        return None
    return next((c for c in specs if isinstance(c, dict) and c.get("name") == name), None)


def _container(p: ProcessSpec, spec: Mapping[str, Any] | None, settings: PodSettings) -> dict[str, Any]:
    """A container from a process and its template spec (the process wins for what it holds;
    the fields a plugin's patch left replace the template's)."""
    fields = p.container or spec or {}
    out: dict[str, Any] = {k: v for k, v in fields.items() if k in _CONTAINER_FIELDS}
    if p.resources is not None:
        out["resources"] = p.resources
    if p.security_context is not None:
        out["securityContext"] = p.security_context
    out["name"] = _dns_label(p.name)
    out["image"] = p.image or settings.launcher_image  # processes without an image run in the hookbus image
    if p.command:
        out["command"] = list(p.command)
    else:
        out.pop("command", None)
    if p.args:
        out["args"] = list(p.args)
    else:
        out.pop("args", None)
    env = _env((spec or {}).get("env"), p.env)
    if env:
        out["env"] = env
    else:
        out.pop("env", None)
    if p.working_dir:
        out["workingDir"] = p.working_dir
    return out


def _env(declared: object, values: Mapping[str, str]) -> list[dict[str, Any]]:
    """The template's env in its order (``valueFrom`` entries kept), values from the process,
    then variables only the process has (a plugin added them)."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for var in declared if isinstance(declared, list) else []:
        if not isinstance(var, dict) or not var.get("name"):
            continue
        name = str(var["name"])
        if name in values:
            out.append({"name": name, "value": values[name]})
        elif "valueFrom" in var:
            out.append({"name": name, "valueFrom": var["valueFrom"]})
        else:
            continue  # a plugin removed it
        seen.add(name)
    out += [{"name": k, "value": v} for k, v in values.items() if k not in seen]
    return out


def _main(task: TaskSpec, spec: Mapping[str, Any], settings: PodSettings, *, template_name: str, staged: bool) -> dict[str, Any]:
    main = _container(task.main, spec, settings)
    main["name"] = "main"
    try:
        command, args = resolve_argv(task.main.command, task.main.args, task.main.image, settings.images, template=template_name)
    except ImageConfigError as exc:
        raise PodBuildError(str(exc)) from None
    if staged:
        args = [*args, SCRIPT_PATH]
    # Output artifacts travel as artifacts (``artifact:<name>`` entries of the parameters are the engine's view of them).
    parameters = {k: v for k, v in task.output_parameters.items() if not k.startswith(ARTIFACT_PREFIX)}
    main["command"] = launcher_argv(command, parameters=parameters, artifacts=task.output_artifacts)
    if args:
        main["args"] = args
    else:
        main.pop("args", None)
    main["terminationMessagePath"] = "/dev/termination-log"
    main["terminationMessagePolicy"] = "File"
    own = [{"name": LAUNCHER_VOLUME, "mountPath": LAUNCHER_DIR}]
    if staged:
        own.append({"name": STAGING_VOLUME, "mountPath": STAGING_DIR})
    main["volumeMounts"] = _merge_mounts(main.get("volumeMounts"), own)
    return main


def _launcher_init(settings: PodSettings, source: str | None, inputs: Sequence[InputArtifact], pod: str) -> dict[str, Any]:
    """The init container copying the launcher (and staging a script, and placing the input
    artifacts from the pod's ConfigMap) into the pod's emptyDirs."""
    command = [settings.launcher_binary, "install", f"{LAUNCHER_DIR}/launcher"]
    mounts: list[dict[str, Any]] = [{"name": LAUNCHER_VOLUME, "mountPath": LAUNCHER_DIR}]
    init: dict[str, Any] = {
        "name": "init",
        "image": settings.launcher_image,
        "imagePullPolicy": settings.launcher_pull_policy,
        "command": command,
        # what install printed on failure becomes the termination message, which the node's Error names
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "32Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": mounts,
    }
    if source is not None:
        command += ["--script", SCRIPT_PATH]
        mounts.append({"name": STAGING_VOLUME, "mountPath": STAGING_DIR})
        init["env"] = [{"name": SCRIPT_ENV, "value": source}]
    if inputs:
        command += init_arguments(inputs)
        mounts.append({"name": INPUTS_VOLUME, "mountPath": INPUTS_DIR})
        mounts.append({"name": ARTIFACTS_VOLUME, "mountPath": ARTIFACTS_DIR, "readOnly": True})
    return init


def _merge_mounts(mounts: object, extra: object) -> list[dict[str, Any]]:
    """*mounts* followed by those of *extra* on a path not mounted yet."""
    out = [dict(m) for m in mounts if isinstance(m, dict)] if isinstance(mounts, list) else []
    paths = {m.get("mountPath") for m in out}
    for m in extra if isinstance(extra, list) else []:
        if isinstance(m, dict) and m.get("mountPath") not in paths:
            out.append(dict(m))
            paths.add(m.get("mountPath"))
    return out


def _dns_label(name: str) -> str:
    """*name* as a container name (an RFC 1123 label)."""
    label = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63].rstrip("-")
    return label or "container"


def _deadline(value: object, left: int | None, template: str) -> int | None:
    own: int | None = None
    if isinstance(value, str) and "{{" in value:
        value = None  # not substituted here: the engine enforces the template's deadline itself
    if value is not None and value != "":
        try:
            own = int(str(value))
        except ValueError:
            raise PodBuildError(f"template {template!r}: activeDeadlineSeconds {value!r} is not an integer") from None
        if own <= 0:
            raise PodBuildError(f"template {template!r}: activeDeadlineSeconds must be positive, got {own}")
    if left is not None:
        left = max(1, left)
        own = left if own is None else min(own, left)
    return own


# ------------------------------------------------------------------- volumes


def _volumes(
    workflow: WorkflowRef, tmpl: Mapping[str, Any], containers: Iterable[Mapping[str, Any]], *, staged: bool, inputs: str | None
) -> list[dict[str, Any]]:
    """The pod's volumes: the launcher's, the input artifacts' (*inputs*: the ConfigMap's
    name), the template's, and the workflow's that a container mounts."""
    out: list[dict[str, Any]] = [{"name": LAUNCHER_VOLUME, "emptyDir": {}}]
    if staged:
        out.append({"name": STAGING_VOLUME, "emptyDir": {}})
    if inputs:
        out.append({"name": INPUTS_VOLUME, "emptyDir": {}})
        out.append({"name": ARTIFACTS_VOLUME, "configMap": {"name": inputs}})
    names = {LAUNCHER_VOLUME, STAGING_VOLUME, INPUTS_VOLUME, ARTIFACTS_VOLUME}
    for volume in tmpl.get("volumes") or []:
        if isinstance(volume, dict) and volume.get("name") and volume["name"] not in names:
            out.append(dict(volume))
            names.add(volume["name"])
    workflow_volumes = {str(v["name"]): v for v in workflow.spec.get("volumes") or [] if isinstance(v, dict) and v.get("name")}
    claims = {
        str((c.get("metadata") or {}).get("name")): c
        for c in workflow.spec.get("volumeClaimTemplates") or []
        if isinstance(c, dict) and (c.get("metadata") or {}).get("name")
    }
    for container in containers:
        for mount in container.get("volumeMounts") or []:
            ref = str(mount.get("name") or "") if isinstance(mount, dict) else ""
            if not ref or ref in names:
                continue
            if ref in workflow_volumes:
                out.append(dict(workflow_volumes[ref]))
            elif ref in claims:
                out.append({"name": ref, "persistentVolumeClaim": {"claimName": claim_name(workflow.name, ref)}})
            else:
                raise PodBuildError(
                    f"container {container.get('name')!r} mounts volume {ref!r}, which neither the template "
                    "nor the workflow (volumes, volumeClaimTemplates) defines"
                )
            names.add(ref)
    return out


# ---------------------------------------------------------------- podSpecPatch


def _parse_patch(patch: object, source: str) -> dict[str, Any]:
    if isinstance(patch, dict):
        return patch
    try:
        parsed = yaml.safe_load(str(patch))  # JSON is YAML too
    except yaml.YAMLError as exc:
        raise PodBuildError(f"{source} podSpecPatch is neither JSON nor YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(parsed, dict):
        raise PodBuildError(f"{source} podSpecPatch must be a map of pod spec fields, got {type(parsed).__name__}")
    return parsed


_MERGE_KEYS: Final = {
    "containers": "name", "initContainers": "name", "volumes": "name", "env": "name",
    "volumeMounts": "mountPath", "ports": "containerPort", "imagePullSecrets": "name",
}
"""Lists a strategic merge patch merges by key (as Kubernetes' PodSpec declares them)."""


def merge_patch(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """*base* with *patch* applied as a Kubernetes strategic merge patch of a PodSpec.

    Maps merge recursively and ``null`` deletes a key; the lists Kubernetes merges by key
    (containers and volumes by ``name``, mounts by ``mountPath`` ...) merge item by item;
    other lists are replaced.
    """
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_patch(out[key], value)
        elif isinstance(value, list) and key in _MERGE_KEYS and isinstance(out.get(key), list):
            out[key] = _merge_list(out[key], value, _MERGE_KEYS[key])
        else:
            out[key] = value
    return out


def _merge_list(base: list[Any], patch: list[Any], key: str) -> list[Any]:
    merged = list(base)
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            merged.append(item)
            continue
        at = next((i for i, b in enumerate(merged) if isinstance(b, dict) and b.get(key) == item[key]), None)
        if at is None:
            merged.append(item)
        else:
            merged[at] = merge_patch(merged[at], item)
    return merged
