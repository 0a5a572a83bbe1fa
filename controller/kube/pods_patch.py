"""What a ``pod.preCreate`` plugin changed at the level of the Pod, and what it may not change (pure).

A plugin is shown a Pod manifest and answers a patch of it. Containers, labels and
annotations come back through :func:`.pods_view.user_pod`; the Pod's own fields
(``nodeSelector``, ``tolerations``, ``affinity``, ``volumes``, ``priorityClassName``,
``schedulerName``, ``runtimeClassName``, ``hostAliases``, ``dnsConfig``, ``securityContext``
...) are read here, by comparing the patched manifest with the one the plugin was shown:
:func:`changed_pod_fields` gives the fields the plugin set (``None`` for one it removed),
which :func:`.pods.build_pod` applies last.

A plugin is trusted less than the workflow's author and the operator. :func:`refused_pod_fields`
names what a plugin set that widens what the pod may do on its node or in the cluster;
the node then ends ``Error`` and no pod is created. A field the workflow itself already
had as the plugin was shown it is not the plugin's doing, so keeping it is fine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = ["FIXED_POD_FIELDS", "changed_pod_fields", "refused_pod_fields"]

FIXED_POD_FIELDS: Final = frozenset({"containers", "initContainers", "restartPolicy", "activeDeadlineSeconds"})
"""Pod fields a plugin's patch does not set: containers come back as containers, and
``restartPolicy``/``activeDeadlineSeconds`` are hookbus's (the launcher, the workflow's deadline)."""

_HOST_NAMESPACES: Final = ("hostNetwork", "hostPID", "hostIPC")
_IDENTITY: Final = ("serviceAccountName", "serviceAccount", "nodeName")
_CONTAINER_LISTS: Final = ("initContainers", "containers", "ephemeralContainers")


def changed_pod_fields(shown: Mapping[str, Any], patched: Mapping[str, Any], *, own_volumes: Iterable[str] = ()) -> dict[str, Any]:
    """The pod-level fields of *patched*'s ``spec`` that differ from *shown*'s (``None``: removed).

    Volumes named in *own_volumes* (hookbus's own) are left out of both sides first, so the
    ``volumes`` given back are the node's volumes as the plugin wants them."""
    before = _spec(shown)
    after = _spec(patched)
    own = frozenset(own_volumes)
    out: dict[str, Any] = {}
    for key in sorted(set(before) | set(after)):
        if key in FIXED_POD_FIELDS:
            continue
        old, new = before.get(key), after.get(key)
        if key == "volumes":
            old, new = _user_volumes(old, own), _user_volumes(new, own)
        if old != new:
            out[key] = new
    return out


def refused_pod_fields(shown: Mapping[str, Any], patched: Mapping[str, Any]) -> list[str]:
    """The fields of *patched* (a Pod manifest) a plugin set that plugins may not set, as
    paths (``spec.hostNetwork``, ``spec.volumes[data].hostPath`` ...); empty: nothing refused.

    Refused when the plugin introduced them: host namespaces (``hostNetwork``, ``hostPID``,
    ``hostIPC``) and ``hostUsers: false``; another service account or node
    (``serviceAccountName``, ``nodeName``) and ``automountServiceAccountToken: true``;
    ``hostPath`` volumes; in any container, ``privileged``, ``allowPrivilegeEscalation:
    true``, added capabilities, ``procMount: Unmasked``, and host ports; in the pod's or a
    container's ``securityContext``, ``runAsUser: 0``, ``seLinuxOptions``, an ``Unconfined``
    seccomp or AppArmor profile, and ``sysctls``."""
    before, after = _spec(shown), _spec(patched)
    refused: list[str] = []
    for key in _HOST_NAMESPACES:
        if after.get(key) is True and before.get(key) is not True:
            refused.append(f"spec.{key}")
    if after.get("hostUsers") is False and before.get("hostUsers") is not False:
        refused.append("spec.hostUsers")
    for key in _IDENTITY:
        if after.get(key) not in (None, before.get(key)):
            refused.append(f"spec.{key}")
    if after.get("automountServiceAccountToken") is True and before.get("automountServiceAccountToken") is not True:
        refused.append("spec.automountServiceAccountToken")
    old_volumes = {str(v.get("name")): v for v in _dicts(before.get("volumes"))}
    for volume in _dicts(after.get("volumes")):
        name = str(volume.get("name"))
        if "hostPath" in volume and (old_volumes.get(name) or {}).get("hostPath") != volume["hostPath"]:
            refused.append(f"spec.volumes[{name}].hostPath")
    refused += _security_context("spec.securityContext", before.get("securityContext"), after.get("securityContext"))
    for field in _CONTAINER_LISTS:
        old_containers = {str(c.get("name")): c for c in _dicts(before.get(field))}
        for container in _dicts(after.get(field)):
            name = str(container.get("name"))
            old = old_containers.get(name) or {}
            where = f"spec.{field}[{name}]"
            refused += _security_context(f"{where}.securityContext", old.get("securityContext"), container.get("securityContext"))
            old_ports = {_port_key(p) for p in _dicts(old.get("ports")) if p.get("hostPort")}
            if any(p.get("hostPort") and _port_key(p) not in old_ports for p in _dicts(container.get("ports"))):
                refused.append(f"{where}.ports.hostPort")
    return refused


def _security_context(where: str, before: Any, after: Any) -> list[str]:
    old = before if isinstance(before, dict) else {}
    new = after if isinstance(after, dict) else {}
    refused: list[str] = []

    def set_to(key: str, value: Any) -> bool:
        return bool(new.get(key) == value and old.get(key) != value)

    for key, value in (("privileged", True), ("allowPrivilegeEscalation", True), ("runAsUser", 0), ("procMount", "Unmasked")):
        if set_to(key, value):
            refused.append(f"{where}.{key}")
    added = (new.get("capabilities") or {}).get("add") if isinstance(new.get("capabilities"), dict) else None
    had = (old.get("capabilities") or {}).get("add") if isinstance(old.get("capabilities"), dict) else None
    if added and set(map(str, added)) - set(map(str, had or [])):
        refused.append(f"{where}.capabilities.add")
    for key in ("seLinuxOptions", "sysctls"):
        if new.get(key) and new.get(key) != old.get(key):
            refused.append(f"{where}.{key}")
    for key in ("seccompProfile", "appArmorProfile"):
        profile = new.get(key)
        if isinstance(profile, dict) and profile.get("type") == "Unconfined" and profile != old.get(key):
            refused.append(f"{where}.{key}")
    return refused


def _spec(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = pod.get("spec")
    return spec if isinstance(spec, dict) else {}


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _user_volumes(value: Any, own: frozenset[str]) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    kept = [v for v in _dicts(value) if v.get("name") not in own]
    return kept or None


def _port_key(port: Mapping[str, Any]) -> tuple[str, str]:
    return (str(port.get("hostPort")), str(port.get("protocol") or "TCP"))
