"""Conditions, jsonPath and jqFilter of ``resource`` templates; and the template without a cluster."""

from __future__ import annotations

import re
from typing import Any

import pytest

from hookbus.controller.engine.resource_paths import (
    MAX_EXPRESSION,
    jq_filter,
    json_path,
    matches,
    parse_condition,
)
from hookbus.controller.engine.resource_template import NO_CLUSTER
from tests.support.engine import ScriptedExecutor, load, make_controller

JOB: dict[str, Any] = {
    "metadata": {"name": "job-1", "labels": {"app.kubernetes.io/name": "x"}},
    "status": {"succeeded": 3, "phase": "Running", "conditions": [{"type": "Complete"}], "ready": True, "none": None},
}


def holds(condition: str, obj: dict[str, Any] = JOB) -> bool:
    return all(matches(r, obj) for r in parse_condition(condition))


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("status.succeeded > 2", True),
        ("status.succeeded > 3", False),
        ("status.succeeded < 4", True),
        ("status.failed > 0", False),  # missing: never greater
        ("status.phase in (Failed, Error)", False),
        ("status.phase in (Running)", True),
        ("status.phase notin (Failed)", True),
        ("status.failed notin (1)", True),  # missing: not in any set
        ("status.phase = Running", True),
        ("status.phase == Running", True),
        ("status.phase != Running", False),
        ("status.ready = true", True),
        ("status.succeeded", True),
        ("!status.failed", True),
        ("!status.succeeded", False),
        ("status.conditions.0.type = Complete", True),
        ("status.conditions.# = 1", True),
        ("status.phase = Running, status.succeeded > 2", True),
        ("status.phase = Running, status.succeeded > 5", False),
        ("status.phase > 1", False),  # not a number: false, as Kubernetes
    ],
)
def test_conditions_follow_kubernetes_label_selector_semantics(condition: str, expected: bool) -> None:
    assert holds(condition) is expected


@pytest.mark.parametrize(
    ("condition", "error"),
    [
        ("", "is empty"),
        ("status.succeeded > two", "is not an integer"),
        ("status.phase in Failed", "expected '('"),
        ("status.phase in (Failed", "missing ')'"),
        ("a b", "unexpected 'b' after 'a'"),
        ("x" * (MAX_EXPRESSION + 1), "longer than"),
    ],
)
def test_bad_conditions_name_what_is_wrong(condition: str, error: str) -> None:
    with pytest.raises(ValueError, match=re.escape(error)):
        parse_condition(condition)


def test_json_path_reads_like_kubectl() -> None:
    assert json_path(JOB, "{.metadata.name}") == "job-1"
    assert json_path(JOB, "{.status.succeeded}") == "3"
    assert json_path(JOB, "{.status.conditions[0].type}") == "Complete"
    assert json_path(JOB, "{.metadata.labels['app.kubernetes.io/name']}") == "x"
    assert json_path(JOB, "name={.metadata.name}/{.status.phase}") == "name=job-1/Running"
    assert json_path(JOB, "{.status.conditions}") == '[{"type":"Complete"}]'
    with pytest.raises(ValueError, match="is not found"):
        json_path(JOB, "{.status.missing}")


def test_jq_filter_paths_print_as_jq_rc() -> None:
    assert jq_filter({"a": 1}, ".") == '{"a":1}'
    assert jq_filter(JOB, ".metadata.name") == "job-1"
    assert jq_filter(JOB, ".status.conditions[0]") == '{"type":"Complete"}'
    assert jq_filter(JOB, ".status.missing") == "null"
    with pytest.raises(ValueError, match="only paths"):
        jq_filter(JOB, ".items | length")


RESOURCE = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: res}
spec:
  entrypoint: main
  templates:
  - name: main
    resource:
      action: create
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {generateName: x-}
"""


async def test_without_a_cluster_the_node_ends_in_error_saying_so() -> None:
    async with make_controller(ScriptedExecutor()) as ctl:
        key = await ctl.submit(load(RESOURCE))
        wf = await ctl.wait(key, timeout=5)
    node = wf["status"]["nodes"]["res"]
    assert node["phase"] == "Error" and node["message"] == NO_CLUSTER


def test_manifests_are_read_as_kubernetes_reads_them() -> None:
    from hookbus.controller.engine.hooks import WorkflowInfo
    from hookbus.controller.engine.resource_template import parse_call

    wf = WorkflowInfo("default", "w", "")
    call = parse_call({"action": "create", "manifest": "kind: ConfigMap\ndata: {when: 2024-01-01}"}, wf)
    assert call.manifest == {"kind": "ConfigMap", "data": {"when": "2024-01-01"}}, "timestamps stay strings"
    ops = parse_call({"action": "patch", "mergeStrategy": "json", "manifest": "- {op: remove, path: /a}"}, wf)
    assert ops.manifest == [{"op": "remove", "path": "/a"}]
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(7)
    )
    with pytest.raises(ValueError, match="excessive aliasing"):
        parse_call({"action": "create", "manifest": bomb}, wf)
    with pytest.raises(ValueError, match="is a str, not a Kubernetes object"):
        parse_call({"action": "create", "manifest": "- a\n- b"}, wf)
    with pytest.raises(ValueError, match="resource manifest:1"):
        parse_call({"action": "create", "manifest": "a: [1"}, wf)
    with pytest.raises(ValueError, match="must be one object"):
        parse_call({"action": "create", "manifest": "- {a: 1}\n- {b: 2}"}, wf)
