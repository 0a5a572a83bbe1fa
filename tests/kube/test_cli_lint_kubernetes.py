"""``hookbus lint --target kubernetes`` names what Kubernetes mode cannot run, and leaves out
the warnings that hold for local mode only."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from hookbus.controller import cli
from tests.kube.test_resource_templates import EXAMPLES

if TYPE_CHECKING:
    from pathlib import Path

WORKFLOW = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: r-}
spec:
  entrypoint: a
  podSpecPatch: '{"nodeSelector": {"disk": "ssd"}}'
  templates:
  - name: a
    resource:
      action: replace
      manifest: "kind: ConfigMap"
  - name: b
    resource:
      action: get
      flags: [--dry-run]
      successCondition: "status.x > y"
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: x}
    outputs:
      parameters:
      - name: p
        valueFrom: {jqFilter: ".items | length"}
  - name: c
    resource:
      action: create
      manifestFrom: {artifact: {name: m}}
  - name: d
    http: {url: "http://localhost:8080/x"}
  - name: e
    http: {url: "http://169.254.169.254/latest"}
  - name: f
    inputs: {parameters: [{name: p}]}
    http: {url: "https://example.com/{{inputs.parameters.p}}"}
  - name: h
    resource:
      action: get
      manifest: |
        apiVersion: v1
        kind: Secret
        metadata: {name: token}
  - name: g
    resource:
      action: patch
      mergeStrategy: json
      flags: [pod, "{{pod.name}}"]
      manifest: |
        - {op: add, path: /metadata/annotations/foo, value: bar}
"""


def test_what_kubernetes_mode_cannot_run_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wf = tmp_path / "wf.yaml"
    wf.write_text(WORKFLOW)
    assert cli.main(["lint", "--target", "kubernetes", str(wf)]) == cli.EXIT_USAGE
    out = capsys.readouterr().out
    lines = [line.split("'r-': ", 1)[1] for line in out.splitlines() if "'r-': " in line]
    assert lines == [
        "spec.templates[3].http.url: 'http://localhost:8080/x' is a loopback name: refused unless the controller "
        "allows it (--http-allow), and sent from the controller's pod, not the workflow's",
        "spec.templates[4].http.url: 'http://169.254.169.254/latest' is a link-local address (cloud metadata included): "
        "refused unless the controller allows it (--http-allow), and sent from the controller's pod, not the workflow's",
        "spec.templates[0].resource: resource action 'replace' is not one of create, apply, patch, delete, get",
        "spec.templates[1].resource.flags: not supported in Kubernetes mode: --dry-run",
        "spec.templates[1].resource.successCondition: condition 'status.x > y': 'y' after '>' is not an integer",
        "spec.templates[1].outputs.parameters[0].valueFrom.jqFilter: jqFilter '.items | length': only paths such as "
        "'.', '.metadata.name' or '.items[0]' are supported",
        "spec.templates[2].resource: resource manifestFrom is not supported; put the manifest in 'manifest'",
    ]
    # a Secret is the API server's to allow or refuse: the template acts as the workflow's service account
    assert "spec.templates[6]" not in out
    assert "in local mode" not in out, "the local-mode warnings (resource, podSpecPatch) do not apply"


def test_local_lint_keeps_its_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wf = tmp_path / "wf.yaml"
    wf.write_text(WORKFLOW)
    assert cli.main(["lint", str(wf)]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "spec.templates[0].resource: resource templates run in Kubernetes mode only" in out
    assert "spec.podSpecPatch: pod-level fields are not applied in local mode" in out
    assert "http.url" not in out


@pytest.mark.skipif(not EXAMPLES.is_dir(), reason="Argo's example workflows are not beside the repository")
@pytest.mark.parametrize("name", ["k8s-jobs", "k8s-owner-reference", "k8s-patch-json-pod", "k8s-patch-merge-pod", "k8s-patch-pod", "volumes-existing"])
def test_the_k8s_examples_pass_for_kubernetes(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["lint", "--target", "kubernetes", str(EXAMPLES / f"{name}.yaml")]) == cli.EXIT_OK
    assert capsys.readouterr().out.strip() == "✔ no linting errors found!"


def test_a_resource_template_needs_a_valid_service_account_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wf = tmp_path / "wf.yaml"
    wf.write_text("""
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: sa-}
spec:
  entrypoint: main
  serviceAccountName: Not_Valid
  templates:
  - name: main
    resource:
      action: get
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: x}
""")
    assert cli.main(["lint", "--target", "kubernetes", str(wf)]) == cli.EXIT_USAGE
    assert (
        "spec.templates[0]: resource templates act as a service account: serviceAccountName 'Not_Valid' is not a valid service account name"
        in capsys.readouterr().out
    )
