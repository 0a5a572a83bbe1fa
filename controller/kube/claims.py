"""The PersistentVolumeClaims of a workflow's ``volumeClaimTemplates``, as Argo makes them (pure, no I/O).

Each entry of ``spec.volumeClaimTemplates`` becomes one claim named ``<workflow>-<entry>``
(:func:`claim_name`), labelled ``workflows.argoproj.io/workflow`` (and with the controller's
instance id), owned by the Workflow (:func:`claim_manifests`). Pods mount it under the
entry's name. The Workflow's status lists the claims it created as volumes
(``status.persistentVolumeClaims``: ``{"name": <entry>, "persistentVolumeClaim":
{"claimName": <claim>}}``, :func:`claim_volumes`), and ``volumeClaimGC`` says which go when
the workflow ends (:func:`claims_to_delete`). :func:`owned_by` tells a claim this Workflow
created from one of the same name that belongs to something else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, Protocol

from ..argo.labels import INSTANCE_LABEL, WORKFLOW_LABEL

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = [
    "PVC_PROTECTION",
    "ClaimOwner",
    "claim_manifests",
    "claim_name",
    "claim_volumes",
    "claims_to_delete",
    "gc_strategy",
    "owned_by",
    "template_names",
]

ARGO_API_VERSION: Final = "argoproj.io/v1alpha1"
PVC_PROTECTION: Final = "kubernetes.io/pvc-protection"
"""The finalizer Kubernetes puts on every claim: its delete waits until no pod uses it."""
ON_COMPLETION: Final = "OnWorkflowCompletion"
ON_SUCCESS: Final = "OnWorkflowSuccess"


class ClaimOwner(Protocol):
    """The workflow claims belong to (``kube.pods.WorkflowRef`` is one)."""

    @property
    def name(self) -> str: ...
    @property
    def namespace(self) -> str: ...
    @property
    def uid(self) -> str: ...
    @property
    def spec(self) -> Mapping[str, Any]: ...


def claim_name(workflow: str, claim: str) -> str:
    """The PVC Argo creates for the ``volumeClaimTemplates`` entry *claim* of *workflow*."""
    return f"{workflow}-{claim}"


def template_names(spec: Mapping[str, Any]) -> list[str]:
    """The names of the ``volumeClaimTemplates`` entries of *spec* (entries without one are left out)."""
    out: list[str] = []
    for claim in spec.get("volumeClaimTemplates") or []:
        name = (claim.get("metadata") or {}).get("name") if isinstance(claim, dict) else None
        if name:
            out.append(str(name))
    return out


def claim_manifests(workflow: ClaimOwner, instance_id: str | None = None) -> list[dict[str, Any]]:
    """The PersistentVolumeClaims of the workflow's ``volumeClaimTemplates``: owned by the
    Workflow (when it is an object: *workflow* has a uid), labelled with its name and *instance_id*."""
    out: list[dict[str, Any]] = []
    for claim in workflow.spec.get("volumeClaimTemplates") or []:
        if not isinstance(claim, dict):
            continue
        meta = dict(claim.get("metadata") or {})
        ref = str(meta.get("name") or "")
        if not ref:
            continue
        meta["name"] = claim_name(workflow.name, ref)
        meta["namespace"] = workflow.namespace
        if workflow.uid:
            meta["ownerReferences"] = [
                {"apiVersion": ARGO_API_VERSION, "kind": "Workflow", "name": workflow.name, "uid": workflow.uid,
                 "controller": True, "blockOwnerDeletion": True}
            ]
        labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
        labels[WORKFLOW_LABEL] = workflow.name
        if instance_id:
            labels[INSTANCE_LABEL] = instance_id
        meta["labels"] = labels
        out.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta, "spec": dict(claim.get("spec") or {})})
    return out


def claim_volumes(workflow: ClaimOwner) -> list[dict[str, Any]]:
    """``status.persistentVolumeClaims`` once the claims exist: one volume per entry, as Argo records them."""
    return [
        {"name": ref, "persistentVolumeClaim": {"claimName": claim_name(workflow.name, ref)}}
        for ref in template_names(workflow.spec)
    ]


def gc_strategy(spec: Mapping[str, Any]) -> str:
    """The workflow's ``volumeClaimGC.strategy`` (``OnWorkflowCompletion`` when unset)."""
    return str((spec.get("volumeClaimGC") or {}).get("strategy") or ON_COMPLETION)


def claims_to_delete(workflow: ClaimOwner, phase: str, volumes: Sequence[Mapping[str, Any]] | None = None) -> list[str]:
    """The claim names to delete when the workflow ended in *phase*, as ``volumeClaimGC`` says
    (``OnWorkflowCompletion``, the default: always; ``OnWorkflowSuccess``: when it Succeeded,
    so a failed workflow's claims stay to be looked at or reused). *volumes*: the claims the
    workflow created (``status.persistentVolumeClaims``); all of its templates' when not given."""
    if gc_strategy(workflow.spec) == ON_SUCCESS and phase != "Succeeded":
        return []
    if volumes is None:
        volumes = claim_volumes(workflow)
    return [str((v.get("persistentVolumeClaim") or {}).get("claimName")) for v in volumes if v.get("persistentVolumeClaim")]


def owned_by(claim: Mapping[str, Any], workflow: ClaimOwner) -> bool:
    """Whether *claim* (an object of the API) is *workflow*'s: an ownerReference with its uid
    or, for a workflow that is no object (no uid), its workflow label and no owner."""
    meta = claim.get("metadata") or {}
    owners = [o for o in meta.get("ownerReferences") or [] if isinstance(o, dict)]
    if workflow.uid:
        return any(o.get("uid") == workflow.uid for o in owners)
    return not owners and (meta.get("labels") or {}).get(WORKFLOW_LABEL) == workflow.name
