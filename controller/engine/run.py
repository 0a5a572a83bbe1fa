"""One workflow's live state and its scheduling passes.

A :class:`WorkflowRun` is driven by its worker (see :mod:`.reactor`), one batch of
events at a time. A pass applies the events (executor results, timers, commands),
lets the owning frames of finished nodes react (nothing else is looked at), then
for the leaves that became ready: hook calls for the whole batch, executor starts
(bounded), one ``put_nodes`` for every node that changed, and finally events.
"""

from __future__ import annotations

import asyncio
import copy
import heapq
import itertools
import json
from collections import ChainMap, deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from ..argo import names
from ..argo.errors import ArgoError
from ..argo.manifest import strategic_merge
from ..argo.substitute import placeholders, substitute
from ..executors.base import ProcessSpec, TaskResult, TaskSpec
from ..plugin_warnings import add_warnings
from . import frames, key_artifacts
from .hooks import (
    ALLOW,
    CONTINUE,
    KEEP,
    NodeItem,
    PluginItem,
    PodDecision,
    PodItem,
    WorkflowInfo,
)
from .http_template import run_http
from .lifecycle import LifeCycle, expression_hooks
from .lifecycle import holds as lifecycle_holds
from .model import (
    CHILD_CHUNK,
    DAG,
    ERROR,
    FAILED,
    FULFILLED,
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
    merge_records,
    public_node,
    storage_records,
    timestamp,
)
from .scope import artifact_ref, format_value, inputs_scope, node_scope
from .templates import (
    ARTIFACT_KEY,
    ARTIFACT_PATH_KEY,
    ARTIFACT_REF,
    StoredArtifact,
    TemplateError,
    artifact_writers,
    bind_inputs,
    input_files,
    leaf_outputs,
    output_artifact_paths,
    output_path_scope,
    output_paths,
    parse_duration,
    pod_dict,
    repository_key,
    stored_template_key,
    template_kind,
)
from .volumes import node_mounts, release_workflow_volumes, workflow_dir

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from ..adapters.store import WorkflowKey
    from ..executors.base import Executor
    from .clock import Clock
    from .hooks import EventSink, HookPoints
    from .settings import ControllerSettings

log = structlog.get_logger(__name__)

JSON = dict[str, Any]
_OWN_SCOPES = frozenset(
    {"inputs", "outputs", "workflow", "steps", "tasks", "item", "pod", "node", "lastRetry", "resourcesDuration", "cronworkflow"}
)
"""Placeholder scopes the engine resolves itself; any other ``{{scope.key}}`` belongs to a plugin."""
REDACTED = "[redacted]"
"""What a secret value from ``parameters.resolve`` is replaced with in status, messages and outputs."""
WORKFLOW_DONE = frozenset({SUCCEEDED, FAILED, ERROR})
QUIESCE = "quiesce"
"""The command a ``delete`` waits for: once the worker reaches it, no pass of the workflow
is under way and, the run being marked deleting, none will start (none writes it back)."""
READ = "read"
"""The command that builds a snapshot in the workflow's own worker (see :meth:`WorkflowRun.snapshot_in_slices`)."""
SNAPSHOT_SLICE = 2_000
"""Nodes a snapshot built in slices turns into dicts between two turns of the event loop (a few ms)."""


class Owner(Protocol):
    def child_done(self, node: Node) -> None: ...


class StoreLike(Protocol):
    async def put_workflow(self, key: WorkflowKey, workflow: JSON) -> int: ...
    async def put_nodes(self, key: WorkflowKey, nodes: Mapping[str, JSON]) -> None: ...
    async def delete_nodes(self, key: WorkflowKey, ids: Any) -> None: ...


@dataclass(frozen=True, slots=True)
class ExecCtx:
    """Where a template executes: its boundary, template owner, exit-handler flag, attempt."""

    boundary_id: str
    owner: str = ""
    """``namespaced/<WorkflowTemplate>`` when running a template of a templateRef."""
    on_exit: bool = False
    retry_attempt: int | None = None

    def inner(self, boundary_id: str) -> ExecCtx:
        return ExecCtx(boundary_id, self.owner, self.on_exit, None)

    def attempt(self, number: int) -> ExecCtx:
        return ExecCtx(self.boundary_id, self.owner, self.on_exit, number)


@dataclass(slots=True)
class LeafJob:
    """A leaf node waiting to start (or running): its substituted template."""

    node: Node
    template: JSON
    kind: str
    ctx: ExecCtx
    task: TaskSpec | None = None


# ------------------------------------------------------------------ events


@dataclass(frozen=True, slots=True)
class TaskFinished:
    node_id: str
    result: TaskResult


@dataclass(frozen=True, slots=True)
class Wake:
    """A timer may be due."""


@dataclass(slots=True)
class Command:
    op: str
    args: Mapping[str, Any] = field(default_factory=dict)
    future: asyncio.Future[Any] | None = None


@dataclass(frozen=True, slots=True)
class Start:
    """Operate on the workflow (first time, or resume after a restart)."""


Event = TaskFinished | Wake | Command | Start


@dataclass
class RunEnv:
    """What a run needs from its controller."""

    settings: ControllerSettings
    executor: Executor
    hooks: HookPoints
    events: EventSink
    store: StoreLike
    clock: Clock
    memo: dict[tuple[str, str], tuple[JSON, float]]


class _RootOwner:
    def __init__(self, run: WorkflowRun) -> None:
        self.run = run

    def child_done(self, node: Node) -> None:
        self.run._root_done(node)


class _WorkflowHookDone:
    def __init__(self, run: WorkflowRun) -> None:
        self.run = run

    def child_done(self, node: Node) -> None:
        self.run._wf_hook_done(node)


