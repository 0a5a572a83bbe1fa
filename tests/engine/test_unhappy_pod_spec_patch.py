"""``podSpecPatch`` (workflow and template, JSON or YAML, templated) reaches the executor's
processes and ``pod.preCreate``: env and resources of the main container, sidecars."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hookbus.controller.engine.controller import Controller
from hookbus.controller.engine.hooks import NoOpinionHooks, PodDecision, PodItem, WorkflowInfo
from hookbus.controller.engine.memory_store import MemoryStore
from hookbus.controller.engine.settings import ControllerSettings
from tests.support.engine import ScriptedExecutor, load

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hookbus.controller.executors.base import TaskResult, TaskSpec


class Capturing(ScriptedExecutor):
    def __post_init__(self) -> None:
        super().__post_init__()
        self.tasks: list[TaskSpec] = []

    async def run(self, task: TaskSpec) -> TaskResult:
        self.tasks.append(task)
        return await super().run(task)


class PodSpy(NoOpinionHooks):
    def __init__(self) -> None:
        self.pods: list[dict[str, Any]] = []

    def wants(self, hook: str, workflow: WorkflowInfo) -> bool:
        return hook == "pod.preCreate"

    async def pod_pre_create(self, workflow: WorkflowInfo, pods: Sequence[PodItem]) -> list[PodDecision]:
        self.pods.extend(p.pod for p in pods)
        return [PodDecision() for _ in pods]


WORKFLOW = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: patched}
spec:
  entrypoint: main
  arguments: {parameters: [{name: mem, value: 64Mi}]}
  podSpecPatch: '{"containers": [{"name": "main", "env": [{"name": "FROM_WF", "value": "1"}]}]}'
  templates:
  - name: main
    inputs: {parameters: [{name: level, value: debug}]}
    podSpecPatch: |
      containers:
      - name: main
        resources: {limits: {memory: "{{workflow.parameters.mem}}"}}
        env:
        - {name: LEVEL, value: "{{inputs.parameters.level}}"}
        - {name: KEEP, value: patched}
    container:
      image: alpine
      command: [sh, -c]
      args: ["echo hi"]
      env: [{name: KEEP, value: original}, {name: OTHER, value: "2"}]
"""


async def _run(text: str) -> tuple[dict[str, Any], Capturing, PodSpy]:
    ex, spy = Capturing(), PodSpy()
    ctl = Controller(ControllerSettings(executor="scripted"), store=MemoryStore(), executor=ex, hooks=spy)
    async with ctl:
        key = await ctl.submit(load(text))
        return await ctl.wait(key, timeout=5), ex, spy


async def test_pod_spec_patch_sets_env_and_resources_of_the_main_container() -> None:
    wf, ex, spy = await _run(WORKFLOW)
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
    [task] = ex.tasks
    assert dict(task.main.env) == {"KEEP": "patched", "OTHER": "2", "FROM_WF": "1", "LEVEL": "debug"}
    [pod] = spy.pods
    assert pod["main"]["resources"] == {"limits": {"memory": "64Mi"}}


async def test_an_invalid_pod_spec_patch_errors_the_node() -> None:
    text = WORKFLOW.replace("  podSpecPatch: '{", "  podSpecPatch: '[{").replace("]}]}'", "]}]}]'")
    wf, ex, _ = await _run(text)
    node = next(iter(wf["status"]["nodes"].values()))
    assert node["phase"] == "Error"
    assert node["message"].startswith("invalid podSpecPatch ")
    assert ex.tasks == []
