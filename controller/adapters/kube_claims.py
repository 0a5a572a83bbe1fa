"""Kubernetes mode's workflow claims: ``volumeClaimTemplates`` created and deleted with the workflow.

:class:`WorkflowClaims` makes the API calls for what :mod:`..kube.claims` decides, as Argo's
controller does:

* :meth:`~WorkflowClaims.ensure` runs before the first pod of a workflow is created: it
  creates the workflow's claims (``<workflow>-<entry>``, owned by the Workflow, with the
  instance-id label). A ``409 AlreadyExists`` adopts a claim owned by this Workflow (a
  controller that restarted between create and status write); a claim of that name owned
  by anything else, or a create the API refuses (403, a quota, 422), is the message the
  node fails with, and no pod is created. The claims go into the Workflow's status as
  ``status.persistentVolumeClaims`` (:meth:`~WorkflowClaims.status`), so a restarted
  controller that finds them there creates nothing again.
* :meth:`~WorkflowClaims.release` runs when the workflow ended: it deletes the claims
  ``volumeClaimGC`` says go (``OnWorkflowCompletion``, the default, always;
  ``OnWorkflowSuccess`` only after success) and, as Argo does, takes the
  ``kubernetes.io/pvc-protection`` finalizer off them, so the kept pods of the workflow do
  not hold the delete back; the status then lists only what is left.
* :meth:`~WorkflowClaims.deleted` runs when the Workflow object was deleted: its claims are
  deleted (a cluster's garbage collector would, through the ownerReference).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Final

import structlog

from ..kube.claims import (
    PVC_PROTECTION,
    claim_manifests,
    claim_volumes,
    claims_to_delete,
    owned_by,
    template_names,
)
from ..kube.errors import Conflict, KubeError
from ..kube.resources import PERSISTENT_VOLUME_CLAIMS

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from ..engine.ports import WorkflowKey
    from ..kube.claims import ClaimOwner
    from ..kube.client import KubeClient, Obj

log = structlog.get_logger(__name__)

STATUS_FIELD: Final = "persistentVolumeClaims"
"""Where a Workflow's status lists the claims created for it (Argo's field)."""


def recorded(obj: Mapping[str, Any] | None) -> list[dict[str, Any]] | None:
    """The claims the Workflow object's status lists (``None``: it lists none)."""
    volumes = ((obj or {}).get("status") or {}).get(STATUS_FIELD)
    if not isinstance(volumes, list):
        return None
    return [dict(v) for v in volumes if isinstance(v, dict)]