class _ExitOwner:
    def __init__(self, run: WorkflowRun) -> None:
        self.run = run

    def child_done(self, node: Node) -> None:
        self.run._exit_done(node)


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
    ) -> None:
        self.key = key
        self.wf = workflow
        self.env = env
        self.clock = env.clock
        self.post = post
        self.config_maps = dict(config_maps or {})
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
        self._plugin_placeholders = any(
            _plugin_placeholder(n) for n in placeholders([self.spec, self.status.get("storedTemplates")])
        )
        """Whether the manifest names any ``{{scope.key}}`` placeholder a plugin must resolve;
        when it does not, no node's template is scanned for them (a per-node cost)."""
        self.nodes: dict[str, Node] = {i: Node.from_dict(d) for i, d in merge_records(nodes).items()}
        self.by_name: dict[str, Node] = {n.name: n for n in self.nodes.values()}
        self._owners: dict[str, Owner] = {}
        self._done: deque[str] = deque()
        self._queue: deque[LeafJob] = deque()
        self._jobs: dict[str, LeafJob] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._dirty: set[str] = set()
        self._changed_phase: set[str] = set()
        self._executing: set[str] = set()
        """Leaf nodes whose node.preExecute fired and whose node.postExecute has not."""
        self._post_pending: list[str] = []
        """Leaf nodes that ended without an executor result (short-circuit, veto, deadline,
        lost in a restart): their node.postExecute goes out before the pass persists."""
        self._pods_created: list[JSON] = []
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._timer_seq = itertools.count()
        self._timer_task: asyncio.Task[None] | None = None
        self._timer_at: float | None = None
        self._soon: list[Callable[[], None]] = []
        self.pass_no = 0
        """Scheduling passes so far (frames budget their work per pass)."""
        self.pass_budget = env.settings.max_nodes_per_pass
        """Node work the current pass may do (the controller sets it before each pass)."""
        self._wf_dirty = False
        self._phase_event: tuple[str, str] | None = None
        self._suspended_nodes: dict[str, JSON] = {}
        self._exit_frames: dict[str, frames.ExitFrame] = {}
        self._child_sets: dict[str, set[str]] = {}
        self._stored_ids: dict[tuple[str, str], tuple[list[str], int]] = {}
        """(node id, ``children``/``outboundNodes``) -> (that list, how many of its ids are
        stored): lists long enough to be chunked, so a growing one rewrites only new chunks."""
        self.lifecycles: dict[str, LifeCycle] = {}
        self._wf_hooks = expression_hooks(self.spec)
        self._wf_fired: set[str] = set()
        self._wf_pending: set[str] = set()
        self._deferred: tuple[Node, Node | None] | None = None
        self._repository: dict[str, str | StoredArtifact] | None = None
        self._hook_checks: set[str] = set()
        self._held: dict[str, LeafJob] = {}
        self._secrets: set[str] = set()
        """Secret values plugins resolved: substituted into processes, redacted from status."""
        self._daemons: dict[str, str] = {}
        self.backoffs: dict[str, Any] = {}
        """Retry frames waiting out a backoff, by Retry node id (failed at once on shutdown)."""
        self._defaulted: dict[int, JSON] = {}
        self._keep: list[JSON] = []  # templates whose id() keys _defaulted stay alive
        self._exit_steps: dict[str, tuple[Mapping[str, Any], ExecCtx, Mapping[str, Any], str]] = {}
        self._root_phase: Node | None = None
        self.shutdown: str | None = str(self.spec.get("shutdown")) if self.spec.get("shutdown") else None
        self.deadline_exceeded = False
        self.globals: dict[str, Any] = {}
        self.counts: dict[str, int] = {}
        for node in self.nodes.values():
            if node.type in LEAF_TYPES:
                self.counts[node.phase] = self.counts.get(node.phase, 0) + 1
        self.done_event = asyncio.Event()
        self.changed = asyncio.Event()
        self.deleting = False
        """Set by the controller's ``delete``: passes do nothing more (see :data:`QUIESCE`)."""
        self.started = False
        if self.status.get("phase") in WORKFLOW_DONE:
            self.done_event.set()
        self._build_globals()

    # ------------------------------------------------------------ bookkeeping

    @property
    def phase(self) -> str:
        return str(self.status.get("phase") or PENDING)

    def node_id(self, name: str) -> str:
        return names.node_id(self.name, name)

    def lookup(self, name: str) -> Node | None:
        return self.by_name.get(name)

    def touch(self, node: Node) -> None:
        self._dirty.add(node.id)

    def own(self, node: Node, owner: Owner) -> None:
        self._owners[node.id] = owner

    def notify(self, node: Node) -> None:
        self._done.append(node.id)

    def link(self, parent_id: str, child_id: str) -> None:
        """Add *child_id* to the parent's children once (O(1): big fan-outs stay linear)."""
        parent = self.nodes.get(parent_id)
        if parent is None:
            return
        children = parent.children
        if len(children) < 16:
            if child_id in children:
                return
        else:
            known = self._child_sets.get(parent_id)
            if known is None:
                known = self._child_sets[parent_id] = set(children)
            if child_id in known:
                return
            known.add(child_id)
        children.append(child_id)
        self._dirty.add(parent_id)

    def _set_phase(self, node: Node, phase: str) -> None:
        if node.phase == phase:
            return
        if node.type in LEAF_TYPES:
            self.counts[node.phase] = self.counts.get(node.phase, 1) - 1
            self.counts[phase] = self.counts.get(phase, 0) + 1
        node.phase = phase
        self._dirty.add(node.id)
        self._changed_phase.add(node.id)
        if node.id in self.lifecycles:
            self._hook_checks.add(node.id)

    def new_node(
        self,
        name: str,
        type_: str,
        template_name: str,
        phase: str,
        boundary_id: str,
        display: str,
        message: str = "",
        inputs: JSON | None = None,
    ) -> Node:
        """The node called *name*: the existing one (adopted after a restart) or a new one."""
        existing = self.by_name.get(name)
        if existing is not None:
            return existing
        node_id = self.node_id(name)
        if node_id in self.nodes:
            # fnv32a ids collide (likely past ~50k nodes): keep ids unique with a suffix
            base, k = node_id, 1
            while node_id in self.nodes:
                node_id = f"{base}-{k}"
                k += 1
            log.warning("node id collision", node=name, id=node_id, other=self.nodes[base].name)
        node = Node(
            id=node_id,
            name=name,
            display_name=display,
            type=type_,
            template_name=template_name,
            phase=phase,
            boundary_id=boundary_id,
            started_at=self.clock.now(),
            message=message,
            inputs=inputs or None,
        )
        self.nodes[node_id] = node
        self.by_name[name] = node
        if type_ in LEAF_TYPES:
            self.counts[phase] = self.counts.get(phase, 0) + 1
        self._dirty.add(node_id)
        self._changed_phase.add(node_id)
        return node

    def finish(self, node: Node, phase: str, message: str = "", outputs: JSON | None = None) -> None:
        """Put *node* in a final phase and queue its owner's reaction."""
        if node.fulfilled:
            return
        if self._secrets:
            message, outputs = _redact(message, self._secrets), _redact(outputs, self._secrets)
        if outputs is not None:
            node.outputs = outputs or None
        if message:
            node.message = message
        node.finished_at = self.clock.now()
        if node.type not in LEAF_TYPES and node.type != SKIPPED_TYPE:
            node.progress = self._progress_of(node)
        self._set_phase(node, phase)
        self._dirty.add(node.id)
        if node.id in self._executing:
            self._executing.discard(node.id)
            self._post_pending.append(node.id)
        self._register_globals(node)
        if node.outputs and "artifacts" in node.outputs:
            self._index_artifacts(node)
        self._done.append(node.id)
        self._daemons.pop(node.id, None)
        if self._daemons and node.type in (STEPS, DAG):
            self._kill_daemons(node.id)

    def _kill_daemons(self, boundary_id: str | None) -> None:
        """Stop the daemons started inside *boundary_id* (``None``: all of them)."""
        for node_id, boundary in list(self._daemons.items()):
            if boundary_id is None or boundary == boundary_id:
                del self._daemons[node_id]
                task = self._tasks.pop(node_id, None)
                if task is not None:
                    task.cancel()
                self._jobs.pop(node_id, None)
                self.finish(self.nodes[node_id], SUCCEEDED)

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

    def outbound(self, node: Node) -> list[str]:
        """Argo's outbound nodes of *node* (where the next step group or task attaches)."""
        if node.type in (POD, SKIPPED_TYPE, SUSPEND, PLUGIN) or node.type in LEAF_TYPES:
            return [node.id]
        if node.type == "TaskGroup":
            if not node.children:
                return [node.id]
            out: list[str] = []
            for child_id in node.children:
                child = self.nodes.get(child_id)
                if child is not None and not child.name.endswith(".onExit"):
                    out.extend(self.outbound(child))
            return out
        if node.type == RETRY:
            attempts = [c for c in node.children if not self.nodes[c].name.endswith(".onExit")] if node.children else []
            return [attempts[-1]] if attempts else [node.id]
        out = []
        for child_id in node.outbound_nodes:
            child = self.nodes.get(child_id)
            if child is not None:
                out.extend(self.outbound(child))
        return out or [node.id]

    # ---------------------------------------------------------------- scope

    def _build_globals(self) -> None:
        meta = self.wf["metadata"]
        g = self.globals
        g["workflow.name"] = self.name
        g["workflow.namespace"] = self.key.namespace
        g["workflow.uid"] = str(meta.get("uid", ""))
        g["workflow.serviceAccountName"] = str(self.spec.get("serviceAccountName") or "default")
        g["workflow.creationTimestamp"] = str(meta.get("creationTimestamp", ""))
        g["workflow.mainEntrypoint"] = str(self.spec.get("entrypoint", ""))
        g["workflow.priority"] = str(self.spec.get("priority", 0))
        params = (self.spec.get("arguments") or {}).get("parameters") or []
        plist = []
        for p in params:
            value = p.get("value")
            if value is None and (p.get("valueFrom") or {}).get("configMapKeyRef"):
                ref = p["valueFrom"]["configMapKeyRef"]
                value = self.config_map(ref["name"], ref["key"], bool(ref.get("optional")))
            if value is not None:
                g[f"workflow.parameters.{p['name']}"] = format_value(value)
                plist.append({"name": p["name"], "value": format_value(value)})
        g["workflow.parameters"] = g["workflow.parameters.json"] = json.dumps(plist, separators=(",", ":"))
        for kind in ("labels", "annotations"):
            values = meta.get(kind) or {}
            for k, v in values.items():
                g[f"workflow.{kind}.{k}"] = format_value(v)
            g[f"workflow.{kind}"] = g[f"workflow.{kind}.json"] = json.dumps(values, separators=(",", ":"))
        for p in (self.status.get("outputs") or {}).get("parameters") or []:
            g[f"workflow.outputs.parameters.{p['name']}"] = p["value"]

    def config_map(self, name: str, key: str, optional: bool) -> str | None:
        doc = self.config_maps.get((self.key.namespace, name)) or self.config_maps.get(("", name))
        data = (doc or {}).get("data") or {}
        if key in data:
            return format_value(data[key])
        if optional:
            return None
        raise TemplateError(f'ConfigMap "{name}" key "{key}" not found')

    def artifact_data(self, ref: str) -> str | StoredArtifact | None:
        """The content (or host copy) behind an artifact reference (``{{steps.X.outputs.artifacts.Y}}``)."""
        if "{{" in ref:
            ref = format_value(substitute(ref, self.globals, strict=False))
        if ref.startswith("key:"):
            return self._repository_data(ref[4:])
        if not ref.startswith(ARTIFACT_REF):
            return None
        node_id, _, name = ref[len(ARTIFACT_REF) :].rpartition("/")
        node = self.nodes.get(node_id)
        for art in ((node.outputs or {}) if node else {}).get("artifacts") or []:
            if art.get("name") == name:
                return _stored(art)
        return None

    def _repository_data(self, key: str) -> str | StoredArtifact | None:
        """Key-only artifacts: the latest output artifact stored under *key* in this workflow."""
        if self._repository is None:
            self._repository = {}
            finished = sorted((n for n in self.nodes.values() if n.outputs), key=lambda n: n.finished_at or 0.0)
            for node in finished:
                self._index_artifacts(node)
        root = self._volume_root()
        scratch = None if root is None else workflow_dir(root, self.key.namespace, self.name) / ".keys"
        return key_artifacts.lookup(self._repository, key, scratch)

    def _index_artifacts(self, node: Node) -> None:
        if self._repository is None:
            return  # built lazily from every node on first use
        for art in (node.outputs or {}).get("artifacts") or []:
            key = repository_key(art)
            stored = _stored(art)
            if key and stored is not None:
                self._repository[key] = stored

    def _register_globals(self, node: Node) -> None:
        for art in (node.outputs or {}).get("artifacts") or []:
            if art.get("globalName"):
                self.globals[f"workflow.outputs.artifacts.{art['globalName']}"] = artifact_ref(node.id, art["name"])
        for param in (node.outputs or {}).get("parameters") or []:
            global_name = param.get("globalName")
            if global_name and param.get("value") is not None:
                self.globals[f"workflow.outputs.parameters.{global_name}"] = param["value"]
                outs = self.status.setdefault("outputs", {}).setdefault("parameters", [])
                for entry in outs:
                    if entry["name"] == global_name:
                        entry["value"] = param["value"]
                        break
                else:
                    outs.append({"name": global_name, "value": param["value"]})
                self._wf_dirty = True

    # --------------------------------------------------------------- templates

    def resolve(self, step: Mapping[str, Any], ctx: ExecCtx) -> tuple[JSON, str, ExecCtx]:
        """The template a step/task/hook uses (with ``spec.templateDefaults``), its name, its context."""
        tmpl, name, tctx = self._resolve(step, ctx)
        defaults = self.spec.get("templateDefaults")
        if not defaults:
            return tmpl, name, tctx
        merged = self._defaulted.get(id(tmpl))
        if merged is None:
            merged = strategic_merge(copy.deepcopy(defaults), tmpl)
            self._defaulted[id(tmpl)] = merged
            self._keep.append(tmpl)
        return merged, name, tctx

    def _resolve(self, step: Mapping[str, Any], ctx: ExecCtx) -> tuple[JSON, str, ExecCtx]:
        if step.get("inline") is not None:
            return dict(step["inline"]), "", ctx
        stored = self.status.get("storedTemplates") or {}
        ref = step.get("templateRef")
        if ref:
            key = stored_template_key(ref)
            if key not in stored:
                raise TemplateError(f"templateRef {ref.get('name')}/{ref.get('template')} not found")
            owner = key.rsplit("/", 1)[0]
            return stored[key], str(ref.get("template")), replace(ctx, owner=owner)
        name = str(step.get("template") or "")
        if ctx.owner:
            key = f"{ctx.owner}/{name}"
            if key in stored:
                return stored[key], name, ctx
        for tmpl in self.spec.get("templates") or []:
            if tmpl.get("name") == name:
                return tmpl, name, ctx
        raise TemplateError(f'template "{name}" not found')

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
        existing = self.lookup(name)
        if existing is not None:
            for parent in parents:
                self.link(parent, existing.id)
            return self._adopt(existing, step, scope, ctx, owner, arguments)
        try:
            tmpl, tname, tctx = self.resolve(step, ctx)
            kind = template_kind(tmpl)
            if arguments is None:
                arguments = substitute(step.get("arguments") or {}, scope, strict=False)
            strategy = tmpl.get("retryStrategy")
            if strategy and ctx.retry_attempt is None and kind not in ("suspend",):
                node = self.new_node(name, RETRY, tname, RUNNING, ctx.boundary_id, display)
                self._attach(node, parents, owner, step, ctx, scope)
                frame = frames.RetryFrame(self, node, step, strategy, scope, ctx, arguments)
                frame.start()
                return node
            inputs = bind_inputs(tmpl, arguments, self.config_map, self.artifact_data)
            if inputs.get("parameters"):
                # a template's own input values/defaults may use global variables
                inputs["parameters"] = substitute(inputs["parameters"], self.globals, strict=False)
        except (ArgoError, ValueError, KeyError, TypeError) as exc:
            node = self.new_node(name, POD, str(step.get("template") or ""), PENDING, ctx.boundary_id, display)
            self._attach(node, parents, owner, step, ctx, scope)
            self.finish(node, ERROR, str(exc))
            return node
        node_type = {"steps": STEPS, "dag": DAG, "suspend": SUSPEND, "plugin": PLUGIN, "http": HTTP}.get(kind, POD)
        phase = RUNNING if node_type in (STEPS, DAG, SUSPEND) else PENDING
        node = self.new_node(name, node_type, tname, phase, ctx.boundary_id, display, inputs=inputs)
        self._attach(node, parents, owner, step, ctx, scope)
        self._begin(node, tmpl, kind, tctx, inputs)
        return node

    def _attach(
        self, node: Node, parents: list[str], owner: Owner, step: Mapping[str, Any], ctx: ExecCtx, scope: Mapping[str, Any]
    ) -> None:
        for parent in parents:
            self.link(parent, node.id)
        self._own_with_hook(node, step, ctx, owner, scope)

    def _own_with_hook(
        self, node: Node, step: Mapping[str, Any], ctx: ExecCtx, owner: Owner, scope: Mapping[str, Any]
    ) -> None:
        """Register *owner*; with an exit hook (``onExit`` / ``hooks.exit``) run it first."""
        exit_step = _exit_hook(step)
        step_name = str(step.get("name") or node.display_name)
        inner: Owner = owner
        if exit_step is not None:
            self._exit_frames[node.id] = frames.ExitFrame(self, node, owner)
            self._exit_steps[node.id] = (exit_step, ctx, scope, step_name)
            inner = _ExitHookRunner(self)
        hooks = expression_hooks(step)
        if hooks:
            lifecycle = LifeCycle(self, node, hooks, ctx, scope, step_name, inner)
            self.lifecycles[node.id] = lifecycle
            self._hook_checks.add(node.id)
            inner = lifecycle
        self.own(node, inner)

    def _begin(self, node: Node, tmpl: JSON, kind: str, ctx: ExecCtx, inputs: JSON) -> None:
        scope = ChainMap(inputs_scope(inputs), self.globals)
        if kind == "steps":
            frames.StepsFrame(self, node, tmpl, scope, ctx).start()
        elif kind == "dag":
            frames.DagFrame(self, node, tmpl, scope, ctx).start()
        elif kind == "suspend":
            self._suspend(node, tmpl, scope)
        else:
            if self._memo_hit(node, tmpl, scope):
                return
            leaf_scope = ChainMap(
                {
                    "pod.name": node.id,
                    "node.name": node.name,
                    "retries": str(ctx.retry_attempt or 0),
                    **output_path_scope(tmpl),
                },
                scope,
            )
            try:
                body = substitute({k: v for k, v in tmpl.items() if k != "outputs"}, leaf_scope, strict=False)
                body["outputs"] = key_artifacts.resolve_output_keys(tmpl.get("outputs") or {}, leaf_scope)
            except (ArgoError, ValueError) as exc:
                self.finish(node, ERROR, str(exc))
                return
            if kind in ("resource", "data"):
                self.finish(node, ERROR, f"{kind} templates are not supported by this controller yet")
                return
            self._queue.append(LeafJob(node, body, kind, ctx))

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
        self._own_with_hook(node, step, ctx, owner, scope)
        if node.fulfilled:
            self._register_globals(node)
            self._done.append(node.id)
            return node
        try:
            tmpl, _, tctx = self.resolve(step, ctx)
            kind = template_kind(tmpl)
            if arguments is None:
                arguments = substitute(step.get("arguments") or {}, scope, strict=False)
        except (ArgoError, ValueError) as exc:
            self.finish(node, ERROR, str(exc))
            return node
        if node.type == RETRY:
            strategy = tmpl.get("retryStrategy") or {}
            frames.RetryFrame(self, node, step, strategy, scope, ctx, arguments).start()
            return node
        inputs = node.inputs or {}
        if node.type in LEAF_TYPES and node.phase == RUNNING and node.type != PLUGIN:
            # Its node.preExecute fired before the restart: node.postExecute is still owed.
            self._executing.add(node.id)
            self.finish(node, ERROR, self.env.settings.pod_deleted_message)
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
        node = self.new_node(name, SKIPPED_TYPE, _tname(step), phase, ctx.boundary_id, display, message)
        for parent in parents:
            self.link(parent, node.id)
        self.own(node, owner)
        if node.fulfilled:
            self._done.append(node.id)
        else:
            self.finish(node, phase, message)
        return node

    def error_node(
        self, name: str, display: str, step: Mapping[str, Any], ctx: ExecCtx, parents: Any, owner: Owner, message: str
    ) -> Node:
        node = self.new_node(name, POD, _tname(step), PENDING, ctx.boundary_id, display)
        for parent in [parents] if isinstance(parents, str) else parents:
            self.link(parent, node.id)
        self.own(node, owner)
        if node.fulfilled:
            self._done.append(node.id)
        else:
            self.finish(node, ERROR, message)
        return node

    def finish_composite(self, node: Node, tmpl: Mapping[str, Any], scope: Mapping[str, Any]) -> None:
        """Finish a steps/DAG node Succeeded, resolving its template outputs from *scope*."""
        try:
            outputs = composite_outputs(tmpl, scope)
        except (ArgoError, ValueError) as exc:
            self.finish(node, ERROR, f"outputs: {exc}")
            return
        self.finish(node, SUCCEEDED, outputs=outputs)

    # ---------------------------------------------------------------- memoize

    def _memo_key(self, tmpl: Mapping[str, Any], scope: Mapping[str, Any]) -> tuple[str, str] | None:
        memo = tmpl.get("memoize")
        if not memo:
            return None
        key = format_value(substitute(memo.get("key", ""), scope, strict=False))
        cache = str(((memo.get("cache") or {}).get("configMap") or {}).get("name", "default"))
        return cache, key

    def _memo_hit(self, node: Node, tmpl: Mapping[str, Any], scope: Mapping[str, Any]) -> bool:
        found = self._memo_key(tmpl, scope)
        if found is None:
            return False
        cache, key = found
        entry = self.env.memo.get(found)
        max_age = (tmpl.get("memoize") or {}).get("maxAge")
        fresh = entry is not None and (not max_age or self.clock.now() - entry[1] <= parse_duration(max_age))
        node.extra = {**(node.extra or {}), "memoizationStatus": {"hit": bool(fresh), "key": key, "cacheName": cache}}
        if fresh and entry is not None:
            self.finish(node, SUCCEEDED, outputs=dict(entry[0]))
            return True
        return False

    def _memo_store(self, node: Node, tmpl: Mapping[str, Any]) -> None:
        status = (node.extra or {}).get("memoizationStatus")
        if status and node.phase == SUCCEEDED:
            self.env.memo[(status["cacheName"], status["key"])] = (dict(node.outputs or {}), self.clock.now())

    # ---------------------------------------------------------------- suspend

    def _suspend(self, node: Node, tmpl: Mapping[str, Any], scope: Mapping[str, Any]) -> None:
        if not self.accepting(ExecCtx("", on_exit=False)):
            self.finish(node, FAILED, self.shutdown_message())
            return
        self._suspended_nodes[node.id] = dict(tmpl)
        duration = (tmpl.get("suspend") or {}).get("duration")
        if duration not in (None, ""):
            try:
                seconds = parse_duration(substitute(duration, scope, strict=False))
            except (ArgoError, ValueError) as exc:
                self.finish(node, ERROR, str(exc))
                return
            start = node.started_at or self.clock.now()
            self.call_at(start + seconds, lambda: self._resume_node(node.id))

    def _resume_node(self, node_id: str) -> None:
        tmpl = self._suspended_nodes.pop(node_id, None)
        node = self.nodes.get(node_id)
        if tmpl is None or node is None or node.fulfilled:
            return
        params = []
        for decl in (tmpl.get("outputs") or {}).get("parameters") or []:
            value_from = decl.get("valueFrom") or {}
            if "default" in value_from:
                params.append({"name": decl["name"], "value": format_value(value_from["default"])})
        self.finish(node, SUCCEEDED, outputs={"parameters": params} if params else None)

    # ------------------------------------------------------------------ timers

    def call_at(self, when: float, callback: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (when, next(self._timer_seq), callback))
        if self._timer_at is None or when < self._timer_at:
            self._arm(when)

    def _arm(self, when: float) -> None:
        if self._timer_task is not None:
            self._timer_task.cancel()
        self._timer_at = when

        async def sleeper() -> None:
            await self.clock.sleep_until(when)
            self._timer_at = None
            self._timer_task = None
            self.post(Wake())

        self._timer_task = asyncio.create_task(sleeper(), name=f"hookbus-timer-{self.name}")

    def soon(self, callback: Callable[[], None]) -> None:
        """Run *callback* at the start of the next pass (work split over several passes)."""
        self._soon.append(callback)
        self.post(Wake())

    def _requeue_later(self, job: LeafJob, delay: float) -> None:
        """Offer *job* again after *delay* (a ``hold`` decision or a plugin's ``requeue``)."""
        self._held[job.node.id] = job

        def again() -> None:
            if self._held.pop(job.node.id, None) is not None and not job.node.fulfilled:
                self._queue.append(job)

        self.call_at(self.clock.now() + delay, again)

    def _run_timers(self) -> None:
        now = self.clock.now()
        while self._timers and self._timers[0][0] <= now:
            _, _, callback = heapq.heappop(self._timers)
            callback()
        if self._timers and self._timer_at is None:
            self._arm(self._timers[0][0])

    # ------------------------------------------------------------------- pass

    async def handle(self, events: list[Event]) -> None:
        """One scheduling pass over a batch of events."""
        if self.deleting:
            for event in events:
                if isinstance(event, Command) and event.future is not None and not event.future.done():
                    if event.op == QUIESCE:
                        event.future.set_result(None)
                    else:
                        event.future.set_exception(LookupError(f"workflow {self.key.namespace}/{self.key.name} was deleted"))
            return
        reads = [e for e in events if isinstance(e, Command) and e.op == READ]
        if reads and len(reads) == len(events):
            await self._serve_reads(reads)  # nothing to schedule: no pass, no "changed"
            return
        self.pass_no += 1
        results = [e for e in events if isinstance(e, TaskFinished)]
        if results:
            await self._apply_results(results)
        for event in events:
            if isinstance(event, Start):
                self._start()
            elif isinstance(event, Command) and event.op != READ:
                self._command(event)
        if any(isinstance(e, Wake) for e in events):
            self._run_timers()
        if self._soon:
            soon, self._soon = self._soon, []
            for callback in soon:
                callback()
        while True:
            self._drain()
            jobs = self._launchable()
            if not jobs:
                break
            await self._launch(jobs)
        if self._done:
            self._drain()
        await self._persist_and_emit()
        await self._serve_reads(reads)

    async def _serve_reads(self, reads: list[Command]) -> None:
        for read in reads:
            snapshot = await self.snapshot_in_slices()
            if read.future is not None and not read.future.done():
                read.future.set_result(snapshot)

    def _drain(self) -> None:
        while self._done or self._hook_checks:
            while self._done:
                node_id = self._done.popleft()
                owner = self._owners.pop(node_id, None)
                node = self.nodes[node_id]
                if owner is not None:
                    owner.child_done(node)
            checks, self._hook_checks = self._hook_checks, set()
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
        now = self.clock.now()
        if self.phase == PENDING:
            self.status["phase"] = RUNNING
            self.status["startedAt"] = timestamp(now)
            self.status["x-startedAt"] = now
            self._wf_dirty = True
            self._phase_event = (RUNNING, "")
        deadline = self.spec.get("activeDeadlineSeconds")
        if deadline not in (None, ""):
            began = float(self.status.get("x-startedAt", now))
            self.call_at(began + float(deadline), self._deadline)
        entry = {"template": self.spec.get("entrypoint")}
        if self.spec.get("workflowTemplateRef") and not any(
            t.get("name") == self.spec.get("entrypoint") for t in self.spec.get("templates") or []
        ):
            entry = {"template": self.spec.get("entrypoint")}
        args: JSON = {
            "parameters": [
                {"name": k.split(".", 2)[2], "value": v}
                for k, v in self.globals.items()
                if k.startswith("workflow.parameters.") and k != "workflow.parameters.json"
            ],
            "artifacts": list((self.spec.get("arguments") or {}).get("artifacts") or []),
        }
        self._eval_wf_hooks(RUNNING)
        self.execute(self.name, entry, self.globals, ExecCtx(""), _RootOwner(self), display=self.name, parents=[], arguments=args)

    def _eval_wf_hooks(self, status: str) -> None:
        """Workflow-level expression hooks (``spec.hooks.<name>.expression``), each at most once."""
        if not self._wf_hooks:
            return
        scope = ChainMap({"workflow.status": status}, self.globals)
        for name, hook in self._wf_hooks.items():
            if name in self._wf_fired or not lifecycle_holds(str(hook["expression"]), scope):
                continue
            self._wf_fired.add(name)
            node = self.execute(
                f"{self.name}.hooks.{name}", hook, scope, ExecCtx(""), _WorkflowHookDone(self),
                display=f"{self.name}.hooks.{name}", parents=[],
            )
            self._wf_pending.add(node.id)

    def _wf_hook_done(self, node: Node) -> None:
        self._wf_pending.discard(node.id)
        if self._deferred is not None and not self._wf_pending:
            root, exit_node = self._deferred
            self._deferred = None
            self._complete(root, exit_node)

    def _root_done(self, root: Node) -> None:
        self._eval_wf_hooks(root.phase)
        on_exit = self.spec.get("onExit") or ((self.spec.get("hooks") or {}).get("exit") or {}).get("template")
        exit_step: JSON | None = None
        if self.spec.get("onExit"):
            exit_step = {"template": self.spec["onExit"]}
        elif on_exit:
            exit_step = dict((self.spec.get("hooks") or {})["exit"])
        if exit_step is not None and self.shutdown != "Terminate":
            self.globals["workflow.status"] = root.phase
            self.globals["workflow.failures"] = frames.failures_json(
                [n for n in self.nodes.values() if n.phase in UNSUCCESSFUL and n.type in LEAF_TYPES]
            )
            began = float(self.status.get("x-startedAt", self.clock.now()))
            self.globals["workflow.duration"] = f"{self.clock.now() - began:.6f}"
            self._root_phase = root
            self.execute(
                f"{self.name}.onExit", exit_step, self.globals, ExecCtx("", on_exit=True), _ExitOwner(self),
                display=f"{self.name}.onExit", parents=[],
            )
            return
        self._complete(root, None)

    def _exit_done(self, exit_node: Node) -> None:
        assert self._root_phase is not None
        self._complete(self._root_phase, exit_node)

    def _complete(self, root: Node, exit_node: Node | None) -> None:
        if self._wf_pending:
            self._deferred = (root, exit_node)  # finish once the workflow's hooks have
            return
        self._kill_daemons(None)
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
            release_workflow_volumes(self.spec, root=self._volume_root(), namespace=self.key.namespace, workflow=self.name, phase=phase)
        self._wf_dirty = True
        self._phase_event = (phase, message)
        if self._timer_task is not None:
            self._timer_task.cancel()
            self._timer_task = None
        self._timers.clear()

    def _deadline(self) -> None:
        if self.phase in WORKFLOW_DONE:
            return
        self.deadline_exceeded = True
        self._fail_active("Step exceeded its deadline")

    def _fail_active(self, message: str, *, include_exit: bool = False) -> None:
        """Kill running leaves, fail pending ones and active suspends (Argo's shutdown)."""
        for node_id, task in list(self._tasks.items()):
            job = self._jobs.get(node_id)
            if job is not None and job.ctx.on_exit and not include_exit:
                continue
            task.cancel()
            self._tasks.pop(node_id, None)
            self._jobs.pop(node_id, None)
            self.finish(self.nodes[node_id], FAILED, message)
        kept: deque[LeafJob] = deque()
        for job in self._queue:
            if job.ctx.on_exit and not include_exit:
                kept.append(job)
            else:
                self.finish(job.node, FAILED, message)
        self._queue = kept
        for node_id in list(self._suspended_nodes):
            self._suspended_nodes.pop(node_id)
            self.finish(self.nodes[node_id], FAILED, message)
        for node_id, job in list(self._held.items()):
            if include_exit or not job.ctx.on_exit:
                del self._held[node_id]
                self.finish(job.node, FAILED, message)
        for node_id, frame in list(self.backoffs.items()):
            if include_exit or not frame.ctx.on_exit:
                del self.backoffs[node_id]
                self.finish(frame.node, FAILED, message)

    # ---------------------------------------------------------------- commands

    def _command(self, cmd: Command) -> None:
        try:
            result = self._do_command(cmd)
        except Exception as exc:
            if cmd.future is not None and not cmd.future.done():
                cmd.future.set_exception(exc)
            return
        if cmd.future is not None and not cmd.future.done():
            cmd.future.set_result(result)

    def _do_command(self, cmd: Command) -> Any:
        if cmd.op == "suspend":
            self.spec["suspend"] = True
            self._wf_dirty = True
        elif cmd.op == "resume":
            self.spec.pop("suspend", None)
            self._wf_dirty = True
            for node_id in list(self._suspended_nodes):
                self._resume_node(node_id)
        elif cmd.op in ("stop", "terminate"):
            if self.phase in WORKFLOW_DONE:
                return None
            self.shutdown = "Stop" if cmd.op == "stop" else "Terminate"
            self.spec["shutdown"] = self.shutdown
            self._wf_dirty = True
            given = str(cmd.args.get("message") or "")
            self._fail_active(given or f"Stopped with strategy '{self.shutdown}'", include_exit=self.shutdown == "Terminate")
        elif cmd.op == "complete":
            node = self.nodes[str(cmd.args["node_id"])]
            if not node.fulfilled:
                self.finish(node, str(cmd.args["phase"]), str(cmd.args.get("message", "")), cmd.args.get("outputs"))
        else:
            raise ValueError(f"unknown command {cmd.op!r}")
        return None

    # ---------------------------------------------------------------- leaves

    def _launchable(self) -> list[LeafJob]:
        if not self._queue:
            return []
        if self.spec.get("suspend"):
            return []
        limit = self.env.settings.max_running_nodes
        parallelism = self.spec.get("parallelism")
        if parallelism:
            limit = min(limit, int(parallelism))
        free = limit - len(self._tasks)
        jobs: list[LeafJob] = []
        while self._queue and len(jobs) < free:
            job = self._queue.popleft()
            if job.node.fulfilled:
                continue
            if not self.accepting(job.ctx):
                self.finish(job.node, FAILED, self.shutdown_message())
                continue
            jobs.append(job)
        return jobs

    async def _launch(self, jobs: list[LeafJob]) -> None:
        hooks = self.env.hooks
        if self._plugin_placeholders:
            jobs = await self._resolve_parameters(jobs)
        # node.postExecute is owed to every launched leaf, whatever ends it
        self._executing.update(j.node.id for j in jobs)
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
            if decision.warnings:
                self._note_warnings(node, decision.warnings)
            if decision.decision == "shortCircuit":
                self.finish(node, decision.phase, decision.message, decision.outputs or {})
            elif decision.decision == "fail":
                # Error when the plugin itself failed (Fail policy), Failed when it said no.
                self.finish(node, ERROR if decision.phase == ERROR else FAILED, decision.message)
            elif decision.decision == "hold":
                delay = decision.requeue or 1.0
                node.message = decision.message
                self.touch(node)
                self._requeue_later(job, delay)
            elif decision.decision == "takeOver":
                self._set_phase(node, RUNNING)
                if decision.message:
                    node.message = decision.message
                    self.touch(node)
                self._jobs[node.id] = job
                if decision.requeue is not None:
                    # Argo's requeue: ask the plugin again then (it may say the node ended)
                    self._requeue_later(job, decision.requeue)
            elif job.kind == "plugin":
                plugins.append(job)
            elif job.kind == "http":
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
                self.finish(job.node, ERROR, str(exc))
                continue
            ready.append(job)
        items = [j for j in ready if j.node.id not in answered]
        if not items or not hooks.wants("pod.preCreate", self.info):
            verdicts = [ALLOW] * len(items)
        else:
            verdicts = await hooks.pod_pre_create(
                self.info, [PodItem(public_node(j.node.to_dict()), _pod_of(j.task, j.template)) for j in items if j.task]
            )
        asked = dict(zip((j.node.id for j in items), verdicts, strict=True))
        for job in ready:
            verdict = answered.get(job.node.id) or asked[job.node.id]
            if verdict.warnings:
                self._note_warnings(job.node, verdict.warnings)
            if not verdict.allowed:
                self.finish(job.node, ERROR, f"pod creation vetoed: {verdict.message}")
                continue
            if verdict.pod is not None and job.task is not None:
                job.task = _apply_pod(job.task, verdict.pod)
                # what plugins made of the pod's metadata stays visible on the node
                job.node.extra = {**(job.node.extra or {}), "podMetadata": _pod_metadata(job.task)}
            self._start_task(job)

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
                    item = PodItem(node, _pod_of(job.task, job.template))
            out.append(item)
        return out

    def _note_warnings(self, node: Node, warnings: Sequence[str]) -> None:
        """Keep plugin *warnings* about *node* on it, and each distinct text on the workflow."""
        extra = node.extra or {}
        kept = list(extra.get("warnings") or ())
        new = [w for w in warnings if w not in kept]
        if new:
            node.extra = {**extra, "warnings": kept + new}
            self.touch(node)
        if add_warnings(self.wf, warnings):
            self._wf_dirty = True

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
            found = {n for n in placeholders(job.template) if _plugin_placeholder(n)}
            per_job.append(found)
            wanted.update(dict.fromkeys(sorted(found)))
        if not wanted:
            return jobs
        names = list(wanted)
        if self.env.hooks.wants("parameters.resolve", self.info):
            values = await self.env.hooks.parameters_resolve(self.info, names)
        else:  # no plugin owns any namespace: every such placeholder is unresolved
            values = [None] * len(names)
        resolved = {n: v.value for n, v in zip(names, values, strict=True) if v is not None and not v.error}
        failed = {n: v.error for n, v in zip(names, values, strict=True) if v is not None and v.error}
        self._secrets.update(v.value for v in values if v is not None and v.secret and v.value)
        ready: list[LeafJob] = []
        for job, found in zip(jobs, per_job, strict=True):
            errors = sorted({failed[n] for n in found if n in failed})
            missing = sorted(found - resolved.keys() - failed.keys())
            if errors or missing:
                self.finish(job.node, ERROR, "; ".join(errors + ([_unresolved_message(missing)] if missing else [])))
                continue
            if found:
                job.template = substitute(job.template, resolved, strict=False)
            ready.append(job)
        return ready

    def _task_spec(self, job: LeafJob, *, mounts: bool = True) -> TaskSpec:
        pod = pod_dict(job.template, self.wf)
        tmpl = job.template
        return TaskSpec(
            namespace=self.key.namespace,
            workflow=self.name,
            node_id=job.node.id,
            node_name=job.node.name,
            template_name=job.node.template_name,
            main=_process(pod["main"]),
            sidecars=tuple(_process(p) for p in pod["sidecars"]),
            init=tuple(_process(p) for p in [*artifact_writers(job.node.inputs), *pod["init"]]),
            output_parameters=output_paths(tmpl),
            timeout=None,
            annotations=pod["annotations"],
            labels=pod["labels"],
            output_artifacts=output_artifact_paths(tmpl),
            input_files=input_files(job.node.inputs),
            mounts=self._mounts(job) if mounts else {},
        )

    def _volume_root(self) -> Path | None:
        """The state directory volumes live under (the executor's when the settings name none)."""
        root = self.env.settings.state_dir or getattr(self.env.executor, "state_dir", None)
        return None if root is None else Path(root)

    def _mounts(self, job: LeafJob) -> dict[str, str]:
        """The node's volume mounts (see :mod:`.volumes`); raises ``TemplateError`` naming the volume."""
        return node_mounts(
            job.template,
            self.spec,
            root=self._volume_root(),
            namespace=self.key.namespace,
            workflow=self.name,
            node_id=job.node.id,
            config_map=lambda name: self.config_maps.get((self.key.namespace, name)) or self.config_maps.get(("", name)),
        )

    def _start_task(self, job: LeafJob) -> None:
        node = job.node
        assert job.task is not None
        node.started_at = self.clock.now()
        self._set_phase(node, RUNNING)
        self._jobs[node.id] = job
        self._pods_created.append({"node": node.id, "name": node.name, "image": job.task.main.image})
        task = job.task
        executor = self.env.executor

        async def runner() -> None:
            try:
                result = await executor.run(task)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                now = self.clock.now()
                result = TaskResult(ERROR, None, f"executor error: {exc}", None, {}, None, now, now)
            self.post(TaskFinished(node.id, result))

        self._tasks[node.id] = asyncio.create_task(runner(), name=f"hookbus-node-{node.id}")
        if job.template.get("daemon"):
            # Argo's daemon: once it runs, dependants proceed; it is killed (Succeeded)
            # when the steps/DAG template that started it completes.
            node.extra = {**(node.extra or {}), "daemoned": True}
            self._daemons[node.id] = node.boundary_id
            self._done.append(node.id)
        deadline = _deadline_seconds(job.template)
        if deadline is not None:
            self.call_at(self.clock.now() + deadline, lambda: self._node_deadline(node.id))

    def _start_http(self, job: LeafJob) -> None:
        """``http`` templates: the controller sends the request itself."""
        node = job.node
        node.started_at = self.clock.now()
        self._set_phase(node, RUNNING)
        self._jobs[node.id] = job
        spec = dict(job.template.get("http") or {})

        async def runner() -> None:
            result = await run_http(spec)
            self.post(TaskFinished(node.id, result))

        self._tasks[node.id] = asyncio.create_task(runner(), name=f"hookbus-http-{node.id}")
        deadline = _deadline_seconds(job.template)
        if deadline is not None:
            self.call_at(self.clock.now() + deadline, lambda: self._node_deadline(node.id))

    def _node_deadline(self, node_id: str) -> None:
        task = self._tasks.pop(node_id, None)
        if task is None:
            return
        task.cancel()
        self._jobs.pop(node_id, None)
        self.finish(self.nodes[node_id], FAILED, "Pod was active on the node longer than the specified deadline")

    async def _apply_results(self, results: list[TaskFinished]) -> None:
        live = [(r, self._jobs.get(r.node_id)) for r in results if r.node_id in self._tasks]
        applied: list[tuple[LeafJob, JSON, str, str]] = []
        for finished, job in live:
            self._tasks.pop(finished.node_id, None)
            if job is None:
                continue
            result = finished.result
            outputs, problem = leaf_outputs(job.template, result)
            phase = result.phase if result.phase in (SUCCEEDED, FAILED, ERROR) else ERROR
            message = result.message
            if problem is not None:
                phase, message = ERROR, problem
            if result.log_path:
                job.node.log_path = result.log_path
            if self._secrets:  # before node.postExecute plugins see them (lineage stores outputs)
                outputs, message = _redact(outputs, self._secrets), _redact(message, self._secrets)
            applied.append((job, outputs, phase, message))
        if not applied:
            return
        if not self.env.hooks.wants("node.postExecute", self.info):
            changes = [KEEP] * len(applied)
        else:
            items = []
            for job, outputs, phase, message in applied:
                preview = public_node(job.node.to_dict())
                preview.update(phase=phase, outputs=outputs, message=message)
                items.append(NodeItem(preview, job.template))
            changes = await self.env.hooks.node_post_execute(self.info, items)
        for (job, outputs, phase, message), change in zip(applied, changes, strict=True):
            if change.warnings:
                self._note_warnings(job.node, change.warnings)
            self._jobs.pop(job.node.id, None)
            self._executing.discard(job.node.id)  # its node.postExecute just happened
            if change.outputs is not None:
                outputs = change.outputs
            if change.message is not None:
                message = change.message
            self.finish(job.node, phase, message, outputs)
            self._memo_store(job.node, job.template)

    async def _run_plugins(self, jobs: list[LeafJob]) -> None:
        replies = await self.env.hooks.template_execute(
            self.info, [PluginItem(public_node(j.node.to_dict()), j.template) for j in jobs]
        )
        for job, reply in zip(jobs, replies, strict=True):
            node = job.node
            if reply.warnings:
                self._note_warnings(node, reply.warnings)
            if reply.phase is None:
                # Argo's agent: the node fails with exactly this message (plus the template's name here)
                self.finish(node, FAILED, f"no plugin executed the template {node.template_name!r}")
            elif reply.phase in FULFILLED:
                self.finish(node, reply.phase, reply.message, reply.outputs or {})
            else:
                self._set_phase(node, RUNNING)
                node.message = reply.message
                delay = reply.requeue if reply.requeue is not None else 10.0
                self._requeue_later(job, delay)

    # ------------------------------------------------------------- persistence

    async def _post_execute_the_rest(self) -> None:
        """node.postExecute for leaf nodes that ended without an executor result."""
        pending = [self.nodes[i] for i in self._post_pending if i in self.nodes]
        self._post_pending.clear()
        if not pending or not self.env.hooks.wants("node.postExecute", self.info):
            return
        jobs = {n.id: self._jobs.pop(n.id, None) for n in pending}
        items = [NodeItem(public_node(n.to_dict()), jobs[n.id].template if jobs[n.id] else {}) for n in pending]  # type: ignore[union-attr]
        changes = await self.env.hooks.node_post_execute(self.info, items)
        for node, change in zip(pending, changes, strict=True):
            if change.warnings:
                self._note_warnings(node, change.warnings)
            if change.outputs is not None:
                node.outputs = _redact(change.outputs, self._secrets) if self._secrets else change.outputs
                self._dirty.add(node.id)
            if change.message is not None:
                node.message = _redact(change.message, self._secrets) if self._secrets else change.message
                self._dirty.add(node.id)

    async def _persist_and_emit(self) -> None:
        await self._post_execute_the_rest()
        # Nothing is forgotten before the store acknowledged it: a failed write leaves the
        # dirty sets in place and the next pass writes them again.
        dirty = set(self._dirty)
        changed = [self.nodes[i] for i in dirty if i in self.nodes]
        phase_ids = set(self._changed_phase)
        phase_changed = [i for i in phase_ids if i in self.nodes]
        dicts: dict[str, JSON] = {n.id: n.to_dict() for n in changed}
        records: dict[str, JSON] = {}
        for node in changed:
            records.update(storage_records(node, dicts[node.id], stored=self._stored_counts(node)))
        if records:
            await self.env.store.put_nodes(self.key, records)
            for node in changed:
                self._remember_stored(node)
        self._dirty -= dirty
        if self._wf_dirty:
            if self._phase_event is not None:
                patches = await self.env.hooks.workflow_pre_update(self.info, [self.workflow_object()])
                for patch in patches:
                    meta = self.wf["metadata"]
                    if patch.labels:
                        meta.setdefault("labels", {}).update(patch.labels)
                    if patch.annotations:
                        meta.setdefault("annotations", {}).update(patch.annotations)
            self.status["progress"] = self.progress()
            # nodes first, then the workflow record: a finished phase is never stored
            # ahead of the nodes that justify it
            await self.env.store.put_workflow(self.key, self.workflow_object())
            self._wf_dirty = False
        self._changed_phase -= phase_ids
        await self.env.hooks.persisted(self.info)  # plugin verdict notifications, after the persist
        events = self.env.events
        if phase_changed:
            await events.node_phases(self.info, [public_node(dicts[i]) if i in dicts else public_node(self.nodes[i].to_dict()) for i in phase_changed])
        if self._pods_created:
            pods, self._pods_created = self._pods_created, []
            await events.pod_created(self.info, pods)
        if self._phase_event is not None:
            phase, message = self._phase_event
            self._phase_event = None
            await events.workflow_phase(self.info, phase, message)
            if phase in WORKFLOW_DONE:
                self.done_event.set()
        if changed:
            done = self.counts.get(SUCCEEDED, 0)
            total = sum(self.counts.values())
            await events.progress(self.info, done, total, dict(self.counts))
        self.changed.set()

    def _stored_counts(self, node: Node) -> dict[str, int] | None:
        """How many leading ids of *node*'s long lists the store holds (see :func:`storage_records`)."""
        counts: dict[str, int] | None = None
        for key, ids in (("children", node.children), ("outboundNodes", node.outbound_nodes)):
            known = self._stored_ids.get((node.id, key))
            # the same list, only appended to since (link() appends; other changes replace the list)
            if known is not None and known[0] is ids and known[1] <= len(ids):
                counts = counts or {}
                counts[key] = known[1]
        return counts

    def _remember_stored(self, node: Node) -> None:
        for key, ids in (("children", node.children), ("outboundNodes", node.outbound_nodes)):
            if len(ids) > CHILD_CHUNK:
                self._stored_ids[(node.id, key)] = (ids, len(ids))
            elif self._stored_ids:
                self._stored_ids.pop((node.id, key), None)

    # --------------------------------------------------------------- snapshots

    def progress(self) -> str:
        total = sum(v for v in self.counts.values() if v > 0)
        return f"{self.counts.get(SUCCEEDED, 0)}/{total}"

    def _progress_of(self, node: Node) -> str:
        done = total = 0
        seen: set[str] = set()
        stack = list(node.children)
        while stack:
            child_id = stack.pop()
            if child_id in seen:
                continue
            seen.add(child_id)
            child = self.nodes.get(child_id)
            if child is None:
                continue
            if child.type in LEAF_TYPES:
                total += 1
                done += child.phase == SUCCEEDED
            stack.extend(child.children)
        return f"{done}/{total}"

    def workflow_object(self) -> JSON:
        """The workflow without ``status.nodes`` (what the store keeps as the workflow record)."""
        status = {k: v for k, v in self.status.items() if v is not None}
        return {**self.wf, "status": status}

    def snapshot(self) -> JSON:
        """An Argo-like Workflow object with every node (``get``)."""
        nodes: JSON = {}
        for node in self.nodes.values():
            nodes[node.id] = self._public_node(node)
        return self._with_nodes(nodes)

    async def snapshot_in_slices(self, slice_size: int = SNAPSHOT_SLICE) -> JSON:
        """:meth:`snapshot`, giving the event loop back every *slice_size* nodes.

        Only for the workflow's own worker, between passes (a ``read`` command): no pass
        of this workflow changes a node meanwhile, so the object is as consistent as
        :meth:`snapshot`'s, while other workflows' passes are not held up for the second
        100,000 nodes take.
        """
        nodes: JSON = {}
        for count, node in enumerate(list(self.nodes.values()), 1):
            nodes[node.id] = self._public_node(node)
            if count % slice_size == 0:
                await asyncio.sleep(0)
        return self._with_nodes(nodes)

    def _public_node(self, node: Node) -> JSON:
        data = public_node(node.to_dict())
        if node.type not in LEAF_TYPES and not node.fulfilled and node.type != SKIPPED_TYPE:
            data["progress"] = self._progress_of(node)
        return data

    def _with_nodes(self, nodes: JSON) -> JSON:
        status: JSON = {
            k: v for k, v in self.status.items() if v is not None and not k.startswith("x-") and k != "storedTemplates"
        }
        status.setdefault("phase", self.phase)
        status["progress"] = self.progress()
        status["nodes"] = nodes
        return {
            "apiVersion": self.wf.get("apiVersion", "argoproj.io/v1alpha1"),
            "kind": "Workflow",
            "metadata": self.wf["metadata"],
            "spec": self.spec,
            "status": status,
        }

    def crash(self, message: str) -> None:
        """An internal error in a pass: end the workflow in Error (it is never retried blindly)."""
        if self.phase in WORKFLOW_DONE:
            return
        self.shutdown = "Terminate"
        self._fail_active(message, include_exit=True)
        self._kill_daemons(None)
        self._set_workflow_phase(ERROR, message)

    async def close(self) -> None:
        """Cancel timers and executor tasks (controller shutdown); nodes stay as persisted."""
        tasks = list(self._tasks.values())
        if self._timer_task is not None:
            tasks.append(self._timer_task)
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks.clear()
        self._timer_task = None


