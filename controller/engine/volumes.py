"""Kubernetes volumes in local mode: a leaf's ``volumeMounts`` turned into ``TaskSpec.mounts``.

A mount names a volume of the template (``volumes``) or, failing that, of the workflow
(``spec.volumes``, ``spec.volumeClaimTemplates``). Each kind becomes a host directory:

``emptyDir``
    A fresh directory private to the node (``""`` for the executor), shared by all
    its containers; several mounts of one ``emptyDir`` share one node directory.
``volumeClaimTemplates``
    Argo creates one PVC per workflow: here one directory per workflow and claim under
    ``<root>/.hookbus-volumes/<namespace>/<workflow>/``, shared by every step.
``persistentVolumeClaim``
    A claim that already exists in the namespace. Local mode has no Kubernetes PVCs:
    the claim stands for the directory ``<root>/.hookbus-volumes/<namespace>/.claims/<claimName>``
    made by an operator; when it is absent the node errors (a pod would wait for the claim).
``hostPath``
    The host path itself (``type: Directory`` requires it to exist; other types create it),
    only when the operator allows it (``allowed_host_paths``, ``--allow-host-path``):
    refused otherwise, and always when it overlaps the state directory.
``configMap`` / ``secret``
    Files written from the ConfigMaps and Secrets given with the workflow (``items`` pick
    and rename keys); a missing one errors unless ``optional``. Their folder is reachable
    only by the controller's user on the host (the node reaches it through its mount).

When the workflow ends, its claim-template directories (and the node folders of this
module) are deleted as ``volumeClaimGC`` says (see :func:`release_workflow_volumes`).

A mount's ``subPath`` mounts that sub-directory of the volume. ``readOnly`` is not enforced.
Other volume kinds (``nfs``, ``csi``, ...) error, naming the kind.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ..argo.types import Phase
from .templates import TemplateError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

VOLUMES_DIR: Final = ".hookbus-volumes"
"""Folder of the state directory holding volumes (a dot: never a Kubernetes namespace name)."""

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")

def volume_root(root: Path, namespace: str) -> Path:
    """The folder of *namespace*'s volumes under a state directory *root*."""
    return root / VOLUMES_DIR / _safe(namespace)


def claim_dir(root: Path, namespace: str, claim: str) -> Path:
    """The directory standing for an existing PVC named *claim* (see the module doc)."""
    return volume_root(root, namespace) / ".claims" / _safe(claim)


def workflow_dir(root: Path, namespace: str, workflow: str) -> Path:
    """The folder of one workflow's volumes and scratch files (deleted when it ends, see below)."""
    return volume_root(root, namespace) / _safe(workflow)


def workflow_claim_dir(root: Path, namespace: str, workflow: str, claim: str) -> Path:
    """The directory of a workflow's ``volumeClaimTemplates`` entry *claim*."""
    return volume_root(root, namespace) / _safe(workflow) / _safe(claim)


def node_mounts(
    tmpl: Mapping[str, Any],
    spec: Mapping[str, Any],
    *,
    root: Path | None,
    namespace: str,
    workflow: str,
    node_id: str,
    config_map: Callable[[str], Mapping[str, Any] | None],
    allowed_host_paths: tuple[str, ...] = (),
    secret: Callable[[str], Mapping[str, str] | None] | None = None,
) -> dict[str, str]:
    """Mount path in the node -> host directory (``""``: fresh per node) for every volume mount.

    *root* is the state directory (``None``: no shared directories can be made, so claim
    volumes are private to the node). *config_map(name)* returns a ConfigMap document or
    ``None``; *secret(name)* a Secret's decoded data or ``None``. A ``hostPath`` must be one of *allowed_host_paths* or below one (and never
    overlap *root*). Raises :class:`TemplateError` naming the mount or volume that cannot be
    provided (fix the manifest or the host; retrying does not help).
    """
    mounts = list(_volume_mounts(tmpl))
    if not mounts:
        return {}
    volumes = _volumes(tmpl, spec)
    used: dict[str, int] = {}
    for mount in mounts:
        used[str(mount.get("name"))] = used.get(str(mount.get("name")), 0) + 1
    node_dir = None if root is None else volume_root(root, namespace) / _safe(workflow) / ".nodes" / _safe(node_id)
    out: dict[str, str] = {}
    for mount in mounts:
        name = str(mount.get("name") or "")
        path = str(mount.get("mountPath") or "")
        if not path.startswith("/"):
            raise TemplateError(f"volumeMounts {name!r}: mountPath {path!r} is not an absolute path")
        volume = volumes.get(name)
        if volume is None:
            raise TemplateError(f"volumeMounts {name!r} ({path}): no volume named {name!r} in the template or the workflow")
        sub = str(mount.get("subPath") or "").strip("/")
        if ".." in Path(sub).parts:
            raise TemplateError(f"volumeMounts {name!r}: subPath {sub!r} must not contain '..'")
        if "hostPath" in volume:
            _check_host_path(volume, name, root, allowed_host_paths)
        host = _host_dir(
            volume, name, root=root, node_dir=node_dir, namespace=namespace, workflow=workflow,
            config_map=config_map, secret=secret,
        )
        if host == "" and (sub or used[name] > 1) and node_dir is not None:
            host = str(node_dir / "emptydir" / _safe(name))  # shared by the node's mounts of it
        if host and sub:
            host = str(Path(host) / sub)
        if host:
            Path(host).mkdir(parents=True, exist_ok=True)
        out[path] = host
    return out


