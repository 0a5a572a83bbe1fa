"""Failing ``{{=...}}`` expressions and ConfigMap-backed parameters, as Argo ends them."""

from __future__ import annotations

from typing import Any

from hookbus.controller.argo.manifest import Bundle
from tests.support.engine import ScriptedExecutor, load, make_controller

CONFIG = """
apiVersion: v1
kind: ConfigMap
metadata: {name: settings-blue}
data: {mood: calm}
"""


async def run(text: str, bundle: Bundle | None = None) -> tuple[dict[str, Any], ScriptedExecutor]:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(text), bundle=bundle)
        return await ctl.wait(key, timeout=5), ex


def by_display(wf: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["displayName"]: n for n in wf["status"].get("nodes", {}).values()}


def steps(args: str, step_args: str = "") -> str:
    return f"""
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {{name: ex}}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {{name: a, template: echo{step_args}}}
  - name: echo
    inputs: {{parameters: [{{name: x, default: "1"}}]}}
    container: {{image: alpine, command: [sh, -c], args: ["{args}"]}}
"""


async def test_a_syntax_error_in_a_leaf_errors_the_node_instead_of_running_the_literal() -> None:
    wf, ex = await run(steps("echo {{=1 + }}"))
    node = by_display(wf)["a"]
    assert node["phase"] == "Error"
    assert node["message"].startswith("invalid expression '1 + ': unexpected token")
    assert ex.started == [], "the command never runs with the literal text"
    assert wf["status"]["phase"] == "Failed"
    assert by_display(wf)["[0]"]["phase"] == "Failed"


async def test_an_unknown_function_and_an_evaluation_error_fail_the_node() -> None:
    wf, ex = await run(steps("echo {{=nosuch(inputs.parameters.x)}}"))
    assert by_display(wf)["a"]["message"] == (
        "failed to evaluate expression 'nosuch(inputs.parameters.x)': unknown function nosuch()"
    )
    wf, ex = await run(steps("echo {{inputs.parameters.x}}", ', arguments: {parameters: [{name: x, value: "{{=asInt(\'two\')}}"}]}'))
    node = by_display(wf)["a"]
    assert (node["phase"], wf["status"]["phase"]) == ("Error", "Failed")
    assert node["message"].startswith("failed to evaluate expression \"asInt('two')\"")
    assert ex.started == []


async def test_an_unresolved_variable_in_an_expression_stays_as_argo_keeps_it() -> None:
    wf, _ = await run(steps("echo {{=inputs.parameters.x + 1}}"))
    assert wf["status"]["phase"] == "Failed", "a wrong type is an evaluation error"
    wf, _ = await run(steps("echo {{=asInt(inputs.parameters.x) + 1}}"))
    assert wf["status"]["phase"] == "Succeeded"
    assert by_display(wf)["a"]["outputs"]["result"] == "2"


GLOBAL = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: ex}
spec:
  entrypoint: main
  arguments:
    parameters:
    - %s
  templates:
  - name: main
    container: {image: alpine, command: [sh, -c], args: ["echo {{workflow.parameters.g}}"]}
"""


async def test_a_failing_global_expression_ends_the_workflow_error() -> None:
    wf, ex = await run(GLOBAL % "{name: g, value: \"{{=asInt('x')}}\"}")
    assert wf["status"]["phase"] == "Error"
    assert wf["status"]["message"].startswith("failed to evaluate expression \"asInt('x')\"")
    assert not wf["status"].get("nodes") and ex.started == []
    wf, _ = await run(GLOBAL % '{name: g, value: "{{=1 + 2}}-{{workflow.name}}"}')
    assert by_display(wf)["ex"]["outputs"]["result"] == "3-ex", "a global expression is evaluated"


async def test_a_global_parameter_takes_the_default_of_a_missing_config_map_key() -> None:
    bundle = Bundle()
    bundle.add(load(CONFIG))
    ref = "{name: g, valueFrom: {configMapKeyRef: {name: settings-blue, key: %s}, default: fallback}}"
    wf, _ = await run(GLOBAL % (ref % "nokey"), bundle)
    assert wf["status"]["phase"] == "Succeeded"
    assert by_display(wf)["ex"]["outputs"]["result"] == "fallback"
    wf, _ = await run(GLOBAL % (ref % "mood"), bundle)
    assert by_display(wf)["ex"]["outputs"]["result"] == "calm", "a key that exists wins over the default"


async def test_a_missing_config_map_key_without_default_fails_the_workflow() -> None:
    bundle = Bundle()
    bundle.add(load(CONFIG))
    wf, ex = await run(GLOBAL % "{name: g, valueFrom: {configMapKeyRef: {name: settings-blue, key: nokey}}}", bundle)
    assert wf["status"]["phase"] == "Failed"
    assert wf["status"]["message"] == (
        "failed to set global parameters: failed to set global parameter g from configmap with name "
        "settings-blue and key nokey: ConfigMap 'settings-blue' does not have the key 'nokey'"
    )
    assert ex.started == []


TEMPLATED_NAME = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: ex}
spec:
  entrypoint: main
  arguments: {parameters: [{name: colour, value: %s}]}
  templates:
  - name: main
    inputs:
      parameters:
      - name: mood
        valueFrom: {configMapKeyRef: {name: "settings-{{workflow.parameters.colour}}", key: mood}}
    container: {image: alpine, command: [sh, -c], args: ["echo {{inputs.parameters.mood}}"]}
"""


async def test_a_templated_config_map_name_in_an_input() -> None:
    bundle = Bundle()
    bundle.add(load(CONFIG))
    wf, _ = await run(TEMPLATED_NAME % "blue", bundle)
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
    assert by_display(wf)["ex"]["outputs"]["result"] == "calm"
    wf, _ = await run(TEMPLATED_NAME % "red", bundle)
    node = by_display(wf)["ex"]
    assert (node["phase"], wf["status"]["phase"]) == ("Error", "Error")
    assert node["message"].startswith(
        "unable to retrieve inputs.parameters.mood from ConfigMap: ConfigMap 'settings-red' does not exist."
    )
