"""``workflowMetadata`` (labels, annotations, labelsFrom) on the workflow, and a
template's ``metadata`` on its pod as ``pod.preCreate`` sees it, as Argo sets them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hookbus.controller.engine.controller import Controller
from hookbus.controller.engine.hooks import NoOpinionHooks, PodDecision, PodItem, WorkflowInfo
from hookbus.controller.engine.memory_store import MemoryStore
from hookbus.controller.engine.settings import ControllerSettings
from tests.support.engine import ScriptedExecutor, load, make_controller

if TYPE_CHECKING:
    from collections.abc import Sequence

WORKFLOW = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: meta, labels: {own: "yes"}}
spec:
  entrypoint: main
  arguments: {parameters: [{name: team, value: blue}]}
  workflowMetadata:
    labels: {tier: "{{workflow.parameters.team}}-t"}
    annotations: {note: "for {{workflow.name}}"}
    labelsFrom:
      team: {expression: "%s"}
  templates:
  - name: main
    metadata:
      labels: {pod-team: "{{workflow.labels.team}}", tmpl: main}
      annotations: {owner: "{{inputs.parameters.who}}"}
    inputs: {parameters: [{name: who, value: ops}]}
    container: {image: alpine, command: [sh, -c], args: ["echo {{workflow.labels.team}} {{workflow.labels.tier}}"]}
"""


class PodSpy(NoOpinionHooks):
    def __init__(self) -> None:
        self.pods: list[tuple[WorkflowInfo, dict[str, Any]]] = []

    def wants(self, hook: str, workflow: WorkflowInfo) -> bool:
        return hook == "pod.preCreate"

    async def pod_pre_create(self, workflow: WorkflowInfo, pods: Sequence[PodItem]) -> list[PodDecision]:
        self.pods.extend((workflow, p.pod) for p in pods)
        return [PodDecision() for _ in pods]


async def test_workflow_metadata_labels_annotations_and_labels_from() -> None:
    spy = PodSpy()
    ctl = Controller(ControllerSettings(executor="scripted"), store=MemoryStore(), executor=ScriptedExecutor(), hooks=spy)
    async with ctl:
        key = await ctl.submit(load(WORKFLOW % "workflow.parameters.team + '-x'"))
        wf = await ctl.wait(key, timeout=5)
    assert wf["status"]["phase"] == "Succeeded"
    assert wf["metadata"]["labels"] == {"own": "yes", "tier": "blue-t", "team": "blue-x"}
    assert wf["metadata"]["annotations"]["note"] == "for meta"
    node = next(iter(wf["status"]["nodes"].values()))
    assert node["outputs"]["result"] == "blue-x blue-t", "templates read the labels as workflow.labels.*"
    [(info, pod)] = spy.pods
    assert info.labels["team"] == "blue-x", "plugins see the workflow's labels"
    assert pod["labels"] == {"pod-team": "blue-x", "tmpl": "main"}, "the template's metadata is the pod's"
    assert pod["annotations"] == {"owner": "ops"}


async def test_a_failing_labels_from_expression_ends_the_workflow_error() -> None:
    async with make_controller(ScriptedExecutor()) as ctl:
        key = await ctl.submit(load(WORKFLOW % "asInt(workflow.parameters.team)"))
        wf = await ctl.wait(key, timeout=5)
        assert wf["status"]["phase"] == "Error"
        assert wf["status"]["message"].startswith(
            'failed to evaluate label "team" expression "asInt(workflow.parameters.team)": '
        )
        assert not wf["status"].get("nodes")
        key = await ctl.submit(load((WORKFLOW % "1 + 2").replace("name: meta", "name: meta2")))
        wf = await ctl.wait(key, timeout=5)
        assert (wf["status"]["phase"], wf["status"]["message"]) == (
            "Error",
            'failed to evaluate label "team" expression "1 + 2" evaluated to int but must be a string',
        )
        key = await ctl.submit(load((WORKFLOW % "'not a label!'").replace("name: meta", "name: meta3")))
        wf = await ctl.wait(key, timeout=5)
        assert wf["status"]["phase"] == "Error"
        assert wf["status"]["message"].startswith("invalid label value 'not a label!' for label 'team'")
