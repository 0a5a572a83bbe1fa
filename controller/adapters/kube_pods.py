"""Kubernetes mode's pods: the Kubernetes executor and what it needs from the rest of the process.

:class:`KubePods` builds, from :class:`~..kube.settings.KubernetesSettings` and the mode's
API client,

* the plan (:class:`~..kube.pods_plan.KubePodPlan`): launcher image, service account for
  workloads, the ``images`` index, the instance id, and a workflow lookup giving each pod
  its Workflow's uid (the ownerReference) and the workflow's resolved spec;
* the executor (:class:`~..executors.kube.KubernetesExecutor`);
* what ``pod.preCreate`` plugins are shown: the very manifest the executor creates
  (:meth:`KubePods.render`), and the node read back from the manifest a plugin changed
  (:meth:`KubePods.read_back`, :func:`~..kube.pods_view.user_pod`), with the pod-level
  fields the plugin changed (:func:`~..kube.pods_patch.changed_pod_fields`);
* the workflow's ``volumeClaimTemplates`` (:class:`~.kube_claims.WorkflowClaims`): created
  before its first pod, deleted as ``volumeClaimGC`` says when it ends, and with the Workflow;
* clean-up: a workflow that ended has its pods collected when its ``podGC`` says so
  (:meth:`KubePods.workflow_ended`); a deleted Workflow is forgotten (its pods are deleted
  by the Workflow source, its claims here).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
import yaml

from ..argo.types import Phase
from ..executors.kube import KubernetesExecutor
from ..kube.claims import template_names
from ..kube.pods import PodSettings, WorkflowRef
from ..kube.pods_images import ImageConfigError, ImageEntry, images_from_config
from ..kube.pods_inputs import WRITER_PREFIX
from ..kube.pods_patch import changed_pod_fields
from ..kube.pods_plan import KubePodPlan
from ..kube.pods_view import OWN_VOLUMES, user_pod
from .kube_claims import WorkflowClaims, recorded
from .kube_source import UID_ANNOTATION, uid_of
from .plugin_hooks import from_kubernetes_pod

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Mapping

    from ..argo.types import JSON
    from ..engine.hooks import PodItem
    from ..engine.ports import TaskSpec, WorkflowKey
    from ..kube.client import KubeClient
    from ..kube.settings import KubernetesSettings

log = structlog.get_logger(__name__)

FINAL_PHASES = frozenset({Phase.SUCCEEDED.value, Phase.FAILED.value, Phase.ERROR.value})

def load_images(path: Path | None) -> dict[str, ImageEntry]:
    """The ``images`` index in *path* (``{}`` without one); ``ValueError`` naming the file and the problem."""
    if path is None:
        return {}
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise ValueError(f"images file {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"images file {path}: not YAML: {str(exc).splitlines()[0]}") from None
    try:
        return images_from_config(doc)
    except ImageConfigError as exc:
        raise ValueError(f"images file {path}: {exc}") from None


def pod_settings(settings: KubernetesSettings) -> PodSettings:
    """How pods are built, from Kubernetes mode's settings (reads the images file)."""
    return PodSettings(
        launcher_image=settings.launcher_image,
        instance_id=settings.instance_id or None,
        images=load_images(settings.images_file),
        service_account=settings.pod_service_account or None,
    )


