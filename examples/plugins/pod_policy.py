"""Pod policy: labels and a sidecar on every pod, and a veto for privileged containers.

    hookbus plugin run examples/plugins/pod_policy.py
"""

from __future__ import annotations

from typing import Any

from hookbus.bus import Plugin, patch, reject

plugin = Plugin("pod-policy", version="1.0.0", description="labels, a log sidecar, no privileged pods")

SIDECAR = {"name": "log-shipper", "image": "busybox", "command": ["sh", "-c", "while true; do sleep 1; done"]}


# A pure function of the pod: the controller may ask it ahead (with node.preExecute, and
# together with the mutating plugins before it), which saves round trips.
@plugin.pod_pre_create(timeout=2.0, side_effects=False)
def police(pod: dict[str, Any], workflow: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    for container in pod["spec"].get("containers", []):
        if (container.get("securityContext") or {}).get("privileged"):
            return reject(f"container {container.get('name')!r} asks to run privileged, which this cluster forbids")
    ops: list[dict[str, Any]] = [
        {"op": "add", "path": "/metadata/labels/hookbus.io~1owner", "value": workflow["metadata"].get("namespace", "default")},
        {"op": "add", "path": "/metadata/annotations/hookbus.io~1policy", "value": "checked"},
        {"op": "add", "path": "/spec/containers/-", "value": SIDECAR},
    ]
    return patch(ops)