class WorkflowClaims:
    """The claims of the workflows of one controller (see the module docstring).

    *mark* asks for the workflow's status to be written (the claims changed).
    """

    def __init__(self, client: KubeClient, instance_id: str | None, mark: Callable[[WorkflowKey], None] | None = None) -> None:
        self.client = client
        self.instance_id = instance_id or None
        self.mark: Callable[[WorkflowKey], None] = mark or (lambda _key: None)
        self._volumes: dict[WorkflowKey, list[dict[str, Any]]] = {}
        """The claims known to exist per workflow (its ``status.persistentVolumeClaims``)."""
        self._ready: set[WorkflowKey] = set()
        """Workflows all of whose claims exist."""
        self._locks: dict[WorkflowKey, asyncio.Lock] = {}

    # ------------------------------------------------------------ create

    async def ensure(self, key: WorkflowKey, workflow: ClaimOwner, obj: Mapping[str, Any] | None = None) -> str | None:
        """Create *workflow*'s claims unless they exist; the reason a pod of it cannot be created, else ``None``.

        *obj* is the Workflow object as last seen: claims its status lists were created before.
        """
        if key in self._ready:
            return None
        wanted = template_names(workflow.spec)
        if not wanted:
            self._ready.add(key)
            return None
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key in self._ready:
                return None
            have = self._volumes.get(key)
            if have is None:
                have = recorded(obj) or []
                self._volumes[key] = have
            names = {str(v.get("name")) for v in have}
            bound = log.bind(workflow=key.name, namespace=key.namespace)
            problem: str | None = None
            for manifest, volume in zip(claim_manifests(workflow, self.instance_id), claim_volumes(workflow), strict=True):
                if volume["name"] in names:
                    continue
                problem = await self._create(key, workflow, manifest)
                if problem is not None:
                    bound.warning("workflow claim not created", claim=manifest["metadata"]["name"], error=problem)
                    break
                have.append(volume)
                names.add(str(volume["name"]))
                bound.info("workflow claim created", claim=manifest["metadata"]["name"])
            self.mark(key)
            if problem is None:
                self._ready.add(key)
                self._locks.pop(key, None)
            return problem

    async def _create(self, key: WorkflowKey, workflow: ClaimOwner, manifest: Obj) -> str | None:
        name = str(manifest["metadata"]["name"])
        try:
            await self.client.create(PERSISTENT_VOLUME_CLAIMS, key.namespace, manifest)
            return None
        except Conflict:
            pass  # the name exists: ours from before (adopted), or someone else's
        except KubeError as exc:
            return f"creating claim {name}: {exc}"
        try:
            existing = await self.client.get(PERSISTENT_VOLUME_CLAIMS, key.namespace, name)
        except KubeError as exc:
            return f"claim {name} exists and cannot be read: {exc}"
        if owned_by(existing, workflow):
            log.info("workflow claim adopted", workflow=key.name, namespace=key.namespace, claim=name)
            return None
        return f"claim {name} exists and belongs to {_owner(existing)}, not to workflow {workflow.name}"

    # ------------------------------------------------------------ status

    def status(self, key: WorkflowKey, obj: Mapping[str, Any]) -> dict[str, Any]:
        """The status fields of *key*'s Workflow (*obj*: the object written to) this class keeps."""
        volumes = self._volumes.get(key)
        if volumes is None:  # not touched since this controller started: keep what the object says
            volumes = recorded(obj)
        return {STATUS_FIELD: list(volumes)} if volumes else {}

    # ------------------------------------------------------------ delete

    async def release(self, key: WorkflowKey, workflow: ClaimOwner, phase: str, obj: Mapping[str, Any] | None = None) -> list[str]:
        """The workflow ended in *phase*: delete its claims as ``volumeClaimGC`` says; the names deleted."""
        self._ready.discard(key)
        self._locks.pop(key, None)
        volumes = self._volumes.get(key)
        if volumes is None:
            volumes = recorded(obj) or []
        if not volumes:
            return []
        doomed = set(claims_to_delete(workflow, phase, volumes))
        kept: list[dict[str, Any]] = []
        deleted: list[str] = []
        for volume in volumes:
            name = str((volume.get("persistentVolumeClaim") or {}).get("claimName"))
            if name in doomed and await self._delete(key, name):
                deleted.append(name)
            else:
                kept.append(volume)
        self._volumes[key] = kept
        if deleted:
            log.info("workflow claims deleted", workflow=key.name, namespace=key.namespace, claims=deleted)
            self.mark(key)
        return deleted

    async def deleted(self, key: WorkflowKey, workflow: ClaimOwner, obj: Mapping[str, Any] | None = None) -> list[str]:
        """The Workflow object (*obj*, as last seen) is gone: delete the claims it owned; the names deleted."""
        volumes = self._volumes.pop(key, None) or recorded(obj) or claim_volumes(workflow)
        self._ready.discard(key)
        self._locks.pop(key, None)
        deleted: list[str] = []
        for volume in volumes:
            name = str((volume.get("persistentVolumeClaim") or {}).get("claimName"))
            try:
                claim = await self.client.get(PERSISTENT_VOLUME_CLAIMS, key.namespace, name)
            except KubeError:
                continue  # gone already (or unreadable: the garbage collector's to remove)
            if owned_by(claim, workflow) and await self._delete(key, name, unprotect=False):
                deleted.append(name)
        return deleted

    async def _delete(self, key: WorkflowKey, name: str, *, unprotect: bool = True) -> bool:
        """Delete claim *name* (and with *unprotect*, take the pvc-protection finalizer off it); whether it goes."""
        try:
            gone = await self.client.delete(PERSISTENT_VOLUME_CLAIMS, key.namespace, name)
        except KubeError as exc:
            log.warning("workflow claim not deleted", workflow=key.name, namespace=key.namespace, claim=name, error=str(exc))
            return False
        finalizers = ((gone or {}).get("metadata") or {}).get("finalizers") or []
        if unprotect and gone is not None and PVC_PROTECTION in finalizers:
            try:
                await self.client.update(PERSISTENT_VOLUME_CLAIMS, key.namespace, name, _unprotect, current=gone)
            except KubeError as exc:  # the claim goes once no pod uses it
                log.warning("pvc-protection finalizer kept", workflow=key.name, namespace=key.namespace, claim=name, error=str(exc))
        return True


def _unprotect(claim: Obj) -> Obj | None:
    finalizers = list((claim.get("metadata") or {}).get("finalizers") or [])
    if PVC_PROTECTION not in finalizers:
        return None
    return {"metadata": {"finalizers": [f for f in finalizers if f != PVC_PROTECTION]}}


def _owner(claim: Mapping[str, Any]) -> str:
    owners = [o for o in (claim.get("metadata") or {}).get("ownerReferences") or [] if isinstance(o, dict)]
    if not owners:
        return "no Workflow"
    first = owners[0]
    return f"{first.get('kind') or 'an object'} {first.get('name') or ''} (uid {first.get('uid') or '?'})".replace("  ", " ")
