"""Test a plugin through the controller's own reading of its replies.

:class:`hookbus.bus.testing.PluginHarness` stops at the dispatcher: it shows what the
plugins answered (:class:`~hookbus.bus.ItemOutcome`), including replies the controller
would refuse. :class:`ControllerHarness` starts plugins the same way (a real NATS
server, the real registry and dispatcher) and answers each hook through the adapter the
controller runs (:class:`~.adapters.plugin_hooks.PluginHooks`), so a test sees the
engine's own result records: a ``hold`` without ``requeue``, an unknown decision, a
short-circuit with outputs of the wrong type or a pod patched into something that cannot
run come back as the failed node or vetoed pod the controller would make of them, with a
message naming the plugin.

.. code-block:: python

    from hookbus.controller.testing import ControllerHarness, node_item

    async def test_holds_until_the_lake_is_ready():
        async with ControllerHarness(plugin) as harness:
            (result,) = await harness.node_pre_execute([node_item(manifest, "load")])
        assert (result.decision, result.requeue) == ("hold", 30.0)

The ``*_item`` functions build a hook's inputs from a workflow manifest the way the
engine shapes them (node ids as Argo computes them); templates are taken
as written, without substituting ``{{...}}`` placeholders.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..bus.testing import DEFAULT_WORKFLOW, PluginHarness
from .adapters.plugin_hooks import PluginHooks
from .argo.names import node_id
from .argo.types import NodeType, Phase
from .engine.hooks import NodeItem, PluginItem, PodItem, WorkflowInfo
from .engine.templates import pod_dict, template_kind

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ..bus.sdk import Plugin
    from ..bus.settings import BusSettings
    from .argo.types import JSON
    from .engine.hooks import (
        Admission,
        MetadataPatch,
        PluginReply,
        PodDecision,
        PostExecute,
        PreExecute,
        ResolvedValue,
    )

__all__ = ["ControllerHarness", "node_item", "plugin_item", "pod_item", "workflow_info"]

DEFAULT_INFO = WorkflowInfo(
    namespace=DEFAULT_WORKFLOW["namespace"], name=DEFAULT_WORKFLOW["name"], uid=DEFAULT_WORKFLOW["uid"]
)
"""The workflow hook calls are made for when a test names none (as :class:`PluginHarness`'s)."""

_PROCESS_KEYS = frozenset({"name", "image", "command", "args", "env", "workingDir", "source"})
"""Container fields a pod's process description holds itself; the rest pass through."""

_NODE_TYPES = {
    "steps": NodeType.STEPS,
    "dag": NodeType.DAG,
    "suspend": NodeType.SUSPEND,
    "http": NodeType.HTTP,
    "plugin": NodeType.PLUGIN,
}
"""Node types of the templates that do not run a pod."""


def workflow_info(manifest: Mapping[str, Any]) -> WorkflowInfo:
    """The identity hook calls carry for the workflow *manifest* (its ``metadata``)."""
    meta = manifest.get("metadata") or {}
    name = str(meta.get("name") or meta.get("generateName") or DEFAULT_INFO.name)
    return WorkflowInfo(
        namespace=str(meta.get("namespace") or "default"),
        name=name,
        uid=str(meta.get("uid") or ""),
        labels={str(k): str(v) for k, v in (meta.get("labels") or {}).items()},
        annotations={str(k): str(v) for k, v in (meta.get("annotations") or {}).items()},
    )


def node_item(
    manifest: Mapping[str, Any],
    template: str | None = None,
    *,
    name: str | None = None,
    phase: str = Phase.PENDING,
    **fields: Any,
) -> NodeItem:
    """The node that runs *template* of *manifest* (default: the entrypoint), as
    ``node.preExecute`` and ``node.postExecute`` get it.

    *name* is the node's Argo name (default: the workflow's name for the entrypoint, as
    Argo names the root node, else ``<workflow>.<template>``, a DAG task's name); its id
    is derived from it as Argo does. *fields* are added to the node status
    (``outputs=...``, ``message=...``).
    """
    info = workflow_info(manifest)
    tmpl = _template(manifest, template)
    node_name = name or _default_name(manifest, info, tmpl)
    node: JSON = {
        "id": node_id(info.name, node_name),
        "name": node_name,
        "displayName": node_name.rsplit(".", 1)[-1],
        "type": str(_NODE_TYPES.get(template_kind(tmpl), NodeType.POD)),
        "templateName": tmpl.get("name", ""),
        "phase": str(phase),
        **fields,
    }
    return NodeItem(node=node, template=dict(tmpl))


def pod_item(manifest: Mapping[str, Any], template: str | None = None, *, name: str | None = None) -> PodItem:
    """The pod the engine would create for the node of :func:`node_item`, as
    ``pod.preCreate`` gets it (before the adapter shows it to plugins as a Kubernetes Pod):
    its processes, plus the other fields of their containers (``securityContext`` ...)."""
    item = node_item(manifest, template, name=name)
    tmpl = item.template
    pod = pod_dict(tmpl, manifest)
    pod["name"] = item.node["id"]
    pod["main"] = _with_fields(pod["main"], tmpl.get("container") or tmpl.get("script"))
    for key, specs in (("init", tmpl.get("initContainers")), ("sidecars", tmpl.get("sidecars"))):
        by_name = {spec.get("name"): spec for spec in specs or [] if isinstance(spec, dict)}
        pod[key] = [_with_fields(process, by_name.get(process["name"])) for process in pod[key]]
    return PodItem(node=item.node, pod=pod)


def _with_fields(process: JSON, container: Mapping[str, Any] | None) -> JSON:
    """*process* with the fields of *container* it does not describe itself."""
    return {**{k: v for k, v in (container or {}).items() if k not in _PROCESS_KEYS}, **process}


def plugin_item(manifest: Mapping[str, Any], template: str | None = None, *, name: str | None = None) -> PluginItem:
    """The ``plugin:`` template node of *manifest*, as ``template.execute`` gets it."""
    item = node_item(manifest, template, name=name)
    return PluginItem(node=item.node, template=item.template)


def _template(manifest: Mapping[str, Any], name: str | None) -> Mapping[str, Any]:
    spec = manifest.get("spec") or {}
    wanted = name or spec.get("entrypoint")
    templates = spec.get("templates") or []
    for tmpl in templates:
        if tmpl.get("name") == wanted:
            return tmpl  # type: ignore[no-any-return]
    if wanted is None and len(templates) == 1:
        return templates[0]  # type: ignore[no-any-return]
    raise KeyError(f"the manifest has no template {wanted!r}")


def _default_name(manifest: Mapping[str, Any], info: WorkflowInfo, tmpl: Mapping[str, Any]) -> str:
    entrypoint = (manifest.get("spec") or {}).get("entrypoint")
    if entrypoint is None or tmpl.get("name") == entrypoint:
        return info.name
    return f"{info.name}.{tmpl.get('name', '')}"


class ControllerHarness(PluginHarness):
    """Run *plugins* on a real NATS server and answer hooks as the controller does.

    Each hook method takes a batch (one scheduling pass's worth) and returns one of the
    engine's result records per item, in order. *workflow* is the workflow the calls are
    made for (a :class:`WorkflowInfo` or a manifest); each method also takes
    ``workflow=`` for one call. The raw calls of :class:`PluginHarness` (``call``,
    ``call_one``) stay available.
    """

    def __init__(
        self,
        *plugins: Plugin,
        workflow: WorkflowInfo | Mapping[str, Any] | None = None,
        nats_url: str | None = None,
        settings: BusSettings | None = None,
        register_timeout: float = 10.0,
    ) -> None:
        super().__init__(*plugins, nats_url=nats_url, settings=settings, register_timeout=register_timeout)
        self.workflow = _info(workflow) or DEFAULT_INFO
        self._hooks: PluginHooks | None = None

    async def __aenter__(self) -> ControllerHarness:
        await super().__aenter__()
        return self

    async def start(self) -> None:
        await super().start()
        assert self.dispatcher is not None
        self._hooks = PluginHooks(self.dispatcher)

    async def stop(self) -> None:
        self._hooks = None
        await super().stop()

    @property
    def hooks(self) -> PluginHooks:
        """The controller's hook adapter, over this harness's dispatcher."""
        if self._hooks is None:
            raise RuntimeError("the harness is not started: use 'async with ControllerHarness(...)'")
        return self._hooks

    def _for(self, workflow: WorkflowInfo | Mapping[str, Any] | None) -> WorkflowInfo:
        return _info(workflow) or self.workflow

    async def workflow_pre_operate(self, manifests: Sequence[JSON]) -> list[Admission]:
        """``workflow.preOperate`` of whole workflows (each carries its own metadata)."""
        return await self.hooks.workflow_pre_operate(manifests)

    async def workflow_pre_update(
        self, updates: Sequence[JSON], *, workflow: WorkflowInfo | Mapping[str, Any] | None = None
    ) -> list[MetadataPatch]:
        """``workflow.preUpdate`` of workflow objects about to be persisted."""
        return await self.hooks.workflow_pre_update(self._for(workflow), updates)

    async def node_pre_execute(
        self,
        nodes: Sequence[NodeItem],
        *,
        ahead: Sequence[PodItem | None] = (),
        workflow: WorkflowInfo | Mapping[str, Any] | None = None,
    ) -> list[PreExecute]:
        """``node.preExecute``; *ahead* offers each node's pod to ``pod.preCreate`` in the same
        round trip, as the engine does when every plugin asked declared no side effects."""
        return await self.hooks.node_pre_execute(self._for(workflow), nodes, ahead)

    async def node_post_execute(
        self, nodes: Sequence[NodeItem], *, workflow: WorkflowInfo | Mapping[str, Any] | None = None
    ) -> list[PostExecute]:
        """``node.postExecute`` of finished nodes (give them ``phase``, ``outputs``, ``message``)."""
        return await self.hooks.node_post_execute(self._for(workflow), nodes)

    async def pod_pre_create(
        self, pods: Sequence[PodItem], *, workflow: WorkflowInfo | Mapping[str, Any] | None = None
    ) -> list[PodDecision]:
        """``pod.preCreate``: a veto, or the pod as the engine would run it after the patches."""
        return await self.hooks.pod_pre_create(self._for(workflow), pods)

    async def parameters_resolve(
        self, names: Sequence[str], *, workflow: WorkflowInfo | Mapping[str, Any] | None = None
    ) -> list[ResolvedValue | None]:
        """``parameters.resolve`` of placeholders such as ``vault.db-password``."""
        return await self.hooks.parameters_resolve(self._for(workflow), names)

    async def template_execute(
        self, nodes: Sequence[PluginItem], *, workflow: WorkflowInfo | Mapping[str, Any] | None = None
    ) -> list[PluginReply]:
        """``template.execute`` of ``plugin:`` template nodes (Argo's executor plugins)."""
        return await self.hooks.template_execute(self._for(workflow), nodes)


def _info(workflow: WorkflowInfo | Mapping[str, Any] | None) -> WorkflowInfo | None:
    if workflow is None or isinstance(workflow, WorkflowInfo):
        return workflow
    return workflow_info(workflow)
