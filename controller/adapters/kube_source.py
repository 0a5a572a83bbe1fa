"""Workflows from a Kubernetes cluster: the engine's ``WorkflowSource`` on the Workflow watch.

:class:`KubeWorkflowSource` watches ``workflows.argoproj.io/v1alpha1`` (one namespace or
all of them) with the instance-id label selector, and hands the controller every
Workflow it owns and has not run yet. It is idempotent by ``metadata.uid``: the uid goes
into the stored workflow as the :data:`UID_ANNOTATION` annotation, so a restarted
controller recognises the Workflows it already runs (and a Workflow deleted and created
again under the same name is a new one). What happens to a Workflow afterwards is
followed too:

- deleted: the workflow is stopped and forgotten (:meth:`Controller.delete`), then every
  ``on_deleted`` callback runs (by default the Workflow's pods are deleted);
- ``spec`` edited (its digest changed; status writes leave it as it was): the controller
  operates on the edited object again (:meth:`Controller.edit`: ``workflow.preOperate``,
  then the new spec for what has not run yet; a rejection keeps the previous spec). The
  edited object's ``metadata.generation`` and the :data:`PREVIOUS_GENERATION_ANNOTATION`
  tell plugins it is an edit. ``spec.suspend`` (suspend/resume) and ``spec.shutdown``
  (``Stop``/``Terminate``) are applied through the controller's own operations, as
  ``argo suspend``/``argo stop`` are, whatever plugins say of the rest.

Which spec was operated on last is stored with the workflow (:data:`SPEC_ANNOTATION`,
:data:`GENERATION_ANNOTATION`), so an edit is operated on once per uid and spec, and a
restarted controller asks again only about an edit made while it was away.

WorkflowTemplates, ClusterWorkflowTemplates and ConfigMaps come from watched caches of
the API (plus any given as files); a Workflow refers to those of its own namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
from typing import TYPE_CHECKING, Any

import orjson
import structlog

from ..argo.labels import COMPLETED_LABEL, INSTANCE_LABEL, PHASE_LABEL, WORKFLOW_LABEL
from ..argo.manifest import Bundle
from ..engine.controller import WorkflowNotFound
from ..engine.ports import Submission, WorkflowKey
from ..kube.errors import KubeError
from ..kube.informer import DELETED, Informer
from ..kube.instance import instance_selector, owns
from ..kube.resources import (
    CLUSTER_WORKFLOW_TEMPLATES,
    CONFIG_MAPS,
    PODS,
    WORKFLOW_TEMPLATES,
    WORKFLOWS,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from ..engine.controller import Controller
    from ..kube.client import KubeClient, Obj

    DeletedHook = Callable[[WorkflowKey, "Obj"], Awaitable[None]]

log = structlog.get_logger(__name__)

UID_ANNOTATION = "hookbus.io/kubernetes-uid"
"""The uid of the Workflow object a stored workflow was submitted from."""
SPEC_ANNOTATION = "hookbus.io/kubernetes-spec"
"""The digest of the Workflow object's ``spec`` the controller last operated on."""
GENERATION_ANNOTATION = "hookbus.io/kubernetes-generation"
"""The Workflow object's ``metadata.generation`` the controller last operated on."""
PREVIOUS_GENERATION_ANNOTATION = "hookbus.io/previous-generation"
"""On the workflow a re-asked ``workflow.preOperate`` is shown (an edit): the generation
operated on before. Absent when the controller first operates on a workflow."""

FINAL_PHASES = frozenset({"Succeeded", "Failed", "Error"})
_SERVER_FIELDS = ("resourceVersion", "uid", "generation", "creationTimestamp", "managedFields", "selfLink")


def _report_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("following the cluster's Workflows ended", error=repr(task.exception()))


