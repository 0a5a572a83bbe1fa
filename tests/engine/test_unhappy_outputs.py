"""Output parameter values substituted from inputs (and aggregated over loops), and
multi-line ``when`` conditions with ``in (...)``, as Argo runs them."""

from __future__ import annotations

from typing import Any

from tests.support.engine import ScriptedExecutor, load, make_controller


async def run(text: str) -> dict[str, Any]:
    async with make_controller(ScriptedExecutor()) as ctl:
        key = await ctl.submit(load(text))
        return await ctl.wait(key, timeout=5)


def by_display(wf: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["displayName"]: n for n in wf["status"]["nodes"].values()}


ECHO = """
  - name: echo
    inputs: {parameters: [{name: x}]}
    outputs: {parameters: [{name: out, value: "v-{{inputs.parameters.x}}"}, {name: raw, value: "{{inputs.parameters.x}}"}]}
    container: {image: alpine, command: [sh, -c], args: ["echo {{inputs.parameters.x}}"]}
  - name: show
    inputs: {parameters: [{name: all}]}
    container: {image: alpine, command: [sh, -c], args: ["echo {{inputs.parameters.all}}"]}
"""

STEPS = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: agg}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: gen, template: echo, arguments: {parameters: [{name: x, value: "{{item}}"}]}, withItems: [1, 2, 3]}
    - - {name: show, template: show, arguments: {parameters: [{name: all, value: "{{steps.gen.outputs.parameters.raw}}"}]}}
""" + ECHO

DAG = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: agg}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - {name: gen, template: echo, arguments: {parameters: [{name: x, value: "{{item}}"}]}, withItems: [1, 2, 3]}
      - {name: show, template: show, depends: gen, arguments: {parameters: [{name: all, value: "{{tasks.gen.outputs.parameters.raw}}"}]}}
""" + ECHO


async def test_an_output_value_uses_the_template_inputs() -> None:
    wf = await run(STEPS)
    nodes = by_display(wf)
    assert nodes["gen(1:2)"]["outputs"]["parameters"] == [
        {"name": "out", "value": "v-2"},
        {"name": "raw", "value": "2"},
    ]


async def test_output_values_aggregate_over_with_items_as_argo() -> None:
    for text in (STEPS, DAG):
        wf = await run(text)
        assert wf["status"]["phase"] == "Succeeded"
        show = by_display(wf)["show"]
        assert show["inputs"]["parameters"] == [{"name": "all", "value": '["1","2","3"]'}]


WHEN = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: when-in}
spec:
  entrypoint: main
  arguments: {parameters: [{name: env, value: prod}]}
  templates:
  - name: main
    steps:
    - - name: gen
        template: say
        withItems: [a, b, c]
        when: |
          "{{workflow.parameters.env}}" in ("prod", "staging")
            && "{{item}}" in ("a",
                              "c")
  - name: say
    container: {image: alpine, command: [sh, -c], args: ["echo hi"]}
"""


async def test_a_multi_line_when_with_in_lists() -> None:
    wf = await run(WHEN)
    nodes = by_display(wf)
    assert [nodes[f"gen({i}:{x})"]["phase"] for i, x in enumerate("abc")] == ["Succeeded", "Skipped", "Succeeded"]
    assert nodes["gen(1:b)"]["message"] == (
        'when \'"prod" in ("prod", "staging")\n  && "b" in ("a",\n                    "c")\n\' evaluated false'
    )
    wf = await run(WHEN.replace("value: prod", "value: dev"))
    assert {n["phase"] for n in by_display(wf).values() if n["displayName"].startswith("gen(")} == {"Skipped"}


LOOP_SKIPPED = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: ls}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: gen, template: echo, arguments: {parameters: [{name: x, value: "{{item}}"}]}, withItems: [1, 2, 3], when: "{{item}} == WHEN"}
    - - name: show
        template: show
        arguments:
          parameters:
          - {name: all, value: "{{steps.gen.outputs.parameters.raw}}"}
          - {name: maps, value: "{{steps.gen.outputs.parameters}}"}
          - {name: results, value: "{{steps.gen.outputs.result}}"}
  - name: show
    inputs: {parameters: [{name: all, DEFAULT}, {name: maps}, {name: results}]}
    container: {image: alpine, command: [sh, -c], args: ["echo {{inputs.parameters.all}}"]}
""" + ECHO.split("  - name: show")[0]


def _show(wf: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in by_display(wf)["show"]["inputs"]["parameters"]}


async def test_a_loop_aggregates_only_the_items_that_ran() -> None:
    wf = await run(LOOP_SKIPPED.replace("WHEN", "2").replace(", DEFAULT", ""))
    assert _show(wf) == {"all": '["2"]', "maps": '[{"out":"v-2","raw":"2"}]', "results": "[2]"}


async def test_a_loop_none_of_whose_items_ran_has_absent_outputs() -> None:
    """The lists stay ``[]`` (Argo aggregates no Succeeded item); a value by name is an
    absent optional: the consumer's default applies, or the consumer errors."""
    wf = await run(LOOP_SKIPPED.replace("WHEN", "9").replace("DEFAULT", "default: none"))
    assert wf["status"]["phase"] == "Succeeded"
    assert _show(wf) == {"all": "none", "maps": "[]", "results": "[]"}
    wf = await run(LOOP_SKIPPED.replace("WHEN", "9").replace(", DEFAULT", ""))
    show = by_display(wf)["show"]
    assert (show["phase"], wf["status"]["phase"]) == ("Error", "Failed")
    assert show["message"] == (
        "inputs.parameters.all: argument references an absent optional (skipped/omitted node output with no default)"
    )
