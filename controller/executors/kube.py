"""The Kubernetes executor: every leaf node is a Pod, watched until its ``main`` container ends.

What a node's pod looks like and how its end reads are not decided here: a :class:`PodPlan`
(``hookbus.controller.kube.pods_plan.KubePodPlan``, given by the composition root) builds
the manifest and reads a pod's status. This module does the API calls:

* :meth:`KubernetesExecutor.start` creates the node's input ConfigMap when it has input
  artifacts (the plan's :meth:`PodPlan.inputs`; deleted again when the node ended, is
  cancelled, or its pod cannot be created), then the pod. Its name is deterministic, so a create
  answered ``409 AlreadyExists`` adopts the pod that exists when it belongs to the same node
  (a retried start, or a controller that restarted between create and record).
* One watch per namespace (``GET /api/v1/namespaces/<ns>/pods?watch=true``, filtered by the
  plan's label selector) follows every pod of the executor; it restarts when the server
  ends it. Each watch starts from a list of the pods, so neither an end nor a delete that
  happened while no watch ran is missed. Each event is read by the plan; when a node ended its result goes to the sink.
  Values the launcher spilled are read from ``main``'s log first.
* A finished pod is labelled ``workflows.argoproj.io/completed=true`` (Argo's label), and
  its sidecars are stopped by lowering its ``activeDeadlineSeconds`` (as Argo does), so the
  pod stays for its logs; the plan's ``podGC`` says when pods are deleted instead
  (:meth:`KubernetesExecutor.collect` for the workflow-level strategies).
* :meth:`~KubernetesExecutor.attach` finds a node's pod after a restart;
  :meth:`~KubernetesExecutor.cancel` deletes it, except after
  :meth:`~KubernetesExecutor.detach` (the controller shutting down: pods outlive it).

The API object is kubernetes_asyncio's ``CoreV1Api`` (or anything with its methods);
calls use ``_preload_content=False`` and read JSON, so no generated models are built.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

import structlog

from ..argo.labels import COMPLETED_LABEL, NODE_ID_ANNOTATION, WORKFLOW_LABEL
from ..engine.ports import TaskResult

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine, Mapping

    from ..engine.ports import TaskSpec

__all__ = ["Finished", "KubernetesExecutor", "PodPlan"]

log = structlog.get_logger("hookbus.executor.kubernetes")

RECONNECT_DELAY: Final = 1.0
"""Seconds between a watch that failed and the next one."""


class Finished(Protocol):
    """A node's end as the plan read it from its pod."""

    @property
    def result(self) -> TaskResult: ...
    @property
    def artifacts(self) -> Mapping[str, bytes]: ...
    @property
    def directories(self) -> Mapping[str, bytes]: ...
    @property
    def spilled(self) -> tuple[str, ...]: ...


class PodPlan(Protocol):
    """How nodes become pods and how pods end (pure: no API calls)."""

    @property
    def selector(self) -> str:
        """The label selector of the pods this controller runs (workflow label, instance id)."""
        ...

    def name(self, task: TaskSpec) -> str:
        """The pod name of *task*'s node."""
        ...

    def manifest(self, task: TaskSpec) -> dict[str, Any]:
        """The pod of *task*'s node; ``ValueError`` naming what is wrong when it cannot be built."""
        ...

    def inputs(self, task: TaskSpec, pod: Mapping[str, Any]) -> dict[str, Any] | None:
        """The ConfigMap holding the input artifacts *pod* mounts (``None``: none); ``ValueError``
        naming an artifact that cannot be delivered (too large, unreadable)."""
        ...

    def inputs_of(self, pod: Mapping[str, Any]) -> str | None:
        """The name of the ConfigMap a (created) *pod* takes its input artifacts from, if any."""
        ...

    def unpack(self, data: bytes, where: Path) -> None:
        """Create the directory output artifact *data* (as the launcher reported it) at *where*."""
        ...

    def finished(self, pod: Mapping[str, Any], now: float) -> Finished | None:
        """How the node of *pod* ended, or ``None`` while it runs."""
        ...

    def complete(self, finished: Finished, log: str) -> Finished:
        """*finished* with its spilled values read from ``main``'s *log*."""
        ...

    def delete_when_done(self, task: TaskSpec, phase: str) -> bool:
        """Whether the pod goes as soon as its node ended in *phase* (``podGC`` per pod)."""
        ...