def workflow_key(obj: Obj) -> WorkflowKey:
    meta = obj.get("metadata") or {}
    return WorkflowKey(str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def uid_of(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("uid") or "")


def spec_digest(obj: Obj) -> str:
    """A digest of *obj*'s ``spec`` (key order does not matter)."""
    return hashlib.sha256(orjson.dumps(obj.get("spec") or {}, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()


def generation_of(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("generation") or "")


class KubeWorkflowSource:
    """The Workflows of *namespace* (``None``: every namespace) that *instance_id* owns."""

    def __init__(
        self,
        client: KubeClient,
        controller: Controller,
        *,
        namespace: str | None,
        instance_id: str,
        templates: Bundle | None = None,
        delete_pods: bool = True,
    ) -> None:
        self.client = client
        self.controller = controller
        self.namespace = namespace
        self.instance_id = instance_id
        self.templates = templates or Bundle()
        """Templates and ConfigMaps given as files, under those read from the API."""
        self.on_deleted: list[DeletedHook] = []
        """Awaited with the key and the last object of every owned Workflow that was deleted."""
        if delete_pods:
            self.on_deleted.append(self._delete_pods)
        self._queue: asyncio.Queue[Submission | None] = asyncio.Queue()
        self._uids: dict[WorkflowKey, str] = {}
        """Owned Workflows the controller runs (or was handed), by key: their uid."""
        self._specs: dict[str, Obj] = {}
        """The last ``spec`` seen of each Workflow handed over, by uid."""
        self._operated: dict[str, tuple[str, str]] = {}
        """The digest and generation of the ``spec`` last operated on, by uid."""
        self.on_edited: list[Callable[[WorkflowKey], None]] = []
        """Called with the key of every workflow after an edit of its spec was operated on
        (applied or refused: its status and what is built from its spec may have changed)."""
        self._pending: dict[int, tuple[WorkflowKey, str]] = {}
        self._edits: dict[WorkflowKey, Obj] = {}
        """The newest edited object of each workflow whose edit waits to be operated on."""
        self._editors: dict[WorkflowKey, asyncio.Task[None]] = {}
        """One task per workflow operating on its edits in order, off the watch's path."""
        self.workflows = Informer(
            client, WORKFLOWS, namespace, label_selector=instance_selector(instance_id), handler=self._on_workflow
        )
        self.workflow_templates = Informer(client, WORKFLOW_TEMPLATES, namespace)
        self.cluster_templates = Informer(client, CLUSTER_WORKFLOW_TEMPLATES)
        self.config_maps = Informer(client, CONFIG_MAPS, namespace)
        self._follower: asyncio.Task[None] | None = None
        self.may_act: Callable[[], bool] = lambda: True
        """Checked before acting on an event: False (leadership lost) and events are ignored."""

    # ------------------------------------------------------------ lifecycle

    async def start(self, timeout: float = 30.0) -> None:
        """Fill the template caches, then watch Workflows and have the controller follow them."""
        caches = (self.workflow_templates, self.cluster_templates, self.config_maps)
        for informer in caches:
            informer.start()
        await asyncio.gather(*(i.wait_synced(timeout) for i in caches))
        self._follower = asyncio.create_task(self.controller.follow(self), name="hookbus-kube-follow")
        self._follower.add_done_callback(_report_end)
        self.workflows.start()
        await self.workflows.wait_synced(timeout)

    async def stop(self) -> None:
        """Stop watching (workflows keep running in the controller until it stops)."""
        for informer in (self.workflows, self.workflow_templates, self.cluster_templates, self.config_maps):
            await informer.stop()
        for key in list(self._editors):
            await self._drop_edits(key)
        self._queue.put_nowait(None)
        task, self._follower = self._follower, None
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 5)

    # ------------------------------------------------------------- queries

    def object_for(self, key: WorkflowKey) -> Obj | None:
        """The Workflow object (as last seen) the controller's workflow *key* runs, if any."""
        uid = self._uids.get(key)
        obj = self.workflows.get(key.namespace, key.name)
        if uid is None or obj is None or uid_of(obj) != uid:
            return None
        return obj

    def bundle_for(self, namespace: str) -> Bundle:
        """The templates and ConfigMaps a Workflow in *namespace* may refer to."""
        bundle = Bundle()
        bundle.merge(self.templates)
        for obj in self.cluster_templates.cache.values():
            bundle.add(obj)
        for (ns, _), obj in self.workflow_templates.cache.items():
            if ns == namespace:
                bundle.add(obj)
        for (ns, _), obj in self.config_maps.cache.items():
            if ns == namespace:
                bundle.add(obj)
        return bundle

    # ------------------------------------------------------ WorkflowSource

    async def submissions(self) -> AsyncIterator[Submission]:
        while (submission := await self._queue.get()) is not None:
            yield submission

    async def accepted(self, submission: Submission, key: WorkflowKey) -> None:
        self._pending.pop(id(submission), None)
        log.info("workflow from the cluster taken", workflow=key.name, namespace=key.namespace)

    async def refused(self, submission: Submission, error: Exception) -> None:
        key, uid = self._pending.pop(id(submission), (workflow_key(submission.workflow), ""))
        self._uids.pop(key, None)
        self._specs.pop(uid, None)
        self._operated.pop(uid, None)
        log.warning("workflow from the cluster refused", workflow=key.name, namespace=key.namespace, error=str(error))
        message = str(error).splitlines()[0] if str(error) else "invalid workflow"

        def change(obj: Obj) -> Obj | None:
            if uid_of(obj) != uid:
                return None
            return {
                "metadata": {"labels": {PHASE_LABEL: "Error", COMPLETED_LABEL: "true"}},
                "status": {"phase": "Error", "message": message, "progress": "0/0"},
            }

        with contextlib.suppress(KubeError):
            await self.client.update(WORKFLOWS, key.namespace, key.name, change)

    # ---------------------------------------------------------------- events

    async def _on_workflow(self, kind: str, obj: Obj) -> None:
        if not owns(obj, self.instance_id) or not self.may_act():
            return
        if kind == DELETED:  # the informer hands events over one at a time, in order
            await self._deleted(obj)
        else:
            await self._seen(obj)

    async def _seen(self, obj: Obj) -> None:
        key, uid = workflow_key(obj), uid_of(obj)
        known = self._uids.get(key)
        if known == uid:
            await self._maybe_edited(key, obj)
            return
        if known is not None:  # replaced under the same name while we were not looking
            await self._forget(key)
        if self.controller.exists(key):
            stored = self._stored(key)
            annotations = (stored.get("metadata") or {}).get("annotations") or {}
            stored_uid = str(annotations.get(UID_ANNOTATION) or "")
            if stored_uid == uid:
                self._uids[key] = uid  # ours from before a restart
                self._specs[uid] = copy.deepcopy(stored.get("spec") or {})
                # stored before edits were tracked: what is there now counts as operated on
                digest = str(annotations.get(SPEC_ANNOTATION) or spec_digest(obj))
                self._operated[uid] = (digest, str(annotations.get(GENERATION_ANNOTATION) or generation_of(obj)))
                await self._maybe_edited(key, obj)
                return
            if stored_uid:  # from an object deleted while no one watched
                log.info("a stored workflow of that name belongs to an older object; replacing it", workflow=key.name)
                await self._stop(key)
            # else: submitted through the control API; the submission below is refused
        if self._finished(obj):
            return  # an earlier run ended; nothing to take up
        self._uids[key] = uid
        self._specs[uid] = copy.deepcopy(obj.get("spec") or {})
        self._operated[uid] = (spec_digest(obj), generation_of(obj))
        submission = Submission(self._manifest(obj), bundle=self.bundle_for(key.namespace))
        self._pending[id(submission)] = (key, uid)
        await self._queue.put(submission)

    def _stored(self, key: WorkflowKey) -> Obj:
        try:
            return self.controller.get(key)
        except WorkflowNotFound:
            return {}

    @staticmethod
    def _finished(obj: Obj) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        phase = (obj.get("status") or {}).get("phase")
        return labels.get(COMPLETED_LABEL) == "true" or phase in FINAL_PHASES

    def _manifest(self, obj: Obj) -> Obj:
        """The Workflow as the controller stores it: without server fields and status, with
        its uid kept as an annotation."""
        manifest = copy.deepcopy(obj)
        manifest.pop("status", None)
        meta = manifest.setdefault("metadata", {})
        for name in _SERVER_FIELDS:
            meta.pop(name, None)
        annotations = meta.setdefault("annotations", {})
        annotations[UID_ANNOTATION] = uid_of(obj)
        annotations[SPEC_ANNOTATION] = spec_digest(obj)
        if generation_of(obj):
            annotations[GENERATION_ANNOTATION] = generation_of(obj)
        labels = meta.setdefault("labels", {})
        for name in list(labels):
            if name.startswith("workflows.argoproj.io/") and name != INSTANCE_LABEL:
                del labels[name]
        return manifest

    async def _deleted(self, obj: Obj) -> None:
        key, uid = workflow_key(obj), uid_of(obj)
        if self._uids.get(key) != uid:
            return
        await self._forget(key)
        for hook in self.on_deleted:
            try:
                await hook(key, obj)
            except Exception:
                log.exception("cleaning up after a deleted workflow failed", workflow=key.name, namespace=key.namespace)

    async def _forget(self, key: WorkflowKey) -> None:
        await self._drop_edits(key)
        uid = self._uids.pop(key, None)
        if uid is not None:
            self._specs.pop(uid, None)
            self._operated.pop(uid, None)
        await self._stop(key)

    async def _stop(self, key: WorkflowKey) -> None:
        if not self.controller.exists(key):
            return
        log.info("workflow object deleted; stopping it", workflow=key.name, namespace=key.namespace)
        with contextlib.suppress(WorkflowNotFound):
            await self.controller.delete(key)

    async def _delete_pods(self, key: WorkflowKey, obj: Obj) -> None:
        selector = f"{WORKFLOW_LABEL}={key.name},{instance_selector(self.instance_id)}"
        pods, _ = await self.client.list(PODS, key.namespace, label_selector=selector)
        for pod in pods:
            await self.client.delete(PODS, key.namespace, str(pod["metadata"]["name"]))

    # ----------------------------------------------------------------- edits

    async def _maybe_edited(self, key: WorkflowKey, obj: Obj) -> None:
        """Hand an edited spec to the workflow's editor task: ``workflow.preOperate`` (plugins
        that may be slow) never holds up the watch and the other Workflows' events."""
        operated = self._operated.get(uid_of(obj))
        if operated is not None and operated[0] == spec_digest(obj):
            return  # not an edit: a status or metadata write, or a spec already operated on
        self._edits[key] = obj  # edits that pile up while one is operated on: the newest wins
        if key not in self._editors:
            self._editors[key] = asyncio.create_task(self._edit_in_turn(key), name=f"hookbus-kube-edit-{key.namespace}/{key.name}")

    async def _edit_in_turn(self, key: WorkflowKey) -> None:
        try:
            while (obj := self._edits.pop(key, None)) is not None:
                try:
                    await self._operate_edit(key, obj)
                except Exception:
                    log.exception("operating on an edited spec failed", workflow=key.name, namespace=key.namespace)
        finally:
            if self._editors.get(key) is asyncio.current_task():
                del self._editors[key]

    async def _drop_edits(self, key: WorkflowKey) -> None:
        """Forget *key*'s waiting edit and stop the one being operated on (the workflow goes)."""
        self._edits.pop(key, None)
        editor = self._editors.pop(key, None)
        if editor is not None and editor is not asyncio.current_task():
            editor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await editor

    async def _operate_edit(self, key: WorkflowKey, obj: Obj) -> None:
        uid, digest, generation = uid_of(obj), spec_digest(obj), generation_of(obj)
        operated = self._operated.get(uid)
        if operated is not None and operated[0] == digest:
            return
        if self._uids.get(key) != uid or not self.controller.exists(key):
            return  # gone, replaced, or not taken yet: the object's next event brings the edit
        self._operated[uid] = (digest, generation)
        before = self._specs.get(uid) or {}
        spec = copy.deepcopy(obj.get("spec") or {})
        self._specs[uid] = spec
        log.info("workflow spec edited", workflow=key.name, namespace=key.namespace, generation=generation)
        edited = self._manifest(obj)
        meta = edited["metadata"]
        if generation:
            meta["generation"] = int(generation) if generation.isdigit() else generation
        if operated is not None and operated[1]:
            meta["annotations"][PREVIOUS_GENERATION_ANNOTATION] = operated[1]
        marks = {k: v for k, v in meta["annotations"].items() if k in (SPEC_ANNOTATION, GENERATION_ANNOTATION)}
        try:
            outcome = await self.controller.edit(key, edited, bundle=self.bundle_for(key.namespace), marks=marks)
        except WorkflowNotFound:
            return
        for callback in self.on_edited:
            callback(key)
        if not outcome.applied and outcome.message:
            log.warning("workflow spec edit not applied", workflow=key.name, namespace=key.namespace, generation=generation, reason=outcome.message)
        await self._apply(key, before, spec)

    async def _apply(self, key: WorkflowKey, before: Obj, spec: Obj) -> None:
        if bool(spec.get("suspend")) != bool(before.get("suspend")):
            await self._command(key, self.controller.suspend if spec.get("suspend") else self.controller.resume)
        shutdown = spec.get("shutdown")
        if shutdown and shutdown != before.get("shutdown"):
            if shutdown == "Terminate":
                await self._command(key, self.controller.terminate)
            elif shutdown == "Stop":
                await self._command(key, self.controller.stop_workflow, "")
            else:
                log.warning("unknown spec.shutdown ignored", workflow=key.name, shutdown=str(shutdown))

    async def _command(self, key: WorkflowKey, op: Callable[..., Awaitable[Any]], *args: Any) -> None:
        try:
            await op(key, *args)
        except (WorkflowNotFound, ValueError) as exc:
            log.info("workflow edit not applied", workflow=key.name, error=str(exc))
