"""The Controller: submits, runs, persists and controls Argo workflows.

Everything outside the engine reaches it through :mod:`.ports`: the caller hands the
Controller its store, executor, hook points, event sink and clock (the composition
root decides which), and workflows arrive through :meth:`Controller.submit` or a
:class:`~.ports.WorkflowSource` it follows.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from ..argo.errors import LintError, ManifestError
from ..argo.lint import lint_workflow
from ..argo.manifest import (
    Bundle,
    apply_parameters,
    iter_template_refs,
    resolve_template_ref,
    resolve_workflow,
    workflow_name,
)
from ..argo.refs import UnresolvedReference, is_reference_error, unresolved_reference
from .clock import SystemClock
from .env import RunEnv
from .hooks import NullEvents, NullHooks
from .locks import LockManager
from .messages import QUIESCE, READ, Command, Event, Start, TaskFinished
from .model import (
    ERROR,
    FAILED,
    LEAF_TYPES,
    PENDING,
    RETRIES_FIELD,
    RUNNING,
    SUCCEEDED,
    public_node,
    storage_records,
    timestamp,
)
from .ports import Executor, RevisionConflict, WorkflowKey
from .reactor import Reactor
from .refs import SECRETS_KEY, secret_values, stored_secrets
from .respec import KEEPS_TEMPLATE_SPEC, RESPEC, EditOutcome, edit_args
from .run import WORKFLOW_DONE, WorkflowRun
from .scheduler import MaxDepthExceeded
from .snapshot import SNAPSHOT_SLICE
from .warnings import set_warnings
from .workflow_scope import WorkflowScope

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterable, Mapping
    from types import TracebackType

    from ..argo.types import JSON
    from .hooks import Verdict, WorkflowInfo
    from .ports import (
        Clock,
        Cluster,
        EventSink,
        HookPoints,
        TaskResult,
        WorkflowSource,
        WorkflowStore,
    )
    from .settings import ControllerSettings

log = structlog.get_logger(__name__)


class WorkflowNotFound(KeyError):
    """No workflow with that namespace/name is known to this controller."""


class Controller:
    """Runs Argo workflows: one :class:`WorkflowRun` per workflow, driven by the reactor."""

    def __init__(
        self,
        settings: ControllerSettings,
        *,
        store: WorkflowStore,
        executor: Executor | Callable[[], Executor],
        hooks: HookPoints | None = None,
        events: EventSink | None = None,
        clock: Clock | None = None,
        cluster: Cluster | None = None,
    ) -> None:
        """*executor* is the executor to use (the caller closes it) or a factory the
        Controller calls once, when it first needs one, and closes at :meth:`stop`.
        *cluster*: the Kubernetes API ``resource`` templates act on (Kubernetes mode)."""
        self.settings = settings
        self.store = store
        self._executor: Executor | None = executor if isinstance(executor, Executor) else None
        self._make_executor: Callable[[], Executor] | None = None if isinstance(executor, Executor) else executor
        self.hooks: HookPoints = hooks or NullHooks()
        self.events: EventSink = events or NullEvents()
        self.clock: Clock = clock or SystemClock()
        self.cluster = cluster
        self._runs: dict[WorkflowKey, WorkflowRun] = {}
        self._recent_passes: list[tuple[WorkflowKey, float]] = []
        """The two workflows whose passes started last, newest first, with the clock's time:
        whether another workflow has had work lately (see :meth:`_pass_size`)."""
        self._reactor: Reactor[WorkflowKey, Event] = Reactor(
            self._handle,
            limit=settings.max_workflows,
            batch=self._pass_size,
        )
        self._memo: dict[tuple[str, str], tuple[JSON, float]] = {}
        self._locks = LockManager()
        self._bound = False
        """Whether the executor reports its results to :meth:`_route_result` yet."""
        self._started = False
        self._stopped = False
        self._restoring: asyncio.Task[None] | None = None
        """Announcing again what the stored workflows imply (see :meth:`_restore_events`)."""

    # ------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> Controller:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def executor(self) -> Executor:
        if self._executor is None:
            assert self._make_executor is not None
            self._executor = self._make_executor()
        if not self._bound:
            self._bound = True
            self._executor.bind(self._route_result)
        return self._executor

    def _route_result(self, result: TaskResult) -> None:
        """Post an executor's result to its workflow's queue, as the event its pass applies.

        A result of a workflow this controller no longer knows (deleted) is dropped; one the
        workflow no longer waits for (its node was stopped meanwhile) is dropped by its pass.
        After :meth:`stop` the reactor takes no events: results are dropped."""
        key = result.key
        if key is not None and key in self._runs:
            self._reactor.post(key, TaskFinished(result.node_id, result))
        else:
            log.warning("result of a node no workflow waits for", workflow=str(key), node=result.node_id)

    async def start(self) -> None:
        """Open the store and resume every persisted workflow that had not finished."""
        if self._started:
            return
        self._started = True
        await self.store.open()
        restored: list[tuple[WorkflowInfo, str, str, Iterable[JSON]]] = []
        for stored in await self.store.load_all():
            workflow = stored.workflow
            run = self._make_run(stored.key, workflow, stored.nodes, stored.revision)
            self._runs[stored.key] = run
            nodes: Iterable[JSON]
            if run.phase in WORKFLOW_DONE:
                # never changed again (a retry makes a new run): built only if the sink wants them
                nodes = (public_node(n.to_dict()) for n in list(run.nodes.values()))
            else:
                # as stored now: the run's passes change its nodes before they persist them
                nodes = [public_node(n.to_dict()) for n in run.nodes.values()]
            restored.append((run.info, run.phase, str(run.status.get("message") or ""), nodes))
            if run.phase not in WORKFLOW_DONE:
                run.sync.restore()  # the locks it held (before any pass: no await until the loop ends)
                log.info("resuming workflow", workflow=stored.key.name, namespace=stored.key.namespace)
                self._reactor.post(stored.key, Start())
        if restored:
            self._restoring = asyncio.create_task(self._restore_events(restored), name="hookbus-restore-events")

    async def _restore_events(self, restored: list[tuple[WorkflowInfo, str, str, Iterable[JSON]]]) -> None:
        """Hand the sink the events the stored state implies (every node's phase as stored,
        each workflow's phase), in the background: those a crash kept from being published
        are published now; the sink drops what it knows was (deterministic event ids)."""
        announce = getattr(self.events, "restored", None)  # optional in a sink
        if announce is None:
            return
        for info, phase, message, nodes in restored:
            try:
                await announce(info, phase, message, nodes)
            except Exception:
                log.exception("could not announce a restored workflow's events", workflow=info.name)

    async def stop(self) -> None:
        """Stop operating (idempotent). Nothing is marked: a restart resumes from the store."""
        if self._stopped:
            return
        self._stopped = True
        if self._restoring is not None:
            self._restoring.cancel()
            await asyncio.gather(self._restoring, return_exceptions=True)
        await self._reactor.close()
        for run in list(self._runs.values()):
            await run.close()
        if self._make_executor is not None and self._executor is not None:
            await self._executor.close()

    # --------------------------------------------------------------- submit

    async def submit(
        self,
        workflow: JSON,
        *,
        parameters: Mapping[str, str] | None = None,
        bundle: Bundle | None = None,
    ) -> WorkflowKey:
        """Lint, resolve and persist *workflow*, then start it. Returns its key.

        Invalid manifests raise :class:`ManifestError` and store nothing. A workflow a
        ``workflow.preOperate`` plugin rejects is stored as Failed at once, with the
        plugin's message, and nothing of it runs (as Argo fails a workflow its
        controller finds invalid); check the phase of :meth:`get`. So is a workflow whose
        ``workflowTemplateRef`` (Error) or a step's ``templateRef`` (Failed, ``invalid
        spec: ...``) names a template that is not in *bundle*, as Argo's controller ends it.
        """
        bundle = bundle or Bundle()
        errors = lint_workflow(workflow, bundle)
        unresolved = unresolved_reference(workflow, bundle) if isinstance(workflow, dict) else None
        if unresolved is not None:  # Argo runs nothing of it, and ends it as below
            errors = [e for e in errors if not is_reference_error(e.path)]
        if errors:
            raise ManifestError(errors)
        if unresolved is not None:
            return await self._record_unresolved(workflow, unresolved)
        resolved = resolve_workflow(workflow, bundle)
        meta = resolved.setdefault("metadata", {})
        meta["name"] = workflow_name(resolved)
        meta.pop("generateName", None) if meta.get("name") else None
        meta.setdefault("namespace", self.settings.namespace)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = timestamp(self.clock.now())
        spec = resolved.setdefault("spec", {})
        if parameters:
            apply_parameters(spec, parameters)
        self._check_new(_key_of(resolved))
        admissions = await self.hooks.workflow_pre_operate([resolved])
        warnings: list[str] = []
        verdicts: list[Verdict] = []
        rejection: str | None = None
        for admission in admissions:
            warnings.extend(admission.warnings)
            verdicts.extend(admission.verdicts)
            if not admission.allowed:
                rejection = admission.message or "rejected by a plugin (workflow.preOperate)"
                break
            if admission.workflow is not None:
                patched = copy.deepcopy(admission.workflow)
                patch_errors = lint_workflow(patched, bundle)
                if patch_errors:  # keep (and fail) the workflow as submitted
                    rejection = "a workflow.preOperate patch left the workflow invalid: " + "; ".join(map(str, patch_errors))
                    break
                renamed = _key_of(patched)
                if renamed != _key_of(resolved) and renamed in self._runs:
                    rejection = f"a workflow.preOperate patch renamed the workflow to {renamed.namespace}/{renamed.name}, which exists"
                    break
                resolved = patched
        set_warnings(resolved, warnings)  # kept as the hookbus.io/warnings annotation
        key = _key_of(resolved)
        status = resolved.setdefault("status", {})
        if rejection is None:
            status["phase"] = PENDING
        else:
            # Like a workflow Argo's controller finds invalid: it exists, failed, and never ran.
            now = timestamp(self.clock.now())
            status.update(phase=FAILED, message=rejection, startedAt=now, finishedAt=now, progress="0/0")
        if resolved["spec"].get("workflowMetadata") and rejection is None:
            # sets the labels on the record, so plugins and events see them from the start
            WorkflowScope(resolved, key.namespace, {}, {k: {"data": d.get("data") or {}} for k, d in bundle.config_maps.items()}, None)
        stored = self._stored_templates(resolved, bundle)
        if stored:
            status["storedTemplates"] = stored
        config_maps = [
            {"namespace": ns, "name": name, "data": (doc.get("data") or {})}
            for (ns, name), doc in bundle.config_maps.items()
        ]
        if config_maps:
            status["x-configMaps"] = config_maps
        if secrets := stored_secrets(bundle):
            status[SECRETS_KEY] = secrets
        revision = await self.store.put_workflow(key, resolved, 0)
        run = self._make_run(key, resolved, {}, revision)
        self._runs[key] = run
        if verdicts:  # the plugins' verdicts, now that there is a record
            await self.events.plugin_verdicts(run.info, verdicts)
        if rejection is not None:
            log.info("workflow rejected by a plugin", workflow=key.name, namespace=key.namespace, reason=rejection)
            await self.events.workflow_phase(run.info, FAILED, rejection)
            return key
        self._reactor.post(key, Start())
        log.info("workflow submitted", workflow=key.name, namespace=key.namespace)
        return key

    async def _record_unresolved(self, workflow: JSON, unresolved: UnresolvedReference) -> WorkflowKey:
        """Store *workflow* ended as Argo's controller ends one whose template references
        do not resolve (see :mod:`..argo.refs`): nothing of it runs."""
        recorded = copy.deepcopy(workflow)
        meta = recorded.setdefault("metadata", {})
        meta["name"] = workflow_name(recorded)
        meta.pop("generateName", None)
        meta.setdefault("namespace", self.settings.namespace)
        meta["uid"] = str(uuid.uuid4())
        now = timestamp(self.clock.now())
        meta["creationTimestamp"] = now
        key = _key_of(recorded)
        self._check_new(key)
        recorded["status"] = {
            "phase": unresolved.phase,
            "message": unresolved.message,
            "startedAt": now,
            "finishedAt": now,
            "progress": "0/0",
        }
        revision = await self.store.put_workflow(key, recorded, 0)
        run = self._make_run(key, recorded, {}, revision)
        self._runs[key] = run
        log.info("workflow references a missing template", workflow=key.name, namespace=key.namespace, reason=unresolved.message)
        await self.events.workflow_phase(run.info, unresolved.phase, unresolved.message)
        return key

    def _check_new(self, key: WorkflowKey) -> None:
        if key in self._runs:
            raise ManifestError([LintError("metadata.name", f"workflow {key.name!r} already exists in {key.namespace!r}")])

    def _stored_templates(self, workflow: JSON, bundle: Bundle) -> dict[str, JSON]:
        stored: dict[str, JSON] = {}
        seen: set[tuple[bool, str]] = set()
        pending = [ref for _, ref in iter_template_refs(workflow)]
        while pending:
            ref = pending.pop()
            cluster = bool(ref.get("clusterScope"))
            owner_name = str(ref.get("name", ""))
            if (cluster, owner_name) in seen:
                continue
            seen.add((cluster, owner_name))
            try:
                _, owner = resolve_template_ref(ref, bundle)
            except ManifestError:
                raise
            scope = "cluster" if cluster else "namespaced"
            for tmpl in (owner.get("spec") or {}).get("templates") or []:
                stored[f"{scope}/{owner_name}/{tmpl.get('name')}"] = tmpl
            pending.extend(r for _, r in iter_template_refs(owner))
        return stored

    async def follow(self, source: WorkflowSource) -> None:
        """Submit every workflow *source* yields until it ends, telling it how each went.

        A submission that cannot be stored (invalid, a name that exists) is refused
        and the next one is taken; the source decides what its submitter is told."""
        async for submission in source.submissions():
            try:
                key = await self.submit(submission.workflow, parameters=submission.parameters, bundle=submission.bundle)
            except (ManifestError, RevisionConflict) as exc:
                await source.refused(submission, exc)
                continue
            await source.accepted(submission, key)

    @functools.cached_property
    def _env(self) -> RunEnv:
        """What every run of this controller is given (built once, with the executor)."""
        return RunEnv(
            settings=self.settings,
            executor=self.executor,
            hooks=self.hooks,
            events=self.events,
            store=self.store,
            clock=self.clock,
            memo=self._memo,
            locks=self._locks,
            cluster=self.cluster,
        )

    def _make_run(self, key: WorkflowKey, workflow: JSON, nodes: Mapping[str, JSON], revision: int) -> WorkflowRun:
        env = self._env
        config_maps = {
            (str(c.get("namespace", "")), str(c["name"])): {"data": c.get("data") or {}}
            for c in (workflow.get("status") or {}).get("x-configMaps") or []
        }
        return WorkflowRun(
            key, workflow, nodes, env, lambda event: self._reactor.post(key, event), config_maps, revision=revision
        )

    def _pass_size(self, key: WorkflowKey) -> int:
        """The node work *key*'s next pass may do: small while another workflow has work
        (events waiting, or a pass of its own within :attr:`~ControllerSettings.shared_linger`
        seconds), large otherwise.

        A workflow that only waits (for its pods, a timer, a resume) needs the event loop
        just when that ends, and then has an event: a large pass under way delays it once,
        and the passes after that are small. Where workflows are busy one after another,
        the linger keeps passes small in the moments between their passes."""
        small = self.settings.max_nodes_per_pass
        other = next((at for k, at in self._recent_passes if k != key), float("-inf"))
        if self._reactor.working() > 1 or self.clock.now() - other < self.settings.shared_linger:
            return small
        return max(small, self.settings.max_nodes_per_pass_alone)

    def _note_pass(self, key: WorkflowKey) -> None:
        """Remember that *key* starts a pass now (the two latest workflows are enough for
        :meth:`_pass_size`: the newest one other than the asking workflow)."""
        recent = self._recent_passes
        entry = (key, self.clock.now())
        if recent and recent[0][0] == key:
            recent[0] = entry
        else:
            recent[:] = [entry, *recent[:1]]

    async def _handle(self, key: WorkflowKey, events: list[Event]) -> None:
        run = self._runs.get(key)
        if run is None:  # deleted meanwhile: commands still waiting get the answer now
            for event in events:
                if isinstance(event, Command) and event.future is not None and not event.future.done():
                    event.future.set_exception(WorkflowNotFound(f"workflow {key.namespace}/{key.name} not found"))
            return
        structlog.contextvars.bind_contextvars(workflow=key.name, namespace=key.namespace)
        run.pass_budget = self._pass_size(key)
        self._note_pass(key)
        try:
            await run.handle(events)
        except MaxDepthExceeded as exc:
            run.crash(f"error in entry template execution: {exc}")  # Argo's words for the same end
            await run.handle([])
        except RevisionConflict as exc:
            # another writer changed the stored workflow: this copy is stale and stops here
            log.error("the stored workflow changed under this controller; no longer operating it", error=str(exc))
            run.deleting = True
            await run.close()
        except Exception as exc:
            if getattr(exc, "retryable", False):
                # the store is away: keep state in memory and write it again shortly
                log.warning("persisting failed, will retry", error=str(exc))
                run.call_at(self.clock.now() + self.settings.store_retry_seconds, lambda: None)
                return
            log.exception("workflow pass failed")
            run.crash(f"internal error: {type(exc).__name__}: {exc}")
            try:
                await run.handle([])
            except Exception:
                log.exception("could not record the internal error")
        finally:
            structlog.contextvars.unbind_contextvars("workflow", "namespace")

    # ----------------------------------------------------------------- reads

    def _run(self, key: WorkflowKey) -> WorkflowRun:
        run = self._runs.get(key)
        if run is None:
            raise WorkflowNotFound(f"workflow {key.namespace}/{key.name} not found")
        return run

    def get(self, key: WorkflowKey) -> JSON:
        """The Argo-like Workflow object (metadata, spec, status with every node).

        Built at once: about 1 s of the event loop for 100,000 nodes. Servers use
        :meth:`read`, which gives the loop back while it builds."""
        return self._run(key).snapshot()

    def exists(self, key: WorkflowKey) -> bool:
        """Whether the controller knows the workflow *key*."""
        return key in self._runs

    async def read(self, key: WorkflowKey) -> JSON:
        """:meth:`get`, without holding the event loop for a large workflow: built in
        slices of :data:`SNAPSHOT_SLICE` nodes by the workflow's own worker, between two
        of its passes (so just as consistent), while other workflows go on."""
        run = self._run(key)
        if len(run.nodes) <= SNAPSHOT_SLICE:
            return run.snapshot()
        snapshot: JSON = await self._command(key, READ)
        return snapshot

    def node(self, key: WorkflowKey, wanted: str) -> JSON | None:
        """The node with id or full name *wanted*, as ``get`` shows it, without building the
        whole workflow (``None``: no node has that id or name)."""
        run = self._run(key)
        node = run.nodes.get(wanted) or run.by_name.get(wanted)
        return None if node is None else public_node(node.to_dict())

    def list(self, namespace: str | None = None) -> list[JSON]:
        """Every known workflow (without nodes), optionally of one namespace."""
        out = []
        for key, run in self._runs.items():
            if namespace is not None and key.namespace != namespace:
                continue
            obj = run.workflow_object()
            obj["status"] = {
                k: v for k, v in obj["status"].items() if not k.startswith("x-") and k != "storedTemplates"
            }
            obj["status"]["progress"] = run.progress()
            out.append(obj)
        return out

    async def wait(self, key: WorkflowKey, timeout: float | None = None) -> JSON:
        """Wait until the workflow finished; its final object. ``TimeoutError`` after *timeout*."""
        run = self._run(key)
        await asyncio.wait_for(run.done_event.wait(), timeout)
        return await self.read(key)

    async def watch(self, key: WorkflowKey) -> AsyncIterator[JSON]:
        """Snapshots after passes (coalesced: a slow reader sees the latest), until finished."""
        run = self._run(key)
        while True:
            run.changed.clear()
            snapshot = await self.read(key)
            yield snapshot
            if run.phase in WORKFLOW_DONE:
                return
            await run.changed.wait()

    def secret_values(self, key: WorkflowKey) -> set[str]:
        """The secret values *key*'s logs must not show: its Secrets' values and those plugins resolved."""
        run = self._run(key)
        return secret_values(run.wf) | run.launcher.secrets

    def log_path(self, key: WorkflowKey, node_id: str) -> Path | None:
        """Where the executor wrote *node_id*'s logs, if known."""
        node = self._run(key).nodes.get(node_id)
        return Path(node.log_path) if node is not None and node.log_path else None

    # -------------------------------------------------------------- commands

    async def _command(self, key: WorkflowKey, op: str, **args: Any) -> Any:
        self._run(key)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._reactor.post(key, Command(op, args, future))
        return await future

    async def suspend(self, key: WorkflowKey) -> None:
        """Start no new nodes until :meth:`resume` (running ones continue)."""
        await self._command(key, "suspend")

    async def resume(self, key: WorkflowKey) -> None:
        """Resume a suspended workflow and every suspend node waiting in it."""
        await self._command(key, "resume")

    async def stop_workflow(self, key: WorkflowKey, message: str = "") -> None:
        """Argo's ``stop``: kill running nodes, start nothing new, still run exit handlers.

        *message* (``argo stop --message``) replaces the message given to the killed nodes.
        """
        await self._command(key, "stop", message=message)

    def fail(self, key: WorkflowKey, message: str) -> None:
        """End the workflow in ``Error`` with *message* (what runs is killed, exit handlers
        included), as Argo ends a workflow its controller cannot set up (volume claims the API
        refuses). Queued before any result reported after the call; a workflow that ended or
        is not known is left as it is."""
        if key in self._runs:
            self._reactor.post(key, Command("error", {"message": message}))

    async def terminate(self, key: WorkflowKey) -> None:
        """Argo's ``terminate``: kill everything, no exit handlers."""
        await self._command(key, "terminate")

    async def edit(
        self, key: WorkflowKey, workflow: JSON, *, bundle: Bundle | None = None, marks: Mapping[str, str] | None = None
    ) -> EditOutcome:
        """Operate on an edited *workflow* (its spec changed while it runs), as Argo's
        operator takes up a running Workflow's new spec.

        ``workflow.preOperate`` is asked again about it; an admitted (possibly patched),
        valid spec replaces the old one for everything not run yet (see :mod:`.respec`).
        A rejection or an invalid spec changes nothing of the run: it goes on with its
        previous spec, with a ``SpecError`` condition saying why. *marks* (annotations:
        which generation was operated on) are stored with the workflow either way."""
        run = self._run(key)
        if run.phase in WORKFLOW_DONE:
            return EditOutcome(applied=False, message=f"the workflow has ended ({run.phase})")
        bundle = bundle or Bundle()
        edited = copy.deepcopy(workflow)
        meta = edited.setdefault("metadata", {})
        meta.update(name=key.name, namespace=key.namespace, uid=run.info.uid)  # the same workflow to plugins
        warnings: list[str] = []
        verdicts: list[Verdict] = []
        rejection = ""
        for admission in await self.hooks.workflow_pre_operate([edited]):
            warnings.extend(admission.warnings)
            verdicts.extend(admission.verdicts)
            if not admission.allowed:
                rejection = admission.message or "rejected by a plugin (workflow.preOperate)"
                break
            if admission.workflow is not None:
                edited = copy.deepcopy(admission.workflow)
        stored: dict[str, JSON] = {}
        if not rejection and (edited.get("spec") or {}).get("workflowTemplateRef"):
            # as Argo: a Workflow running a WorkflowTemplate keeps the spec stored when it started
            await self._command(key, RESPEC, **edit_args(None, marks=marks))
            if verdicts:
                await self.events.plugin_verdicts(run.info, verdicts)
            return EditOutcome(applied=False, message=KEEPS_TEMPLATE_SPEC, warnings=tuple(warnings))
        if not rejection:
            errors = lint_workflow(edited, bundle)
            if errors:
                rejection = "the edited spec is invalid: " + "; ".join(map(str, errors))
            else:
                try:
                    edited = resolve_workflow(edited, bundle)
                    stored = self._stored_templates(edited, bundle)
                except ManifestError as exc:
                    rejection = f"the edited spec is invalid: {exc}"
        spec = None if rejection else dict(edited.get("spec") or {})
        args = edit_args(spec, rejection=rejection, stored_templates=stored, marks=marks)
        applied = bool(await self._command(key, RESPEC, **args))
        if verdicts:
            await self.events.plugin_verdicts(run.info, verdicts)
        if rejection:
            log.warning("spec edit refused; the workflow goes on with its previous spec", workflow=key.name, namespace=key.namespace, reason=rejection)
            return EditOutcome(applied=False, message=rejection, warnings=tuple(warnings))
        log.info("spec edit applied", workflow=key.name, namespace=key.namespace, applied=applied)
        return EditOutcome(applied=applied, message="" if applied else "the workflow has ended", warnings=tuple(warnings))

    async def complete_node(
        self, key: WorkflowKey, node_id: str, phase: str, *, message: str = "", outputs: JSON | None = None
    ) -> None:
        """Report the end of a node a plugin took over (``node.preExecute`` takeOver)."""
        await self._command(key, "complete", node_id=node_id, phase=phase, message=message, outputs=outputs)

    async def retry(self, key: WorkflowKey) -> None:
        """Run a Failed/Error workflow again: Succeeded nodes are kept, the rest re-run."""
        run = self._run(key)
        if run.phase not in (FAILED, ERROR):
            raise ValueError(f"workflow {key.name} is {run.phase}; only Failed or Error workflows can be retried")
        await run.close()
        keep = {
            i: n for i, n in run.nodes.items()
            if n.phase == SUCCEEDED and not n.name.startswith(f"{run.name}.onExit")
        }
        drop = [i for i in run.nodes if i not in keep]
        nodes: dict[str, JSON] = {}
        for node in keep.values():
            node.children = [c for c in node.children if c in keep]
            node.outbound_nodes = [c for c in node.outbound_nodes if c in keep]
            nodes.update(storage_records(node))
        workflow = run.workflow_object()
        status = workflow["status"]
        status["phase"] = RUNNING
        status[RETRIES_FIELD] = int(status.get(RETRIES_FIELD) or 0) + 1  # the nodes run again: a new attempt
        for field in ("finishedAt", "message"):
            status.pop(field, None)
        spec = workflow["spec"]
        spec.pop("shutdown", None)
        revision = await self.store.delete_nodes(key, drop, run.revision)
        revision = await self.store.put_nodes(key, nodes, revision)
        revision = await self.store.put_workflow(key, workflow, revision)
        new_run = self._make_run(key, workflow, nodes, revision)
        self._runs[key] = new_run
        self._reactor.post(key, Start())

    async def delete(self, key: WorkflowKey) -> None:
        """Stop and forget the workflow, and delete it from the store.

        A pass under way (waiting for a plugin, say) is let finish first; the passes after
        it do nothing. Otherwise it would write the workflow back after the delete, and a
        restarted controller would find it again."""
        run = self._run(key)
        run.deleting = True
        await self._command(key, QUIESCE)
        await run.close()
        self._runs.pop(key, None)
        self._reactor.forget(key)
        await self.store.delete(key, run.revision)

    def counts(self, key: WorkflowKey) -> dict[str, int]:
        """Leaf nodes per phase (cheap; what progress is computed from)."""
        run = self._run(key)
        return {k: v for k, v in run.counts.items() if v > 0 and k}


def _key_of(workflow: JSON) -> WorkflowKey:
    meta = workflow["metadata"]
    return WorkflowKey(str(meta.get("namespace", "")), str(meta.get("name", "")))


__all__ = ["LEAF_TYPES", "Controller", "WorkflowNotFound"]
