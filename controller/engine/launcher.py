"""The leaf launcher: the hook calls before a leaf starts, its start, and its result.

A run queues the leaf nodes that became ready (:class:`LeafJob`); each pass the
launcher takes as many as may run (``max_running_nodes``, ``spec.parallelism``),
asks ``parameters.resolve``, ``node.preExecute`` and ``pod.preCreate`` for the
whole batch, starts executors (``start_concurrency`` at once; or ``http``/``plugin``
templates), and applies the
results as they come back (``node.postExecute`` first). Results reach the run as
:class:`TaskFinished` events in its queue: the controller routes the executor's
results there, ``http`` requests post theirs. Leaves the run stops (shutdown, deadline,
daemon end) are recorded at once and cancelled in the executor at the end of the pass;
after a restart, leaves that were running are offered to the executor to re-attach.
"""

from __future__ import annotations

import asyncio
from collections import ChainMap, deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from ..argo.durations import parse_duration
from ..argo.errors import ArgoError
from ..argo.substitute import placeholders, substitute
from . import key_artifacts
from .bounded import run_bounded
from .container_set import container_set_spec
from .hooks import ALLOW, CONTINUE, KEEP, NodeItem, PluginItem, PodDecision, PodItem, Verdict
from .http_template import run_http
from .model import ERROR, FAILED, FULFILLED, RETRIES_FIELD, RUNNING, SUCCEEDED, Node, public_node
from .pod_patch import apply_pod_spec_patch, pod_spec_patches
from .pods import apply_pod, pod_metadata, pod_of, process_spec
from .refs import EnvRefs, workflow_secrets
from .resolver import Memo, memo_store
from .resource_template import run_resource
from .tasks import TaskResult, TaskSpec
from .templates import (
    artifact_writers,
    input_files,
    leaf_outputs,
    output_artifact_paths,
    output_path_scope,
    output_paths,
    pod_dict,
)
from .volumes import node_mounts
from .warnings import MAX_NODE_WARNINGS, add_warnings, note_dropped

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence

    from ..argo.types import JSON
    from .hooks import WorkflowInfo
    from .nodes import NodeTable
    from .ports import Clock, Cluster, Executor, HookPoints, WorkflowKey
    from .scheduler import ExecCtx
    from .settings import ControllerSettings
    from .timers import Timers

log = structlog.get_logger(__name__)

REDACTED = "[redacted]"
"""What a secret value from ``parameters.resolve`` is replaced with in status, messages and outputs."""
_OWN_SCOPES = frozenset(
    {"inputs", "outputs", "workflow", "steps", "tasks", "item", "pod", "node", "lastRetry", "resourcesDuration", "cronworkflow"}
)
"""Placeholder scopes the engine resolves itself; any other ``{{scope.key}}`` belongs to a plugin."""


@dataclass(slots=True)
class LeafJob:
    """A leaf node waiting to start (or running): its substituted template."""

    node: Node
    template: JSON
    kind: str
    ctx: ExecCtx
    task: TaskSpec | None = None
    pod_spec_patch: tuple[JSON, ...] = ()
    """The node's ``podSpecPatch`` documents, substituted (``TaskSpec.pod_spec_patch``)."""


@dataclass(frozen=True, slots=True)
class TaskFinished:
    """A leaf's work ended (an executor's, an ``http`` request's)."""

    node_id: str
    result: TaskResult


class LeafHost(Protocol):
    """What the launcher needs of the run it launches for."""

    key: WorkflowKey
    name: str
    wf: JSON
    spec: JSON
    config_maps: dict[tuple[str, str], JSON]

    def finish(self, node: Node, phase: str, message: str = "", outputs: JSON | None = None) -> None: ...

    def accepting(self, ctx: ExecCtx) -> bool: ...

    def shutdown_message(self) -> str: ...

    def workflow_changed(self) -> None: ...


def _output_values(outputs: JSON, scope: Mapping[str, Any]) -> JSON:
    """*outputs* with each parameter's ``value`` substituted (``{{inputs.parameters.x}}``),
    as Argo substitutes a template's outputs with its inputs before it runs."""
    params = outputs.get("parameters")
    if not params or not any("value" in p for p in params):
        return outputs
    values = [{**p, "value": substitute(p["value"], scope, strict=False)} if "value" in p else p for p in params]
    return {**outputs, "parameters": values}


