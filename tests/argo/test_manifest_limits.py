"""Hostile manifests are refused at parse, with a clear error, in bounded time and memory."""

from __future__ import annotations

import time

import pytest

from hookbus.controller.argo.errors import ManifestError
from hookbus.controller.argo.manifest import MAX_EXPANDED_VALUES, MAX_MANIFEST_BYTES, load_documents

BOMB = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: bomb}
spec:
  entrypoint: main
  templates:
  - name: main
    container:
      image: busybox
      args: &l9 [*l8, *l8, *l8, *l8, *l8, *l8, *l8, *l8, *l8, *l8]
"""


def _bomb(levels: int = 9) -> str:
    lines = ['a0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        refs = ", ".join([f"*l{i - 1}"] * 10)
        lines.append(f"a{i}: &l{i} [{refs}]")
    return "x:\n" + "\n".join("  " + line for line in lines) + "\n" + BOMB.replace("*l8", f"*l{levels - 1}")


def test_an_alias_bomb_is_refused_at_parse_naming_the_limit() -> None:
    started = time.monotonic()
    with pytest.raises(ManifestError, match="excessive aliasing") as caught:
        load_documents(_bomb(), name="bomb.yaml")
    assert time.monotonic() - started < 2.0
    assert f"{MAX_EXPANDED_VALUES:,}" in str(caught.value)
    assert "bomb.yaml:1:1" in str(caught.value)


def test_aliases_that_expand_modestly_still_load() -> None:
    text = """\
defaults: &env [{name: A, value: "1"}, {name: B, value: "2"}]
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: ok}
spec:
  entrypoint: main
  templates:
  - name: main
    container: {image: busybox, env: *env}
  - name: other
    container: {image: busybox, env: *env}
"""
    (doc,) = load_documents(text)
    assert doc["spec"]["templates"][1]["container"]["env"][1] == {"name": "B", "value": "2"}


def test_a_recursive_alias_is_an_error_not_a_hang() -> None:
    with pytest.raises(ManifestError):
        load_documents("a: &x [*x]\n")


def test_a_manifest_over_the_size_limit_is_refused_before_parsing() -> None:
    text = "# " + "x" * (MAX_MANIFEST_BYTES + 1) + "\n"
    with pytest.raises(ManifestError, match="more than the limit of 8,388,608 bytes") as caught:
        load_documents(text, name="big.yaml")
    assert str(caught.value).startswith("big.yaml")
    with pytest.raises(ManifestError, match="more than the limit"):
        load_documents(text.encode(), name="big.yaml")


def test_parameters_set_declared_arguments_and_refuse_unknown_names() -> None:
    from hookbus.controller.argo.manifest import apply_parameters

    spec = {"arguments": {"parameters": [{"name": "message", "value": "hi"}, {"name": "n", "valueFrom": {"configMapKeyRef": {}}}]}}
    apply_parameters(spec, {"n": "5"})
    assert spec["arguments"]["parameters"][1] == {"name": "n", "value": "5"}
    with pytest.raises(ManifestError, match="parameter 'nosuch': the workflow declares no argument of that name") as caught:
        apply_parameters(spec, {"nosuch": "1", "message": "x"})
    assert "'message', 'n'" in str(caught.value)
    assert spec["arguments"]["parameters"][0]["value"] == "hi"  # nothing applied when one is refused


def _workflow(**meta: object) -> dict[str, object]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": meta,
        "spec": {"entrypoint": "main", "templates": [{"name": "main", "container": {"image": "busybox"}}]},
    }


@pytest.mark.parametrize(
    ("meta", "field"),
    [
        ({"name": "Hello"}, "metadata.name"),
        ({"name": "../../etc"}, "metadata.name"),
        ({"name": "a_b"}, "metadata.name"),
        ({"name": "ends-"}, "metadata.name"),
        ({"generateName": "UPPER-"}, "metadata.generateName"),
        ({"generateName": "a/b-"}, "metadata.generateName"),
        ({"name": "ok", "namespace": "Bad_NS"}, "metadata.namespace"),
        ({"name": "ok", "namespace": "a.b"}, "metadata.namespace"),
        ({"generateName": "x" * 300}, "metadata.generateName"),
    ],
)
def test_names_that_kubernetes_refuses_are_lint_errors(meta: dict[str, object], field: str) -> None:
    from hookbus.controller.argo.lint import lint_workflow

    errors = lint_workflow(_workflow(**meta))
    assert any(e.path == field for e in errors), errors


def test_valid_names_and_prefixes_pass_and_a_long_prefix_is_cut_as_kubernetes_cuts_it() -> None:
    from hookbus.controller.argo.lint import lint_workflow
    from hookbus.controller.argo.manifest import workflow_name

    assert lint_workflow(_workflow(generateName="hello-world-", namespace="team-a")) == []
    assert lint_workflow(_workflow(name="build.v2-x")) == []
    generated = workflow_name(_workflow(generateName="p" * 205 + "-"))
    assert len(generated) == 63 and generated.startswith("p" * 58)


@pytest.mark.parametrize(
    ("change", "path", "text"),
    [
        ({"parallelism": -1}, "spec.parallelism", "at least 1, not -1"),
        ({"parallelism": 0}, "spec.parallelism", "at least 1, not 0"),
    ],
)
def test_limits_below_one_are_lint_errors(change: dict[str, object], path: str, text: str) -> None:
    from hookbus.controller.argo.lint import lint_workflow

    wf = _workflow(name="limits")
    wf["spec"].update(change)  # type: ignore[attr-defined]
    errors = lint_workflow(wf)
    assert [str(e) for e in errors if e.path == path] == [f"{path}: must be a whole number of {text}"], errors


def test_template_parallelism_and_suspend_duration_are_checked() -> None:
    from hookbus.controller.argo.lint import lint_workflow

    wf = _workflow(name="limits")
    wf["spec"]["templates"] = [  # type: ignore[index]
        {"name": "main", "parallelism": -2, "steps": [[{"name": "s", "template": "wait"}]]},
        {"name": "wait", "inputs": {"parameters": [{"name": "d", "value": "1"}]}, "suspend": {"duration": "-100"}},
    ]
    messages = {e.path: e.message for e in lint_workflow(wf)}
    assert "at least 0, not -2" in messages["spec.templates[0].parallelism"]
    assert "negative" in messages["spec.templates[1].suspend.duration"]
    wf["spec"]["templates"][1]["suspend"]["duration"] = "{{inputs.parameters.d}}"  # type: ignore[index]
    wf["spec"]["templates"][0]["parallelism"] = 2  # type: ignore[index]
    assert not [e for e in lint_workflow(wf) if "parallelism" in e.path or "duration" in e.path]


def test_a_script_without_source_is_valid_as_argo_runs_it() -> None:
    from hookbus.controller.argo.lint import lint_workflow

    wf = _workflow(name="nosrc")
    wf["spec"]["templates"] = [{"name": "main", "script": {"image": "python:3.11-alpine", "command": ["python"]}}]  # type: ignore[index]
    assert lint_workflow(wf) == []
