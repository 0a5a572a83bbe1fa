"""The engine's hook points, answered by NATS plugins through the bus dispatcher.

:class:`PluginHooks` implements :class:`~hookbus.controller.engine.ports.HookPoints`:
each method turns one scheduling pass's batch into one dispatcher call (which
makes one request per interested plugin, chunked), and turns the merged
outcomes back into the engine's result records. Plugin verdicts that take
effect (a rejection, a veto, a short-circuit, a take-over, a hold, a warning)
are logged with the plugin named and carried in the result they belong to
(:class:`~hookbus.controller.engine.hooks.Verdict`); the engine announces them
once the pass is persisted, and the event sink
(:class:`~hookbus.controller.adapters.events.PublisherSink`) publishes them as
``plugin`` notifications. So are the verdicts of shadow plugins (verdict
``shadow``), which take no effect.

A plugin failure under the ``Fail`` policy becomes an *error* of the node or
workflow, with a message naming the plugin and the hook; under ``Ignore`` the
work goes on and the dispatcher counts the skipped call.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from ...bus import Hook, ItemOutcome
from ...bus.dispatch import MAX_MESSAGE_CHARS, NO_OPINION, clip
from ..argo.durations import DurationError, parse_duration
from ..argo.labels import WORKFLOW_LABEL
from ..argo.types import Phase
from ..engine.hooks import (
    ALLOW,
    CONTINUE,
    KEEP,
    Admission,
    MetadataPatch,
    PluginReply,
    PodDecision,
    PostExecute,
    PreExecute,
    ResolvedValue,
    Verdict,
)
from ..kube.pods_patch import refused_pod_fields

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ...bus import Dispatcher
    from ..argo.types import JSON
    from ..engine.hooks import NodeItem, PluginItem, PodItem, WorkflowInfo

log = structlog.get_logger("hookbus.controller.plugin_hooks")


_SHORT_CIRCUIT_PHASES = frozenset({Phase.SUCCEEDED, Phase.SKIPPED, Phase.FAILED})
_PROCESS_KEYS = frozenset({"name", "image", "command", "args", "env", "workingDir", "source"})
"""Container fields the engine's process description holds itself; the rest pass through."""

_CONTINUE_POD_AS_IS = PreExecute(pod=ALLOW)
"""``node.preExecute``'s answer when no plugin had anything to say about a node or its pod offered ahead."""


def workflow_meta(info: WorkflowInfo) -> JSON:
    """The ``metadata`` every hook call carries for its workflow."""
    return {
        "name": info.name,
        "namespace": info.namespace,
        "uid": info.uid,
        "labels": dict(info.labels),
        "annotations": dict(info.annotations),
    }


def _meta_of(workflow: Mapping[str, Any]) -> JSON:
    meta = workflow.get("metadata") or {}
    return {
        "name": meta.get("name", ""),
        "namespace": meta.get("namespace", "default"),
        "uid": meta.get("uid", ""),
        "labels": dict(meta.get("labels") or {}),
        "annotations": dict(meta.get("annotations") or {}),
    }


class PodRenderer(Protocol):
    """The pods an executor really creates, for ``pod.preCreate`` (Kubernetes mode)."""

    def render(self, item: PodItem) -> JSON | None:
        """The manifest the executor would create for *item*; ``None``: show the generic pod."""
        ...

    def read_back(self, patched: Mapping[str, Any], item: PodItem, shown: Mapping[str, Any] | None = None) -> JSON:
        """*item*'s pod (the engine's description) from the manifest a plugin changed
        (*shown*: the manifest the plugin was shown, when known)."""
        ...