class _ExitHookRunner:
    """Owner of a node with an exit hook: runs the hook when the node finishes."""

    def __init__(self, run: WorkflowRun) -> None:
        self.run = run

    def child_done(self, node: Node) -> None:
        run = self.run
        frame = run._exit_frames.pop(node.id)
        step, ctx, outer, step_name = run._exit_steps.pop(node.id)
        own: dict[str, Any] = {}
        for prefix in (f"steps.{step_name}", f"tasks.{step_name}"):
            own.update(node_scope(prefix, node))
        scope = ChainMap(own, outer)  # type: ignore[arg-type]
        run.execute(f"{node.name}.onExit", step, scope, ctx.inner(node.boundary_id), frame, display=f"{node.display_name}.onExit", parents=[node.id])


def _exit_hook(step: Mapping[str, Any]) -> JSON | None:
    hooks = step.get("hooks") or {}
    if isinstance(hooks.get("exit"), dict):
        return dict(hooks["exit"])
    if step.get("onExit"):
        return {"template": step["onExit"]}
    return None


def _tname(step: Mapping[str, Any]) -> str:
    if step.get("template"):
        return str(step["template"])
    return str((step.get("templateRef") or {}).get("template", ""))


def _deadline_seconds(tmpl: Mapping[str, Any]) -> float | None:
    values = []
    for key in ("activeDeadlineSeconds", "timeout"):
        raw = tmpl.get(key)
        if raw not in (None, ""):
            try:
                values.append(parse_duration(raw))
            except (ArgoError, ValueError):
                continue
    return min(values) if values else None


