"""Lint: Argo's examples lint clean; each deliberately broken manifest names its field."""

from __future__ import annotations

import contextlib
import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from hookbus.controller.argo.errors import LintError, ManifestError
from hookbus.controller.argo.lint import (
    check_workflow,
    depends_task_names,
    lint_document,
    lint_template_resource,
    lint_workflow,
)
from hookbus.controller.argo.manifest import Bundle, load_bundle, load_documents, resolve_workflow

if TYPE_CHECKING:
    from collections.abc import Callable

EXAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance" / "argo-examples"
# Argo's e2e yardstick is the first three; CronWorkflows and ConfigMaps lint clean too.
SPEC_KINDS = (
    "Workflow",
    "WorkflowTemplate",
    "ClusterWorkflowTemplate",
    "CronWorkflow",
    "ConfigMap",
)


def _example_files() -> list[Any]:
    if not EXAMPLES.is_dir():
        reason = f"Argo examples folder not present at {EXAMPLES} (it is not part of the repo)"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-examples")]
    files = sorted(p for p in EXAMPLES.rglob("*") if p.suffix in (".yaml", ".yml", ".json"))
    return [pytest.param(p, id=str(p.relative_to(EXAMPLES))) for p in files]


@pytest.fixture(scope="module")
def examples_bundle() -> Bundle:
    if not EXAMPLES.is_dir():
        pytest.skip(f"Argo examples folder not present at {EXAMPLES} (it is not part of the repo)")
    return load_bundle(EXAMPLES)


@pytest.mark.parametrize("path", _example_files())
def test_argo_example_lints_clean(path: Path, examples_bundle: Bundle) -> None:
    docs = [d for d in load_documents(path) if d.get("kind") in SPEC_KINDS]
    for doc in docs:
        errors = lint_document(doc, examples_bundle)
        assert errors == [], "\n".join(map(str, errors))


def test_examples_walk_covers_every_kind(examples_bundle: Bundle) -> None:
    # Guards the test above against silently linting nothing.
    assert len(examples_bundle.workflows) > 150
    assert examples_bundle.workflow_templates
    assert examples_bundle.cluster_workflow_templates


# ---------------------------------------------------------------------------------------
# A valid base manifest, broken one way per case

BASE_YAML = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: base-
spec:
  entrypoint: main
  arguments:
    parameters:
    - name: msg
      value: hi
  templates:
  - name: echo
    inputs:
      parameters:
      - name: msg
    container:
      image: alpine:3.20
      imagePullPolicy: IfNotPresent
      command: [echo]
      args: ["{{inputs.parameters.msg}}"]
      env:
      - name: GREETING
        value: hello
  - name: main
    steps:
    - - name: first
        template: echo
        arguments:
          parameters:
          - name: msg
            value: one
    - - name: second
        template: flow
  - name: flow
    dag:
      tasks:
      - name: A
        template: echo
        arguments:
          parameters: [{name: msg, value: a}]
      - name: B
        depends: A
        template: echo
        arguments:
          parameters: [{name: msg, value: b}]
      - name: C
        depends: A && B
        template: echo
        arguments:
          parameters: [{name: msg, value: c}]