class LeafLauncher:
    """The leaves of one run: queued, held, running, and what their hooks said."""

    def __init__(
        self,
        host: LeafHost,
        table: NodeTable,
        *,
        settings: ControllerSettings,
        hooks: HookPoints,
        executor: Executor,
        memo: Memo,
        clock: Clock,
        timers: Timers,
        cluster: Cluster | None = None,
        info: WorkflowInfo,
        post: Callable[[TaskFinished], None],
        plugin_placeholders: bool,
    ) -> None:
        self.host = host
        self.table = table
        self.settings = settings
        self.hooks = hooks
        self.executor = executor
        self.memo = memo
        self.cluster = cluster
        self.clock = clock
        self.timers = timers
        self.info = info
        self.post = post
        self.plugin_placeholders = plugin_placeholders
        """Whether the manifest names any ``{{scope.key}}`` placeholder a plugin must resolve;
        when it does not, no node's template is scanned for them (a per-node cost)."""
        self.queue: deque[LeafJob] = deque()
        self.jobs: dict[str, LeafJob] = {}
        self.running: dict[str, asyncio.Task[None] | None] = {}
        """Leaves whose result is awaited: an ``http`` request's task, ``None`` for the executor's nodes."""
        self.stopping: list[TaskSpec] = []
        """Executor nodes this pass stopped (their outcome is recorded): cancelled at its end."""
        self.attaching: list[LeafJob] = []
        """Leaves that were running before a restart, to offer to the executor this pass."""
        self.held: dict[str, LeafJob] = {}
        self.executing: set[str] = set()
        """Leaf nodes whose node.preExecute fired and whose node.postExecute has not."""
        self.post_pending: list[str] = []
        """Leaf nodes that ended without an executor result (short-circuit, veto, deadline,
        lost in a restart): their node.postExecute goes out before the pass persists."""
        self.pods_created: list[JSON] = []
        self.secrets: set[str] = set()
        """Secret values plugins resolved: substituted into processes, redacted from status."""
        self.daemons: dict[str, str] = {}
        """Running daemon nodes and the boundary that ends them."""
        self.node_warnings: int | None = None
        """Plugin warnings kept on this workflow's nodes (counted when first needed)."""
        self.verdicts: list[Verdict] = []
        """Plugin verdicts of this pass, announced once it is persisted."""

    def enqueue(self, node: Node, tmpl: JSON, kind: str, ctx: ExecCtx, scope: Mapping[str, Any]) -> None:
        """Queue leaf *node* with its template substituted (``pod.name``, ``retries`` ... known now)."""
        job = self._job(node, tmpl, kind, ctx, scope)
        if job is not None:
            self.queue.append(job)

    def reattach(self, node: Node, tmpl: JSON, kind: str, ctx: ExecCtx, scope: Mapping[str, Any]) -> None:
        """Leaf *node* was running before a restart: offer it to the executor this pass
        (:meth:`attach_running`). Its ``node.preExecute`` fired then: ``node.postExecute`` is owed."""
        self.executing.add(node.id)
        job = self._job(node, tmpl, kind, ctx, scope)
        if job is not None:
            self.attaching.append(job)

    def _job(self, node: Node, tmpl: JSON, kind: str, ctx: ExecCtx, scope: Mapping[str, Any]) -> LeafJob | None:
        """*node*'s job with its template substituted, or ``None`` when the node ended here (Error)."""
        leaf_scope = ChainMap(
            {
                "pod.name": node.id,
                "node.name": node.name,
                "retries": str(ctx.retry_attempt or 0),
                **output_path_scope(tmpl),
            },
            scope,  # type: ignore[arg-type]
        )
        try:
            body = substitute({k: v for k, v in tmpl.items() if k != "outputs"}, leaf_scope, strict=False)
            body["outputs"] = _output_values(key_artifacts.resolve_output_keys(tmpl.get("outputs") or {}, leaf_scope), leaf_scope)
            patches = pod_spec_patches(body, self.host.spec, leaf_scope)
            body = apply_pod_spec_patch(body, self.host.spec, leaf_scope)
        except (ArgoError, ValueError) as exc:
            self.host.finish(node, ERROR, str(exc))
            return None
        if kind == "data":
            self.host.finish(node, ERROR, f"{kind} templates are not supported by this controller yet")
            return None
        return LeafJob(node, body, kind, ctx, pod_spec_patch=patches)

    def requeue_later(self, job: LeafJob, delay: float, *, hold_message: str | None = None) -> None:
        """Offer *job* again after *delay* (a ``hold`` decision or a plugin's ``requeue``).

        *hold_message*: the message a ``hold`` put on the node, taken off again when the
        node leaves the hold (the node's next phase must not show it)."""
        self.held[job.node.id] = job

        def again() -> None:
            if self.held.pop(job.node.id, None) is not None and not job.node.fulfilled:
                if hold_message is not None and job.node.message == hold_message:
                    job.node.message = ""
                    self.table.touch(job.node)
                self.queue.append(job)

        self.timers.call_at(self.clock.now() + delay, again)

    def launchable(self) -> list[LeafJob]:
        if not self.queue:
            return []
        if self.host.spec.get("suspend"):
            return []
        limit = self.settings.max_running_nodes
        parallelism = self.host.spec.get("parallelism")
        if parallelism:
            limit = min(limit, int(parallelism))
        free = limit - len(self.running)
        jobs: list[LeafJob] = []
        while self.queue and len(jobs) < free:
            job = self.queue.popleft()
            if job.node.fulfilled:
                continue
            if not self.host.accepting(job.ctx):
                self.host.finish(job.node, FAILED, self.host.shutdown_message())
                continue
            jobs.append(job)
        return jobs

    async def launch(self, jobs: list[LeafJob]) -> None:
        hooks = self.hooks
        if self.plugin_placeholders:
            jobs = await self._resolve_parameters(jobs)
        # node.postExecute is owed to every launched leaf, whatever ends it
        self.executing.update(j.node.id for j in jobs)
        for job in jobs:
            job.task = None  # built in this launch (ahead for pod.preCreate, or below), never kept from an earlier one
        if hooks.wants("node.preExecute", self.info):
            node_dicts = [public_node(j.node.to_dict()) for j in jobs]
            node_items = [NodeItem(node, j.template) for node, j in zip(node_dicts, jobs, strict=True)]
            if hooks.wants("pod.preCreate", self.info) and hooks.asks_ahead("pod.preCreate", self.info):
                # both hooks in one round trip: the pods are offered with the nodes
                decisions = await hooks.node_pre_execute(self.info, node_items, self._pods_ahead(jobs, node_dicts))
            else:
                decisions = await hooks.node_pre_execute(self.info, node_items)
        else:  # nobody to ask: build no request items
            decisions = [CONTINUE] * len(jobs)
        pods: list[LeafJob] = []
        plugins: list[LeafJob] = []
        answered: dict[str, PodDecision] = {}
        for job, decision in zip(jobs, decisions, strict=True):
            node = job.node
            if decision.verdicts:
                self.verdicts.extend(decision.verdicts)
            if decision.warnings:
                self.note_warnings(node, decision.warnings)
            if decision.decision == "shortCircuit":
                self.host.finish(node, decision.phase, decision.message, decision.outputs or {})
            elif decision.decision == "fail":
                # Error when the plugin itself failed (Fail policy), Failed when it said no.
                self.host.finish(node, ERROR if decision.phase == ERROR else FAILED, decision.message)
            elif decision.decision == "hold":
                delay = decision.requeue or 1.0
                node.message = decision.message
                self.table.touch(node)
                self.requeue_later(job, delay, hold_message=decision.message)
            elif decision.decision == "takeOver":
                node.taken_over = True
                self.table.set_phase(node, RUNNING)
                if decision.message:
                    node.message = decision.message
                    self.table.touch(node)
                self.jobs[node.id] = job
                if decision.requeue is not None:
                    # Argo's requeue: ask the plugin again then (it may say the node ended)
                    self.requeue_later(job, decision.requeue)
            elif job.kind == "plugin":
                plugins.append(job)
            elif job.kind in ("http", "resource"):
                self._start_http(job)
            else:
                pods.append(job)
                if decision.pod is not None:
                    answered[job.node.id] = decision.pod
        if plugins:
            await self._run_plugins(plugins)
        if not pods:
            return
        ready: list[LeafJob] = []
        for job in pods:
            try:
                if job.task is None:
                    job.task = self._task_spec(job)
                elif mounts := self._mounts(job):  # built ahead without them: add them now
                    job.task = replace(job.task, mounts=mounts)
            except (ArgoError, ValueError, KeyError) as exc:
                self.host.finish(job.node, ERROR, str(exc))
                continue
            ready.append(job)
        items = [j for j in ready if j.node.id not in answered]
        if not items or not hooks.wants("pod.preCreate", self.info):
            verdicts = [ALLOW] * len(items)
        else:
            verdicts = await hooks.pod_pre_create(
                self.info, [PodItem(public_node(j.node.to_dict()), pod_of(j.task, j.template), j.task) for j in items if j.task]
            )
        asked = dict(zip((j.node.id for j in items), verdicts, strict=True))
        starting: list[LeafJob] = []
        for job in ready:
            verdict = answered.get(job.node.id) or asked[job.node.id]
            if verdict.verdicts:
                self.verdicts.extend(verdict.verdicts)
            if verdict.warnings:
                self.note_warnings(job.node, verdict.warnings)
            if not verdict.allowed:
                self.host.finish(job.node, ERROR, f"pod creation vetoed: {verdict.message}")
                continue
            if verdict.pod is not None and job.task is not None:
                job.task = apply_pod(job.task, verdict.pod)
                # what plugins made of the pod's metadata stays visible on the node
                job.node.extra = {**(job.node.extra or {}), "podMetadata": pod_metadata(job.task)}
            starting.append(job)
        await run_bounded(starting, self._start_task, self.settings.start_concurrency)

    def _pods_ahead(self, jobs: list[LeafJob], nodes: list[JSON]) -> list[PodItem | None]:
        """The pod each job will get if it continues, for ``pod.preCreate`` asked ahead.

        Volume mounts are left out (they make directories): they are added once the node
        continues. A pod that cannot be built is not offered; the node fails the usual way.
        """
        out: list[PodItem | None] = []
        for job, node in zip(jobs, nodes, strict=True):
            item = None
            if job.kind not in ("plugin", "http"):
                try:
                    job.task = self._task_spec(job, mounts=False)
                except (ArgoError, ValueError, KeyError):
                    job.task = None
                else:
                    item = PodItem(node, pod_of(job.task, job.template), job.task)
            out.append(item)
        return out

    def note_warnings(self, node: Node, warnings: Sequence[str]) -> None:
        """Keep plugin *warnings* about *node* on it, and each distinct text on the workflow;
        past :data:`MAX_NODE_WARNINGS` in the workflow's nodes, count them as dropped."""
        extra = node.extra or {}
        kept = list(extra.get("warnings") or ())
        new = [w for w in warnings if w not in kept]
        if self.node_warnings is None:  # counted once (after a restart, from the stored nodes)
            self.node_warnings = sum(len((n.extra or {}).get("warnings") or ()) for n in self.table.nodes.values())
        room = max(MAX_NODE_WARNINGS - self.node_warnings, 0)
        if len(new) > room:
            note_dropped(self.host.wf, len(new) - room)
            self.host.workflow_changed()
            new = new[:room]
        if new:
            self.node_warnings += len(new)
            node.extra = {**extra, "warnings": kept + new}
            self.table.touch(node)
        if add_warnings(self.host.wf, warnings):
            self.host.workflow_changed()

    async def _resolve_parameters(self, jobs: list[LeafJob]) -> list[LeafJob]:
        """``parameters.resolve``: one call for every plugin placeholder left in this batch.

        Returns the jobs that may go on; a job with a placeholder no plugin resolved
        is finished as an Error naming the placeholder and its namespace (or, when
        the owning plugin failed under the ``Fail`` policy, naming plugin and hook). Secret
        values are remembered so that :meth:`finish` redacts them.
        """
        wanted: dict[str, None] = {}
        per_job: list[set[str]] = []
        for job in jobs:
            found = {n for n in placeholders(job.template) if plugin_placeholder(n)}
            per_job.append(found)
            wanted.update(dict.fromkeys(sorted(found)))
        if not wanted:
            return jobs
        names = list(wanted)
        if self.hooks.wants("parameters.resolve", self.info):
            values = await self.hooks.parameters_resolve(self.info, names)
        else:  # no plugin owns any namespace: every such placeholder is unresolved
            values = [None] * len(names)
        for value in values:
            if value is not None and value.verdicts:
                self.verdicts.extend(value.verdicts)
        values = [None if v is not None and v.missing else v for v in values]
        resolved = {n: v.value for n, v in zip(names, values, strict=True) if v is not None and not v.error}
        failed = {n: v.error for n, v in zip(names, values, strict=True) if v is not None and v.error}
        self.secrets.update(v.value for v in values if v is not None and v.secret and v.value)
        ready: list[LeafJob] = []
        for job, found in zip(jobs, per_job, strict=True):
            errors = sorted({failed[n] for n in found if n in failed})
            missing = sorted(found - resolved.keys() - failed.keys())
            if errors or missing:
                self.host.finish(job.node, ERROR, "; ".join(errors + ([_unresolved_message(missing)] if missing else [])))
                continue
            if found:
                job.template = substitute(job.template, resolved, strict=False)
            ready.append(job)
        return ready

    def _task_spec(self, job: LeafJob, *, mounts: bool = True) -> TaskSpec:
        refs = EnvRefs(self.host.key.namespace, self.host.config_maps, self.host.wf, self.secrets)
        pod = pod_dict(job.template, self.host.wf, refs)
        tmpl = job.template
        return TaskSpec(
            namespace=self.host.key.namespace,
            workflow=self.host.name,
            workflow_key=self.host.key,
            node_id=job.node.id,
            node_name=job.node.name,
            template_name=job.node.template_name,
            main=process_spec(pod["main"]),
            sidecars=tuple(process_spec(p) for p in pod["sidecars"]),
            init=tuple(process_spec(p) for p in [*artifact_writers(job.node.inputs), *pod["init"]]),
            output_parameters=output_paths(tmpl),
            timeout=None,
            annotations=pod["annotations"],
            labels=pod["labels"],
            output_artifacts=output_artifact_paths(tmpl),
            input_files=input_files(job.node.inputs),
            mounts=self._mounts(job) if mounts else {},
            container_set=container_set_spec(tmpl),
            attempt=self._attempt(),
            pod_security_context=pod.get("securityContext"),
            pod_spec_patch=job.pod_spec_patch,
        )

    def _attempt(self) -> str:
        """This run of the workflow's nodes: its uid and how often it was retried (``TaskSpec.attempt``)."""
        wf = self.host.wf
        uid = str((wf.get("metadata") or {}).get("uid", ""))
        retries = (wf.get("status") or {}).get(RETRIES_FIELD, 0)
        return f"{uid}.{retries}"

    def volume_root(self) -> Path | None:
        """The state directory volumes live under (the executor's when the settings name none)."""
        root = self.settings.state_dir or getattr(self.executor, "state_dir", None)
        return None if root is None else Path(root)

    def _mounts(self, job: LeafJob) -> dict[str, str]:
        """The node's volume mounts (see :mod:`.volumes`); raises ``TemplateError`` naming the volume.
        None when the executor mounts the template's volumes itself (pods in a cluster)."""
        if getattr(self.executor, "mounts_volumes", False):
            return {}
        return node_mounts(
            job.template,
            self.host.spec,
            root=self.volume_root(),
            namespace=self.host.key.namespace,
            workflow=self.host.name,
            node_id=job.node.id,
            config_map=lambda name: self.host.config_maps.get((self.host.key.namespace, name)) or self.host.config_maps.get(("", name)),
            allowed_host_paths=self.settings.allowed_host_paths,
            secret=self._secret_data,
        )

    def _secret_data(self, name: str) -> dict[str, str] | None:
        """The Secret *name* given with the workflow (its values redacted from outputs from now on)."""
        secrets = workflow_secrets(self.host.wf)
        data = secrets.get((self.host.key.namespace, name)) or secrets.get(("", name))
        if data is not None:
            self.secrets.update(v for v in data.values() if v)
        return data

    async def _start_task(self, job: LeafJob) -> None:
        """Record *job*'s node as started, then start it; several run at once (``start_concurrency``)."""
        node = job.node
        task = job.task
        assert task is not None
        node.started_at = self.clock.now()
        self.table.set_phase(node, RUNNING)
        self.jobs[node.id] = job
        self.pods_created.append({"node": node.id, "name": node.name, "image": task.main.image})
        self.running[node.id] = None
        try:
            await self.executor.start(task)
        except Exception as exc:  # an executor that breaks its contract: the node ends in Error
            now = self.clock.now()
            self.post(TaskFinished(node.id, TaskResult(ERROR, None, f"executor error: {exc}", None, {}, None, now, now)))
            return
        self._watch(job)

    def _watch(self, job: LeafJob) -> None:
        """A daemon's release of its dependants, and the node's deadline (from when it started)."""
        node = job.node
        if job.template.get("daemon"):
            # Argo's daemon: once it runs, dependants proceed; it is killed (Succeeded)
            # when the steps/DAG template that started it completes.
            node.extra = {**(node.extra or {}), "daemoned": True}
            self.daemons[node.id] = node.boundary_id
            self.table.done.append(node.id)
        deadline = _deadline_seconds(job.template)
        if deadline is not None:
            began = node.started_at if node.started_at is not None else self.clock.now()
            self.timers.call_at(began + deadline, lambda: self._node_deadline(node.id))

    async def attach_running(self) -> None:
        """Offer the leaves that were running before a restart to the executor.

        A node the executor still has stays Running and its result is awaited as if it had
        just started (daemon and deadline included); any other is recorded as lost (Error,
        the ``pod_deleted_message`` of the settings), as are ``http`` requests and
        ``resource`` actions (they do not outlive the controller) and nodes whose task
        cannot be rebuilt. A node a plugin took over stays Running and ``node.preExecute``
        asks the plugins about it again at once, as a ``requeue`` does: its owner answers
        ``takeOver`` again (and may report its end with the capability that request
        carries) or says how it ended.
        """
        jobs, self.attaching = self.attaching, []
        for job in jobs:
            node = job.node
            if node.fulfilled:
                continue
            if node.taken_over:
                self.jobs[node.id] = job
                self.requeue_later(job, 0.0)
            elif job.kind not in ("http", "resource", "plugin") and await self._attach(job):
                self.jobs[node.id] = job
                self.running[node.id] = None
                self._watch(job)
            else:
                self.host.finish(node, ERROR, self.settings.pod_deleted_message)

    async def _attach(self, job: LeafJob) -> bool:
        try:
            job.task = self._task_spec(job)
        except (ArgoError, ValueError, KeyError):
            return False
        try:
            return await self.executor.attach(job.task)
        except Exception:
            log.exception("executor failed to re-attach a node; recording it as lost", node=job.node.id)
            return False

    def _start_http(self, job: LeafJob) -> None:
        """``http`` and ``resource`` templates: the controller sends the request (or acts on
        the cluster) itself."""
        node = job.node
        node.started_at = self.clock.now()
        self.table.set_phase(node, RUNNING)
        self.jobs[node.id] = job
        template = job.template

        async def runner() -> None:
            if job.kind == "resource":
                spec = self.host.wf.get("spec") or {}
                result = await run_resource(template, self.cluster, self.info, self.settings.resource_poll_seconds, spec)
            else:
                result = await run_http(dict(template.get("http") or {}), self.settings.http_allow_networks)
            self.post(TaskFinished(node.id, result))

        self.running[node.id] = asyncio.create_task(runner(), name=f"hookbus-{job.kind}-{node.id}")
        deadline = _deadline_seconds(job.template)
        if deadline is not None:
            self.timers.call_at(self.clock.now() + deadline, lambda: self._node_deadline(node.id))

    def _stop(self, node_id: str) -> bool:
        """Stop running leaf *node_id* (``False``: it was not running). An ``http`` request is
        cancelled now, an executor's node at the end of the pass (:meth:`cancel_stopped`)."""
        if node_id not in self.running:
            return False
        request = self.running.pop(node_id)
        if request is not None:
            request.cancel()
        else:
            job = self.jobs.get(node_id)
            if job is not None and job.task is not None:
                self.stopping.append(job.task)
        return True

    async def cancel_stopped(self) -> None:
        """Cancel in the executor the nodes this pass stopped (their outcome is recorded already)."""
        if not self.stopping:
            return
        stopping, self.stopping = self.stopping, []
        cancel = self.executor.cancel
        if len(stopping) == 1:
            outcomes: list[BaseException | None] = [await _settled(cancel(stopping[0]))]
        else:
            outcomes = await asyncio.gather(*(cancel(task) for task in stopping), return_exceptions=True)
        for task, outcome in zip(stopping, outcomes, strict=True):
            if isinstance(outcome, Exception):
                log.error("executor failed to cancel a node", node=task.node_id, error=str(outcome))

    def stop_all(self) -> list[asyncio.Task[None]]:
        """Stop every running leaf (controller shutdown: nothing is recorded); the ``http``
        requests to wait for. The executor's nodes are cancelled by :meth:`cancel_stopped`."""
        requests = [r for r in self.running.values() if r is not None]
        for node_id in list(self.running):
            self._stop(node_id)
        return requests

    def _node_deadline(self, node_id: str) -> None:
        if not self._stop(node_id):
            return
        self.jobs.pop(node_id, None)
        self.host.finish(self.table.nodes[node_id], FAILED, "Pod was active on the node longer than the specified deadline")

    async def apply_results(self, results: list[TaskFinished]) -> None:
        live = [(r, self.jobs.get(r.node_id)) for r in results if r.node_id in self.running]
        applied: list[tuple[LeafJob, JSON, str, str]] = []
        for finished, job in live:
            del self.running[finished.node_id]
            if job is None:
                continue
            result = finished.result
            outputs, problem = leaf_outputs(job.template, result)
            phase = result.phase if result.phase in (SUCCEEDED, FAILED, ERROR) else ERROR
            message = result.message
            if problem is not None:
                phase, message = ERROR, problem
            elif phase == SUCCEEDED and job.template.get("daemon"):
                phase = FAILED  # as Argo: a daemon should run until its boundary ends and kills it
            if result.log_path:
                job.node.log_path = result.log_path
            if self.secrets:  # before node.postExecute plugins see them (lineage stores outputs)
                outputs, message = redact(outputs, self.secrets), redact(message, self.secrets)
            applied.append((job, outputs, phase, message))
        if not applied:
            return
        if not self.hooks.wants("node.postExecute", self.info):
            changes = [KEEP] * len(applied)
        else:
            items = []
            for job, outputs, phase, message in applied:
                preview = public_node(job.node.to_dict())
                preview.update(phase=phase, outputs=outputs, message=message)
                items.append(NodeItem(preview, job.template))
            changes = await self.hooks.node_post_execute(self.info, items)
        for (job, outputs, phase, message), change in zip(applied, changes, strict=True):
            if change.verdicts:
                self.verdicts.extend(change.verdicts)
            if change.warnings:
                self.note_warnings(job.node, change.warnings)
            self.jobs.pop(job.node.id, None)
            self.executing.discard(job.node.id)  # its node.postExecute just happened
            if change.outputs is not None:
                outputs = change.outputs
            if change.message is not None:
                message = change.message
            self.host.finish(job.node, phase, message, outputs)
            memo_store(self.memo, job.node, self.clock.now())

    async def _run_plugins(self, jobs: list[LeafJob]) -> None:
        replies = await self.hooks.template_execute(
            self.info, [PluginItem(public_node(j.node.to_dict()), j.template) for j in jobs]
        )
        for job, reply in zip(jobs, replies, strict=True):
            node = job.node
            if reply.verdicts:
                self.verdicts.extend(reply.verdicts)
            if reply.warnings:
                self.note_warnings(node, reply.warnings)
            if reply.phase is None:
                # Argo's agent: the node fails with exactly this message (plus the template's name here)
                self.host.finish(node, FAILED, f"no plugin executed the template {node.template_name!r}")
            elif reply.phase in FULFILLED:
                self.host.finish(node, reply.phase, reply.message, reply.outputs or {})
            else:
                self.table.set_phase(node, RUNNING)
                node.message = reply.message
                delay = reply.requeue if reply.requeue is not None else 10.0
                self.requeue_later(job, delay)

    def kill_daemons(self, boundary_id: str | None) -> None:
        """Stop the daemons started inside *boundary_id* (``None``: all of them); they Succeed."""
        for node_id, boundary in list(self.daemons.items()):
            if boundary_id is None or boundary == boundary_id:
                del self.daemons[node_id]
                self._stop(node_id)
                self.jobs.pop(node_id, None)
                self.host.finish(self.table.nodes[node_id], SUCCEEDED)

    def fail_active(self, message: str, *, include_exit: bool) -> None:
        """Kill running leaves and fail queued and held ones (exit handlers' only with *include_exit*)."""
        for node_id in list(self.running):
            job = self.jobs.get(node_id)
            if job is not None and job.ctx.on_exit and not include_exit:
                continue
            self._stop(node_id)
            self.jobs.pop(node_id, None)
            self.host.finish(self.table.nodes[node_id], FAILED, message)
        kept: deque[LeafJob] = deque()
        for job in self.queue:
            if job.ctx.on_exit and not include_exit:
                kept.append(job)
            else:
                self.host.finish(job.node, FAILED, message)
        self.queue = kept
        for node_id, job in list(self.held.items()):
            if include_exit or not job.ctx.on_exit:
                del self.held[node_id]
                self.host.finish(job.node, FAILED, message)

    async def post_execute_the_rest(self) -> None:
        """node.postExecute for leaf nodes that ended without an executor result."""
        pending = [self.table.nodes[i] for i in self.post_pending if i in self.table.nodes]
        self.post_pending.clear()
        if not pending or not self.hooks.wants("node.postExecute", self.info):
            return
        jobs = {n.id: self.jobs.pop(n.id, None) for n in pending}
        items = [NodeItem(public_node(n.to_dict()), jobs[n.id].template if jobs[n.id] else {}) for n in pending]  # type: ignore[union-attr]
        changes = await self.hooks.node_post_execute(self.info, items)
        for node, change in zip(pending, changes, strict=True):
            if change.verdicts:
                self.verdicts.extend(change.verdicts)
            if change.warnings:
                self.note_warnings(node, change.warnings)
            if change.outputs is not None:
                node.outputs = redact(change.outputs, self.secrets) if self.secrets else change.outputs
                self.table.touch(node)
            if change.message is not None:
                node.message = redact(change.message, self.secrets) if self.secrets else change.message
                self.table.touch(node)