def _process(p: Mapping[str, Any]) -> ProcessSpec:
    return ProcessSpec(
        name=str(p.get("name") or "main"),
        image=p.get("image"),
        command=tuple(p.get("command") or ()),
        args=tuple(p.get("args") or ()),
        env=dict(p.get("env") or {}),
        working_dir=p.get("workingDir"),
        source=p.get("source"),
    )


_PROCESS_KEYS = frozenset({"name", "image", "command", "args", "env", "workingDir", "source"})


def _pod_of(task: TaskSpec | None, template: Mapping[str, Any] | None = None) -> JSON:
    """What ``pod.preCreate`` sees: the processes, plus the template's other container
    fields (``securityContext``, ``resources``, ``volumeMounts`` ...) for policy plugins."""
    assert task is not None
    tmpl = template or {}
    main_spec = tmpl.get("container") or tmpl.get("script") or {}
    init_specs = list(tmpl.get("initContainers") or [])
    sidecar_specs = list(tmpl.get("sidecars") or [])

    def proc(p: ProcessSpec, spec: Mapping[str, Any] | None = None) -> JSON:
        out: JSON = {k: v for k, v in (spec or {}).items() if k not in _PROCESS_KEYS}
        out.update(
            name=p.name, image=p.image, command=list(p.command), args=list(p.args),
            env=dict(p.env), workingDir=p.working_dir, source=p.source,
        )
        return out

    def spec_named(specs: list[Any], name: str) -> Mapping[str, Any] | None:
        return next((c for c in specs if isinstance(c, dict) and c.get("name") == name), None)

    return {
        "name": task.node_id,
        "main": proc(task.main, main_spec),
        "init": [proc(p, spec_named(init_specs, p.name)) for p in task.init],
        "sidecars": [proc(p, spec_named(sidecar_specs, p.name)) for p in task.sidecars],
        "labels": dict(task.labels),
        "annotations": dict(task.annotations),
    }