class PluginHooks:
    """:class:`HookPoints` served by the plugins registered on the bus."""

    def __init__(self, dispatcher: Dispatcher, pods: PodRenderer | None = None) -> None:
        self.pods = pods
        """Shows ``pod.preCreate`` plugins the executor's real pods (``None``: the generic pod)."""
        self.dispatcher = dispatcher

    def wants(self, hook: str, workflow: WorkflowInfo) -> bool:
        """Whether a live plugin could be called for *hook* on *workflow* (cheap, in memory)."""
        return self.dispatcher.wants(Hook(hook), workflow_meta(workflow))

    def asks_ahead(self, hook: str, workflow: WorkflowInfo) -> bool:
        """Whether every plugin that could be asked about *hook* declared no side effects."""
        return self.dispatcher.side_effect_free(Hook(hook), workflow_meta(workflow))

    # -- workflow hooks -----------------------------------------------------------------

    async def workflow_pre_operate(self, workflows: Sequence[JSON]) -> list[Admission]:
        out = []
        for workflow in workflows:
            meta = _meta_of(workflow)
            if not self.dispatcher.wants(Hook.WORKFLOW_PRE_OPERATE, meta):
                out.append(Admission())
                continue
            item = {"id": meta["uid"] or meta["name"], "workflow": workflow}
            (outcome,) = await self.dispatcher.call(Hook.WORKFLOW_PRE_OPERATE, meta, [item])
            warnings, verdicts = self._warnings(meta, Hook.WORKFLOW_PRE_OPERATE, outcome)
            if not outcome.allowed:
                verdicts += (self._verdict(meta, Hook.WORKFLOW_PRE_OPERATE, outcome, "reject"),)
                message = _message(outcome, Hook.WORKFLOW_PRE_OPERATE)
                out.append(Admission(allowed=False, message=message, warnings=warnings, verdicts=verdicts))
                continue
            out.append(Admission(workflow=outcome.target, warnings=warnings, verdicts=verdicts))
        return out

    async def workflow_pre_update(self, workflow: WorkflowInfo, updates: Sequence[JSON]) -> list[MetadataPatch]:
        meta = workflow_meta(workflow)
        if not updates or not self.dispatcher.wants(Hook.WORKFLOW_PRE_UPDATE, meta):
            return [MetadataPatch() for _ in updates]
        items = [{"id": workflow.uid or workflow.name, "workflow": update} for update in updates]
        result = await self.dispatcher.call(Hook.WORKFLOW_PRE_UPDATE, meta, items)
        out = []
        for update, outcome in zip(updates, result, strict=True):
            warnings, verdicts = self._warnings(meta, Hook.WORKFLOW_PRE_UPDATE, outcome)
            labels: dict[str, str] = {}
            annotations: dict[str, str] = {}
            if isinstance(outcome.target, dict):
                before = update.get("metadata") or {}
                after = outcome.target.get("metadata") or {}
                labels = _changed_strings(before.get("labels"), after.get("labels"))
                annotations = _changed_strings(before.get("annotations"), after.get("annotations"))
            out.append(MetadataPatch(labels=labels, annotations=annotations, warnings=warnings, verdicts=verdicts))
        return out

    # -- node hooks -----------------------------------------------------------------------

    async def node_pre_execute(
        self, workflow: WorkflowInfo, nodes: Sequence[NodeItem], ahead: Sequence[PodItem | None] = ()
    ) -> list[PreExecute]:
        meta = workflow_meta(workflow)
        if not nodes or not self.dispatcher.wants(Hook.NODE_PRE_EXECUTE, meta):
            return [PreExecute() for _ in nodes]
        items = [{"id": n.node.get("id"), "node": n.node, "template": n.template} for n in nodes]
        offered = {i: pod for i, pod in enumerate(ahead) if pod is not None}
        pod_outcomes: dict[int, ItemOutcome] = {}
        shown: dict[int, JSON] = {}
        if offered:
            # Both hooks in one round trip (their plugins declared no side effects).
            pod_items = [self._pod_item(pod, workflow) for pod in offered.values()]
            shown = dict(zip(offered, (item["pod"] for item in pod_items), strict=True))
            result, pod_result = await asyncio.gather(
                self.dispatcher.call(Hook.NODE_PRE_EXECUTE, meta, items), self.dispatcher.call(Hook.POD_PRE_CREATE, meta, pod_items)
            )
            pod_outcomes = dict(zip(offered, pod_result, strict=True))
        else:
            result = await self.dispatcher.call(Hook.NODE_PRE_EXECUTE, meta, items)
        out: list[PreExecute] = []
        for index, (node, outcome) in enumerate(zip(nodes, result, strict=True)):
            if outcome is NO_OPINION:  # the common case, answered without building anything
                pod_outcome = pod_outcomes.get(index)
                if pod_outcome is None:
                    out.append(CONTINUE)
                    continue
                if pod_outcome is NO_OPINION:
                    out.append(_CONTINUE_POD_AS_IS)
                    continue
            warnings, verdicts = self._warnings(meta, Hook.NODE_PRE_EXECUTE, outcome, node.node.get("id"))
            decision = self._pre_execute(meta, node, outcome, warnings, verdicts)
            pod_outcome = pod_outcomes.get(index)
            # The answer about the pod stands only if the node goes on exactly as offered;
            # otherwise it is dropped unseen (a warning changes the node: ask again then).
            if pod_outcome is not None and decision.decision == "continue" and not warnings:
                pod = self._pod_decision(meta, offered[index], pod_outcome, shown[index])
                # its verdicts go with the node's, in the order they were given
                decision = replace(decision, pod=replace(pod, verdicts=()), verdicts=decision.verdicts + pod.verdicts)
            out.append(decision)
        return out

    def _pre_execute(
        self, meta: JSON, node: NodeItem, outcome: ItemOutcome, warnings: tuple[str, ...], verdicts: tuple[Verdict, ...]
    ) -> PreExecute:
        hook = Hook.NODE_PRE_EXECUTE
        node_id = node.node.get("id")
        if not outcome.settled:
            return PreExecute(warnings=warnings, verdicts=verdicts)
        result = outcome.result
        if not outcome.allowed or result.get("decision") == "fail":
            verdicts += (self._verdict(meta, hook, outcome, "fail", node_id),)
            phase = Phase.ERROR.value if outcome.error else Phase.FAILED.value
            return PreExecute(decision="fail", phase=phase, message=_message(outcome, hook), warnings=warnings, verdicts=verdicts)
        decision = result.get("decision")
        message = clip(str(result.get("message", "")), MAX_MESSAGE_CHARS)
        if decision == "shortCircuit":
            phase = result.get("phase", Phase.SUCCEEDED.value)
            outputs = result.get("outputs")
            if phase not in _SHORT_CIRCUIT_PHASES or (outputs is not None and not isinstance(outputs, dict)):
                problem = "a short-circuit needs phase Succeeded, Skipped or Failed and outputs as a map"
                return self._bad_reply(outcome, hook, problem, warnings, verdicts)
            verdicts += (self._verdict(meta, hook, outcome, "short-circuit", node_id),)
            return PreExecute(
                decision="shortCircuit", phase=phase, outputs=outputs, message=message, warnings=warnings, verdicts=verdicts
            )
        if decision in ("takeOver", "hold"):
            try:
                requeue = _seconds(result.get("requeue"))
            except DurationError as exc:
                return self._bad_reply(outcome, hook, str(exc), warnings, verdicts)
            if decision == "hold" and requeue is None:
                return self._bad_reply(outcome, hook, "'hold' needs 'requeue' seconds", warnings, verdicts)
            if decision == "takeOver" and (takeovers := getattr(self.dispatcher, "takeovers", None)) is not None:
                # the one plugin that may report this node's end (checked by the control API)
                takeovers.note(outcome.plugin, str(meta.get("namespace") or "default"), str(meta.get("name") or ""), str(node_id))
            verdicts += (self._verdict(meta, hook, outcome, "take-over" if decision == "takeOver" else "hold", node_id),)
            return PreExecute(decision=decision, message=message, requeue=requeue, warnings=warnings, verdicts=verdicts)
        return self._bad_reply(outcome, hook, f"unknown decision {decision!r}", warnings, verdicts)

    def _bad_reply(
        self, outcome: ItemOutcome, hook: Hook, problem: str, warnings: tuple[str, ...], verdicts: tuple[Verdict, ...]
    ) -> PreExecute:
        message = f"plugin {outcome.plugin!r} failed hook {hook.value}: malformed reply: {problem}"
        log.warning("malformed plugin verdict", plugin=outcome.plugin, hook=hook.value, error=problem)
        return PreExecute(decision="fail", phase=Phase.ERROR.value, message=message, warnings=warnings, verdicts=verdicts)

    async def node_post_execute(self, workflow: WorkflowInfo, nodes: Sequence[NodeItem]) -> list[PostExecute]:
        meta = workflow_meta(workflow)
        if not nodes or not self.dispatcher.wants(Hook.NODE_POST_EXECUTE, meta):
            return [PostExecute() for _ in nodes]
        items = [{"id": n.node.get("id"), "node": n.node, "template": n.template} for n in nodes]
        result = await self.dispatcher.call(Hook.NODE_POST_EXECUTE, meta, items)
        out: list[PostExecute] = []
        for node, outcome in zip(nodes, result, strict=True):
            if outcome is NO_OPINION:
                out.append(KEEP)
                continue
            warnings, verdicts = self._warnings(meta, Hook.NODE_POST_EXECUTE, outcome, node.node.get("id"))
            if not outcome.allowed:
                verdicts += (self._verdict(meta, Hook.NODE_POST_EXECUTE, outcome, "fail", node.node.get("id")),)
                refusal = _message(outcome, Hook.NODE_POST_EXECUTE)
                out.append(PostExecute(message=refusal, warnings=warnings, verdicts=verdicts))
                continue
            target = outcome.target if isinstance(outcome.target, dict) else None
            outputs = target.get("outputs") if target is not None else None
            message = target.get("message") if target is not None else None
            out.append(
                PostExecute(
                    outputs=outputs if isinstance(outputs, dict) else None,
                    message=clip(str(message), MAX_MESSAGE_CHARS) if message is not None and message != node.node.get("message") else None,
                    warnings=warnings,
                    verdicts=verdicts,
                )
            )
        return out

    # -- pods ------------------------------------------------------------------------------

    async def pod_pre_create(self, workflow: WorkflowInfo, pods: Sequence[PodItem]) -> list[PodDecision]:
        meta = workflow_meta(workflow)
        if not pods or not self.dispatcher.wants(Hook.POD_PRE_CREATE, meta):
            return [PodDecision() for _ in pods]
        items = [self._pod_item(p, workflow) for p in pods]
        result = await self.dispatcher.call(Hook.POD_PRE_CREATE, meta, items)
        return [
            self._pod_decision(meta, pod, outcome, item["pod"]) for pod, outcome, item in zip(pods, result, items, strict=True)
        ]

    def _shown(self, pod: PodItem, workflow: WorkflowInfo) -> JSON:
        """The Pod manifest ``pod.preCreate`` plugins are shown for *pod*."""
        shown = self.pods.render(pod) if self.pods is not None else None
        return shown if shown is not None else to_kubernetes_pod(pod.pod, workflow)

    def _pod_item(self, pod: PodItem, workflow: WorkflowInfo) -> JSON:
        return {"id": pod.node.get("id"), "node": pod.node, "pod": self._shown(pod, workflow)}

    def _pod_decision(self, meta: JSON, pod: PodItem, outcome: ItemOutcome, shown: JSON) -> PodDecision:
        """What the plugins' *outcome* about *pod* (shown to them as *shown*) means."""
        if outcome is NO_OPINION:
            return ALLOW
        node_id = pod.node.get("id")
        warnings, verdicts = self._warnings(meta, Hook.POD_PRE_CREATE, outcome, node_id)
        if not outcome.allowed:
            verdicts += (self._verdict(meta, Hook.POD_PRE_CREATE, outcome, "veto", node_id),)
            message = _message(outcome, Hook.POD_PRE_CREATE)
            return PodDecision(allowed=False, message=message, warnings=warnings, verdicts=verdicts)
        if outcome.target is None:
            return PodDecision(warnings=warnings, verdicts=verdicts)
        refused = refused_pod_fields(shown, outcome.target) if isinstance(outcome.target, dict) else []
        if refused:
            who = ", ".join(repr(p) for p in outcome.patched_by) or "a plugin"
            message = (
                f"pod.preCreate patch of plugin {who} refused: plugins may not set {', '.join(refused)} "
                "(the workflow may set them)"
            )
            log.warning("pod patch refused", plugins=list(outcome.patched_by), workflow=meta["name"], node=node_id, fields=refused)
            verdicts += (Verdict(outcome.patched_by[0] if outcome.patched_by else "hookbus", Hook.POD_PRE_CREATE.value, "veto", node_id, message),)
            return PodDecision(allowed=False, message=message, warnings=warnings, verdicts=verdicts)
        try:
            if self.pods is not None:
                patched = self.pods.read_back(outcome.target, pod, shown)
            else:
                patched = from_kubernetes_pod(outcome.target, pod.pod)
        except (TypeError, ValueError, KeyError) as exc:
            message = f"plugins {', '.join(outcome.patched_by)} patched the pod into something hookbus cannot run: {exc}"
            return PodDecision(allowed=False, message=message, warnings=warnings, verdicts=verdicts)
        return PodDecision(pod=patched, warnings=warnings, verdicts=verdicts)

    # -- parameters and executor plugins -------------------------------------------------

    async def parameters_resolve(self, workflow: WorkflowInfo, names: Sequence[str]) -> list[ResolvedValue | None]:
        meta = workflow_meta(workflow)
        if not names or not self.dispatcher.wants(Hook.PARAMETERS_RESOLVE, meta):
            return [None for _ in names]
        items = []
        for name in names:
            scope, _, key = name.partition(".")
            items.append({"id": name, "placeholder": name, "scope": scope, "key": key})
        result = await self.dispatcher.call(Hook.PARAMETERS_RESOLVE, meta, items)
        out: list[ResolvedValue | None] = []
        for outcome in result:
            _, verdicts = self._warnings(meta, Hook.PARAMETERS_RESOLVE, outcome)
            value = outcome.result.get("value")
            if not outcome.allowed:
                # never the item itself: the name is enough, a value may be secret
                log.warning("placeholder not resolved", plugin=outcome.plugin, hook=Hook.PARAMETERS_RESOLVE.value, workflow=meta["name"], error=outcome.error)
                out.append(ResolvedValue("", error=_message(outcome, Hook.PARAMETERS_RESOLVE), verdicts=verdicts))
            elif value is not None:
                out.append(ResolvedValue(value=str(value), secret=bool(outcome.result.get("secret")), verdicts=verdicts))
            elif verdicts:
                out.append(ResolvedValue("", missing=True, verdicts=verdicts))
            else:
                out.append(None)
        return out

    async def template_execute(self, workflow: WorkflowInfo, nodes: Sequence[PluginItem]) -> list[PluginReply]:
        meta = workflow_meta(workflow)
        if not nodes or not self.dispatcher.wants(Hook.TEMPLATE_EXECUTE, meta):
            return [PluginReply() for _ in nodes]
        items = [{"id": n.node.get("id"), "node": n.node, "template": n.template} for n in nodes]
        result = await self.dispatcher.call(Hook.TEMPLATE_EXECUTE, meta, items)
        out = []
        for node, outcome in zip(nodes, result, strict=True):
            warnings, verdicts = self._warnings(meta, Hook.TEMPLATE_EXECUTE, outcome, node.node.get("id"))
            if not outcome.allowed:
                message = _message(outcome, Hook.TEMPLATE_EXECUTE)
                phase = Phase.ERROR.value if outcome.error else Phase.FAILED.value
                out.append(PluginReply(phase=phase, message=message, warnings=warnings, verdicts=verdicts))
                continue
            reply = outcome.result.get("node")
            if not isinstance(reply, dict) or not reply.get("phase"):
                out.append(PluginReply(warnings=warnings, verdicts=verdicts))  # nobody executed it
                continue
            outputs = reply.get("outputs")
            out.append(
                PluginReply(
                    phase=str(reply["phase"]),
                    message=clip(str(reply.get("message", "")), MAX_MESSAGE_CHARS),
                    outputs=outputs if isinstance(outputs, dict) else None,
                    requeue=_requeue_or_none(outcome.result.get("requeue")),
                    warnings=warnings,
                )
            )
        return out

    # -- reporting ---------------------------------------------------------------------------

    def _warnings(
        self, meta: JSON, hook: Hook, outcome: ItemOutcome, node_id: str | None = None
    ) -> tuple[tuple[str, ...], tuple[Verdict, ...]]:
        """The warnings of *outcome* as shown on nodes, and the verdicts to announce for them
        (each warning, and what every shadow plugin would have done)."""
        shown = tuple(f"{w.plugin}: {w.message}" for w in outcome.warnings)
        verdicts: list[Verdict] = []
        for warning in outcome.warnings:
            log.info("plugin warning", plugin=warning.plugin, hook=hook.value, workflow=meta["name"], node=node_id, warning=warning.message)
            verdicts.append(Verdict(warning.plugin or "hookbus", hook.value, "warning", node_id, warning.message))
        for verdict in outcome.shadow:
            summary = _summary(verdict.result)
            log.info("shadow plugin verdict", plugin=verdict.plugin, hook=hook.value, workflow=meta["name"], node=node_id, verdict=summary)
            said = verdict.result.get("message")
            said = clip(str(said), MAX_MESSAGE_CHARS) if said else said
            message = f"{summary}: {said}" if said else summary
            verdicts.append(Verdict(verdict.plugin or "hookbus", hook.value, "shadow", node_id, message))
        return shown, tuple(verdicts)

    def _verdict(self, meta: JSON, hook: Hook, outcome: ItemOutcome, verdict: str, node_id: str | None = None) -> Verdict:
        plugin = outcome.plugin or ""
        log.info("plugin verdict", plugin=plugin, hook=hook.value, workflow=meta["name"], node=node_id, verdict=verdict, error=outcome.error)
        return Verdict(plugin or "hookbus", hook.value, verdict, node_id, _message(outcome, hook))


