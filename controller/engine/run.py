"""One workflow's live state and its scheduling passes: the coordinator.

A :class:`WorkflowRun` is driven by its worker (see :mod:`.reactor`), one batch of
events at a time. A pass applies the events (executor results, timers, commands),
lets the owning frames of finished nodes react (nothing else is looked at), then
for the leaves that became ready: hook calls for the whole batch, executor starts
(bounded), one ``put_nodes`` for every node that changed, and finally events.

The run's state is split by what it is about: the node table (:mod:`.nodes`), the
timers (:mod:`.timers`), the leaves (:mod:`.launcher`), what is saved and announced
(:mod:`.persister`), the workflow's variables (:mod:`.workflow_scope`); the run
coordinates them and is the :class:`~.scheduler.Scheduler` its frames work with.
"""

from __future__ import annotations

import asyncio
from collections import ChainMap
from functools import partial
from typing import TYPE_CHECKING, Any

from ..argo.durations import parse_duration
from ..argo.errors import ArgoError
from ..argo.substitute import placeholders, substitute
from . import frames
from .commands import apply_command
from .hooks import WorkflowInfo
from .launcher import LeafLauncher, plugin_placeholder, redact
from .lifecycle import LifeCycle, NodeHooks
from .messages import READ, Command, Event, Start, TaskFinished, Wake, answer_deleted
from .model import (
    DAG,
    ERROR,
    FAILED,
    HTTP,
    LEAF_TYPES,
    PENDING,
    PLUGIN,
    POD,
    RETRY,
    RUNNING,
    SKIPPED,
    SKIPPED_TYPE,
    STEPS,
    SUCCEEDED,
    SUSPEND,
    UNSUCCESSFUL,
    Node,
    timestamp,
)
from .nodes import NodeTable
from .persister import Persister
from .resolver import TemplateResolver, memo_lookup, memo_store
from .respec import RESPEC, apply_edit, deadline_passed
from .retry import RetryFrame
from .scheduler import MAX_DEPTH, Callback, ExecCtx, MaxDepthExceeded, Owner
from .scope import inputs_scope
from .snapshot import snapshot, snapshot_in_slices, workflow_record
from .suspends import Suspends
from .sync import RunSync
from .templates import bind_inputs, template_kind
from .timers import Timers
from .volumes import release_workflow_volumes
from .workflow_hooks import WorkflowHooks
from .workflow_scope import WorkflowScope, composite_outputs

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from ..argo.types import JSON
    from .env import RunEnv
    from .ports import Clock, WorkflowKey

__all__ = ["WORKFLOW_DONE", "WorkflowRun"]

WORKFLOW_DONE = frozenset({SUCCEEDED, FAILED, ERROR})