async def _settled(outcome: Awaitable[None]) -> BaseException | None:
    """Await *outcome*; the exception it raised (``None``: none)."""
    try:
        await outcome
    except Exception as exc:
        return exc
    return None


def _deadline_seconds(tmpl: Mapping[str, Any]) -> float | None:
    values = []
    for key in ("activeDeadlineSeconds", "timeout"):
        raw = tmpl.get(key)
        if raw not in (None, ""):
            try:
                values.append(parse_duration(raw, what=key))
            except (ArgoError, ValueError):
                continue
    return min(values) if values else None


def plugin_placeholder(name: str) -> bool:
    """Whether ``{{name}}`` is a plugin's ``{{scope.key}}`` (not one the engine resolves itself)."""
    scope, dot, key = name.partition(".")
    return bool(dot and key and scope) and scope not in _OWN_SCOPES


def _unresolved_message(names: list[str]) -> str:
    """The error of a node whose plugin placeholders were not resolved."""
    tags = ", ".join("{{" + n + "}}" for n in names)
    scopes = ", ".join(sorted({repr(n.partition(".")[0]) for n in names}))
    return (
        f"unresolved placeholder {tags}: no live plugin owning the placeholder namespace {scopes} gave it a value "
        "(start a plugin that owns it, or fix the name; retrying the workflow does not help until then)"
    )


def redact(value: Any, secrets: set[str]) -> Any:
    """*value* with every secret string replaced by :data:`REDACTED` (strings, lists and maps)."""
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {k: redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, secrets) for v in value]
    return value