def _pod_metadata(task: TaskSpec) -> JSON:
    """The labels and annotations of the pod a node runs in (kept on the node when plugins patched them)."""
    return {"labels": dict(task.labels), "annotations": dict(task.annotations)}


def _apply_pod(task: TaskSpec, pod: Mapping[str, Any]) -> TaskSpec:
    return replace(
        task,
        main=_process(pod.get("main") or {}),
        init=tuple(_process(p) for p in pod.get("init") or []),
        sidecars=tuple(_process(p) for p in pod.get("sidecars") or []),
        labels=dict(pod.get("labels") or {}),
        annotations=dict(pod.get("annotations") or {}),
    )


def composite_outputs(tmpl: Mapping[str, Any], scope: Mapping[str, Any]) -> JSON:
    """A steps/DAG template's outputs, from ``valueFrom.parameter`` / ``expression`` / ``default``."""
    params = []
    for decl in (tmpl.get("outputs") or {}).get("parameters") or []:
        value_from = decl.get("valueFrom") or {}
        value: Any = None
        if "parameter" in value_from:
            text = substitute(value_from["parameter"], scope, strict=False)
            if "{{" not in format_value(text):
                value = text
        elif "expression" in value_from:
            try:
                value = substitute("{{=" + str(value_from["expression"]) + "}}", scope, strict=False)
            except (ArgoError, ValueError):
                value = None
        elif "value" in decl:
            value = substitute(decl["value"], scope, strict=False)
        if value is None and "default" in value_from:
            value = value_from["default"]
        if value is None:
            raise TemplateError(f"output parameter {decl['name']!r} could not be resolved")
        entry: JSON = {"name": decl["name"], "value": format_value(value)}
        if decl.get("globalName"):
            entry["globalName"] = decl["globalName"]
        params.append(entry)
    return {"parameters": params} if params else {}


def _stored(art: Mapping[str, Any]) -> str | StoredArtifact | None:
    """An output artifact's content (text kept in the record) or its host copy, ``None`` if neither."""
    if art.get(ARTIFACT_KEY) is not None:
        return str(art[ARTIFACT_KEY])
    if art.get(ARTIFACT_PATH_KEY):
        return StoredArtifact(str(art[ARTIFACT_PATH_KEY]))
    return None


def _plugin_placeholder(name: str) -> bool:
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


def _redact(value: Any, secrets: set[str]) -> Any:
    """*value* with every secret string replaced by :data:`REDACTED` (strings, lists and maps)."""
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {k: _redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, secrets) for v in value]
    return value