def _message(outcome: ItemOutcome, hook: Hook) -> str:
    """The user-facing message of a rejection: the plugin's words, naming the plugin."""
    message = outcome.message
    if outcome.error:
        return message  # already names plugin and hook
    plugin = outcome.plugin or "a plugin"
    return f"{message} (plugin {plugin!r}, {hook.value})" if message else f"rejected by plugin {plugin!r} ({hook.value})"


def _summary(result: Mapping[str, Any]) -> str:
    if result.get("allowed") is False:
        return "reject"
    for key in ("decision", "patch", "mergePatch", "value", "node"):
        if key in result:
            return str(result[key]) if key == "decision" else key
    return "no opinion"


def _seconds(value: Any) -> float | None:
    """Seconds from a number or a Go duration (``30s``, ``1h30m``); ``None`` when absent.

    Raises :class:`DurationError` for text that is not a duration."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    return parse_duration(str(value).strip(), what="requeue")


def _requeue_or_none(value: Any) -> float | None:
    """:func:`_seconds`, ``None`` for text that is not a duration (the engine's default applies)."""
    try:
        return _seconds(value)
    except DurationError:
        log.warning("plugin gave a requeue that is not a duration; using the default", requeue=str(value)[:64])
        return None


def _changed_strings(before: Any, after: Any) -> dict[str, str]:
    before = before if isinstance(before, dict) else {}
    after = after if isinstance(after, dict) else {}
    return {str(k): str(v) for k, v in after.items() if before.get(k) != v and v is not None}


# -- the pod a plugin sees ----------------------------------------------------------------


def to_kubernetes_pod(pod: Mapping[str, Any], workflow: WorkflowInfo) -> JSON:
    """The engine's process description as the Pod the Kubernetes executor would create."""

    def container(process: Mapping[str, Any], name: str) -> JSON:
        # Other container fields of the template (securityContext, resources, ...) as they are.
        out: JSON = {k: copy.deepcopy(v) for k, v in process.items() if k not in _PROCESS_KEYS}
        out.update(name=process.get("name") or name, image=process.get("image") or "")
        if process.get("command"):
            out["command"] = list(process["command"])
        if process.get("args"):
            out["args"] = list(process["args"])
        env = process.get("env") or {}
        if env:
            out["env"] = [{"name": str(k), "value": str(v)} for k, v in env.items()]
        if process.get("workingDir"):
            out["workingDir"] = process["workingDir"]
        return out

    main = pod.get("main") or {}
    spec: JSON = {
        "restartPolicy": "Never",
        "containers": [container(main, "main")] + [container(s, f"sidecar-{i}") for i, s in enumerate(pod.get("sidecars") or [])],
    }
    if pod.get("init"):
        spec["initContainers"] = [container(p, f"init-{i}") for i, p in enumerate(pod["init"])]
    labels = {WORKFLOW_LABEL: workflow.name, **dict(pod.get("labels") or {})}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": str(pod.get("name", "")),
            "namespace": workflow.namespace,
            "labels": labels,
            "annotations": dict(pod.get("annotations") or {}),
        },
        "spec": spec,
    }