class KubePods:
    """The Kubernetes executor of one controller process (see the module docstring)."""

    def __init__(self, settings: KubernetesSettings, client: KubeClient, *, artifact_dir: Path | None = None) -> None:
        from kubernetes_asyncio.client import CoreV1Api

        self.plan = KubePodPlan(pod_settings(settings), self.workflow)
        self.executor = KubernetesExecutor(CoreV1Api(client.api), self.plan, artifact_dir=artifact_dir)
        self.claims = WorkflowClaims(client, settings.instance_id)
        self.executor.before_create = self._before_create
        self._read: Callable[[WorkflowKey], JSON] | None = None
        self._objects: Callable[[WorkflowKey], JSON | None] = lambda _key: None
        self._refs: dict[WorkflowKey, WorkflowRef] = {}
        self._collecting: set[asyncio.Task[None]] = set()
        self._fail: Callable[[WorkflowKey, str], None] = lambda _key, _message: None

    def bind(
        self,
        read: Callable[[WorkflowKey], JSON],
        objects: Callable[[WorkflowKey], JSON | None],
        fail: Callable[[WorkflowKey, str], None] | None = None,
    ) -> None:
        """*read*: the controller's workflow by key; *objects*: the Workflow object it came from;
        *fail*: ends a workflow in ``Error`` with a message (its claims could not be made)."""
        self._read, self._objects = read, objects
        if fail is not None:
            self._fail = fail

    # ------------------------------------------------------------ workflows

    def workflow(self, key: WorkflowKey) -> WorkflowRef | None:
        """The uid and resolved spec of *key*'s workflow (read once per run, then kept)."""
        ref = self._refs.get(key)
        if ref is not None or self._read is None:
            return ref
        try:
            stored = self._read(key)
        except Exception:  # not (or no longer) known to the controller: a pod without an owner
            return None
        meta = stored.get("metadata") or {}
        uid = str((meta.get("annotations") or {}).get(UID_ANNOTATION) or "")
        if not uid:
            obj = self._objects(key) or {}
            uid = str((obj.get("metadata") or {}).get("uid") or "")
        ref = self._refs[key] = WorkflowRef(key.name, key.namespace, uid, stored.get("spec") or {})
        return ref

    def forget(self, key: WorkflowKey) -> None:
        """Drop what is kept of *key*'s workflow (it ended or its object was deleted)."""
        self._refs.pop(key, None)

    async def deleted(self, key: WorkflowKey, obj: Mapping[str, Any]) -> None:
        """``KubeWorkflowSource.on_deleted``: the Workflow object is gone, and so are its claims."""
        ref = self._refs.get(key) or WorkflowRef(key.name, key.namespace, uid_of(dict(obj)), obj.get("spec") or {})
        self.forget(key)
        if template_names(ref.spec) or recorded(obj):
            await self.claims.deleted(key, ref, obj)

    async def _before_create(self, task: TaskSpec) -> str | None:
        """Before a pod of the workflow is created: its claims exist. Else the workflow ends
        ``Error`` with the reason, as Argo's does, and the node fails with it (no pod)."""
        ref = self.workflow(task.key)
        if ref is None or not ref.spec.get("volumeClaimTemplates"):
            return None
        problem = await self.claims.ensure(task.key, ref, self._objects(task.key))
        if problem is not None:
            self._fail(task.key, problem)  # queued before the node's result
        return problem

    def workflow_ended(self, key: WorkflowKey, phase: str) -> None:
        """The workflow ended in *phase*: delete its claims as its ``volumeClaimGC`` says, and
        collect its pods if its ``podGC`` says so."""
        if phase not in FINAL_PHASES:
            return
        ref = self.workflow(key)
        self.forget(key)
        if ref is None:
            return
        if template_names(ref.spec):
            self._spawn(self._release(key, ref, phase), f"volumeClaimGC {key.namespace}/{key.name}")
        if self.plan.collect_when_workflow_ends(ref.spec, phase):
            self._spawn(self._collect(key), f"podGC {key.namespace}/{key.name}")

    def claims_left(self, key: WorkflowKey, phase: str, obj: Mapping[str, Any]) -> None:
        """At start-up: a workflow that ended (*phase*) while its object's status still lists
        claims (the controller stopped before deleting them, or a delete failed) has them
        deleted as its ``volumeClaimGC`` says."""
        if phase not in FINAL_PHASES or not recorded(obj):
            return
        ref = self.workflow(key)
        self.forget(key)
        if ref is not None:
            self._spawn(self._release(key, ref, phase), f"volumeClaimGC {key.namespace}/{key.name}")

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        job = asyncio.create_task(work, name=name)
        self._collecting.add(job)
        job.add_done_callback(self._collecting.discard)

    async def _release(self, key: WorkflowKey, ref: WorkflowRef, phase: str) -> None:
        await self.claims.release(key, ref, phase, self._objects(key))

    async def _collect(self, key: WorkflowKey) -> None:
        deleted = await self.executor.collect(key.namespace, key.name)
        log.debug("pods collected", workflow=key.name, namespace=key.namespace, pods=deleted)

    async def close(self) -> None:
        """Finish pending collections, then close the executor."""
        if self._collecting:
            await asyncio.gather(*self._collecting, return_exceptions=True)
        await self.executor.close()

    # ------------------------------------------------------------ pod.preCreate

    def render(self, item: PodItem) -> JSON | None:
        """The manifest the executor creates for *item*'s node (``None``: it cannot be built;
        the node then fails when it starts)."""
        if item.task is None:
            return None
        try:
            return self.plan.manifest(item.task)
        except ValueError:
            return None

    def read_back(self, patched: Mapping[str, Any], item: PodItem, shown: Mapping[str, Any] | None = None) -> JSON:
        """The node's pod (the engine's description) from the manifest a plugin changed
        (*shown*: :meth:`render`'s manifest the plugin was shown, built again if not given)."""
        main = item.pod.get("main") or {}
        if item.task is None:
            return from_kubernetes_pod(patched, item.pod)
        # the plugin was shown render(item), where input artifacts are the launcher's, not init containers;
        # its pod-level changes are carried as "podSpec"
        fields = changed_pod_fields(shown if shown is not None else self.render(item) or {}, patched, own_volumes=OWN_VOLUMES)
        patched = user_pod(patched, main_name=str(main.get("name") or "main"), staged=main.get("source") is not None)
        pod = from_kubernetes_pod(patched, item.pod)
        writers = [p for p in item.pod.get("init") or [] if str(p.get("name") or "").startswith(WRITER_PREFIX) and p.get("image") is None]
        pod["init"] = [*writers, *pod["init"]]
        if fields:
            pod["podSpec"] = fields
        return pod

