"""The pod of a leaf node as plugins see it, and the executor's processes built from it.

``pod.preCreate`` is asked about a dict (:func:`pod_of`): the node's processes plus the
template's other container fields; a plugin may answer with a changed pod, which
:func:`apply_pod` turns back into the node's :class:`~.tasks.TaskSpec`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .tasks import ProcessSpec, TaskSpec

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..argo.types import JSON

__all__ = ["apply_pod", "pod_metadata", "pod_of", "process_spec"]


def process_spec(p: Mapping[str, Any]) -> ProcessSpec:
    """One process of a pod dict (``main``, an init process, a sidecar) as the executor gets it."""
    return ProcessSpec(
        name=str(p.get("name") or "main"),
        image=p.get("image"),
        command=tuple(p.get("command") or ()),
        args=tuple(p.get("args") or ()),
        env=dict(p.get("env") or {}),
        working_dir=p.get("workingDir"),
        source=p.get("source"),
        security_context=p.get("securityContext"),
        resources=p.get("resources"),
        secret_env=dict(p.get("secretEnv") or {}),
    )


_PROCESS_KEYS = frozenset(
    {"name", "image", "command", "args", "env", "workingDir", "source", "securityContext", "resources", "secretEnv"}
)


def pod_of(task: TaskSpec | None, template: Mapping[str, Any] | None = None) -> JSON:
    """What ``pod.preCreate`` sees: the processes, plus the template's other container
    fields (``securityContext``, ``resources``, ``volumeMounts`` ...) for policy plugins."""
    assert task is not None
    tmpl = template or {}
    main_spec = tmpl.get("container") or tmpl.get("script") or {}
    init_specs = list(tmpl.get("initContainers") or [])
    sidecar_specs = list(tmpl.get("sidecars") or [])

    def proc(p: ProcessSpec, spec: Mapping[str, Any] | None = None) -> JSON:
        fields = p.container or spec or {}
        out: JSON = {k: v for k, v in fields.items() if k not in _PROCESS_KEYS}
        out.update(
            name=p.name, image=p.image, command=list(p.command), args=list(p.args),
            env=dict(p.env), workingDir=p.working_dir, source=p.source,
        )
        if p.security_context is not None:
            out["securityContext"] = p.security_context
        if p.resources is not None:
            out["resources"] = p.resources
        return out

    def spec_named(specs: list[Any], name: str) -> Mapping[str, Any] | None:
        return next((c for c in specs if isinstance(c, dict) and c.get("name") == name), None)

    return {
        "name": task.node_id,
        "main": proc(task.main, main_spec),
        "init": [proc(p, spec_named(init_specs, p.name)) for p in task.init],
        "sidecars": [proc(p, spec_named(sidecar_specs, p.name)) for p in task.sidecars],
        "labels": dict(task.labels),
        "annotations": dict(task.annotations),
    }


def pod_metadata(task: TaskSpec) -> JSON:
    """The labels and annotations of the pod a node runs in (kept on the node when plugins patched them)."""
    return {"labels": dict(task.labels), "annotations": dict(task.annotations)}


def apply_pod(task: TaskSpec, pod: Mapping[str, Any]) -> TaskSpec:
    """*task* with the processes, labels and annotations of *pod* (a plugin's changed pod),
    and the pod-level fields a plugin set (``podSpec``, read back in Kubernetes mode).

    Values from Secrets (never shown to plugins) stay with the containers of the same name."""
    secrets = {p.name: p.secret_env for p in (task.main, *task.init, *task.sidecars) if p.secret_env}

    def spec(p: Mapping[str, Any]) -> ProcessSpec:
        made = _patched(p)
        kept = secrets.get(made.name)
        return replace(made, secret_env=kept) if kept and not made.secret_env else made

    return replace(
        task,
        main=spec(pod.get("main") or {}),
        init=tuple(spec(p) for p in pod.get("init") or []),
        sidecars=tuple(spec(p) for p in pod.get("sidecars") or []),
        labels=dict(pod.get("labels") or {}),
        annotations=dict(pod.get("annotations") or {}),
        pod_fields=dict(pod.get("podSpec") or task.pod_fields),
    )


def _patched(p: Mapping[str, Any]) -> ProcessSpec:
    """A process of a plugin's changed pod, with its other container fields kept."""
    fields = {str(k): v for k, v in p.items() if k not in _PROCESS_KEYS}
    spec = process_spec(p)
    return replace(spec, container=fields) if fields else spec