"""

BASE: dict[str, Any] = yaml.safe_load(BASE_YAML)


def _spec(wf: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = wf["spec"]
    return spec


def _tpl(wf: dict[str, Any], index: int) -> dict[str, Any]:
    template: dict[str, Any] = _spec(wf)["templates"][index]
    return template


def _task(wf: dict[str, Any], index: int) -> dict[str, Any]:
    task: dict[str, Any] = _tpl(wf, 2)["dag"]["tasks"][index]
    return task


def _step(wf: dict[str, Any], group: int, index: int = 0) -> dict[str, Any]:
    step: dict[str, Any] = _tpl(wf, 1)["steps"][group][index]
    return step


def test_base_manifest_is_clean() -> None:
    assert lint_workflow(copy.deepcopy(BASE)) == []


BROKEN: list[tuple[str, Callable[[dict[str, Any]], object], str, str]] = [
    (
        "misspelled container field",
        lambda wf: _tpl(wf, 0)["container"].update(imagePulPolicy="Always"),
        "spec.templates[0].container.imagePulPolicy",
        'unknown field (did you mean "imagePullPolicy"?)',
    ),
    (
        "unknown spec field",
        lambda wf: _spec(wf).update(entryPoint="main"),
        "spec.entryPoint",
        "unknown field",
    ),
    (
        "depends together with dependencies",
        lambda wf: _task(wf, 2).update(dependencies=["A", "B"]),
        "spec.templates[2].dag.tasks[2].depends",
        "cannot be used together with dependencies",
    ),
    (
        "dependencies in a DAG that uses depends",
        lambda wf: _task(wf, 1).update(depends=None, dependencies=["A"]),
        "spec.templates[2].dag.tasks[1].dependencies",
        "cannot use both 'depends' and 'dependencies' in the same DAG template",
    ),
    (
        "continueOn in a DAG that uses depends",
        lambda wf: _task(wf, 0).update(continueOn={"failed": True}),
        "spec.templates[2].dag.tasks[0].continueOn",
        "cannot be used in a DAG that uses 'depends'",
    ),
    (
        "task name starting with a digit",
        lambda wf: (_task(wf, 0).update(name="1st"), _task(wf, 1).update(depends="1st")),
        "spec.templates[2].dag.tasks[0].name",
        "cannot begin with a digit",
    ),
    (
        "empty DAG",
        lambda wf: _tpl(wf, 2)["dag"].update(tasks=[]),
        "spec.templates[2].dag.tasks",
        "must have at least one task",
    ),
    (
        "depends names an unknown task",
        lambda wf: _task(wf, 1).update(depends="A && Z"),
        "spec.templates[2].dag.tasks[1].depends",
        'unknown task "Z"',
    ),
    (
        "depends with an unknown result",
        lambda wf: _task(wf, 1).update(depends="A.Finished"),
        "spec.templates[2].dag.tasks[1].depends",
        "unknown result 'Finished'",
    ),
    (
        "depends ending in an operator",
        lambda wf: _task(wf, 1).update(depends="A ||"),
        "spec.templates[2].dag.tasks[1].depends",
        "ends with an operator",
    ),
    (
        "dependencies name an unknown task",
        lambda wf: (
            _task(wf, 1).update(depends=None, dependencies=["A"]),
            _task(wf, 2).update(depends=None, dependencies=["A", "Nope"]),
        ),
        "spec.templates[2].dag.tasks[2].dependencies[1]",
        'unknown task "Nope"',
    ),
    (
        "duplicate task names",
        lambda wf: _task(wf, 1).update(name="A", depends=None),
        "spec.templates[2].dag.tasks[1].name",
        'duplicate task name "A"',
    ),
    (
        "dependency cycle",
        lambda wf: _task(wf, 0).update(depends="C"),
        "spec.templates[2].dag.tasks[0].name",
        "dependency cycle",
    ),
    (
        "dag target names an unknown task",
        lambda wf: _tpl(wf, 2)["dag"].update(target="C D"),
        "spec.templates[2].dag.target",
        'unknown task "D"',
    ),
    (
        "template without a kind",
        lambda wf: _tpl(wf, 0).pop("container"),
        "spec.templates[0]",
        "has none",
    ),
    (
        "template with two kinds",
        lambda wf: _tpl(wf, 0).update(script={"image": "python:3", "source": "print(1)"}),
        "spec.templates[0].script",
        "more than one kind: container, script",
    ),
    (
        "template without a name",
        lambda wf: _tpl(wf, 0).pop("name"),
        "spec.templates[0].name",
        "required",
    ),
    (
        "duplicate template names",
        lambda wf: _tpl(wf, 2).update(name="echo"),
        "spec.templates[2].name",
        'duplicate template name "echo"',
    ),
    (
        "entrypoint names no template",
        lambda wf: _spec(wf).update(entrypoint="mian"),
        "spec.entrypoint",
        'template "mian" not found',
    ),
    (
        "no entrypoint",
        lambda wf: _spec(wf).pop("entrypoint"),
        "spec.entrypoint",
        "required",
    ),
    (
        "onExit names no template",
        lambda wf: _spec(wf).update(onExit="cleanup"),
        "spec.onExit",
        'template "cleanup" not found',
    ),
    (
        "step template names no template",
        lambda wf: _step(wf, 1).update(template="flwo"),
        "spec.templates[1].steps[1][0].template",
        'template "flwo" not found',
    ),
    (
        "step without a name",
        lambda wf: _step(wf, 0).pop("name"),
        "spec.templates[1].steps[0][0].name",
        "required",
    ),
    (
        "step with nothing to run",
        lambda wf: _step(wf, 1).pop("template"),
        "spec.templates[1].steps[1][0]",
        "needs one of template, templateRef, inline",
    ),
    (
        "step with template and inline",
        lambda wf: _step(wf, 1).update(inline={"suspend": {}}),
        "spec.templates[1].steps[1][0].inline",
        "mutually exclusive",
    ),
    (
        "two loops on one task",
        lambda wf: _task(wf, 0).update(withItems=[1, 2], withParam="[1]"),
        "spec.templates[2].dag.tasks[0].withParam",
        "mutually exclusive",
    ),
    (
        "step hook without expression",
        lambda wf: _step(wf, 0).update(hooks={"running": {"template": "echo"}}),
        "spec.templates[1].steps[0][0].hooks.running.expression",
        "required",
    ),
    (
        "int where a string belongs",
        lambda wf: _tpl(wf, 0)["container"]["env"][0].update(value=5),
        "spec.templates[0].container.env[0].value",
        "expected string, got int",
    ),
    (
        "string where an int belongs",
        lambda wf: _spec(wf).update(parallelism="2"),
        "spec.parallelism",
        "expected int, got string",
    ),
    (
        "bool where IntOrString belongs",
        lambda wf: _tpl(wf, 0).update(retryStrategy={"limit": True}),
        "spec.templates[0].retryStrategy.limit",
        "expected int or string, got bool",
    ),
    (
        "string where a list belongs",
        lambda wf: _tpl(wf, 0)["container"].update(command="echo"),
        "spec.templates[0].container.command",
        "expected list, got string",
    ),
    (
        "value outside an enumeration",
        lambda wf: _tpl(wf, 0)["container"].update(imagePullPolicy="Sometimes"),
        "spec.templates[0].container.imagePullPolicy",
        "must be one of Always, Never, IfNotPresent",
    ),
    (
        "label value not a string",
        lambda wf: wf["metadata"].update(labels={"team": 7}),
        "metadata.labels.team",
        "expected string, got int",
    ),
    (
        "parameter without a name",
        lambda wf: _spec(wf)["arguments"]["parameters"][0].pop("name"),
        "spec.arguments.parameters[0].name",
        "required",
    ),
    (
        "duplicate input parameter",
        lambda wf: _tpl(wf, 0)["inputs"]["parameters"].append({"name": "msg"}),
        "spec.templates[0].inputs.parameters[1].name",
        'duplicate name "msg"',
    ),
    (
        "container without image",
        lambda wf: _tpl(wf, 0)["container"].pop("image"),
        "spec.templates[0].container.image",
        "required",
    ),
    (
        "unknown field in a probe",
        lambda wf: _tpl(wf, 0)["container"].update(
            readinessProbe={"httpGet": {"path": "/", "port": 80}, "initialDelay": 3}
        ),
        "spec.templates[0].container.readinessProbe.initialDelay",
        'unknown field (did you mean "initialDelaySeconds"?)',
    ),
    (
        "retry policy misspelled",
        lambda wf: _tpl(wf, 0).update(retryStrategy={"retryPolicy": "Allways"}),
        "spec.templates[0].retryStrategy.retryPolicy",
        "must be one of",
    ),
    (
        "plugin template naming two plugins",
        lambda wf: _tpl(wf, 0).update(container=None, plugin={"a": {}, "b": {}}),
        "spec.templates[0].plugin",
        "exactly one plugin",
    ),
    (
        "containerSet dependency on an unknown container",
        lambda wf: _tpl(wf, 0).update(
            container=None,
            containerSet={
                "containers": [
                    {"name": "a", "image": "alpine"},
                    {"name": "b", "image": "alpine", "dependencies": ["x"]},
                ]
            },
        ),
        "spec.templates[0].containerSet.containers[1].dependencies[0]",
        'unknown container "x"',
    ),
    (
        "resource template without manifest",
        lambda wf: _tpl(wf, 0).update(container=None, resource={"action": "create"}),
        "spec.templates[0].resource",
        "needs exactly one of manifest, manifestFrom",
    ),
    (
        "step argument without a value",
        lambda wf: _step(wf, 0)["arguments"]["parameters"][0].pop("value"),
        "spec.templates[1].steps[0][0].arguments.parameters[0]",
        "needs value or valueFrom",
    ),
    (
        "argument valueFrom with an output-only source",
        lambda wf: _task(wf, 0)["arguments"]["parameters"][0].update(
            value=None, valueFrom={"path": "/tmp/x"}
        ),
        "spec.templates[2].dag.tasks[0].arguments.parameters[0].valueFrom.path",
        "not allowed in arguments",
    ),
    (
        "workflow argument outside its enum",
        lambda wf: _spec(wf)["arguments"]["parameters"][0].update(enum=["hello", "bye"]),
        "spec.arguments.parameters[0].value",
        "'hi' is not one of the enum values",
    ),
    (
        "argument artifact without a source",
        lambda wf: _step(wf, 0)["arguments"].update(artifacts=[{"name": "data"}]),
        "spec.templates[1].steps[0][0].arguments.artifacts[0]",
        "needs from, fromExpression or an artifact location",
    ),
    (
        "output parameter without a source",
        lambda wf: _tpl(wf, 0).update(outputs={"parameters": [{"name": "out"}]}),
        "spec.templates[0].outputs.parameters[0]",
        "needs valueFrom or value",
    ),
    (
        "container output parameter without a path",
        lambda wf: _tpl(wf, 0).update(
            outputs={
                "parameters": [
                    {"name": "out", "valueFrom": {"parameter": "{{steps.a.outputs.result}}"}}
                ]
            }
        ),
        "spec.templates[0].outputs.parameters[0].valueFrom.path",
        "required for container templates",
    ),
    (
        "dag output parameter with a path",
        lambda wf: _tpl(wf, 2).update(
            outputs={"parameters": [{"name": "out", "valueFrom": {"path": "/tmp/x"}}]}
        ),
        "spec.templates[2].outputs.parameters[0].valueFrom",
        "needs parameter or expression for dag templates",
    ),
    (
        "parallelism on a container template",
        lambda wf: _tpl(wf, 0).update(parallelism=2),
        "spec.templates[0].parallelism",
        "only valid for steps and dag templates",
    ),
    (
        "misspelled input parameter reference",
        lambda wf: _tpl(wf, 0)["container"].update(args=["{{inputs.parameters.mesage}}"]),
        "spec.templates[0].container.args[0]",
        "failed to resolve {{inputs.parameters.mesage}} (inputs.parameters: msg)",
    ),
    (
        "undeclared input artifact reference",
        lambda wf: _tpl(wf, 0)["container"].update(args=["cat {{inputs.artifacts.data.path}}"]),
        "spec.templates[0].container.args[0]",
        "failed to resolve {{inputs.artifacts.data.path}}",
    ),
    (
        "unknown workflow parameter",
        lambda wf: _step(wf, 0)["arguments"]["parameters"][0].update(
            value="{{workflow.parameters.mgs}}"
        ),
        "spec.templates[1].steps[0][0].arguments.parameters[0].value",
        "failed to resolve {{workflow.parameters.mgs}} (workflow arguments: msg)",
    ),
    (
        "step output used before the step ran",
        lambda wf: _step(wf, 0)["arguments"]["parameters"][0].update(
            value="{{steps.second.outputs.result}}"
        ),
        "spec.templates[1].steps[0][0].arguments.parameters[0].value",
        "failed to resolve {{steps.second.outputs.result}}",
    ),
    (
        "task output of a task not depended on",
        lambda wf: _task(wf, 1)["arguments"]["parameters"][0].update(
            value="{{tasks.C.outputs.result}}"
        ),
        "spec.templates[2].dag.tasks[1].arguments.parameters[0].value",
        "failed to resolve {{tasks.C.outputs.result}} (tasks this one depends on: A)",
    ),
    (
        "template name with an underscore",
        lambda wf: (_tpl(wf, 0).update(name="echo_it"), _step(wf, 0).update(template="echo_it")),
        "spec.templates[0].name",
        "'echo_it' is invalid",
    ),
    (
        "step name with a space",
        lambda wf: _step(wf, 1).update(name="second step"),
        "spec.templates[1].steps[1][0].name",
        "'second step' is invalid",
    ),
    (
        "task name too long",
        lambda wf: _task(wf, 0).update(name="a" * 129),
        "spec.templates[2].dag.tasks[0].name",
        "no more than 128 characters",
    ),
    (
        "parameter name with a dot",
        lambda wf: _spec(wf)["arguments"]["parameters"][0].update(name="my.msg"),
        "spec.arguments.parameters[0].name",
        "'my.msg' is invalid",
    ),
    (
        "workflow name longer than a label value",
        lambda wf: wf["metadata"].update(name="w" * 64),
        "metadata.name",
        "no more than 63 characters",
    ),
    (
        "two volumes mounted at one path",
        lambda wf: _tpl(wf, 0)["container"].update(
            volumeMounts=[{"name": "a", "mountPath": "/data"}, {"name": "b", "mountPath": "/data"}]
        ),
        "spec.templates[0].container.volumeMounts[1].mountPath",
        "'/data' already mounted by spec.templates[0].container.volumeMounts[0].mountPath",
    ),
    (
        "input artifact over a volume mount",
        lambda wf: (
            _tpl(wf, 0)["container"].update(volumeMounts=[{"name": "a", "mountPath": "/in"}]),
            _tpl(wf, 0)["inputs"].update(artifacts=[{"name": "data", "path": "/in"}]),
        ),
        "spec.templates[0].inputs.artifacts[0].path",
        "'/in' already mounted",
    ),
    (
        "item in a step without a loop",
        lambda wf: _step(wf, 0)["arguments"]["parameters"][0].update(value="{{item}}"),
        "spec.templates[1].steps[0][0].arguments.parameters[0].value",
        "failed to resolve {{item}} (item is only set in a step or task with withItems",
    ),
    (
        "item inside a template body",
        lambda wf: (
            _task(wf, 0).update(withItems=[1, 2]),
            _tpl(wf, 0)["container"].update(args=["{{item.name}}"]),
        ),
        "spec.templates[0].container.args[0]",
        "failed to resolve {{item.name}}",
    ),
    (
        "steps written as a flat list",
        lambda wf: _tpl(wf, 1).update(steps=[_step(wf, 0), _step(wf, 1)]),
        "spec.templates[1].steps[0]",
        "expected list, got map (steps is a list of parallel groups",
    ),
    (
        "negative deadline",
        lambda wf: _tpl(wf, 0).update(activeDeadlineSeconds=-5),
        "spec.templates[0].activeDeadlineSeconds",
        "must be a positive integer or an Argo variable",
    ),
    (
        "deadline as a duration",
        lambda wf: _tpl(wf, 0).update(activeDeadlineSeconds="5m"),
        "spec.templates[0].activeDeadlineSeconds",
        "must be a positive integer or an Argo variable",
    ),
    (
        "resource manifest that is not YAML",
        lambda wf: _tpl(wf, 0).update(
            container=None,
            resource={"action": "create", "manifest": "kind: Pod\nmetadata: [name\n"},
        ),
        "spec.templates[0].resource.manifest",
        "must be valid YAML",
    ),
    (
        "metric name with a dash",
        lambda wf: _tpl(wf, 0).update(
            metrics={
                "prometheus": [{"name": "run-count", "help": "runs", "counter": {"value": "1"}}]
            }
        ),
        "spec.templates[0].metrics.prometheus[0].name",
        "'run-count' is invalid",
    ),
    (
        "wrong apiVersion",
        lambda wf: wf.update(apiVersion="argoproj.io/v1"),
        "apiVersion",
        "expected 'argoproj.io/v1alpha1'",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "path", "message"),
    [pytest.param(m, p, msg, id=desc) for desc, m, p, msg in BROKEN],
)
def test_broken_manifest_names_the_field(
    mutate: Callable[[dict[str, Any]], object], path: str, message: str
) -> None:
    wf = copy.deepcopy(BASE)
    mutate(wf)
    errors = lint_workflow(wf)
    matching = [e for e in errors if e.path == path and message in e.message]
    assert matching, f"expected {path}: ...{message}... in:\n" + "\n".join(map(str, errors))


def test_lint_reports_every_problem_at_once() -> None:
    wf = copy.deepcopy(BASE)
    _tpl(wf, 0)["container"]["imagePulPolicy"] = "Always"
    _spec(wf)["entrypoint"] = "nope"
    _task(wf, 1)["depends"] = "Z"
    paths = {e.path for e in lint_workflow(wf)}
    assert {
        "spec.templates[0].container.imagePulPolicy",
        "spec.entrypoint",
        "spec.templates[2].dag.tasks[1].depends",
    } <= paths


def test_check_workflow_raises_with_every_error_listed() -> None:
    wf = copy.deepcopy(BASE)
    _tpl(wf, 0)["container"]["imagePulPolicy"] = "Always"
    _spec(wf)["parallelism"] = "many"
    with pytest.raises(ManifestError) as info:
        check_workflow(wf)
    assert len(info.value.errors) == 2
    text = str(info.value)
    assert "spec.templates[0].container.imagePulPolicy: unknown field" in text
    assert "spec.parallelism: expected int, got string" in text
    assert isinstance(info.value, ValueError)
    assert info.value.retryable is False
    check_workflow(copy.deepcopy(BASE))  # a valid one passes silently


def test_lint_error_str() -> None:
    assert str(LintError("spec.entrypoint", "required")) == "spec.entrypoint: required"


# ---------------------------------------------------------------------------------------
# What Argo accepts must not be flagged


def test_int_or_string_and_any_string_fields_accept_both() -> None:
    wf = copy.deepcopy(BASE)
    _tpl(wf, 0)["retryStrategy"] = {"limit": "3", "backoff": {"duration": "1s", "factor": 2}}
    _tpl(wf, 0)["activeDeadlineSeconds"] = "{{workflow.parameters.deadline}}"
    _spec(wf)["arguments"]["parameters"].append({"name": "deadline", "value": "60"})
    _tpl(wf, 2)["retryStrategy"] = {"limit": 2}
    _spec(wf)["arguments"]["parameters"] += [
        {"name": "n", "value": 3},
        {"name": "ratio", "value": 0.5},
        {"name": "flag", "value": True},
        {"name": "pick", "value": "a", "enum": ["a", 1]},
    ]
    _tpl(wf, 0)["container"]["resources"] = {"limits": {"cpu": 1, "memory": "64Mi"}}
    assert lint_workflow(wf) == []


def test_placeholders_pass_enumerations_and_references() -> None:
    wf = copy.deepcopy(BASE)
    _tpl(wf, 0)["container"]["imagePullPolicy"] = "{{workflow.parameters.policy}}"
    _tpl(wf, 0)["retryStrategy"] = {"retryPolicy": ""}  # empty means unset
    _tpl(wf, 2)["dag"]["target"] = "{{workflow.parameters.target}}"
    _spec(wf)["arguments"]["parameters"] += [
        {"name": "policy", "value": "Always"},
        {"name": "target", "value": "C"},
    ]
    assert lint_workflow(wf) == []


def test_enhanced_depends_with_results_and_groups() -> None:
    wf = copy.deepcopy(BASE)
    _task(wf, 2)["depends"] = "(A.Succeeded || A.Failed) && !B.Errored && B.AnySucceeded"
    assert lint_workflow(wf) == []


def test_variables_argo_resolves_are_accepted() -> None:
    wf = copy.deepcopy(BASE)
    _tpl(wf, 0)["container"]["args"] = [
        "{{inputs.parameters.msg}} {{ workflow.name }} {{workflow.parameters.msg}} {{pod.name}}",
        "{{=inputs.parameters.anything}} {{custom.thing}}",
    ]
    _step(wf, 1)["arguments"] = {
        "parameters": [{"name": "msg", "value": "{{steps.first.outputs.result}}"}]
    }
    _task(wf, 2)["arguments"]["parameters"][0]["value"] = (
        "{{tasks.A.outputs.result}}"  # via B, transitively
    )
    _task(wf, 2)["depends"] = "B"
    _step(wf, 0)["withItems"] = [{"a": 1}]
    _step(wf, 0)["arguments"]["parameters"][0]["value"] = "{{item}} {{item.a}}"
    _task(wf, 0)["withParam"] = '["x"]'
    _task(wf, 0)["arguments"]["parameters"][0]["value"] = "{{item}}"
    _tpl(wf, 2)["outputs"] = {
        "parameters": [{"name": "out", "valueFrom": {"parameter": "{{tasks.C.outputs.result}}"}}]
    }
    _tpl(wf, 1)["outputs"] = {
        "parameters": [
            {"name": "out", "valueFrom": {"parameter": "{{steps.second.outputs.result}}"}}
        ]
    }
    assert lint_workflow(wf) == []


def test_workflow_parameters_of_a_workflow_template_are_not_known() -> None:
    wft = copy.deepcopy(WFT)
    wft["spec"]["templates"][0]["container"]["args"] = ["{{workflow.parameters.from-submitter}}"]
    assert lint_template_resource(wft) == []


def test_names_with_placeholders_and_underscored_parameters_are_valid() -> None:
    wf = copy.deepcopy(BASE)
    _step(wf, 1)["name"] = "second-{{workflow.parameters.msg}}"
    _spec(wf)["arguments"]["parameters"].append({"name": "my_param-2", "value": "x"})
    assert lint_workflow(wf) == []


def test_resource_manifest_with_placeholders_is_yaml() -> None:
    wf = copy.deepcopy(BASE)
    _tpl(wf, 0).pop("container")
    _tpl(wf, 0)["resource"] = {
        "action": "create",
        "manifest": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{inputs.parameters.msg}}\n",
    }
    _tpl(wf, 0)["activeDeadlineSeconds"] = "30"
    assert lint_workflow(wf) == []


def test_template_defaults_may_supply_the_image() -> None:
    wf = copy.deepcopy(BASE)
    _tpl(wf, 0)["container"].pop("image")
    _spec(wf)["templateDefaults"] = {"container": {"image": "alpine:3.20"}, "timeout": "1m"}
    assert lint_workflow(wf) == []
    _spec(wf)["templateDefaults"] = {"script": {"image": "python:3", "source": ""}}
    assert [e.path for e in lint_workflow(wf)] == ["spec.templates[0].container.image"]


def test_dag_with_dependencies_only_and_continue_on() -> None:
    wf = copy.deepcopy(BASE)
    _task(wf, 1).update(depends=None, dependencies=["A"], continueOn={"failed": True})
    _task(wf, 2).update(depends=None, dependencies=["A", "B"])
    assert lint_workflow(wf) == []


def test_depends_task_names() -> None:
    names, problems = depends_task_names("(task-1.Succeeded || b.AllFailed) && !c")
    assert names == {"task-1", "b", "c"}
    assert problems == []
    assert depends_task_names("a b")[1] == ["missing operator before 'b'"]
    assert depends_task_names("(a")[1] == ["unbalanced '('"]


def test_depends_with_a_single_ampersand_is_reported() -> None:
    # The engine's parser refuses "A & B": lint says so before the workflow runs.
    wf = copy.deepcopy(BASE)
    _task(wf, 2)["depends"] = "A & B"
    assert lint_workflow(wf) == [
        LintError("spec.templates[2].dag.tasks[2].depends", "unexpected '&' in 'A & B'")
    ]


def test_exit_hook_needs_no_expression_and_workflow_hooks_are_checked() -> None:
    wf = copy.deepcopy(BASE)
    _spec(wf)["hooks"] = {
        "exit": {"template": "echo"},
        "running": {"expression": "workflow.status == 'Running'", "template": "missing"},
    }
    errors = lint_workflow(wf)
    assert [str(e) for e in errors] == ['spec.hooks.running.template: template "missing" not found']


# ---------------------------------------------------------------------------------------
# References into other resources


WFT = yaml.safe_load(
    """
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata:
  name: lib
