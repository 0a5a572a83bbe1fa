"""Plugin warnings are bounded per workflow: past the cap they are dropped and counted
in one note, and the workflow still succeeds."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hookbus.controller.engine.controller import Controller
from hookbus.controller.engine.hooks import NodeItem, NoOpinionHooks, PreExecute, WorkflowInfo
from hookbus.controller.engine.memory_store import MemoryStore
from hookbus.controller.engine.settings import ControllerSettings
from hookbus.controller.engine.warnings import MAX_NODE_WARNINGS, MAX_WORKFLOW_WARNINGS, warnings_of
from tests.support.engine import ScriptedExecutor, load

if TYPE_CHECKING:
    from collections.abc import Sequence

FAN = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: chatty}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: s, template: work, withSequence: {count: "200"}}
  - name: work
    container: {image: alpine, args: ["echo hi"]}
"""


class Chatty(NoOpinionHooks):
    def wants(self, hook: str, workflow: WorkflowInfo) -> bool:
        return hook == "node.preExecute"

    async def node_pre_execute(self, workflow: WorkflowInfo, nodes: Sequence[NodeItem], ahead: object = ()) -> list[PreExecute]:
        return [
            PreExecute(warnings=(f"chatty: {n.node['displayName']} a", f"chatty: {n.node['displayName']} b"))
            for n in nodes
        ]


async def test_node_warnings_past_the_workflow_cap_are_dropped_and_counted() -> None:
    ctl = Controller(ControllerSettings(executor="scripted"), store=MemoryStore(), executor=ScriptedExecutor(), hooks=Chatty())
    async with ctl:
        key = await ctl.submit(load(FAN))
        wf = await ctl.wait(key, timeout=20)
    assert wf["status"]["phase"] == "Succeeded", "warnings never fail a workflow"
    kept = sum(len(n.get("warnings") or ()) for n in wf["status"]["nodes"].values())
    assert kept == MAX_NODE_WARNINGS
    on_workflow = warnings_of(wf)
    assert len(on_workflow) == MAX_WORKFLOW_WARNINGS + 1
    assert on_workflow[-1] == f"hookbus: {400 - MAX_NODE_WARNINGS} further plugin warnings dropped"
