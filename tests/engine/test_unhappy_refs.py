"""Template references that do not resolve: the workflow is recorded and ends as Argo's
controller ends it (Error for a missing workflowTemplateRef, Failed ``invalid spec`` for a
step's or task's templateRef), with nothing run."""

from __future__ import annotations

from typing import Any

from hookbus.controller.argo.manifest import Bundle
from hookbus.controller.engine.hooks import NullEvents
from tests.support.engine import ScriptedExecutor, load, make_controller

LIBRARY = """
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata: {name: lib}
spec:
  templates:
  - name: say
    container: {image: alpine, command: [sh, -c], args: ["echo hi"]}
"""


class RecordingEvents(NullEvents):
    def __init__(self) -> None:
        self.phases: list[tuple[str, str, str]] = []

    async def workflow_phase(self, info: Any, phase: str, message: str = "") -> None:
        self.phases.append((info.name, phase, message))


async def _submit(text: str, bundle: Bundle | None = None) -> tuple[dict[str, Any], ScriptedExecutor, RecordingEvents]:
    ex = ScriptedExecutor()
    events = RecordingEvents()
    ctl = make_controller(ex)
    ctl.events = events
    async with ctl:
        key = await ctl.submit(load(text), bundle=bundle)
        wf = await ctl.wait(key, timeout=5)
    return wf, ex, events


async def test_missing_workflow_template_ref_ends_the_workflow_error() -> None:
    wf, ex, events = await _submit(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: by-ref}\n"
        "spec:\n  workflowTemplateRef: {name: nope}\n"
    )
    status = wf["status"]
    assert status["phase"] == "Error"
    assert status["message"] == 'workflowtemplate.argoproj.io "nope" not found'
    assert not status.get("nodes"), "nothing of it runs"
    assert ex.started == []
    assert events.phases == [("by-ref", "Error", 'workflowtemplate.argoproj.io "nope" not found')]


async def test_missing_cluster_workflow_template_ref_names_the_cluster_resource() -> None:
    wf, _, _ = await _submit(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {generateName: by-ref-}\n"
        "spec:\n  workflowTemplateRef: {name: nope, clusterScope: true}\n"
    )
    assert wf["status"]["phase"] == "Error"
    assert wf["status"]["message"] == 'clusterworkflowtemplate.argoproj.io "nope" not found'
    assert wf["metadata"]["name"].startswith("by-ref-")


STEP_REF = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: step-ref}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: first, template: ok}
    - - name: greet
        templateRef: {name: %s, template: %s}
  - name: ok
    container: {image: alpine, command: [sh, -c], args: ["echo ok"]}
"""


async def test_missing_step_template_ref_fails_with_invalid_spec() -> None:
    wf, ex, events = await _submit(STEP_REF % ("nope", "say"))
    msg = "invalid spec: templates.main.steps[1].greet template reference nope.say not found"
    assert (wf["status"]["phase"], wf["status"]["message"]) == ("Failed", msg)
    assert ex.started == [], "validation fails before any step runs"
    assert events.phases == [("step-ref", "Failed", msg)]


async def test_missing_template_in_an_existing_workflow_template() -> None:
    bundle = Bundle()
    bundle.add(load(LIBRARY))
    wf, _, _ = await _submit(STEP_REF % ("lib", "shout"), bundle)
    assert wf["status"]["message"] == (
        "invalid spec: templates.main.steps[1].greet template reference lib.shout not found"
    )
    wf, ex, _ = await _submit(STEP_REF % ("lib", "say"), bundle)
    assert wf["status"]["phase"] == "Succeeded", "a reference that resolves runs"


async def test_missing_task_template_ref_names_the_task() -> None:
    wf, _, _ = await _submit(
        """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: dag-ref}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - {name: a, templateRef: {name: lib, template: say}}
"""
    )
    assert (wf["status"]["phase"], wf["status"]["message"]) == (
        "Failed",
        "invalid spec: templates.main.tasks.a template reference lib.say not found",
    )


async def test_other_lint_errors_are_still_refused() -> None:
    import pytest

    from hookbus.controller.argo.errors import ManifestError

    ctl = make_controller(ScriptedExecutor())
    async with ctl:
        with pytest.raises(ManifestError, match="not found"):
            await ctl.submit(load((STEP_REF % ("nope", "say")).replace("template: ok", "template: missing")))
