"""A Kubernetes API server for tests: kmock's ``KubernetesEmulator``, made to answer as a
kube-apiserver does where hookbus depends on it.

kmock serves discovery (``/api``, ``/apis``, group versions) and parses every request;
:class:`KubeApi` serves the registered resources itself, closing kmock's gaps:

- objects get ``uid``, ``resourceVersion`` (one counter for the server), ``generation``
  and ``creationTimestamp``; ``generateName`` is honoured; create answers 201;
- lists carry ``kind``/``apiVersion`` and the current ``resourceVersion``; label
  selectors (``=``, ``==``, ``!=``, ``!key``, ``key``, ``in``, ``notin``) and field
  selectors (``=``, ``!=`` on any dotted path) filter lists and watches;
- watches (``watch=true`` or ``watch=True``) continue after the given
  ``resourceVersion`` from an event history, answer a 410 ``ERROR`` event for a version
  older than the history (:meth:`KubeApi.compact`), end after ``timeoutSeconds`` and when
  a test ends them (:meth:`KubeApi.end_watches`);
- PUT replaces an object, conditional on ``metadata.resourceVersion`` (required);
  PATCH takes merge patch (strategic merge is treated as merge) and JSON patch (a list
  body only: a dict with json-patch is 400, a failing ``test`` op 422); a
  ``metadata.resourceVersion`` in a merge patch or PUT that is not the current one is 409;
- ``.../status`` of a resource without a status subresource (Argo's minimal Workflow
  CRD) is 404; ``pods/log`` answers the log a test (or :mod:`tests.support.kubelet`) set;
- ``kubectl get`` gets a ``Table`` with Argo's printer columns for Workflows.

Every request is in :attr:`KubeApi.log` (:class:`Logged`) for tests to assert on, with who
sent it (its ``User-Agent``: ``hookbus-controller/<version>``, ``hookbus-cli/<version>``,
``kubectl/...``, a test's own client), the verb as RBAC names it (:func:`rbac_verb`), and
the identity it asked to act as (``Impersonate-User``; the groups an API server gives a
service account it impersonates, :func:`impersonated_groups`). With :attr:`KubeApi.grants`
set, requests that impersonate a service account are authorized against that small table
and answered 403 with Kubernetes' message when it grants nothing (:class:`Grant`).
:meth:`KubeApi.inject` answers chosen requests with an error or runs a callback first.
Start it with :func:`serve`; :data:`SERVED` callbacks see every server when it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime
import json
import random
import string
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp.web
import jsonpatch
import kmock

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterable

Obj = dict[str, Any]


@dataclass(frozen=True)
class Kind:
    """A resource this server stores."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    short: tuple[str, ...] = ()
    status_subresource: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


ARGO = "argoproj.io"
KINDS = (
    Kind(ARGO, "v1alpha1", "workflows", "Workflow", short=("wf",)),
    Kind(ARGO, "v1alpha1", "workflowtemplates", "WorkflowTemplate", short=("wftmpl",)),
    Kind(ARGO, "v1alpha1", "clusterworkflowtemplates", "ClusterWorkflowTemplate", namespaced=False, short=("cwftmpl",)),
    Kind(ARGO, "v1alpha1", "workflowtaskresults", "WorkflowTaskResult"),
    Kind("", "v1", "configmaps", "ConfigMap", short=("cm",)),
    Kind("", "v1", "pods", "Pod", short=("po",), status_subresource=True),
    Kind("", "v1", "events", "Event", short=("ev",)),
    Kind("coordination.k8s.io", "v1", "leases", "Lease"),
    Kind("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", short=("pvc",)),
    Kind("", "v1", "secrets", "Secret"),
    Kind("batch", "v1", "jobs", "Job", status_subresource=True),
)