def _check_host_path(volume: Mapping[str, Any], name: str, root: Path | None, allowed: tuple[str, ...]) -> None:
    """Refuse a ``hostPath`` the operator did not allow, or one that reaches the state directory."""
    raw = str((volume.get("hostPath") or {}).get("path") or "")
    if not raw.startswith("/"):
        return  # _host_dir names the problem
    where = os.path.realpath(raw)
    if not allowed:
        raise TemplateError(
            f"volume {name!r}: hostPath {raw} is refused: the controller allows no host paths (--allow-host-path)"
        )
    if not any(_within(where, os.path.realpath(prefix)) for prefix in allowed):
        raise TemplateError(
            f"volume {name!r}: hostPath {raw} is refused: it is not below an allowed host path ({', '.join(allowed)})"
        )
    if root is not None:
        state = os.path.realpath(root)
        if _within(where, state) or _within(state, where):
            raise TemplateError(f"volume {name!r}: hostPath {raw} is refused: it reaches the controller's state directory")


def _within(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


def _volume_mounts(tmpl: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every ``volumeMounts`` entry of the node's containers (a node-wide mount each)."""
    containers: list[Any] = [tmpl.get("container"), tmpl.get("script")]
    containers += list(tmpl.get("initContainers") or []) + list(tmpl.get("sidecars") or [])
    container_set = tmpl.get("containerSet") or {}
    containers += list(container_set.get("containers") or [])
    seen: set[str] = set()
    for mount in container_set.get("volumeMounts") or []:
        seen.add(str(mount.get("mountPath")))
        yield mount
    for container in containers:
        for mount in (container or {}).get("volumeMounts") or []:
            if isinstance(mount, dict) and str(mount.get("mountPath")) not in seen:
                seen.add(str(mount.get("mountPath")))
                yield mount


def _volumes(tmpl: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Volumes by name: the workflow's claim templates and volumes, then the template's (which win)."""
    out: dict[str, Mapping[str, Any]] = {}
    for claim in spec.get("volumeClaimTemplates") or []:
        name = str((claim.get("metadata") or {}).get("name") or "")
        if name:
            out[name] = {"name": name, "x-claimTemplate": True}
    for volume in [*(spec.get("volumes") or []), *(tmpl.get("volumes") or [])]:
        if isinstance(volume, dict) and volume.get("name"):
            out[str(volume["name"])] = volume
    return out


def _host_dir(
    volume: Mapping[str, Any],
    name: str,
    *,
    root: Path | None,
    node_dir: Path | None,
    namespace: str,
    workflow: str,
    config_map: Callable[[str], Mapping[str, Any] | None],
    secret: Callable[[str], Mapping[str, str] | None] | None = None,
) -> str:
    if "emptyDir" in volume:
        return ""
    if volume.get("x-claimTemplate"):
        return "" if root is None else str(workflow_claim_dir(root, namespace, workflow, name))
    if "persistentVolumeClaim" in volume:
        claim = str((volume["persistentVolumeClaim"] or {}).get("claimName") or "")
        where = None if root is None else claim_dir(root, namespace, claim)
        if where is None or not where.is_dir():
            raise TemplateError(
                f'volume {name!r}: persistentVolumeClaim "{claim}" not found in namespace {namespace!r} '
                "(local mode has no Kubernetes PVCs; a claim is a directory made beforehand under the state directory)"
            )
        return str(where)
    if "hostPath" in volume:
        host_path = volume["hostPath"] or {}
        where = Path(str(host_path.get("path") or ""))
        if not where.is_absolute():
            raise TemplateError(f"volume {name!r}: hostPath.path {str(where)!r} is not an absolute path")
        if where.exists() and not where.is_dir():
            raise TemplateError(f"volume {name!r}: hostPath {where} is a file (local mode mounts directories only)")
        if host_path.get("type") == "Directory" and not where.is_dir():
            raise TemplateError(f"volume {name!r}: hostPath {where} does not exist (type Directory)")
        return str(where)
    if "configMap" in volume or "secret" in volume:
        return _files_volume(volume, name, node_dir=node_dir, config_map=config_map, secret=secret)
    kinds = sorted(k for k in volume if k != "name")
    raise TemplateError(f"volume {name!r}: {', '.join(kinds) or 'no source'} volumes are not available in local mode")


def _files_volume(
    volume: Mapping[str, Any],
    name: str,
    *,
    node_dir: Path | None,
    config_map: Callable[[str], Mapping[str, Any] | None],
    secret: Callable[[str], Mapping[str, str] | None] | None = None,
) -> str:
    """A directory holding a ConfigMap's or Secret's keys as files (or an empty one for an
    optional absent source). *secret(name)* returns a Secret's decoded data or ``None``."""
    is_secret = "secret" in volume
    source = (volume.get("secret") if is_secret else volume.get("configMap")) or {}
    ref = str(source.get("secretName") if is_secret else source.get("name") or "")
    optional = bool(source.get("optional"))
    kind = "secret" if is_secret else "configMap"
    doc: Mapping[str, Any] | None
    if is_secret:
        found = secret(ref) if secret is not None else None
        doc = None if found is None else {"data": found}
    else:
        doc = config_map(ref)
    if doc is None:
        if optional:
            return ""
        why = "no such Secret was given (-t)" if is_secret else "no such ConfigMap was loaded"
        raise TemplateError(f'volume {name!r}: {kind} "{ref}" not found ({why})')
    data = {str(k): str(v) for k, v in (doc.get("data") or {}).items()}
    items = source.get("items")
    files = {str(i["path"]): data.get(str(i["key"])) for i in items or [] if isinstance(i, dict)} if items else dict(data)
    missing = sorted(path for path, value in files.items() if value is None)
    if missing and not optional:
        raise TemplateError(f'volume {name!r}: {kind} "{ref}" has no key for {", ".join(missing)}')
    if node_dir is None:
        raise TemplateError(f"volume {name!r}: {kind} volumes need a state directory (none is configured)")
    holder = node_dir / "files"
    holder.mkdir(parents=True, exist_ok=True)
    holder.chmod(0o700)  # the node reaches its volume through the mount; nobody else through here
    target = holder / _safe(name)
    target.mkdir(parents=True, exist_ok=True)
    for rel, value in files.items():
        if value is None:
            continue
        if rel.startswith("/") or ".." in Path(rel).parts:
            raise TemplateError(f"volume {name!r}: item path {rel!r} must be relative without '..'")
        out = target / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(value, encoding="utf-8")
    return str(target)


def _safe(text: str) -> str:
    return _SAFE.sub("_", text) or "_"


def release_workflow_volumes(spec: Mapping[str, Any], *, root: Path | None, namespace: str, workflow: str, phase: str) -> None:
    """Delete a finished workflow's claim-template directories, as Argo's ``volumeClaimGC`` does.

    The strategy ``OnWorkflowCompletion`` (the default) deletes them whatever the phase;
    ``OnWorkflowSuccess`` only when the workflow Succeeded (then nothing else is kept either).
    Existing claims and host paths are never touched.
    """
    if root is None:
        return
    strategy = str((spec.get("volumeClaimGC") or {}).get("strategy") or "OnWorkflowCompletion")
    if strategy == "OnWorkflowSuccess" and phase != Phase.SUCCEEDED:
        return
    shutil.rmtree(workflow_dir(root, namespace, workflow), ignore_errors=True)
