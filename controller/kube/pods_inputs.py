"""A node's input artifacts in its pod: one ConfigMap per pod, unpacked by the launcher's ``init``.

The engine hands a node its input artifacts two ways: small text content (``raw`` data, a
previous step's small output) as processes that write it (``artifact-<name>`` init
processes with ``HOOKBUS_PATH``/``HOOKBUS_DATA``, which local mode runs), and artifacts kept
on the controller's host (directories, large files) as ``TaskSpec.input_files``. In a pod:

* the controller puts every input artifact of the node into one ConfigMap named after the
  pod (:func:`input_config_map`): a file's bytes under ``binaryData.<key>``, a directory
  as a file list (:mod:`.filelist`); keys are ``a0``, ``a1`` ... in the order of
  :func:`plan_inputs`. It carries the workflow and instance-id labels, the node-id
  annotation and the Workflow as owner, and is deleted when the node ended;
* the ConfigMap is mounted read-only in the ``init`` container at :data:`ARTIFACTS_DIR`;
  ``hookbus-launcher install`` copies each file (with its ``mode``) or unpacks each
  directory into the ``emptyDir`` :data:`INPUTS_VOLUME`, mounted in ``init`` at
  :data:`INPUTS_DIR`;
* ``main`` (and the containers of a ``containerSet``) mount that ``emptyDir`` once per
  artifact, ``subPath: <key>`` at the artifact's ``path``, as Argo mounts its
  ``input-artifacts`` volume.

No API credentials reach the pod: the kubelet mounts the ConfigMap. A ConfigMap holds at
most 1 MiB; the node's input artifacts must fit in :attr:`~.pods.PodSettings.input_limit`
bytes together, else the node ends ``Error`` naming the artifact and the limit.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ..argo.labels import INSTANCE_LABEL, WORKFLOW_LABEL
from .filelist import FileListError, FileListTooLarge, pack

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from ..engine.ports import ProcessSpec, TaskSpec

__all__ = [
    "ARTIFACTS_DIR",
    "ARTIFACTS_VOLUME",
    "INPUTS_DIR",
    "INPUTS_VOLUME",
    "InputArtifact",
    "InputTooLarge",
    "init_arguments",
    "input_config_map",
    "is_writer",
    "main_mounts",
    "plan_inputs",
]

INPUTS_VOLUME: Final = "hookbus-inputs"
"""The ``emptyDir`` the input artifacts are unpacked into (``main`` mounts subPaths of it)."""
INPUTS_DIR: Final = "/var/run/hookbus-inputs"
"""Where ``init`` mounts :data:`INPUTS_VOLUME`."""
ARTIFACTS_VOLUME: Final = "hookbus-artifacts"
"""The ``configMap`` volume of the node's input ConfigMap (mounted in ``init`` only)."""
ARTIFACTS_DIR: Final = "/var/run/hookbus-artifacts"
"""Where ``init`` mounts :data:`ARTIFACTS_VOLUME`, read-only."""
WRITER_PREFIX: Final = "artifact-"
_WRITER_ENV: Final = ("HOOKBUS_PATH", "HOOKBUS_DATA")


class InputTooLarge(ValueError):
    """The node's input artifacts do not fit in one ConfigMap; the message names the artifact and the limit."""


@dataclass(frozen=True)
class InputArtifact:
    """One input artifact of a node as its pod receives it."""

    name: str
    key: str
    """Its key in the ConfigMap and its subPath in :data:`INPUTS_VOLUME` (``a0``, ``a1`` ...)."""
    path: str
    """Where ``main`` finds it."""
    directory: bool
    mode: int | None = None
    """The template's ``mode`` (permission bits), ``None`` for the default (0644 for a file)."""
    source: str | None = None
    """The host file or directory holding it (``TaskSpec.input_files``)."""
    content: str | None = None
    """Its text, when the engine gives the content itself."""


def is_writer(process: ProcessSpec) -> bool:
    """Whether *process* is one of the engine's input-artifact writers (local mode's way)."""
    return process.image is None and process.name.startswith(WRITER_PREFIX) and all(k in process.env for k in _WRITER_ENV)