class KubernetesExecutor:
    """Runs leaf nodes as pods (see the module docstring)."""

    name = "kubernetes"
    mounts_volumes = True
    """Pods mount the template's volumes (PVCs of the cluster ...): the engine makes no host
    directories for them and checks no claims (see ``engine.ports.Executor``)."""

    def __init__(self, api: Any, plan: PodPlan, *, artifact_dir: Path | None = None) -> None:
        self.api = api
        self.plan = plan
        self.artifact_dir = artifact_dir
        """Where binary output artifacts are written (``None``: a temporary directory)."""
        self._sink: Callable[[TaskResult], None] | None = None
        self._early: list[TaskResult] = []
        self._nodes: dict[tuple[str, str], TaskSpec] = {}
        self._watches: dict[str, asyncio.Task[None]] = {}
        self._finishing: set[asyncio.Task[None]] = set()
        self._closed = False
        self._detached = False
        self._created: dict[tuple[str, str], int] = {}
        self._created_seq = 0
        self._with_inputs: set[tuple[str, str]] = set()
        """Input ConfigMaps this executor created whose pods have not ended yet."""
        self.before_create: Callable[[TaskSpec], Awaitable[str | None]] | None = None
        """Awaited before a node's pod is created (the workflow's claims are made then); a
        message it returns is the node's ``Error``, and no pod is created."""

    # ------------------------------------------------------------------ the port

    def bind(self, sink: Callable[[TaskResult], None]) -> None:
        self._sink = sink
        early, self._early = self._early, []
        for result in early:
            sink(result)

    async def start(self, task: TaskSpec) -> None:
        bound = log.bind(workflow=task.workflow, namespace=task.namespace, node=task.node_id)
        started = time.time()
        try:
            manifest = self.plan.manifest(task)
            inputs = self.plan.inputs(task, manifest)
        except ValueError as exc:
            self._report(task, _error(str(exc), started))
            return
        if self.before_create is not None and (problem := await self.before_create(task)):
            self._report(task, _error(problem, started))
            return
        name = str(manifest["metadata"]["name"])
        key = (task.namespace, name)
        if inputs is not None and not await self._create_inputs(task, inputs, started):
            return
        self._nodes[key] = task
        self._ensure_watch(task.namespace)
        status, body = await self._call(self.api.create_namespaced_pod, task.namespace, manifest)
        if status == 409:
            status, body = await self._call(self.api.read_namespaced_pod, name, task.namespace)
            owner = ((body.get("metadata") or {}).get("annotations") or {}).get(NODE_ID_ANNOTATION) if status == 200 else None
            if status == 200 and owner != task.node_id:
                self._nodes.pop(key, None)
                self._report(task, _error(f"pod {name} exists and belongs to node {owner!r}, not {task.node_id!r}", started))
                return
            bound.debug("pod adopted", pod=name)
        if status >= 300:
            self._nodes.pop(key, None)
            if inputs is not None:
                await self._delete_inputs(task.namespace, str(inputs["metadata"]["name"]))
            self._report(task, _error(f"creating pod {name}: {_reason(status, body)}", started))
            return
        bound.debug("pod created", pod=name)
        self._mark_created(key)
        self._observe(body)

    async def attach(self, task: TaskSpec) -> bool:
        name = self.plan.name(task)
        status, body = await self._call(self.api.read_namespaced_pod, name, task.namespace)
        if status != 200:
            if status == 404 and task.input_files:  # lost with its pod: its input ConfigMap goes too
                await self._delete_orphaned_inputs(task, name)
            return False
        self._nodes[(task.namespace, name)] = task
        self._mark_created((task.namespace, name))
        self._ensure_watch(task.namespace)
        self._observe(body)
        return True

    async def cancel(self, task: TaskSpec) -> None:
        name = self.plan.name(task)
        self._created.pop((task.namespace, name), None)
        if self._nodes.pop((task.namespace, name), None) is None or self._detached:
            return
        await self._call(self.api.delete_namespaced_pod, name, task.namespace)
        if (task.namespace, name) in self._with_inputs:
            await self._delete_inputs(task.namespace, name)

    # ---------------------------------------------------------- input artifacts

    async def _create_inputs(self, task: TaskSpec, config_map: dict[str, Any], started: float) -> bool:
        """Create the node's input ConfigMap (adopting the node's own on 409); ``False`` after
        reporting the node ``Error`` when it cannot be created."""
        name = str(config_map["metadata"]["name"])
        status, body = await self._call(self.api.create_namespaced_config_map, task.namespace, config_map)
        if status == 409:
            status, body = await self._call(self.api.read_namespaced_config_map, name, task.namespace)
            owner = ((body.get("metadata") or {}).get("annotations") or {}).get(NODE_ID_ANNOTATION) if status == 200 else None
            if status == 200 and owner != task.node_id:
                self._report(task, _error(f"ConfigMap {name} exists and belongs to node {owner!r}, not {task.node_id!r}", started))
                return False
        if status >= 300:
            self._report(task, _error(f"creating ConfigMap {name} for the input artifacts: {_reason(status, body)}", started))
            return False
        self._with_inputs.add((task.namespace, name))
        return True

    async def _delete_orphaned_inputs(self, task: TaskSpec, name: str) -> None:
        """Delete the input ConfigMap *name* a controller before this one made for *task*'s
        pod, now gone (only when it is that node's)."""
        status, body = await self._call(self.api.read_namespaced_config_map, name, task.namespace)
        owner = ((body.get("metadata") or {}).get("annotations") or {}).get(NODE_ID_ANNOTATION) if status == 200 else None
        if owner == task.node_id:
            await self._delete_inputs(task.namespace, name)

    async def _delete_inputs(self, namespace: str, name: str) -> None:
        self._with_inputs.discard((namespace, name))
        status, body = await self._call(self.api.delete_namespaced_config_map, name, namespace)
        if status >= 300 and status != 404:
            log.warning("input ConfigMap not deleted", namespace=namespace, config_map=name, error=_reason(status, body))

    def detach(self) -> None:
        """The controller is shutting down: from now on ``cancel`` leaves pods running, so a
        restarted controller attaches to them (as Argo's pods outlive its controller)."""
        self._detached = True

    async def close(self) -> None:
        self._closed = True
        tasks = [*self._watches.values(), *self._finishing]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._watches.clear()
        self._nodes.clear()

    # ---------------------------------------------------------------- podGC

    async def collect(self, namespace: str, workflow: str) -> int:
        """Delete every pod of *workflow* (``podGC`` ``OnWorkflowCompletion``/``OnWorkflowSuccess``,
        when the workflow ended so); the number of pods deleted."""
        selector = f"{WORKFLOW_LABEL}={workflow}"
        status, body = await self._call(self.api.list_namespaced_pod, namespace, label_selector=selector)
        if status != 200:
            return 0
        deleted = 0
        for pod in body.get("items") or []:
            meta = pod.get("metadata") or {}
            if (meta.get("labels") or {}).get(WORKFLOW_LABEL) != workflow:
                continue
            gone, _ = await self._call(self.api.delete_namespaced_pod, meta.get("name"), namespace)
            deleted += gone < 300
        return deleted

    # ---------------------------------------------------------------- watching

    def _ensure_watch(self, namespace: str) -> None:
        if namespace not in self._watches and not self._closed:
            self._watches[namespace] = asyncio.create_task(self._watch(namespace), name=f"pod watch {namespace}")

    async def _watch(self, namespace: str) -> None:
        """Follow the namespace's pods for as long as the executor lives (one stream at a time)."""
        bound = log.bind(namespace=namespace)
        while not self._closed:
            try:
                since = await self._relist(namespace)
                # "true", not True: the client would send "True", which not every server reads as a watch.
                response = await self.api.list_namespaced_pod(
                    namespace, watch="true", label_selector=self.plan.selector, resource_version=since,
                    _preload_content=False,
                )
                try:
                    async for line in response.content:
                        self._event(line)
                finally:
                    response.close()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the watch restarts whatever ended it
                bound.warning("pod watch failed; restarting", error=str(exc) or type(exc).__name__)
            if not self._closed:
                await asyncio.sleep(RECONNECT_DELAY)

    async def _relist(self, namespace: str) -> str:
        """List the namespace's pods before a watch: each is observed (an end missed while no
        watch ran is taken now), and a node whose pod was created before the list and is not
        in it lost its pod (a delete missed while no watch ran). The list's resourceVersion,
        for the watch to go on from."""
        listed_from = self._created_seq
        status, body = await self._call(self.api.list_namespaced_pod, namespace, label_selector=self.plan.selector)
        if status != 200:
            raise RuntimeError(f"listing pods: {_reason(status, body)}")
        names: set[str] = set()
        for pod in body.get("items") or []:
            if isinstance(pod, dict):
                names.add(str((pod.get("metadata") or {}).get("name")))
                self._observe(pod)
        for key, task in list(self._nodes.items()):
            if key[0] == namespace and key[1] not in names and self._created.get(key, listed_from + 1) <= listed_from:
                del self._nodes[key]
                self._report(task, _error("pod deleted", time.time()))
                if key in self._with_inputs:
                    self._later(self._delete_inputs(*key), f"delete inputs {key[1]}")
        return str((body.get("metadata") or {}).get("resourceVersion") or "")

    def _event(self, line: bytes) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            return
        pod = event.get("object") if isinstance(event, dict) else None
        if not isinstance(pod, dict) or pod.get("kind") == "Status":
            return
        if event.get("type") == "DELETED":
            meta = pod.get("metadata") or {}
            key = (str(meta.get("namespace")), str(meta.get("name")))
            task = self._nodes.get(key)
            if task is not None and self.plan.finished(pod, time.time()) is None:
                del self._nodes[key]
                self._report(task, _error("pod deleted", time.time()))
                inputs = self.plan.inputs_of(pod)
                if inputs is not None:  # the pod went before its node ended: its inputs go too
                    self._later(self._delete_inputs(key[0], inputs), f"delete inputs {inputs}")
                return
        self._observe(pod)

    def _observe(self, pod: Mapping[str, Any]) -> None:
        meta = pod.get("metadata") or {}
        key = (str(meta.get("namespace")), str(meta.get("name")))
        task = self._nodes.get(key)
        if task is None:
            return
        finished = self.plan.finished(pod, time.time())
        if finished is None:
            return
        del self._nodes[key]
        self._later(self._finish(task, pod, finished), f"finish {key[1]}")

    def _later(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Run *work* in a task of its own (cancelled by :meth:`close`)."""
        job = asyncio.create_task(work, name=name)
        self._finishing.add(job)
        job.add_done_callback(self._finishing.discard)

    async def _finish(self, task: TaskSpec, pod: Mapping[str, Any], finished: Finished) -> None:
        name = str((pod.get("metadata") or {}).get("name"))
        bound = log.bind(workflow=task.workflow, namespace=task.namespace, node=task.node_id, pod=name)
        if finished.spilled:
            status, text = await self._text(self.api.read_namespaced_pod_log, name, task.namespace, container="main")
            if status == 200:
                finished = self.plan.complete(finished, text)
            else:
                bound.warning("spilled outputs unreadable", status=status)
        result = finished.result
        if finished.artifacts or finished.directories:
            try:
                result = replace(result, artifacts=self._store_artifacts(task, finished.artifacts, finished.directories))
            except (OSError, ValueError) as exc:
                result = replace(result, phase="Error", message=f"storing the output artifacts: {exc}")
        self._report(task, result)
        bound.debug("node finished", phase=result.phase, exit_code=result.exit_code)
        inputs = self.plan.inputs_of(pod)
        if inputs is not None:  # placed by init long ago: the artifacts' copy in the API goes
            await self._delete_inputs(task.namespace, inputs)
        if self.plan.delete_when_done(task, result.phase):
            await self._call(self.api.delete_namespaced_pod, name, task.namespace)
            return
        patch: dict[str, Any] = {"metadata": {"labels": {COMPLETED_LABEL: "true"}}}
        if (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
            patch["spec"] = {"activeDeadlineSeconds": 1}  # main ended: stop the sidecars, keep the pod
        await self._call(self.api.patch_namespaced_pod, name, task.namespace, patch)

    def _store_artifacts(self, task: TaskSpec, artifacts: Mapping[str, bytes], directories: Mapping[str, bytes]) -> dict[str, str]:
        if self.artifact_dir is None:
            import tempfile

            self.artifact_dir = Path(tempfile.mkdtemp(prefix="hookbus-artifacts-"))
        where = self.artifact_dir / task.namespace / task.workflow / task.node_id
        where.mkdir(parents=True, exist_ok=True)
        out: dict[str, str] = {}
        for name, data in artifacts.items():
            path = where / name.replace("/", "_")
            path.write_bytes(data)
            out[name] = str(path)
        for name, data in directories.items():
            path = where / name.replace("/", "_")
            if path.exists():  # the node ran again (a restarted controller read its pod twice)
                import shutil

                shutil.rmtree(path) if path.is_dir() else path.unlink()
            self.plan.unpack(data, path)
            out[name] = str(path)
        return out

    # ---------------------------------------------------------------- internals

    def _mark_created(self, key: tuple[str, str]) -> None:
        """*key*'s pod exists now: a pod list begun after this must hold it."""
        self._created_seq += 1
        self._created[key] = self._created_seq

    def _report(self, task: TaskSpec, result: TaskResult) -> None:
        self._created.pop((task.namespace, self.plan.name(task)), None)
        result = replace(result, key=task.key, node_id=task.node_id)
        if self._sink is None:
            self._early.append(result)
        else:
            self._sink(result)

    async def _call(self, method: Any, *args: Any, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        """``(HTTP status, JSON body)`` of one API call; ``(0, {message})`` when the server is unreachable."""
        try:
            response = await method(*args, _preload_content=False, **kwargs)
            try:
                text = await response.text()
            finally:
                response.close()
        except (TimeoutError, OSError) as exc:
            return 0, {"message": f"the Kubernetes API is unreachable: {exc}"}
        except Exception as exc:  # the client raises ApiException for some statuses
            status = getattr(exc, "status", None)
            if isinstance(status, int):
                return status, _json(getattr(exc, "body", "") or "")
            return 0, {"message": str(exc) or type(exc).__name__}
        return int(response.status), _json(text)

    async def _text(self, method: Any, *args: Any, **kwargs: Any) -> tuple[int, str]:
        try:
            response = await method(*args, _preload_content=False, **kwargs)
            try:
                return int(response.status), await response.text()
            finally:
                response.close()
        except Exception as exc:
            status = getattr(exc, "status", None)
            return (status if isinstance(status, int) else 0), ""


def _json(text: str) -> dict[str, Any]:
    try:
        body = json.loads(text) if text else {}
    except ValueError:
        return {"message": text[:200]}
    return body if isinstance(body, dict) else {}


def _reason(status: int, body: Mapping[str, Any]) -> str:
    message = str(body.get("message") or body.get("reason") or "")
    return f"{status} {message}".strip() if status else message


def _error(message: str, started: float) -> TaskResult:
    return TaskResult(
        phase="Error", exit_code=None, message=message, result=None, parameters={},
        log_path=None, started_at=started, finished_at=time.time(),
    )
