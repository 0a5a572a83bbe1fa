"""Hooks nobody listens to cost nothing per node, and behave the same with or without plugins."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hookbus.controller.engine.controller import Controller
from hookbus.controller.engine.hooks import NoOpinionHooks, NullHooks, PodDecision, PreExecute
from hookbus.controller.engine.memory_store import MemoryStore
from hookbus.controller.engine.settings import ControllerSettings
from tests.support.engine import ScriptedExecutor, by_name, load

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hookbus.controller.engine.hooks import NodeItem, PodItem, WorkflowInfo

FAN = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: fan}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: s, template: work, withSequence: {count: "20"}, arguments: {parameters: [{name: x, value: "{{item}}"}]}}
  - name: work
    inputs: {parameters: [{name: x}]}
    container: {image: alpine, args: ["echo {{inputs.parameters.x}}"]}
"""


class PodsOnly(NoOpinionHooks):
    """Interested in pod.preCreate only; counts what the engine asks."""

    def __init__(self) -> None:
        self.pre = 0
        self.pods = 0

    def wants(self, hook: str, workflow: WorkflowInfo) -> bool:
        return hook == "pod.preCreate"

    async def node_pre_execute(self, workflow: WorkflowInfo, nodes: Sequence[NodeItem]) -> list[PreExecute]:
        self.pre += len(nodes)
        return [PreExecute() for _ in nodes]

    async def pod_pre_create(self, workflow: WorkflowInfo, pods: Sequence[PodItem]) -> list[PodDecision]:
        self.pods += len(pods)
        return [PodDecision() for _ in pods]


def _controller(hooks: Any, executor: Any) -> Controller:
    return Controller(ControllerSettings(executor="x"), store=MemoryStore(), executor=executor, hooks=hooks)


async def test_a_hook_no_one_wants_is_never_called() -> None:
    hooks = PodsOnly()
    async with _controller(hooks, ScriptedExecutor()) as ctl:
        wf = await ctl.wait(await ctl.submit(load(FAN)), timeout=10)
    assert wf["status"]["phase"] == "Succeeded"
    assert hooks.pre == 0
    assert hooks.pods == 20


async def test_a_plugin_placeholder_is_an_error_without_plugins_too() -> None:
    manifest = FAN.replace("echo {{inputs.parameters.x}}", "echo {{vault.db-password}}")
    ex = ScriptedExecutor()
    async with _controller(NullHooks(), ex) as ctl:
        wf = await ctl.wait(await ctl.submit(load(manifest)), timeout=10)
    node = by_name(wf)["fan[0].s(0:0)"]
    assert node["phase"] == "Error"
    assert "unresolved placeholder {{vault.db-password}}" in node["message"] and "'vault'" in node["message"]
    assert ex.runs == [], "nothing ran with an unresolved placeholder"