def plan_inputs(task: TaskSpec, template: Mapping[str, Any] | None) -> tuple[InputArtifact, ...]:
    """The node's input artifacts (written content first, then host files), keyed ``a0``, ``a1`` ...

    Reads only whether each host path is a directory.
    """
    decls = {str(d["path"]): d for d in ((template or {}).get("inputs") or {}).get("artifacts") or [] if isinstance(d, dict) and d.get("path")}
    modes = _modes(decls.values())
    out: list[InputArtifact] = []
    for p in task.init:
        if is_writer(p):
            path = p.env["HOOKBUS_PATH"]
            name = p.name.removeprefix(WRITER_PREFIX)
            out.append(InputArtifact(name, f"a{len(out)}", path, False, modes.get(path), content=p.env["HOOKBUS_DATA"]))
    for path, host in task.input_files.items():
        name = str((decls.get(path) or {}).get("name") or path)
        out.append(InputArtifact(name, f"a{len(out)}", path, os.path.isdir(host), modes.get(path), source=host))
    return tuple(out)


def _modes(decls: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    modes: dict[str, int] = {}
    for decl in decls:
        if decl.get("mode") in (None, ""):
            continue
        mode = decl["mode"]
        try:
            modes[str(decl["path"])] = mode if isinstance(mode, int) else int(str(mode), 8 if str(mode).startswith("0") else 10)
        except ValueError:
            continue  # lint reports it; the artifact keeps the default mode
    return modes


def init_arguments(inputs: Iterable[InputArtifact]) -> list[str]:
    """``hookbus-launcher install`` options placing *inputs* into :data:`INPUTS_DIR`."""
    argv: list[str] = []
    for art in inputs:
        mode = "" if art.mode is None else f"{art.mode & 0o7777:o}"
        flag = "--input-dir" if art.directory else "--input-file"
        argv += [flag, f"{mode}:{ARTIFACTS_DIR}/{art.key}:{INPUTS_DIR}/{art.key}"]
    return argv


def main_mounts(inputs: Iterable[InputArtifact]) -> list[dict[str, Any]]:
    """The mounts giving a container each input artifact at its path."""
    return [{"name": INPUTS_VOLUME, "mountPath": art.path, "subPath": art.key} for art in inputs]


def input_config_map(pod: Mapping[str, Any], inputs: Sequence[InputArtifact], *, limit: int) -> dict[str, Any]:
    """The ConfigMap holding *inputs* for *pod* (named, labelled and owned as the pod).

    Reads the host files; :class:`InputTooLarge` names the artifact that does not fit in *limit*
    bytes, ``ValueError`` one that cannot be read.
    """
    meta = pod.get("metadata") or {}
    data: dict[str, str] = {}
    total = 0
    for art in inputs:
        content = _content(art, limit - total, limit)
        total += len(content) + len(art.key)
        data[art.key] = base64.b64encode(content).decode()
    labels = dict(meta.get("labels") or {})
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k.startswith("workflows.argoproj.io/node-")}
    own: dict[str, Any] = {
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
        "labels": {k: v for k, v in labels.items() if k in (WORKFLOW_LABEL, INSTANCE_LABEL)},
        "annotations": annotations,
    }
    if meta.get("ownerReferences"):
        own["ownerReferences"] = [dict(r) for r in meta["ownerReferences"]]
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": own, "immutable": True, "binaryData": data}


def _content(art: InputArtifact, room: int, limit: int) -> bytes:
    shown = f"{art.name!r} ({art.path})"
    too_large = (
        f"input artifact {shown} does not fit in the pod's input ConfigMap: a node's input artifacts "
        f"are limited to {limit} bytes in all in Kubernetes mode"
    )
    if art.content is not None:
        content = art.content.encode()
    elif art.source is None:
        content = b""
    elif art.directory:
        try:
            content = pack(Path(art.source), limit=max(room, 0))
        except FileListTooLarge:
            raise InputTooLarge(too_large) from None
        except FileListError as exc:
            raise ValueError(f"input artifact {shown}: {exc}") from None
    else:
        try:
            size = os.path.getsize(art.source)
            if size > room:
                raise InputTooLarge(f"{too_large}; it is {size} bytes")
            content = Path(art.source).read_bytes()
        except OSError as exc:
            raise ValueError(f"input artifact {shown}: cannot read {exc.filename}: {exc.strerror or exc}") from None
    if len(content) > room:
        raise InputTooLarge(f"{too_large}; it is {len(content)} bytes")
    return content
