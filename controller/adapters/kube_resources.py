"""The engine's :class:`~..engine.ports.Cluster` on the Kubernetes API: ``resource`` templates.

:class:`KubeCluster` finds an object's resource type through API discovery (``apiVersion``
and ``kind`` of the manifest, or a kubectl-style type such as ``pod``, ``jobs.batch`` in
``flags``) and acts on it:

- ``create``: POST, with this controller's instance-id label and, with
  ``setOwnerReference``, the Workflow as controlling owner;
- ``apply``: create, or merge-patch the existing object with the manifest;
- ``patch``: ``mergeStrategy`` ``strategic`` (the default), ``merge`` or ``json``;
- ``delete``: DELETE (an object already gone is fine, as ``--ignore-not-found``);
- ``get``: GET.

Every action and every read acts as the template's service account
(:attr:`~..engine.resource_call.ResourceCall.service_account`, in the workflow's namespace)
through impersonation (``Impersonate-User: system:serviceaccount:<namespace>:<name>``), as
Argo's resource pod runs under that account: the API server authorizes the request with the
account's rights, not the controller's, and a refusal (403) ends the node ``Error`` with
the server's message. Only API discovery is done as the controller itself (discovery
documents are readable by every authenticated identity).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import structlog

from ..argo.labels import INSTANCE_LABEL
from ..engine.resource_call import ClusterError
from ..kube.client import MERGE_PATCH
from ..kube.errors import KubeError, NotFound
from ..kube.resources import ARGO_GROUP, ARGO_VERSION, Resource
from .kube_source import UID_ANNOTATION

if TYPE_CHECKING:
    from ..argo.types import JSON
    from ..engine.resource_call import ResourceCall
    from ..kube.client import KubeClient

log = structlog.get_logger(__name__)

PATCH_TYPES = {
    "strategic": "application/strategic-merge-patch+json",
    "merge": MERGE_PATCH,
    "json": "application/json-patch+json",
}
_KNOWN_FLAGS = frozenset({"--ignore-not-found", "--ignore-not-found=true"})


def _split(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


class KubeCluster:
    """``resource`` templates' actions through *client*; created objects get *instance_id*'s label."""

    def __init__(self, client: KubeClient, instance_id: str = "") -> None:
        self.client = client
        self.instance_id = instance_id
        self._versions: dict[str, list[Resource]] = {}
        """Discovered resource types by ``apiVersion``."""
        self._names: dict[str, Resource] = {}
        """Discovered resource types by the names kubectl accepts (plural, singular, short, kind)."""
        self._lock = asyncio.Lock()

    # ------------------------------------------------------------ discovery

    async def _discover(self, api_version: str) -> list[Resource]:
        async with self._lock:
            found = self._versions.get(api_version)
            if found is not None:
                return found
            group, version = _split(api_version)
            path = f"/apis/{api_version}" if group else f"/api/{version}"
            try:
                answer = await self.client.request("GET", path)
            except NotFound:
                raise ClusterError(f"the cluster does not serve apiVersion {api_version!r}") from None
            resources = [
                Resource(group, version, str(r["name"]), str(r.get("kind") or ""), bool(r.get("namespaced")))
                for r in answer.get("resources") or []
                if isinstance(r, dict) and "/" not in str(r.get("name", ""))
            ]
            self._versions[api_version] = resources
            for r in answer.get("resources") or []:
                if isinstance(r, dict) and "/" not in str(r.get("name", "")):
                    res = next(x for x in resources if x.plural == r["name"])
                    for alias in (r["name"], r.get("singularName"), str(r.get("kind") or "").lower(), *(r.get("shortNames") or [])):
                        if alias:
                            self._names.setdefault(str(alias).lower(), res)
            return resources

    async def _by_kind(self, api_version: str, kind: str) -> Resource:
        for resource in await self._discover(api_version):
            if resource.kind == kind:
                return resource
        raise ClusterError(f"the cluster has no kind {kind!r} in apiVersion {api_version!r}")

    async def _by_type(self, word: str) -> Resource:
        """A kubectl-style type (``pod``, ``pods``, ``po``, ``jobs.batch``, ``workflow``)."""
        name, _, group = word.lower().partition(".")
        await self._discover("v1")
        if not group:
            found = self._names.get(name)
            if found is not None:
                return found
        groups = await self.client.request("GET", "/apis")
        for g in groups.get("groups") or []:
            if not isinstance(g, dict) or (group and g.get("name") != group):
                continue
            preferred = (g.get("preferredVersion") or {}).get("groupVersion")
            if not preferred:
                continue
            for resource in await self._discover(str(preferred)):
                if name in (resource.plural, resource.kind.lower()):
                    return resource
        found = self._names.get(name)
        if found is not None and (not group or found.group == group):
            return found
        raise ClusterError(f"the cluster has no resource type {word!r}")

    # ------------------------------------------------------------ actions

    def _acting(self, call: ResourceCall) -> KubeClient:
        """The client acting as *call*'s service account."""
        return self.client.impersonating(service_account_user(call.workflow.namespace, call.service_account))

    async def _target(self, call: ResourceCall) -> tuple[Resource, str | None, str]:
        """The resource type, namespace and name *call* acts on."""
        words = [f for f in call.flags if not f.startswith("-")]
        unknown = [f for f in call.flags if f.startswith("-") and f not in _KNOWN_FLAGS]
        if unknown:
            raise ClusterError(f"resource flags not supported: {' '.join(unknown)}")
        manifest = call.manifest if isinstance(call.manifest, dict) else {}
        meta = manifest.get("metadata") or {}
        if len(words) >= 2:
            resource = await self._by_type(words[0])
            name = words[1]
        elif len(words) == 1 and "/" in words[0]:
            kind, _, name = words[0].partition("/")
            resource = await self._by_type(kind)
        elif manifest.get("apiVersion") and manifest.get("kind"):
            resource = await self._by_kind(str(manifest["apiVersion"]), str(manifest["kind"]))
            name = str(meta.get("name") or "")
        else:
            raise ClusterError("the resource manifest names no apiVersion and kind (and flags name no object)")
        if not resource.namespaced:
            return resource, None, name
        return resource, str(meta.get("namespace") or call.workflow.namespace), name

    def _labelled(self, call: ResourceCall) -> JSON:
        obj = dict(call.manifest)
        meta = dict(obj.get("metadata") or {})
        if self.instance_id:
            meta["labels"] = {**(meta.get("labels") or {}), INSTANCE_LABEL: self.instance_id}
        if call.owner:
            wf = call.workflow
            uid = wf.annotations.get(UID_ANNOTATION) or wf.uid
            if not uid:
                raise ClusterError("setOwnerReference: the workflow has no Kubernetes uid (was it created through the API?)")
            owner = {
                "apiVersion": f"{ARGO_GROUP}/{ARGO_VERSION}",
                "kind": "Workflow",
                "name": wf.name,
                "uid": uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
            meta["ownerReferences"] = [*(meta.get("ownerReferences") or []), owner]
        obj["metadata"] = meta
        return obj

    async def resource(self, call: ResourceCall) -> JSON | None:
        resource, namespace, name = await self._target(call)
        where = f"{resource.kind} {namespace + '/' if namespace else ''}{name or '(generated name)'}"
        if call.action != "create" and not name:
            raise ClusterError(f"resource {call.action}: the manifest names no object (metadata.name)")
        client = self._acting(call)
        try:
            if call.action == "create":
                return await client.create(resource, namespace, self._labelled(call))
            if call.action == "get":
                return await client.get(resource, namespace, name)
            if call.action == "delete":
                await client.delete(resource, namespace, name)
                return None
            if call.action == "apply":
                try:
                    await client.get(resource, namespace, name)
                except NotFound:
                    return await client.create(resource, namespace, self._labelled(call))
                return await _patch(client, resource, namespace, name, self._labelled(call), MERGE_PATCH)
            body: Any = call.manifest
            if isinstance(body, dict):
                body = {k: v for k, v in body.items() if k not in ("apiVersion", "kind")}
            return await _patch(client, resource, namespace, name, body, PATCH_TYPES[call.merge_strategy])
        except KubeError as exc:
            log.info(
                "resource action failed",
                action=call.action,
                object=where,
                status=exc.status,
                workflow=call.workflow.name,
                service_account=call.service_account,
            )
            raise ClusterError(f"resource {call.action} {where}: {exc}") from None

    async def read(self, call: ResourceCall, obj: JSON) -> JSON:
        meta = obj.get("metadata") or {}
        resource = await self._by_kind(str(obj.get("apiVersion") or ""), str(obj.get("kind") or ""))
        namespace = str(meta.get("namespace") or "") or None
        try:
            return await self._acting(call).get(resource, namespace if resource.namespaced else None, str(meta.get("name") or ""))
        except KubeError as exc:
            raise ClusterError(f"resource {resource.kind} {meta.get('name')}: {exc}") from None


def service_account_user(namespace: str, name: str) -> str:
    """The user name of service account *name* of *namespace*, as the API server knows it."""
    return f"system:serviceaccount:{namespace}:{name}"


async def _patch(client: KubeClient, resource: Resource, namespace: str | None, name: str, body: Any, content_type: str) -> JSON:
    return await client.request("PATCH", resource.path(namespace, name), body=body, content_type=content_type)


__all__ = ["KubeCluster", "service_account_user"]
