"""Argo's examples through the conformance runner.

A small fixed subset always runs (each must reach Succeeded, as Argo's e2e
requires); the full run over every example is opt-in: ``HOOKBUS_CONFORMANCE=1``.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.conformance import runner

EXAMPLES = runner.DEFAULT_EXAMPLES
needs_examples = pytest.mark.skipif(not EXAMPLES.is_dir(), reason=f"no Argo examples at {EXAMPLES}")

SUBSET = (
    "hello-world",
    "steps",
    "dag-diamond",
    "dag-enhanced-depends",
    "loops",
    "coinflip",
    "conditional-parameters",
    "exit-handler-with-param",
    "output-parameter",
    "scripts-python",
    "global-parameters",  # (retry-script is random: it fails 1 run in 90 by design)
    "arguments-parameters-from-configmap",
    "workflow-template/workflow-template-ref",
    "cluster-workflow-template/cluster-wftmpl-dag",
    "container-set-template/sequence-workflow",
)


@needs_examples
async def test_subset_succeeds() -> None:
    results = await runner.run_examples(
        EXAMPLES, only=SUBSET, timeout=60, parallel=6, progress=False
    )
    ran = {r.example.removesuffix(".yaml").split("#")[0] for r in results}
    assert ran == set(SUBSET), "every chosen example was found and run"
    failures = [(r.example, r.phase, r.reason) for r in results if r.phase != "Succeeded"]
    assert failures == []


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("HOOKBUS_CONFORMANCE") != "1", reason="full run: set HOOKBUS_CONFORMANCE=1"
)
@needs_examples
async def test_every_example_succeeds_or_is_explained() -> None:
    results = await runner.run_examples(EXAMPLES, timeout=120, parallel=6, progress=False)
    unexplained = [
        (r.example, r.outcome, r.reason) for r in results if r.outcome not in runner.EXPLAINED
    ]
    assert unexplained == []


def workflow(templates: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "kind": "Workflow",
        "metadata": {"name": "w"},
        "spec": {"entrypoint": "main", "templates": templates, **spec},
    }


def test_static_needs_name_what_local_mode_lacks() -> None:
    from hookbus.controller.argo.manifest import Bundle

    bundle = Bundle()
    resource = workflow([{"name": "main", "resource": {"action": "create", "manifest": "{}"}}])
    assert runner.static_needs(resource, bundle) == ["a Kubernetes API (resource template)"]
    pvc = workflow(
        [{"name": "main", "container": {"image": "alpine", "command": ["true"]}}],
        volumeClaimTemplates=[{"metadata": {"name": "workdir"}}],
    )
    assert runner.static_needs(pvc, bundle) == ["Kubernetes volumes (volumeClaimTemplates / PVC)"]
    s3 = workflow(
        [
            {
                "name": "main",
                "inputs": {"artifacts": [{"name": "a", "path": "/a", "s3": {"key": "k"}}]},
            }
        ]
    )
    assert runner.static_needs(s3, bundle) == ["an artifact repository (s3)"]
    raw = workflow(
        [
            {
                "name": "main",
                "inputs": {"artifacts": [{"name": "a", "path": "/a", "raw": {"data": "x"}}]},
            }
        ]
    )
    assert runner.static_needs(raw, bundle) == [], "raw artifacts need no repository"
    secret = workflow(
        [
            {
                "name": "main",
                "container": {
                    "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]
                },
            }
        ]
    )
    assert runner.static_needs(secret, bundle) == ["a Kubernetes Secret (secretKeyRef)"]
    plain = workflow(
        [{"name": "main", "container": {"image": "alpine", "command": ["echo", "resource"]}}]
    )
    assert runner.static_needs(plain, bundle) == []


def test_failure_needs_and_classification() -> None:
    failed: dict[str, Any] = {
        "status": {
            "phase": "Failed",
            "message": "child 'w-1' failed",
            "nodes": {
                "w": {"name": "w", "type": "Steps", "phase": "Failed"},
                "w-1": {
                    "name": "w[0].a",
                    "displayName": "a",
                    "type": "Pod",
                    "phase": "Error",
                    "message": "command 'kubectl' is not available on this host (it is part of image bitnami/kubectl)",
                },
            },
        }
    }
    assert runner.failure_needs(failed) == ["the command 'kubectl' from image bitnami/kubectl"]
    result = runner.Result("x.yaml", phase="Failed")
    runner.classify(result, failed, [])
    assert result.outcome == "needs-image"
    assert "a: command 'kubectl'" in result.reason

    result = runner.Result("y.yaml", phase="Failed")
    runner.classify(result, failed, ["a Kubernetes API (resource template)"])
    assert result.outcome == "needs-cluster"

    plain_failure = {
        "status": {
            "phase": "Failed",
            "nodes": {
                "n": {
                    "name": "n",
                    "type": "Pod",
                    "phase": "Failed",
                    "message": "Error (exit code 1)",
                }
            },
        }
    }
    result = runner.Result("z.yaml", phase="Failed")
    runner.classify(result, plain_failure, [])
    assert (result.outcome, result.reason) == ("failed", "n: Error (exit code 1)")

    result = runner.Result("ok.yaml", phase="Succeeded")
    runner.classify(
        result, {"status": {"phase": "Succeeded"}}, ["a Kubernetes Secret (secretKeyRef)"]
    )
    assert (result.outcome, result.needs) == ("passed", [])


def test_no_network_is_a_named_need() -> None:
    workflow: dict[str, Any] = {
        "status": {
            "phase": "Failed",
            "nodes": {
                "h": {
                    "name": "h",
                    "type": "HTTP",
                    "phase": "Failed",
                    "message": "http request failed: <urlopen error [Errno -2] Name or service not known>",
                }
            },
        }
    }
    result = runner.Result("http.yaml", phase="Failed")
    runner.classify(result, workflow, [])
    assert (result.outcome, result.needs) == (
        "needs-network",
        ["network access (Name or service not known)"],
    )