class WorkflowRun:
    """The in-memory state of one workflow and the logic of its scheduling passes."""

    def __init__(
        self,
        key: WorkflowKey,
        workflow: JSON,
        nodes: Mapping[str, JSON],
        env: RunEnv,
        post: Callable[[Event], None],
        config_maps: Mapping[tuple[str, str], JSON] | None = None,
        *,
        revision: int = 0,
    ) -> None:
        self.key = key
        self.wf = workflow
        self.env = env
        self.clock: Clock = env.clock
        self.post = post
        meta = workflow.setdefault("metadata", {})
        self.name: str = meta["name"]
        self.spec: JSON = workflow.setdefault("spec", {})
        self.status: JSON = workflow.setdefault("status", {})
        self.info = WorkflowInfo(
            namespace=key.namespace,
            name=self.name,
            uid=str(meta.get("uid", "")),
            labels=dict(meta.get("labels") or {}),
            annotations=dict(meta.get("annotations") or {}),
        )
        self.table = NodeTable(self.name, nodes, self.clock)
        self.nodes = self.table.nodes
        self.by_name = self.table.by_name
        self.counts = self.table.counts
        self.lifecycles: dict[str, LifeCycle] = self.table.watched
        # what frames ask of the node table and the timers, without a call in between
        self.lookup = self.by_name.get
        self.link = self.table.link
        self.new_node = self.table.new_node
        self.outbound = self.table.outbound
        self.progress = self.table.progress
        self.timers = Timers(self.clock, post, self.name)
        self.call_at = self.timers.call_at
        self.soon = self.timers.soon
        self.launcher = LeafLauncher(
            self,
            self.table,
            settings=env.settings,
            hooks=env.hooks,
            executor=env.executor,
            memo=env.memo,
            cluster=env.cluster,
            clock=self.clock,
            timers=self.timers,
            info=self.info,
            post=post,
            plugin_placeholders=any(
                plugin_placeholder(n) for n in placeholders([self.spec, self.status.get("storedTemplates")])
            ),
        )
        self.persister = Persister(
            key, self.table, store=env.store, hooks=env.hooks, events=env.events, info=self.info, revision=revision
        )
        self.scope = WorkflowScope(workflow, key.namespace, self.nodes, config_maps or {}, self.launcher.volume_root())
        self.config_maps = self.scope.config_maps
        self.globals = self.scope.globals
        self.templates = TemplateResolver(self.spec, self.status)
        self.pass_no = 0
        """Scheduling passes so far (frames budget their work per pass)."""
        self.pass_budget = env.settings.max_nodes_per_pass
        """Node work the current pass may do (the controller sets it before each pass)."""
        self.backoffs: dict[str, Any] = {}
        """Retry frames waiting out a backoff, by Retry node id (failed at once on shutdown)."""
        self.suspends = Suspends(self, self.nodes)
        self.sync = RunSync(self, env.locks, start=self._start, fail=self._set_workflow_phase)
        self.node_hooks = NodeHooks(self, self.table)
        self.workflow_hooks = WorkflowHooks(
            self,
            name=self.name,
            spec=self.spec,
            status=self.status,
            globals_=self.globals,
            nodes=self.nodes,
            shutdown=lambda: self.shutdown,
            complete=self._complete,
        )
        self.shutdown: str | None = str(self.spec.get("shutdown")) if self.spec.get("shutdown") else None
        self.deadline_exceeded = False
        self.done_event = asyncio.Event()
        self.changed = asyncio.Event()
        self.deleting = False
        """Set by the controller's ``delete``: passes do nothing more (see :data:`QUIESCE`)."""
        self.started = False
        if self.status.get("phase") in WORKFLOW_DONE:
            self.done_event.set()

    @property
    def phase(self) -> str:
        return str(self.status.get("phase") or PENDING)

    @property
    def revision(self) -> int:
        """The stored revision of the workflow record the run's next write is based on."""
        return self.persister.revision

    def touch(self, node: Node) -> None:
        self.table.dirty.add(node.id)

    def own(self, node: Node, owner: Owner) -> None:
        self.table.owners[node.id] = owner

    def notify(self, node: Node) -> None:
        self.table.done.append(node.id)

    def lifecycle_done(self, node: Node) -> None:
        self.lifecycles.pop(node.id, None)

    def workflow_changed(self) -> None:
        """The workflow record changed: store it with the pass."""
        self.persister.workflow_dirty = True

    def finish(self, node: Node, phase: str, message: str = "", outputs: JSON | None = None) -> None:
        """Put *node* in a final phase and queue its owner's reaction."""
        if node.fulfilled:
            return
        launcher = self.launcher
        if launcher.secrets:
            message, outputs = redact(message, launcher.secrets), redact(outputs, launcher.secrets)
        if outputs is not None:
            node.outputs = outputs or None
        if message:
            node.message = message
        node.finished_at = self.clock.now()
        if node.type not in LEAF_TYPES and node.type != SKIPPED_TYPE:
            node.progress = self.table.progress_of(node)
        self.table.set_phase(node, phase)
        self.table.dirty.add(node.id)
        if node.id in self.sync.nodes:
            self.sync.node_done(node.id)
        if node.id in launcher.executing:
            launcher.executing.discard(node.id)
            launcher.post_pending.append(node.id)
        if self.scope.register_globals(node):
            self.persister.workflow_dirty = True
        if node.outputs and "artifacts" in node.outputs:
            self.scope.index_artifacts(node)
        self.table.done.append(node.id)
        daemons = launcher.daemons
        daemons.pop(node.id, None)
        if daemons and node.type in (STEPS, DAG):
            launcher.kill_daemons(node.id)

    def accepting(self, ctx: ExecCtx) -> bool:
        """Whether new work may start in *ctx* (not after stop/terminate/deadline, except exit handlers on stop)."""
        if self.shutdown == "Terminate":
            return False
        if self.shutdown == "Stop" or self.deadline_exceeded:
            return ctx.on_exit
        return True

    def shutdown_message(self) -> str:
        if self.deadline_exceeded and not self.shutdown:
            return "Step exceeded its deadline"
        return f"Stopped with strategy '{self.shutdown}'"

    # --------------------------------------------------------------- execute

    def execute(
        self,
        name: str,
        step: Mapping[str, Any],
        scope: Mapping[str, Any],
        ctx: ExecCtx,
        owner: Owner,
        *,
        display: str,
        parents: list[str],
        arguments: Mapping[str, Any] | None = None,
    ) -> Node:
        """Run the template *step* refers to as node *name* (Argo's executeTemplate)."""
        if ctx.depth > MAX_DEPTH:
            raise MaxDepthExceeded
        existing = self.by_name.get(name)
        if existing is not None:
            for parent in parents:
                self.table.link(parent, existing.id)
            return self._adopt(existing, step, scope, ctx, owner, arguments)
        try:
            tmpl, tname, tctx = self.templates.resolve(step, ctx)
            kind = template_kind(tmpl)
            if arguments is None:
                arguments = substitute(step.get("arguments") or {}, scope, strict=False)
            strategy = tmpl.get("retryStrategy") or self.spec.get("retryStrategy") or {}
            retried = bool(strategy) and ctx.retry_attempt is None and kind != "suspend"
            inputs = {} if retried else bind_inputs(tmpl, arguments, self.scope.config_map, self.scope.artifact_data)
            if inputs.get("parameters"):
                # a template's own input values/defaults may use global variables
                inputs["parameters"] = substitute(inputs["parameters"], self.globals, strict=False)
            parked = bool(tmpl.get("synchronization")) and self.sync.blocks(name, tmpl, ctx.retry_attempt)
        except (ArgoError, ValueError, KeyError, TypeError) as exc:
            node = self.table.new_node(name, POD, str(step.get("template") or ""), PENDING, ctx.boundary_id, display)
            self._attach(node, parents, owner, step, ctx, scope)
            self.finish(node, ERROR, str(exc))
            return node
        node_type = RETRY if retried else {"steps": STEPS, "dag": DAG, "suspend": SUSPEND, "plugin": PLUGIN, "http": HTTP}.get(kind, POD)
        phase = RUNNING if node_type in (STEPS, DAG, SUSPEND, RETRY) and not parked else PENDING
        node = self.table.new_node(name, node_type, tname, phase, ctx.boundary_id, display, inputs=inputs)
        self._attach(node, parents, owner, step, ctx, scope)
        if parked:
            self.sync.park(node, partial(self.execute, name, step, scope, ctx, owner, display=display, parents=[], arguments=arguments), ctx.on_exit)
        elif retried:
            RetryFrame(self, node, step, strategy, scope, ctx, arguments).start()
        else:
            self._begin(node, tmpl, kind, tctx, inputs)
        return node

    def _attach(
        self, node: Node, parents: list[str], owner: Owner, step: Mapping[str, Any], ctx: ExecCtx, scope: Mapping[str, Any]
    ) -> None:
        for parent in parents:
            self.table.link(parent, node.id)
        if ctx.hooked or ctx.retry_attempt is not None:
            node.extra = {**(node.extra or {}), "nodeFlag": ctx.node_flag()}
        self.node_hooks.own(node, step, ctx, owner, scope)

    def _begin(self, node: Node, tmpl: JSON, kind: str, ctx: ExecCtx, inputs: JSON) -> None:
        scope = ChainMap(inputs_scope(inputs), self.globals)
        memoized = memo_lookup(self.env.memo, node, tmpl, scope, self.clock.now())
        if memoized is not None:  # from the cache, without running it (nor its children)
            self.finish(node, SUCCEEDED, outputs=memoized)
        elif kind == "steps":
            frames.StepsFrame(self, node, tmpl, scope, ctx).start()
        elif kind == "dag":
            frames.DagFrame(self, node, tmpl, scope, ctx).start()
        elif kind == "suspend":
            self.suspends.suspend(node, tmpl, scope)
        else:
            self.launcher.enqueue(node, tmpl, kind, ctx, scope)

    def _adopt(
        self,
        node: Node,
        step: Mapping[str, Any],
        scope: Mapping[str, Any],
        ctx: ExecCtx,
        owner: Owner,
        arguments: Mapping[str, Any] | None,
    ) -> Node:
        """Re-attach an existing node after a restart (or a retry of the workflow)."""
        self.node_hooks.own(node, step, ctx, owner, scope)
        if node.fulfilled:
            if self.scope.register_globals(node):
                self.persister.workflow_dirty = True
            self.table.done.append(node.id)
            return node
        try:
            tmpl, _, tctx = self.templates.resolve(step, ctx)
            kind = template_kind(tmpl)
            if arguments is None:
                arguments = substitute(step.get("arguments") or {}, scope, strict=False)
            if self.sync.blocks(node.name, tmpl, ctx.retry_attempt):
                self.sync.park(node, partial(self.execute, node.name, step, scope, ctx, owner, display=node.display_name, parents=[], arguments=arguments), ctx.on_exit)
                return node
        except (ArgoError, ValueError) as exc:
            self.finish(node, ERROR, str(exc))
            return node
        if node.type == RETRY:
            strategy = tmpl.get("retryStrategy") or self.spec.get("retryStrategy") or {}
            RetryFrame(self, node, step, strategy, scope, ctx, arguments).start()
            return node
        inputs = node.inputs or {}
        if node.type in LEAF_TYPES and node.phase == RUNNING and node.type != PLUGIN:
            # Running before the restart: the executor may still have it (else it is lost).
            self.launcher.reattach(node, tmpl, kind, tctx, ChainMap(inputs_scope(inputs), self.globals))
            return node
        self._begin(node, tmpl, kind, tctx, inputs)
        return node

    def skipped_node(
        self,
        name: str,
        display: str,
        step: Mapping[str, Any],
        ctx: ExecCtx,
        parents: list[str],
        owner: Owner,
        message: str,
        *,
        phase: str = SKIPPED,
    ) -> Node:
        node = self.table.new_node(name, SKIPPED_TYPE, frames.template_name(step), phase, ctx.boundary_id, display, message)
        for parent in parents:
            self.table.link(parent, node.id)
        self.table.owners[node.id] = owner
        if node.fulfilled:
            self.table.done.append(node.id)
        else:
            self.finish(node, phase, message)
        return node

    def error_node(
        self, name: str, display: str, step: Mapping[str, Any], ctx: ExecCtx, parents: Any, owner: Owner, message: str
    ) -> Node:
        node = self.table.new_node(name, POD, frames.template_name(step), PENDING, ctx.boundary_id, display)
        for parent in [parents] if isinstance(parents, str) else parents:
            self.table.link(parent, node.id)
        self.table.owners[node.id] = owner
        if node.fulfilled:
            self.table.done.append(node.id)
        else:
            self.finish(node, ERROR, message)
        return node

    def declared_outputs(self, step: Mapping[str, Any], ctx: ExecCtx) -> list[JSON]:
        try:
            tmpl, _, _ = self.templates.resolve(step, ctx)
        except (ArgoError, ValueError, KeyError, TypeError):
            return []
        return list((tmpl.get("outputs") or {}).get("parameters") or [])

    def finish_composite(self, node: Node, tmpl: Mapping[str, Any], scope: Mapping[str, Any]) -> None:
        """Finish a steps/DAG node Succeeded, resolving its template outputs from *scope*."""
        try:
            outputs = composite_outputs(tmpl, scope)
        except (ArgoError, ValueError) as exc:
            self.finish(node, ERROR, str(exc))  # Argo's message, as the template's outputs gave it
            return
        self.finish(node, SUCCEEDED, outputs=outputs)
        memo_store(self.env.memo, node, self.clock.now())

    # ------------------------------------------------------------------- pass

    async def handle(self, events: list[Event]) -> None:
        """One scheduling pass over a batch of events."""
        if self.deleting:
            answer_deleted(events, f"workflow {self.key.namespace}/{self.key.name} was deleted")
            return
        reads = [e for e in events if isinstance(e, Command) and e.op == READ]
        if reads and len(reads) == len(events):
            await self._serve_reads(reads)  # nothing to schedule: no pass, no "changed"
            return
        self.pass_no += 1
        launcher = self.launcher
        results = [e for e in events if isinstance(e, TaskFinished)]
        if results:
            await launcher.apply_results(results)
        for event in events:
            if isinstance(event, Start):
                self._start()
            elif isinstance(event, Command) and event.op != READ:
                self._command(event)
        if any(isinstance(e, Wake) for e in events):
            self.timers.run_due()
        self.timers.run_soon()
        while True:
            self._drain()
            if launcher.attaching:
                await launcher.attach_running()
                continue
            jobs = launcher.launchable()
            if not jobs:
                break
            await launcher.launch(jobs)
        if self.table.done:
            self._drain()
        await launcher.cancel_stopped()
        await launcher.post_execute_the_rest()
        announced = await self.persister.save(self.wf, self.status, launcher.pods_created, launcher.verdicts)
        if announced is not None and announced[0] in WORKFLOW_DONE:
            self.done_event.set()
        self.changed.set()
        await self._serve_reads(reads)

    async def _serve_reads(self, reads: list[Command]) -> None:
        for read in reads:
            built = await snapshot_in_slices(self.table, self.wf, self.phase)
            if read.future is not None and not read.future.done():
                read.future.set_result(built)

    def _drain(self) -> None:
        table = self.table
        done, owners, nodes = table.done, table.owners, table.nodes
        while done or table.checks:
            while done:
                node_id = done.popleft()
                owner = owners.pop(node_id, None)
                if owner is not None:
                    owner.child_done(nodes[node_id])
            checks, table.checks = table.checks, set()
            for node_id in checks:
                lifecycle = self.lifecycles.get(node_id)
                if lifecycle is not None and not lifecycle.finished:
                    lifecycle.evaluate()

    def _start(self) -> None:
        if self.started:
            return
        self.started = True
        if self.phase in WORKFLOW_DONE:
            return
        if self.scope.failure is not None:  # a global parameter Argo cannot set: nothing runs
            return self._set_workflow_phase(*self.scope.failure)
        if not self.sync.admit_workflow():
            self.started = False  # started again once its locks are held
            return
        now = self.clock.now()
        if self.phase == PENDING:
            self.status["phase"] = RUNNING
            self.status["startedAt"] = timestamp(now)
            self.status["x-startedAt"] = now
            self.persister.workflow_dirty = True
            self.persister.phase_event = (RUNNING, "")
        deadline = self.spec.get("activeDeadlineSeconds")
        if deadline not in (None, ""):
            began = float(self.status.get("x-startedAt", now))
            self.timers.call_at(began + parse_duration(deadline, what="activeDeadlineSeconds"), self.deadline_due)
        entry = {"template": self.spec.get("entrypoint")}
        self.workflow_hooks.evaluate(RUNNING)
        root = Callback(self.workflow_hooks.root_done)
        args = self.scope.entry_arguments()
        self.execute(self.name, entry, self.globals, ExecCtx(""), root, display=self.name, parents=[], arguments=args)

    def _complete(self, root: Node, exit_node: Node | None) -> None:
        """The root node, the exit handler and the workflow's hooks are done: the workflow's phase."""
        self.launcher.kill_daemons(None)
        if self.phase in WORKFLOW_DONE:
            return  # already ended (an internal error)
        message = root.message
        if root.phase in UNSUCCESSFUL and self.shutdown:
            message = f"Stopped with strategy '{self.shutdown}'"
        if root.phase in (SUCCEEDED, SKIPPED):
            if exit_node is not None and exit_node.phase in UNSUCCESSFUL:
                phase, message = exit_node.phase, exit_node.message
            else:
                phase, message = SUCCEEDED, ""
        elif root.phase == ERROR:
            phase = ERROR
        else:
            phase = FAILED
        self._set_workflow_phase(phase, message)

    def _set_workflow_phase(self, phase: str, message: str) -> None:
        now = self.clock.now()
        self.status["phase"] = phase
        self.status["message"] = message or None
        if phase in WORKFLOW_DONE:
            self.status["finishedAt"] = timestamp(now)
            self.sync.release_all()
            root = self.launcher.volume_root()
            release_workflow_volumes(self.spec, root=root, namespace=self.key.namespace, workflow=self.name, phase=phase)
        self.persister.workflow_dirty = True
        self.persister.phase_event = (phase, message)
        self.timers.clear()

    def deadline_due(self) -> None:
        """A deadline timer fired: fail what runs if ``activeDeadlineSeconds`` (as it is now) passed."""
        if self.phase in WORKFLOW_DONE or not deadline_passed(self.spec, self.status, self.clock.now()):
            return  # an edit moved or removed it; a timer of its own fires then
        self.deadline_exceeded = True
        self.fail_active("Step exceeded its deadline")

    def fail_active(self, message: str, *, include_exit: bool = False) -> None:
        """Kill running leaves, fail pending ones and active suspends (Argo's shutdown)."""
        self.launcher.fail_active(message, include_exit=include_exit)
        self.suspends.fail_all(message)
        self.sync.fail_waiting(message, include_exit=include_exit, terminate=self.shutdown == "Terminate")
        for node_id, frame in list(self.backoffs.items()):
            if include_exit or not frame.ctx.on_exit:
                del self.backoffs[node_id]
                self.finish(frame.node, FAILED, message)

    # ---------------------------------------------------------------- commands

    def _command(self, cmd: Command) -> None:
        try:
            if cmd.op == RESPEC:
                result = apply_edit(self, clock_now=self.clock.now, **cmd.args)
            else:
                result = apply_command(self, cmd)
        except Exception as exc:
            if cmd.future is not None and not cmd.future.done():
                cmd.future.set_exception(exc)
            return
        if cmd.future is not None and not cmd.future.done():
            cmd.future.set_result(result)

    # --------------------------------------------------------------- snapshots

    def workflow_object(self) -> JSON:
        """The workflow without ``status.nodes`` (what the store keeps as the workflow record)."""
        return workflow_record(self.wf, self.status)

    def snapshot(self) -> JSON:
        """An Argo-like Workflow object with every node (``get``)."""
        return snapshot(self.table, self.wf, self.phase)

    def crash(self, message: str) -> None:
        """An internal error in a pass: end the workflow in Error (it is never retried blindly)."""
        if self.phase in WORKFLOW_DONE:
            return
        self.shutdown = "Terminate"
        self.fail_active(message, include_exit=True)
        self.launcher.kill_daemons(None)
        self._set_workflow_phase(ERROR, message)

    async def close(self) -> None:
        """Cancel timers, ``http`` requests and the executor's nodes (controller shutdown);
        nodes stay as persisted."""
        tasks = self.launcher.stop_all()
        self.sync.release_all()
        sleeper = self.timers.sleeper()
        if sleeper is not None:
            tasks.append(sleeper)
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        await self.launcher.cancel_stopped()