@dataclass(frozen=True)
class Logged:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, str]
    content_type: str
    body: Any
    plural: str = ""
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None
    group: str = ""
    """The API group of the resource (``""``: core, or not a resource request)."""
    user_agent: str = ""
    impersonate_user: str = ""
    """``Impersonate-User`` (empty: the sender acts as itself)."""
    impersonate_groups: tuple[str, ...] = ()
    """The groups of the impersonated identity: the ``Impersonate-Group`` headers, or for a
    service account without them, the groups an API server gives it."""

    @property
    def watch(self) -> bool:
        return self.method == "GET" and self.query.get("watch", "").lower() in ("true", "1")

    @property
    def write(self) -> bool:
        return self.method in ("POST", "PUT", "PATCH", "DELETE")

    @property
    def identity(self) -> str:
        """Who sent it: the product of its ``User-Agent`` (``hookbus-controller``, ``kubectl`` ...)."""
        return self.user_agent.split("/", 1)[0].strip()

    @property
    def resource(self) -> str:
        """The resource as RBAC names it (``pods``, ``pods/log``); empty for other paths (discovery)."""
        if not self.plural:
            return ""
        return f"{self.plural}/{self.subresource}" if self.subresource else self.plural

    @property
    def verb(self) -> str:
        """The RBAC verb (:func:`rbac_verb`); empty for a request that names no resource."""
        return rbac_verb(self.method, self.name, self.watch) if self.plural else ""


def rbac_verb(method: str, name: str | None, watch: bool) -> str:
    """The verb an API server authorizes a resource request as: GET of one object ``get``, of
    a collection ``list`` (``watch`` with ``watch=true``), POST ``create``, PUT ``update``,
    PATCH ``patch``, DELETE of one object ``delete``, of a collection ``deletecollection``."""
    if method == "GET":
        return "watch" if watch else ("get" if name else "list")
    if method == "DELETE":
        return "delete" if name else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


def impersonated_groups(user: str, groups: Iterable[str] = ()) -> tuple[str, ...]:
    """The groups of impersonated *user*: *groups* as asked, else for a service account
    ``system:serviceaccounts`` and ``system:serviceaccounts:<namespace>``; every identity
    but ``system:anonymous`` is also ``system:authenticated`` (as an API server derives them)."""
    out = list(groups)
    parts = user.split(":")
    if not out and len(parts) == 4 and parts[:2] == ["system", "serviceaccount"]:
        out = ["system:serviceaccounts", f"system:serviceaccounts:{parts[2]}"]
    if user and user != "system:anonymous" and "system:authenticated" not in out:
        out.append("system:authenticated")
    return tuple(out)


@dataclass(frozen=True)
class Grant:
    """One rule of :attr:`KubeApi.grants`: *verbs* on *resources* of *group*, in *namespace*
    (``None``: every namespace). ``*`` matches any verb or resource."""

    verbs: frozenset[str]
    resources: frozenset[str]
    group: str = ""
    namespace: str | None = None

    def allows(self, verb: str, group: str, resource: str, namespace: str | None) -> bool:
        return (
            (self.group == group or self.group == "*")
            and ("*" in self.verbs or verb in self.verbs)
            and ("*" in self.resources or resource in self.resources)
            and (self.namespace is None or self.namespace == namespace)
        )


def grant(verbs: str, resources: str, group: str = "", namespace: str | None = None) -> Grant:
    """A :class:`Grant` from comma-separated *verbs* and *resources*."""
    return Grant(frozenset(verbs.split(",")), frozenset(resources.split(",")), group, namespace)


PVC_PROTECTION = "kubernetes.io/pvc-protection"
"""The finalizer an API server puts on every PersistentVolumeClaim it creates."""


@dataclass
class Fault:
    """Answer the next *times* requests matching *method*/*plural*/*name* with *status*, or
    run *before* (which may change the store) and serve them normally; *hang*: first
    wait that many seconds (a request that does not come back)."""

    method: str
    plural: str
    name: str | None = None
    status: int = 0
    times: int = 1
    before: Callable[[], None] | None = None
    subresource: str | None = None
    hang: float = 0.0
    message: str = ""
    """The answer's message (``injected <status>`` when empty)."""
    hits: int = 0