spec:
  templates:
  - name: say
    inputs: {parameters: [{name: msg}]}
    container: {image: alpine, command: [echo, "{{inputs.parameters.msg}}"]}
"""
)


def _bundle(*docs: dict[str, Any]) -> Bundle:
    bundle = Bundle()
    for doc in docs:
        bundle.add(copy.deepcopy(doc))
    return bundle


def test_template_ref_is_checked_against_the_bundle() -> None:
    wf = copy.deepcopy(BASE)
    _step(wf, 0).pop("template")
    _step(wf, 0)["templateRef"] = {"name": "lib", "template": "say"}
    assert lint_workflow(wf, _bundle(WFT)) == []
    assert lint_workflow(wf) == []  # without a bundle, other resources are not checked

    _step(wf, 0)["templateRef"] = {"name": "lib", "template": "shout"}
    errors = lint_workflow(wf, _bundle(WFT))
    assert [e.path for e in errors] == ["spec.templates[1].steps[0][0].templateRef.template"]
    assert 'template "shout" not found in WorkflowTemplate "lib"' in errors[0].message

    _step(wf, 0)["templateRef"] = {"name": "lib", "template": "say", "clusterScope": True}
    errors = lint_workflow(wf, _bundle(WFT))
    assert [e.path for e in errors] == ["spec.templates[1].steps[0][0].templateRef.name"]
    assert 'ClusterWorkflowTemplate "lib" not found' in errors[0].message


def test_workflow_template_ref() -> None:
    wf: dict[str, Any] = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "ref-"},
        "spec": {"entrypoint": "say", "workflowTemplateRef": {"name": "lib"}},
    }
    assert lint_workflow(wf) == []  # unknown without a bundle: not an error
    assert lint_workflow(wf, _bundle(WFT)) == []
    wf["spec"]["entrypoint"] = "shout"
    assert [str(e) for e in lint_workflow(wf, _bundle(WFT))] == [
        'spec.entrypoint: template "shout" not found'
    ]
    wf["spec"].pop("entrypoint")
    errors = lint_workflow(wf, _bundle(WFT))
    assert [e.path for e in errors] == ["spec.entrypoint"]
    errors = lint_workflow(wf, Bundle())
    assert errors[0].path == "spec.workflowTemplateRef.name"
    assert 'WorkflowTemplate "lib" not found' in errors[0].message


def test_template_resource_lint() -> None:
    assert lint_template_resource(copy.deepcopy(WFT)) == []  # no entrypoint needed
    broken = copy.deepcopy(WFT)
    broken["spec"]["entrypoint"] = "nope"
    broken["metadata"].pop("name")
    broken["spec"]["templates"][0]["container"]["args"] = "x"
    assert sorted(str(e) for e in lint_template_resource(broken)) == [
        "metadata.name: required",
        'spec.entrypoint: template "nope" not found',
        "spec.templates[0].container.args: expected list, got string",
    ]
    cluster = copy.deepcopy(WFT)
    cluster["kind"] = "ClusterWorkflowTemplate"
    assert lint_template_resource(cluster) == []
    assert lint_template_resource(copy.deepcopy(BASE))[0].path == "kind"


def test_cron_workflow_lint() -> None:
    cron: dict[str, Any] = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "CronWorkflow",
        "metadata": {"name": "nightly"},
        "spec": {
            "schedules": ["0 1 * * *"],
            "concurrencyPolicy": "Replace",
            "workflowSpec": copy.deepcopy(BASE["spec"]),
        },
    }
    assert lint_document(cron) == []
    cron["spec"].pop("schedules")
    cron["spec"]["concurrencyPolicy"] = "Sometimes"
    cron["spec"]["workflowSpec"]["entrypoint"] = "nope"
    cron["metadata"]["name"] = "n" * 53
    assert sorted(e.path for e in lint_document(cron)) == [
        "metadata.name",
        "spec.concurrencyPolicy",
        "spec.schedules",
        "spec.workflowSpec.entrypoint",
    ]


def test_lint_document_dispatches_and_rejects_other_kinds() -> None:
    assert lint_document(copy.deepcopy(BASE)) == []
    assert lint_document(copy.deepcopy(WFT)) == []
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c"},
        "data": {"k": 1},
    }
    assert [str(e) for e in lint_document(config_map)] == ["data.k: expected string, got int"]
    assert lint_document({"apiVersion": "v1", "kind": "Pod"})[0].path == "kind"


def _chain(length: int) -> dict[str, Any]:
    wf = copy.deepcopy(BASE)
    tasks: list[dict[str, Any]] = [
        {
            "name": "t0",
            "template": "echo",
            "arguments": {"parameters": [{"name": "msg", "value": "go"}]},
        }
    ]
    for i in range(1, length):
        value = f"{{{{tasks.t{i - 1}.outputs.result}}}} {{{{tasks.t0.outputs.result}}}}"
        tasks.append(
            {
                "name": f"t{i}",
                "depends": f"t{i - 1}",
                "template": "echo",
                "arguments": {"parameters": [{"name": "msg", "value": value}]},
            }
        )
    _tpl(wf, 2)["dag"]["tasks"] = tasks
    return wf


def test_long_chains_lint_without_recursion_limits() -> None:
    wf = _chain(3000)  # deeper than Python's default recursion limit
    assert lint_workflow(wf) == []
    _task(wf, 0)["depends"] = "t2999"
    errors = lint_workflow(wf)
    assert [e.path for e in errors] == ["spec.templates[2].dag.tasks[0].name"]
    assert errors[0].message.startswith("dependency cycle: t0 -> t2999 -> t2998")
    assert errors[0].message.endswith("t2 -> t1 -> t0")
    assert len(errors[0].message) < 200  # long cycles are abbreviated


def _paths(value: Any, trail: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            found.append((*trail, key))
            found.extend(_paths(item, (*trail, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.append((*trail, index))
            found.extend(_paths(item, (*trail, index)))
    return found


@pytest.mark.parametrize("replacement", [None, 7, "x", [], {}, True, [{"a": 1}], {"name": 3}])
def test_lint_never_raises_on_wrong_shapes(replacement: Any) -> None:
    base = copy.deepcopy(BASE)
    _spec(base)["workflowTemplateRef"] = {"name": "lib"}
    _spec(base)["hooks"] = {"exit": {"template": "echo"}}
    for trail in _paths(base):
        wf = copy.deepcopy(base)
        target: Any = wf
        for step in trail[:-1]:
            target = target[step]
        target[trail[-1]] = replacement
        for bundle in (None, Bundle(), _bundle(WFT)):
            errors = lint_workflow(wf, bundle)
            assert all(isinstance(e, LintError) for e in errors), trail
        with contextlib.suppress(ManifestError):
            assert isinstance(resolve_workflow(wf, _bundle(WFT)), dict)
        # The same shapes inside a WorkflowTemplate that others refer to.
        wft = {**copy.deepcopy(WFT), "spec": copy.deepcopy(wf["spec"])}
        wft["spec"].pop("workflowTemplateRef", None) if isinstance(wft["spec"], dict) else None
        assert all(isinstance(e, LintError) for e in lint_template_resource(wft))
        referring = {
            "kind": "Workflow",
            "metadata": {"name": "r"},
            "spec": {"workflowTemplateRef": {"name": "lib"}},
        }
        assert all(isinstance(e, LintError) for e in lint_workflow(referring, _bundle(wft)))
        with contextlib.suppress(ManifestError):
            resolve_workflow(referring, _bundle(wft))


def test_absurdly_deep_manifests_are_lint_errors_not_crashes() -> None:
    wf = copy.deepcopy(BASE)
    deep: Any = "bottom"
    for _ in range(5000):
        deep = [deep]
    _tpl(wf, 0)["container"]["args"] = deep
    errors = lint_workflow(wf)
    assert errors and isinstance(errors[0], LintError)
    assert lint_document(wf) and lint_template_resource({**WFT, "spec": wf["spec"]})
    with pytest.raises(ManifestError, match="nested too deeply"):
        resolve_workflow(wf, Bundle())
