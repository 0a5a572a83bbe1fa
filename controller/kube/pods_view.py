"""A Pod a ``pod.preCreate`` plugin changed, read back as the node's own containers (pure).

In Kubernetes mode plugins are shown the manifest :func:`.pods.build_pod` makes, launcher
and all. What they change is read back by :func:`user_pod`: the parts hookbus adds itself
are taken off (the launcher's ``init`` container, the launcher in front of ``main``'s
command, the staged script path, hookbus's volume mounts, termination-message fields, and
the labels and annotations every pod of a node gets), so what is left is the node's pod as
the template wrote it plus the plugin's changes. Building the pod from that again gives
the plugin's labels, annotations, containers, env and container fields, with the launcher
in front as before.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Final

from ..argo.labels import (
    COMPLETED_LABEL,
    DEFAULT_CONTAINER_ANNOTATION,
    INSTANCE_LABEL,
    NODE_ID_ANNOTATION,
    NODE_NAME_ANNOTATION,
    WORKFLOW_LABEL,
)
from .launcher import LAUNCHER_PATH
from .pods import LAUNCHER_VOLUME, SCRIPT_PATH, STAGING_VOLUME
from .pods_inputs import ARTIFACTS_VOLUME, INPUTS_VOLUME

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["OWN_VOLUMES", "user_pod"]

_OWN_LABELS: Final = (WORKFLOW_LABEL, COMPLETED_LABEL, INSTANCE_LABEL)
_OWN_ANNOTATIONS: Final = (NODE_NAME_ANNOTATION, NODE_ID_ANNOTATION, DEFAULT_CONTAINER_ANNOTATION)
OWN_VOLUMES: Final = (LAUNCHER_VOLUME, STAGING_VOLUME, INPUTS_VOLUME, ARTIFACTS_VOLUME)
"""The volumes hookbus puts in every pod (the launcher's, a script's staging directory, input and output artifacts)."""
_LAUNCHER_OPTIONS_WITH_VALUE: Final = frozenset({"--output", "--artifact", "--termination-log", "--spill-dir"})


def user_pod(patched: Mapping[str, Any], *, main_name: str = "main", staged: bool = False) -> dict[str, Any]:
    """*patched* (a built pod, possibly changed by plugins) without what hookbus adds.

    ``main`` is renamed *main_name* (the node's own name for it); *staged*: the node is a
    script, whose staged path ends ``main``'s args. A ``main`` command a plugin replaced
    entirely (no launcher in front) is kept as the plugin wrote it.
    """
    pod = copy.deepcopy(dict(patched))
    meta = pod.setdefault("metadata", {}) if isinstance(pod.get("metadata"), dict) else {}
    for key, own in (("labels", _OWN_LABELS), ("annotations", _OWN_ANNOTATIONS)):
        values = meta.get(key)
        if isinstance(values, dict):
            meta[key] = {k: v for k, v in values.items() if k not in own}
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return pod
    inits = spec.get("initContainers")
    if isinstance(inits, list):
        spec["initContainers"] = [c for c in inits if not (isinstance(c, dict) and c.get("name") == "init")]
        for c in spec["initContainers"]:  # a containerSet's containers mount the input artifacts too
            if isinstance(c, dict) and isinstance(c.get("volumeMounts"), list):
                c["volumeMounts"] = [m for m in c["volumeMounts"] if not (isinstance(m, dict) and m.get("name") in OWN_VOLUMES)]
                if not c["volumeMounts"]:
                    del c["volumeMounts"]
    containers = spec.get("containers")
    for container in containers if isinstance(containers, list) else []:
        if isinstance(container, dict) and container.get("name") == "main":
            _unwrap_main(container, main_name, staged=staged)
    volumes = spec.get("volumes")
    if isinstance(volumes, list):
        spec["volumes"] = [v for v in volumes if not (isinstance(v, dict) and v.get("name") in OWN_VOLUMES)]
    return pod


def _unwrap_main(main: dict[str, Any], name: str, *, staged: bool) -> None:
    main["name"] = name
    command = main.get("command")
    if isinstance(command, list) and command and command[0] == LAUNCHER_PATH:
        main["command"] = _after_options(command)
    args = main.get("args")
    if staged and isinstance(args, list) and args and args[-1] == SCRIPT_PATH:
        main["args"] = args[:-1]
    mounts = main.get("volumeMounts")
    if isinstance(mounts, list):
        kept = [m for m in mounts if not (isinstance(m, dict) and m.get("name") in OWN_VOLUMES)]
        if kept:
            main["volumeMounts"] = kept
        else:
            del main["volumeMounts"]
    main.pop("terminationMessagePath", None)
    main.pop("terminationMessagePolicy", None)


def _after_options(argv: list[Any]) -> list[Any]:
    """The command after the launcher's options and ``--``."""
    i = 1
    while i < len(argv):
        if argv[i] == "--":
            return argv[i + 1 :]
        i += 2 if argv[i] in _LAUNCHER_OPTIONS_WITH_VALUE else 1
    return []