def from_kubernetes_pod(patched: Mapping[str, Any], original: Mapping[str, Any]) -> JSON:
    """The engine's process description from a (patched) Pod; the main container keeps its script."""
    spec = patched.get("spec")
    if not isinstance(spec, dict):
        raise ValueError("the pod has no 'spec'")
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        raise ValueError("the pod has no containers")
    main_name = (original.get("main") or {}).get("name") or "main"

    def process(container: Any, template: Mapping[str, Any] | None) -> JSON:
        if not isinstance(container, dict):
            raise TypeError("a container must be a map")
        env: dict[str, str] = {}
        for entry in container.get("env") or []:
            if not isinstance(entry, dict) or "name" not in entry:
                raise ValueError(f"env entry {entry!r} has no name")
            if "value" in entry:
                env[str(entry["name"])] = str(entry["value"])
        out: JSON = {k: v for k, v in container.items() if k not in _PROCESS_KEYS}
        out.update({
            "name": str(container.get("name", "")),
            "image": container.get("image"),
            "command": [str(c) for c in container.get("command") or []],
            "args": [str(a) for a in container.get("args") or []],
            "env": env,
            "workingDir": container.get("workingDir"),
            "source": (template or {}).get("source"),
        })
        return out

    main = next((c for c in containers if isinstance(c, dict) and c.get("name") == main_name), containers[0])
    meta = patched.get("metadata") or {}
    labels = dict(meta.get("labels") or {})
    labels.pop(WORKFLOW_LABEL, None)
    return {
        "name": original.get("name"),
        "main": process(main, original.get("main")),
        "init": [process(c, None) for c in spec.get("initContainers") or []],
        "sidecars": [process(c, None) for c in containers if c is not main],
        "labels": {str(k): str(v) for k, v in labels.items()},
        "annotations": {str(k): str(v) for k, v in (meta.get("annotations") or {}).items()},
    }

