"""Inputs the manifest fuzzer found ending in an internal error or a lint traceback:
each now gives a clear error."""

from __future__ import annotations

from typing import Any

from hookbus.controller.argo.lint import lint_workflow
from tests.support.engine import ScriptedExecutor, load, make_controller


def _workflow(templates: str) -> dict[str, Any]:
    return load(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: fz}\n"
        "spec:\n  entrypoint: main\n  templates:\n" + templates
    )


async def _run(doc: dict[str, Any]) -> dict[str, Any]:
    async with make_controller(ScriptedExecutor()) as ctl:
        key = await ctl.submit(doc)
        return await ctl.wait(key, timeout=5)


def test_null_list_elements_are_lint_errors() -> None:
    doc = _workflow(
        "  - name: main\n    container: {image: alpine}\n    outputs: {parameters: [null]}\n"
    )
    assert [str(e) for e in lint_workflow(doc)] == [
        "spec.templates[0].outputs.parameters[0]: expected map (Parameter), got null"
    ]


def test_a_container_set_name_that_is_not_a_string_is_reported_not_raised() -> None:
    doc = _workflow(
        "  - name: main\n    containerSet:\n      containers:\n"
        "      - {name: [a], image: alpine}\n      - {name: b, image: alpine, dependencies: [a]}\n"
    )
    errors = [str(e) for e in lint_workflow(doc)]
    assert any("containers[0].name" in e for e in errors)


async def test_a_null_loop_item_errors_the_step() -> None:
    wf = await _run(
        _workflow(
            "  - name: main\n    steps:\n    - - {name: s, template: t, withItems: [1, null]}\n"
            "  - name: t\n    container: {image: alpine, args: [echo]}\n"
        )
    )
    assert wf["status"]["phase"] in ("Failed", "Error")
    messages = [n.get("message") or "" for n in wf["status"]["nodes"].values()]
    assert any("withItems: null is not a valid item" in m for m in messages)
    assert not any(m.startswith("internal error") for m in [wf["status"].get("message") or "", *messages])


async def test_a_templated_depends_that_does_not_parse_errors_the_dag() -> None:
    wf = await _run(
        _workflow(
            "  - name: main\n    dag:\n      tasks:\n      - {name: a, template: t}\n"
            "      - {name: b, template: t, depends: \"{{=asInt('x')}}\"}\n"
            "  - name: t\n    container: {image: alpine, args: [echo]}\n"
        )
    )
    assert wf["status"]["phase"] == "Error"
    assert wf["status"]["message"].startswith("tasks.b: invalid depends")


def test_in_with_a_map_or_list_as_the_key_of_a_map_is_a_clear_error() -> None:
    import pytest

    from hookbus.controller.argo.errors import ExpressionError
    from hookbus.controller.argo.expr import evaluate

    with pytest.raises(ExpressionError, match="operator 'in': map cannot be a key of a map$"):
        evaluate("{'k': 2} in {'k': 2}", {})
    assert evaluate("'k' in {'k': 2}", {}) is True


async def test_a_config_map_key_ref_without_a_name_is_a_clear_failure() -> None:
    doc = load(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: fz}\nspec:\n  entrypoint: main\n"
        "  arguments: {parameters: [{name: g, valueFrom: {configMapKeyRef: {key: k}}}]}\n"
        "  templates:\n  - name: main\n    container: {image: alpine, args: [echo]}\n"
    )
    wf = await _run(doc)
    assert wf["status"]["phase"] == "Failed"
    assert wf["status"]["message"].startswith(
        "failed to set global parameters: failed to set global parameter g from configmap with name  and key k: "
    )


async def test_a_dag_with_parallelism_zero_runs_unlimited_as_argo() -> None:
    wf = await _run(
        _workflow(
            "  - name: main\n    parallelism: 0\n    dag:\n      tasks:\n      - {name: a, template: t}\n"
            "      - {name: b, template: t, depends: a}\n"
            "  - name: t\n    container: {image: alpine, args: [echo]}\n"
        )
    )
    assert wf["status"]["phase"] == "Succeeded", "it waited forever for a free slot"
