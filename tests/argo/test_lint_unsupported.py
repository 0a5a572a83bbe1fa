"""Lint warns about every field ``docs/argo-compatibility.md`` lists as not yet
supported, and about nothing else: the page and the code cannot drift apart."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from hookbus.controller.argo.lint import lint_warnings, lint_workflow
from hookbus.controller.argo.manifest import load_documents

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "argo-compatibility.md"


def _rows() -> list[tuple[str, str]]:
    text = PAGE.read_text()
    section = text.split("## Not yet supported", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`spec"):
            rows.append((cells[0].strip("`"), cells[1].strip("`")))
    return rows


ROWS = _rows()
LISTED = {field for field, _ in ROWS}


def _normal(path: str) -> str:
    return re.sub(r"\[\d+\]", "[]", path)


def _workflow(spec: dict[str, Any]) -> dict[str, Any]:
    spec.setdefault("entrypoint", "a")
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "w"}, "spec": spec}


def test_the_page_lists_fields() -> None:
    assert len(ROWS) >= 4, "the table under 'Not yet supported' is read"


@pytest.mark.parametrize(("field", "example"), ROWS, ids=[f for f, _ in ROWS])
def test_lint_warns_about_each_listed_field(field: str, example: str) -> None:
    spec = yaml.safe_load(example)
    warnings = lint_warnings(_workflow(spec))
    paths = {_normal(w.path) for w in warnings}
    assert field in paths, f"no warning for {field}: {[str(w) for w in warnings]}"
    assert paths <= LISTED, "every warning names a field the page lists"
    for warning in warnings:
        assert warning.message, "each warning says what happens"


def test_warnings_are_not_errors() -> None:
    spec = yaml.safe_load(dict(ROWS)["spec.podSpecPatch"])
    spec["templates"] = [{"name": "a", "container": {"image": "alpine"}}]
    workflow = _workflow(spec)
    assert lint_workflow(workflow) == []
    assert [str(w) for w in lint_warnings(workflow)][0].startswith("spec.podSpecPatch: pod-level fields are not applied")


def test_the_examples_warn_only_about_listed_fields() -> None:
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        for doc in load_documents(path, name=str(path)):
            for warning in lint_warnings(doc):
                assert _normal(warning.path) in LISTED, f"{path.name}: {warning}"


def test_a_pod_spec_patch_of_containers_only_is_not_warned_about() -> None:
    spec = {"podSpecPatch": '{"containers": [{"name": "main", "resources": {"limits": {"cpu": "1"}}}]}'}
    assert lint_warnings(_workflow(spec)) == []