class ApiError(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


@dataclass
class _Watch:
    kind: Kind
    namespace: str | None
    labels: str
    fields: str
    queue: asyncio.Queue[Obj | None] = field(default_factory=asyncio.Queue)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class KubeApi(kmock.KubernetesEmulator):
    """The test API server's handler (serve it with :func:`serve`)."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.kinds: dict[tuple[str, str, str], Kind] = {}
        self.store: dict[tuple[str, str, str], Obj] = {}
        """Objects by ``(plural, namespace, name)`` (namespace empty when cluster-scoped)."""
        self.version = 1
        """The last resourceVersion given out ("0" means "any version" to a watch, so never that)."""
        self.history: list[tuple[int, str, str, Obj]] = []
        """Watch events ``(resourceVersion, plural, type, object)`` from :attr:`oldest` on."""
        self.oldest = 0
        self.log: list[Logged] = []
        self.faults: list[Fault] = []
        self.logs: dict[tuple[str, str, str], str] = {}
        """Container logs by ``(namespace, pod, container)`` (``pods/log``)."""
        self._watches: list[_Watch] = []
        self.changed = asyncio.Event()
        self.grants: dict[str, list[Grant]] | None = None
        """Set: requests impersonating a service account (``system:serviceaccount:<ns>:<name>``)
        may do only what its entry grants (none: nothing), else 403. ``None``: not checked."""
        for kind in KINDS:
            self.register(kind)

    def register(self, kind: Kind) -> None:
        """Serve *kind* (discovery included)."""
        self.kinds[(kind.group, kind.version, kind.plural)] = kind
        self.resources[f"{kind.group}/{kind.version}/{kind.plural}"] = kmock.ResourceInfo(
            kind=kind.kind,
            singular=kind.kind.lower(),
            namespaced=kind.namespaced,
            shortnames=set(kind.short),
            verbs={"create", "delete", "get", "list", "patch", "update", "watch"},
            subresources={"status"} if kind.status_subresource else set(),
        )

    # ------------------------------------------------------------ test API

    def objects(self, plural: str, namespace: str | None = None) -> list[Obj]:
        """Stored objects of *plural* (in *namespace*), by name."""
        return [
            copy.deepcopy(o)
            for (p, ns, _), o in sorted(self.store.items())
            if p == plural and (namespace is None or ns == namespace)
        ]

    def get(self, plural: str, namespace: str, name: str) -> Obj | None:
        obj = self.store.get((plural, namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    def kind_of(self, plural: str) -> Kind:
        return next(k for k in self.kinds.values() if k.plural == plural)

    def put(self, obj: Obj, namespace: str = "default") -> Obj:
        """Create *obj* (a dict with ``kind``/``apiVersion``/``metadata``) without HTTP."""
        kind = next(k for k in self.kinds.values() if k.kind == obj.get("kind"))
        return self._create(kind, namespace if kind.namespaced else "", copy.deepcopy(obj))

    def modify(self, plural: str, namespace: str, name: str, change: Callable[[Obj], None]) -> Obj:
        """Change a stored object in place (a new resourceVersion, a MODIFIED event)."""
        kind = self.kind_of(plural)
        obj = copy.deepcopy(self._existing(kind, namespace, name))
        change(obj)
        return self._store(kind, obj, "MODIFIED")

    def remove(self, plural: str, namespace: str, name: str) -> None:
        """Delete a stored object without HTTP."""
        self._delete(self.kind_of(plural), namespace, name)

    def inject(self, fault: Fault) -> Fault:
        """Apply *fault* to the requests it matches (see :class:`Fault`)."""
        self.faults.append(fault)
        return fault

    def compact(self) -> None:
        """Forget the event history: a watch from an older resourceVersion gets 410 Gone."""
        self.history.clear()
        self.oldest = self.version

    def end_watches(self) -> None:
        """End every open watch stream, as a server does when its timeout passes."""
        for watch in self._watches:
            watch.queue.put_nowait(None)

    @property
    def watching(self) -> int:
        """Open watch streams."""
        return len(self._watches)

    def requests(self, method: str | None = None, plural: str | None = None, **where: Any) -> list[Logged]:
        """Logged requests with that method and resource (and any other :class:`Logged` fields)."""
        return [
            r for r in self.log
            if (method is None or r.method == method)
            and (plural is None or r.plural == plural)
            and all(getattr(r, k) == v for k, v in where.items())
        ]

    # ------------------------------------------------------------- serving

    async def _handle(self, request: Any) -> aiohttp.web.StreamResponse:
        raw: aiohttp.web.BaseRequest = request._raw_request
        resource = request.resource
        kind = None
        if resource is not None:
            kind = self.kinds.get((resource.group or "", resource.version or "", resource.plural or ""))
        content_type = raw.headers.get("Content-Type", "")
        user = raw.headers.get("Impersonate-User", "")
        entry = Logged(
            method=raw.method,
            path=raw.path,
            query=dict(raw.query),
            content_type=content_type.split(";")[0].strip(),
            body=request.data,
            plural=kind.plural if kind else ((resource.plural or "") if resource is not None else ""),
            namespace=request.namespace,
            name=request.name,
            subresource=request.subresource,
            group=(resource.group or "") if resource is not None and resource.plural else "",
            user_agent=raw.headers.get("User-Agent", ""),
            impersonate_user=user,
            impersonate_groups=impersonated_groups(user, raw.headers.getall("Impersonate-Group", [])) if user else (),
        )
        self.log.append(entry)
        if raw.method == "GET" and raw.path.rstrip("/") == "/api/v1":
            return _json(self._core_resources())
        if kind is None or resource is None or resource.plural is None:
            return await super()._handle(request)
        try:
            self._authorize(entry, kind)
            fault = self._fault(raw.method, kind, request.name, request.subresource)
            if fault is not None and fault.hang:
                await asyncio.sleep(fault.hang)
            if fault is not None and fault.status:
                raise ApiError(fault.status, "Injected", fault.message or f"injected {fault.status}")
            return await self._serve(kind, request, raw, content_type)
        except ApiError as exc:
            return _status(exc.status, exc.reason, exc.message)

    def _authorize(self, entry: Logged, kind: Kind) -> None:
        """With :attr:`grants` set, refuse what the impersonated service account may not do."""
        if self.grants is None or not entry.impersonate_user.startswith("system:serviceaccount:"):
            return
        namespace = entry.namespace if kind.namespaced else None
        for rule in self.grants.get(entry.impersonate_user, []):
            if rule.allows(entry.verb, entry.group, entry.resource, namespace):
                return
        what = f"{entry.resource}.{entry.group}" if entry.group else entry.resource
        if entry.name:
            what += f' "{entry.name}"'
        where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
        raise ApiError(
            403,
            "Forbidden",
            f'{what} is forbidden: User "{entry.impersonate_user}" cannot {entry.verb} resource "{entry.resource}" '
            f'in API group "{entry.group}" {where}',
        )

    def _core_resources(self) -> Obj:
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": "v1",
            "resources": [
                {
                    "name": name,
                    "singularName": k.kind.lower() if name == k.plural else "",
                    "namespaced": k.namespaced,
                    "kind": k.kind,
                    "shortNames": list(k.short) if name == k.plural else [],
                    "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"] if name == k.plural else ["get", "patch", "update"],
                }
                for k in self.kinds.values() if not k.group
                for name in [k.plural, *([f"{k.plural}/status"] if k.status_subresource else []), *(["pods/log"] if k.plural == "pods" else [])]
            ],
        }

    def _fault(self, method: str, kind: Kind, name: str | None, subresource: str | None) -> Fault | None:
        for fault in self.faults:
            if fault.hits >= fault.times or fault.method != method or fault.plural != kind.plural:
                continue
            if fault.name is not None and fault.name != name:
                continue
            if fault.subresource != subresource:
                continue
            fault.hits += 1
            if fault.before is not None:
                fault.before()
            return fault
        return None

    async def _serve(self, kind: Kind, request: Any, raw: aiohttp.web.BaseRequest, content_type: str) -> aiohttp.web.StreamResponse:
        method = raw.method
        namespace = (request.namespace or "") if kind.namespaced else ""
        name = request.name
        sub = request.subresource
        query = dict(raw.query)
        if sub is not None:
            return await self._serve_sub(kind, method, namespace, name or "", sub, request, query, content_type)
        if method == "GET" and name is None:
            if query.get("watch", "").lower() in ("true", "1"):
                return await self._serve_watch(kind, request.namespace if kind.namespaced else None, query, raw)
            return self._serve_list(kind, request.namespace if kind.namespaced else None, query, raw)
        if method == "GET":
            return _json(self._existing(kind, namespace, name or ""))
        if method == "POST" and name is None:
            body = request.data
            if not isinstance(body, dict):
                raise ApiError(400, "BadRequest", "the body must be a JSON object")
            return _json(self._create(kind, namespace, copy.deepcopy(body)), 201)
        if method == "PUT" and name is not None:
            return _json(self._replace(kind, namespace, name, request.data))
        if method == "PATCH" and name is not None:
            return _json(self._patch(kind, namespace, name, request.data, content_type))
        if method == "DELETE" and name is not None:
            return _json(self._delete(kind, namespace, name))
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported here")

    async def _serve_sub(
        self, kind: Kind, method: str, namespace: str, name: str, sub: str, request: Any, query: dict[str, str], content_type: str
    ) -> aiohttp.web.StreamResponse:
        if kind.plural == "pods" and sub == "log" and method == "GET":
            self._existing(kind, namespace, name)
            container = query.get("container") or "main"
            return aiohttp.web.Response(text=self.logs.get((namespace, name, container), ""), content_type="text/plain")
        if sub == "status" and kind.status_subresource:
            if method == "GET":
                return _json(self._existing(kind, namespace, name))
            if method == "PATCH":
                return _json(self._patch(kind, namespace, name, request.data, content_type, status=True))
            if method == "PUT":
                return _json(self._replace(kind, namespace, name, request.data, status=True))
        raise ApiError(404, "NotFound", f"the server could not find the requested resource ({kind.plural}/{sub})")

    # ------------------------------------------------------------ storage

    def _existing(self, kind: Kind, namespace: str, name: str) -> Obj:
        obj = self.store.get((kind.plural, namespace, name))
        if obj is None:
            raise ApiError(404, "NotFound", f'{kind.plural}.{kind.group or "core"} "{name}" not found')
        return obj

    def _next(self) -> str:
        self.version += 1
        return str(self.version)

    def _store(self, kind: Kind, obj: Obj, event: str) -> Obj:
        meta = obj["metadata"]
        meta["resourceVersion"] = self._next()
        namespace = str(meta.get("namespace") or "")
        self.store[(kind.plural, namespace, meta["name"])] = obj
        self._publish(kind, event, obj)
        return copy.deepcopy(obj)

    def _publish(self, kind: Kind, event: str, obj: Obj) -> None:
        snapshot = copy.deepcopy(obj)
        self.history.append((self.version, kind.plural, event, snapshot))
        for watch in self._watches:
            if watch.kind == kind and self._matches(watch.namespace, watch.labels, watch.fields, snapshot):
                watch.queue.put_nowait({"type": event, "object": snapshot})
        self.changed.set()
        self.changed = asyncio.Event()

    def _create(self, kind: Kind, namespace: str, obj: Obj) -> Obj:
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise ApiError(400, "BadRequest", "metadata must be an object")
        if kind.namespaced:
            namespace = namespace or str(meta.get("namespace") or "default")
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise ApiError(400, "BadRequest", "the namespace of the object does not match the namespace of the request")
            meta["namespace"] = namespace
        else:
            namespace = ""
            meta.pop("namespace", None)
        if not meta.get("name"):
            prefix = meta.get("generateName")
            if not prefix:
                raise ApiError(422, "Invalid", "metadata.name or metadata.generateName is required")
            meta["name"] = prefix + "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
        if (kind.plural, namespace, meta["name"]) in self.store:
            raise ApiError(409, "AlreadyExists", f'{kind.plural}.{kind.group or "core"} "{meta["name"]}" already exists')
        obj["apiVersion"] = kind.api_version
        obj["kind"] = kind.kind
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = _now()
        meta["generation"] = 1
        if kind.plural == "pods":
            obj.setdefault("status", {}).setdefault("phase", "Pending")
        if kind.plural == "persistentvolumeclaims" and PVC_PROTECTION not in (meta.get("finalizers") or []):
            # as the StorageObjectInUseProtection admission plugin does: a delete waits for the finalizer
            meta["finalizers"] = [*(meta.get("finalizers") or []), PVC_PROTECTION]
        return self._store(kind, obj, "ADDED")

    def _check_version(self, kind: Kind, current: Obj, wanted: Any, name: str) -> None:
        if wanted in (None, "") or str(wanted) == current["metadata"]["resourceVersion"]:
            return
        raise ApiError(
            409,
            "Conflict",
            f'Operation cannot be fulfilled on {kind.plural}.{kind.group or "core"} "{name}": '
            "the object has been modified; please apply your changes to the latest version and try again",
        )

    def _finish_update(self, kind: Kind, current: Obj, new: Obj, *, status: bool = False) -> Obj:
        if status:  # .../status: only the status changes
            new = dict(copy.deepcopy(current), status=new.get("status"))
        meta = new.setdefault("metadata", {})
        old_meta = current["metadata"]
        for key in ("uid", "creationTimestamp", "name", "namespace"):
            if key in old_meta:
                meta[key] = old_meta[key]
            else:
                meta.pop(key, None)
        new["apiVersion"] = kind.api_version
        new["kind"] = kind.kind
        changed = {k: v for k, v in new.items() if k not in ("metadata", "status")} != {
            k: v for k, v in current.items() if k not in ("metadata", "status")
        }
        if kind.status_subresource and not status:
            new["status"] = current.get("status")  # status only through .../status
            if new["status"] is None:
                new.pop("status")
        meta["generation"] = int(old_meta.get("generation") or 1) + (1 if changed else 0)
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            return self._delete_now(kind, new)
        return self._store(kind, new, "MODIFIED")

    def _replace(self, kind: Kind, namespace: str, name: str, body: Any, *, status: bool = False) -> Obj:
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body must be a JSON object")
        current = self._existing(kind, namespace, name)
        wanted = (body.get("metadata") or {}).get("resourceVersion")
        if not wanted:
            raise ApiError(422, "Invalid", "metadata.resourceVersion: Invalid value: 0: must be specified for an update")
        self._check_version(kind, current, wanted, name)
        return self._finish_update(kind, current, copy.deepcopy(body), status=status)

    def _patch(self, kind: Kind, namespace: str, name: str, body: Any, content_type: str, *, status: bool = False) -> Obj:
        current = self._existing(kind, namespace, name)
        media = content_type.split(";")[0].strip()
        if media == "application/json-patch+json":
            if not isinstance(body, list):
                raise ApiError(400, "BadRequest", "json patch: the body must be a list of operations")
            try:
                new = jsonpatch.apply_patch(copy.deepcopy(current), body)
            except jsonpatch.JsonPatchTestFailed as exc:
                raise ApiError(422, "Invalid", f"the json patch test failed: {exc}") from exc
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
                raise ApiError(422, "Invalid", f"json patch: {exc}") from exc
            return self._finish_update(kind, current, new, status=status)
        if media in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
            if not isinstance(body, dict):
                raise ApiError(400, "BadRequest", "merge patch: the body must be a JSON object")
            self._check_version(kind, current, (body.get("metadata") or {}).get("resourceVersion"), name)
            return self._finish_update(kind, current, merge_patch(copy.deepcopy(current), body), status=status)
        raise ApiError(415, "UnsupportedMediaType", f"the patch type {media!r} is not supported")

    def _delete(self, kind: Kind, namespace: str, name: str) -> Obj:
        current = self._existing(kind, namespace, name)
        meta = current["metadata"]
        if meta.get("finalizers"):
            if not meta.get("deletionTimestamp"):
                updated = copy.deepcopy(current)
                updated["metadata"]["deletionTimestamp"] = _now()
                return self._store(kind, updated, "MODIFIED")
            return copy.deepcopy(current)
        return self._delete_now(kind, current)

    def _delete_now(self, kind: Kind, obj: Obj) -> Obj:
        meta = obj["metadata"]
        self.store.pop((kind.plural, str(meta.get("namespace") or ""), meta["name"]), None)
        meta["resourceVersion"] = self._next()
        self._publish(kind, "DELETED", obj)
        return copy.deepcopy(obj)

    # ------------------------------------------------------ list and watch

    def _matches(self, namespace: str | None, labels: str, fields: str, obj: Obj) -> bool:
        meta = obj.get("metadata") or {}
        if namespace and meta.get("namespace") != namespace:
            return False
        return match_labels(labels, meta.get("labels") or {}) and match_fields(fields, obj)

    def _selected(self, kind: Kind, namespace: str | None, query: dict[str, str]) -> list[Obj]:
        labels, fields = query.get("labelSelector", ""), query.get("fieldSelector", "")
        return [
            o for (p, _, _), o in sorted(self.store.items())
            if p == kind.plural and self._matches(namespace, labels, fields, o)
        ]

    def _serve_list(self, kind: Kind, namespace: str | None, query: dict[str, str], raw: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        for selector, check in (("labelSelector", match_labels), ("fieldSelector", match_fields)):
            try:
                check(query.get(selector, ""), {})
            except ValueError as exc:
                raise ApiError(400, "BadRequest", f"unable to parse {selector}: {exc}") from exc
        items = self._selected(kind, namespace, query)
        if "as=Table" in raw.headers.get("Accept", ""):
            return _json(table(kind, items, self.version))
        return _json({
            "apiVersion": kind.api_version,
            "kind": f"{kind.kind}List",
            "metadata": {"resourceVersion": str(self.version)},
            "items": items,
        })

    async def _serve_watch(self, kind: Kind, namespace: str | None, query: dict[str, str], raw: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        watch = _Watch(kind, namespace, query.get("labelSelector", ""), query.get("fieldSelector", ""))
        since = query.get("resourceVersion", "")
        response = aiohttp.web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        await response.prepare(raw)
        if since and since != "0" and int(since) < self.oldest:
            gone = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 410, "reason": "Expired",
                    "message": f"too old resource version: {since} ({self.oldest})"}
            await response.write(json.dumps({"type": "ERROR", "object": gone}).encode() + b"\n")
            await response.write_eof()
            return response
        if since and since != "0":
            backlog = [
                {"type": event, "object": obj} for version, plural, event, obj in self.history
                if version > int(since) and plural == kind.plural
                and self._matches(namespace, watch.labels, watch.fields, obj)
            ]
        else:
            backlog = [{"type": "ADDED", "object": o} for o in self._selected(kind, namespace, query)]
        for event in backlog:
            watch.queue.put_nowait(copy.deepcopy(event))
        self._watches.append(watch)
        timeout = float(query.get("timeoutSeconds") or 0) or None
        try:
            async with asyncio.timeout(timeout):
                while (event := await watch.queue.get()) is not None:
                    await response.write(json.dumps(event).encode() + b"\n")
        except (TimeoutError, ConnectionResetError):
            pass
        finally:
            self._watches.remove(watch)
        with contextlib.suppress(ConnectionResetError):
            await response.write_eof()
        return response


# ---------------------------------------------------------------- helpers


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge, ``None`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = merge_patch(target.get(key), value)
    return target


def _terms(selector: str) -> Iterable[str]:
    depth, term = 0, ""
    for char in selector:
        if char == "," and depth == 0:
            yield term.strip()
            term = ""
            continue
        depth += char == "("
        depth -= char == ")"
        term += char
    if term.strip():
        yield term.strip()


def match_labels(selector: str, labels: dict[str, str]) -> bool:
    """Whether *labels* match the label *selector* (ValueError when it cannot be parsed)."""
    for term in _terms(selector):
        words = term.split()
        if len(words) == 3 and words[1] in ("in", "notin"):
            values = {v.strip() for v in words[2].strip("()").split(",")}
            inside = labels.get(words[0]) in values
            if inside != (words[1] == "in"):
                return False
        elif "!=" in term:
            key, value = (s.strip() for s in term.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = (s.strip() for s in term.replace("==", "=").split("=", 1))
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term and all(c.isalnum() or c in "-_./" for c in term):
            if term not in labels:
                return False
        else:
            raise ValueError(f"bad term {term!r}")
    return True


def _field(obj: Obj, path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def match_fields(selector: str, obj: Obj) -> bool:
    """Whether *obj* matches the field *selector* (``path=value``, ``path!=value``)."""
    for term in _terms(selector):
        if "!=" in term:
            path, value = term.split("!=", 1)
            if _field(obj, path.strip()) == value.strip():
                return False
        elif "=" in term:
            path, value = term.replace("==", "=").split("=", 1)
            if _field(obj, path.strip()) != value.strip():
                return False
        else:
            raise ValueError(f"bad term {term!r}")
    return True


def table(kind: Kind, items: list[Obj], version: int) -> Obj:
    """A ``meta.k8s.io/v1`` Table of *items*, as ``kubectl get`` asks for (Argo's columns for Workflows)."""
    columns = [{"name": "Name", "type": "string", "format": "name", "description": "Name"}]
    if kind.plural == "workflows":
        columns += [
            {"name": "Status", "type": "string", "format": "", "description": "Status of the workflow"},
            {"name": "Age", "type": "date", "format": "", "description": "When the workflow was started"},
            {"name": "Message", "type": "string", "format": "", "description": "Human readable message indicating details about why the workflow is in this condition."},
        ]
    else:
        columns.append({"name": "Age", "type": "date", "format": "", "description": "Age"})
    rows = []
    for obj in items:
        meta = obj.get("metadata") or {}
        status = obj.get("status") or {}
        if kind.plural == "workflows":
            cells = [meta.get("name"), status.get("phase", ""), status.get("startedAt") or meta.get("creationTimestamp"), status.get("message", "")]
        else:
            cells = [meta.get("name"), meta.get("creationTimestamp")]
        rows.append({"cells": cells, "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta}})
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": str(version)}, "columnDefinitions": columns, "rows": rows}


def _json(obj: Any, status: int = 200) -> aiohttp.web.Response:
    return aiohttp.web.Response(text=json.dumps(obj), status=status, content_type="application/json")


def _status(code: int, reason: str, message: str) -> aiohttp.web.Response:
    return _json({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "code": code, "reason": reason, "message": message}, code)


SERVED: list[Callable[[KubeApi], None]] = []
"""Called with every server :func:`serve` started, when it stops (a session-wide view of the
requests, see ``tests/kube/conftest.py``)."""


@contextlib.asynccontextmanager
async def serve() -> AsyncIterator[KubeApi]:
    """A started :class:`KubeApi` on a free port of 127.0.0.1 (its URL in ``api.url``)."""
    api = KubeApi()
    async with api, kmock.Server(api):
        try:
            yield api
        finally:
            api.end_watches()
            for served in SERVED:
                served(api)
