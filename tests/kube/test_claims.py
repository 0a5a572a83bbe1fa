"""``volumeClaimTemplates`` in Kubernetes mode: claims created before the workflow's first pod,
recorded in its status, and deleted with it as ``volumeClaimGC`` says.

A whole controller process (embedded NATS, the Kubernetes executor) runs against the test
API server, which puts the ``kubernetes.io/pvc-protection`` finalizer on every claim as an
API server does; the stand-in kubelet runs the pods and checks that the claims they mount
exist when they start.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from hookbus.controller import cli
from hookbus.controller.app import Hookbus
from hookbus.controller.argo.labels import INSTANCE_LABEL, WORKFLOW_LABEL
from hookbus.controller.kube.claims import (
    claim_manifests,
    claim_volumes,
    claims_to_delete,
    owned_by,
)
from hookbus.controller.kube.pods import WorkflowRef
from hookbus.controller.kube.resources import WORKFLOWS
from hookbus.controller.settings import ExecutorSettings
from tests.kube.support import app_settings
from tests.kube.test_resource_templates import EXAMPLES
from tests.support.kubeapi import PVC_PROTECTION, Fault
from tests.support.kubelet import Kubelet, Outcome
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from hookbus.controller.kube.client import KubeClient
    from hookbus.controller.settings import HookbusSettings
    from tests.support.kubeapi import KubeApi

Obj = dict[str, Any]
NS = "default"
FINAL = ("Succeeded", "Failed", "Error")
CLAIM_SPEC: Obj = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}

needs_examples = pytest.mark.skipif(not EXAMPLES.is_dir(), reason="Argo's example workflows are not beside the repository")


def _volumes_pvc(name: str, **spec: Any) -> Obj:
    """Argo's ``volumes-pvc`` example named *name*, labelled for this controller, *spec* fields added."""
    wf: Obj = yaml.safe_load((EXAMPLES / "volumes-pvc.yaml").read_text())
    wf["metadata"] = {"name": name, "labels": {INSTANCE_LABEL: "hookbus"}}
    wf["spec"].update(spec)
    return wf


def _one_pod(name: str) -> Obj:
    """A workflow whose one pod mounts its one claim."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name, "labels": {INSTANCE_LABEL: "hookbus"}},
        "spec": {
            "entrypoint": "main",
            "volumeClaimTemplates": [{"metadata": {"name": "workdir"}, "spec": CLAIM_SPEC}],
            "templates": [
                {"name": "main", "container": {"image": "busybox", "command": ["true"], "volumeMounts": [{"name": "workdir", "mountPath": "/work"}]}}
            ],
        },
    }


def _settings(api: KubeApi, tmp_path: Path) -> HookbusSettings:
    return replace(app_settings(str(api.url), tmp_path), executor=ExecutorSettings(kind="kubernetes"))


def _status(api: KubeApi, name: str) -> Obj:
    return (api.get("workflows", NS, name) or {}).get("status") or {}


async def _ended(api: KubeApi, name: str) -> Obj:
    await wait_for(lambda: _status(api, name).get("phase") in FINAL, timeout=60, what=f"{name} ended")
    return _status(api, name)


def _claimed(api: KubeApi, mounted: list[str]) -> Callable[[Obj], Outcome | None]:
    """A kubelet rule: a pod starts only if every claim it mounts exists (else it fails), as a
    scheduler keeps a pod whose claim is missing from running; the claims seen are added to *mounted*."""

    def rule(pod: Obj) -> Outcome | None:
        claims = [v["persistentVolumeClaim"]["claimName"] for v in pod["spec"].get("volumes") or [] if "persistentVolumeClaim" in v]
        for claim in claims:
            obj = api.get("persistentvolumeclaims", NS, claim)
            if obj is None or obj["metadata"].get("deletionTimestamp"):
                return Outcome(exit_code=1, message=f"claim {claim} missing")
        mounted.extend(claims)
        return Outcome()

    return rule


def _claim_writes(api: KubeApi, name: str) -> list[Any]:
    """The ``status.persistentVolumeClaims`` of each status write of workflow *name* that set it (``None``: removed)."""
    out: list[Any] = []
    for r in api.requests("PATCH", "workflows", name=name):
        status = (r.body or {}).get("status") if isinstance(r.body, dict) else None
        if isinstance(status, dict) and "persistentVolumeClaims" in status:
            out.append(status["persistentVolumeClaims"])
    return out


def _index(api: KubeApi, method: str, plural: str) -> int:
    return next(i for i, r in enumerate(api.log) if r.method == method and r.plural == plural)


@needs_examples
async def test_volumes_pvc_creates_its_claim_before_the_pods_and_deletes_it_at_the_end(kube: KubeClient, kube_api: KubeApi, tmp_path: Path) -> None:
    mounted: list[str] = []
    # pods that take a while, as on a cluster: the status is written while the workflow runs
    async with Kubelet(kube_api).run(_claimed(kube_api, mounted), delay=0.3), Hookbus(_settings(kube_api, tmp_path)):
        await kube.create(WORKFLOWS, NS, _volumes_pvc("volumes-pvc"))
        status = await _ended(kube_api, "volumes-pvc")
        await wait_for(lambda: kube_api.get("persistentvolumeclaims", NS, "volumes-pvc-workdir") is None, timeout=30, what="the claim deleted")
        await wait_for(lambda: "persistentVolumeClaims" not in _status(kube_api, "volumes-pvc"), timeout=30, what="the claim gone from the status")
    assert status["phase"] == "Succeeded", status.get("message")
    assert mounted == ["volumes-pvc-workdir", "volumes-pvc-workdir"], "both pods mounted the claim, which existed"
    (create,) = kube_api.requests("POST", "persistentvolumeclaims")
    assert _index(kube_api, "POST", "persistentvolumeclaims") < _index(kube_api, "POST", "pods"), "the claim before the first pod"
    claim = create.body
    uid = kube_api.get("workflows", NS, "volumes-pvc")["metadata"]["uid"]  # type: ignore[index]
    assert claim["metadata"]["name"] == "volumes-pvc-workdir"
    assert claim["metadata"]["labels"] == {WORKFLOW_LABEL: "volumes-pvc", INSTANCE_LABEL: "hookbus"}
    assert claim["metadata"]["ownerReferences"] == [
        {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "name": "volumes-pvc", "uid": uid, "controller": True, "blockOwnerDeletion": True}
    ]
    assert claim["spec"] == CLAIM_SPEC
    volume = {"name": "workdir", "persistentVolumeClaim": {"claimName": "volumes-pvc-workdir"}}
    assert _claim_writes(kube_api, "volumes-pvc") == [[volume], None], "recorded in the status as Argo does, removed once deleted"
    (delete,) = kube_api.requests("DELETE", "persistentvolumeclaims")
    (unprotect,) = kube_api.requests("PATCH", "persistentvolumeclaims")
    assert unprotect.body["metadata"]["finalizers"] == [], "the pvc-protection finalizer taken off, as Argo does"
    assert _index(kube_api, "DELETE", "persistentvolumeclaims") < _index(kube_api, "PATCH", "persistentvolumeclaims")
    assert delete.name == unprotect.name == "volumes-pvc-workdir"
    assert len(kube_api.objects("pods", NS)) == 2, "without podGC the pods stay; they did not hold the claim's delete back"


@needs_examples
async def test_on_workflow_success_keeps_the_claim_of_a_failed_workflow(kube: KubeClient, kube_api: KubeApi, tmp_path: Path) -> None:
    def fail(pod: Obj) -> Outcome:
        return Outcome(exit_code=1)

    wf = _volumes_pvc("kept", volumeClaimGC={"strategy": "OnWorkflowSuccess"})
    async with Kubelet(kube_api).run(fail, delay=0.3), Hookbus(_settings(kube_api, tmp_path)):
        await kube.create(WORKFLOWS, NS, wf)
        status = await _ended(kube_api, "kept")
        await wait_for(lambda: bool(_claim_writes(kube_api, "kept")), timeout=30, what="the claim in the status")
    assert status["phase"] == "Failed"
    claim = kube_api.get("persistentvolumeclaims", NS, "kept-workdir")
    assert claim is not None and not claim["metadata"].get("deletionTimestamp"), "kept for a retry or a look"
    assert claim["metadata"]["finalizers"] == [PVC_PROTECTION], "left as the API server made it"
    assert not kube_api.requests("DELETE", "persistentvolumeclaims")
    assert _status(kube_api, "kept")["persistentVolumeClaims"] == [{"name": "workdir", "persistentVolumeClaim": {"claimName": "kept-workdir"}}]
    async with Hookbus(_settings(kube_api, tmp_path)):  # deleting the Workflow deletes what it kept
        await kube.delete(WORKFLOWS, NS, "kept")
        await wait_for(lambda: bool(kube_api.requests("DELETE", "persistentvolumeclaims", name="kept-workdir")), timeout=30, what="the claim deleted")


@needs_examples
async def test_a_restarted_controller_creates_no_claim_twice(kube: KubeClient, kube_api: KubeApi, tmp_path: Path) -> None:
    settings = _settings(kube_api, tmp_path)
    mounted: list[str] = []
    held: list[Obj] = []

    def hold_first(pod: Obj) -> Outcome | None:
        if not held:
            held.append(pod)
            return None  # runs on across the restart
        return _claimed(kube_api, mounted)(pod)

    async with Kubelet(kube_api).run(hold_first) as kubelet:
        async with Hookbus(settings):
            await kube.create(WORKFLOWS, NS, _volumes_pvc("restarted"))
            await wait_for(lambda: bool(held), timeout=30, what="the first pod running")
            await wait_for(lambda: bool(_status(kube_api, "restarted").get("persistentVolumeClaims")), timeout=30, what="the claim in the status")
        async with Hookbus(settings):  # the first pod is re-attached; the second starts after the restart
            kubelet.finish(NS, held[0]["metadata"]["name"])
            status = await _ended(kube_api, "restarted")
            await wait_for(lambda: kube_api.get("persistentvolumeclaims", NS, "restarted-workdir") is None, timeout=30, what="the claim deleted")
    assert status["phase"] == "Succeeded", status.get("message")
    assert mounted == ["restarted-workdir"], "the second pod, created after the restart, mounted the claim"
    assert len(kube_api.requests("POST", "persistentvolumeclaims")) == 1, "one create: the status told the restarted controller"


async def test_a_claim_whose_delete_failed_is_deleted_by_the_next_controller(kube: KubeClient, kube_api: KubeApi, tmp_path: Path) -> None:
    settings = _settings(kube_api, tmp_path)
    kube_api.inject(Fault("DELETE", "persistentvolumeclaims", status=403))
    async with Kubelet(kube_api).run(delay=0.3), Hookbus(settings):
        await kube.create(WORKFLOWS, NS, _one_pod("left"))
        status = await _ended(kube_api, "left")
        await wait_for(lambda: bool(kube_api.requests("DELETE", "persistentvolumeclaims")), timeout=30, what="the delete tried")
    assert status["phase"] == "Succeeded", status.get("message")
    assert _status(kube_api, "left").get("persistentVolumeClaims"), "still listed: not deleted"
    assert kube_api.get("persistentvolumeclaims", NS, "left-workdir") is not None
    async with Hookbus(settings):
        await wait_for(lambda: kube_api.get("persistentvolumeclaims", NS, "left-workdir") is None, timeout=30, what="the claim deleted")
        await wait_for(lambda: "persistentVolumeClaims" not in _status(kube_api, "left"), timeout=30, what="the claim gone from the status")
    assert len(kube_api.requests("DELETE", "persistentvolumeclaims")) == 2


async def test_a_claim_left_by_a_controller_that_stopped_before_recording_it_is_adopted(kube: KubeClient, kube_api: KubeApi, tmp_path: Path) -> None:
    wf = kube_api.put(_one_pod("adopted"), NS)
    ref = WorkflowRef("adopted", NS, wf["metadata"]["uid"], wf["spec"])
    (claim,) = claim_manifests(ref, "hookbus")
    kube_api.put(claim, NS)  # created, then the controller stopped before writing the status
    mounted: list[str] = []
    async with Kubelet(kube_api).run(_claimed(kube_api, mounted)), Hookbus(_settings(kube_api, tmp_path)):
        status = await _ended(kube_api, "adopted")
        await wait_for(lambda: kube_api.get("persistentvolumeclaims", NS, "adopted-workdir") is None, timeout=30, what="the claim deleted")
    assert status["phase"] == "Succeeded", status.get("message")
    assert mounted == ["adopted-workdir"]
    (create,) = kube_api.requests("POST", "persistentvolumeclaims")
    assert [r.name for r in kube_api.requests("GET", "persistentvolumeclaims")][:1] == ["adopted-workdir"], "read after the 409, its owner checked"


async def test_a_claim_of_that_name_owned_by_another_workflow_is_an_error_naming_it(kube: KubeClient, kube_api: KubeApi, tmp_path: Path) -> None:
    other = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "name": "other", "uid": "uid-of-other", "controller": True}
    kube_api.put({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "taken-workdir", "ownerReferences": [other]}, "spec": CLAIM_SPEC}, NS)
    before = copy.deepcopy(kube_api.get("persistentvolumeclaims", NS, "taken-workdir"))
    async with Kubelet(kube_api).run(), Hookbus(_settings(kube_api, tmp_path)):
        await kube.create(WORKFLOWS, NS, _one_pod("taken"))
        status = await _ended(kube_api, "taken")
    assert status["phase"] == "Error"
    assert status["message"] == "claim taken-workdir exists and belongs to Workflow other (uid uid-of-other), not to workflow taken"
    assert not kube_api.requests("POST", "pods"), "no pod is created"
    assert kube_api.get("persistentvolumeclaims", NS, "taken-workdir") == before, "another's claim is left alone"
    assert "persistentVolumeClaims" not in status


@needs_examples
async def test_a_claim_the_api_refuses_fails_the_workflow_with_its_message(kube: KubeClient, kube_api: KubeApi, tmp_path: Path) -> None:
    quota = (
        'persistentvolumeclaims "refused-workdir" is forbidden: exceeded quota: storage, requested: requests.storage=1Gi, '
        "used: requests.storage=10Gi, limited: requests.storage=10Gi"
    )
    kube_api.inject(Fault("POST", "persistentvolumeclaims", status=403, message=quota))
    async with Kubelet(kube_api).run(), Hookbus(_settings(kube_api, tmp_path)):
        await kube.create(WORKFLOWS, NS, _volumes_pvc("refused"))
        status = await _ended(kube_api, "refused")
    message = f"creating claim refused-workdir: Kubernetes API: 403 {quota}"
    assert (status["phase"], status["message"]) == ("Error", message), "the workflow ends as Argo's does"
    nodes = {n["displayName"]: n for n in status["nodes"].values()}
    assert (nodes["generate"]["phase"], nodes["generate"]["message"]) == ("Error", message)
    assert "print" not in nodes, "nothing more runs"
    assert not kube_api.requests("POST", "pods"), "no pod is created"
    assert not kube_api.objects("persistentvolumeclaims", NS)


async def test_a_deleted_workflow_deletes_its_claims(kube: KubeClient, kube_api: KubeApi, tmp_path: Path) -> None:
    started: list[Obj] = []

    def hold(pod: Obj) -> None:
        started.append(pod)

    async with Kubelet(kube_api).run(hold), Hookbus(_settings(kube_api, tmp_path)):
        await kube.create(WORKFLOWS, NS, _one_pod("doomed"))
        await wait_for(lambda: bool(started), timeout=30, what="the pod running")
        await kube.delete(WORKFLOWS, NS, "doomed")
        await wait_for(lambda: not kube_api.objects("pods", NS), timeout=30, what="the pods deleted")
        await wait_for(lambda: bool(kube_api.requests("DELETE", "persistentvolumeclaims")), timeout=30, what="the claim deleted")
    claim = kube_api.get("persistentvolumeclaims", NS, "doomed-workdir")
    assert claim is None or claim["metadata"].get("deletionTimestamp"), "deleted (the finalizer goes with the pods on a cluster)"


def test_claims_decide_names_owners_status_and_what_goes() -> None:
    spec: Obj = {"volumeClaimTemplates": [{"metadata": {"name": "a", "labels": {"x": "y"}}, "spec": CLAIM_SPEC}, {"metadata": {"name": "b"}}]}
    ref = WorkflowRef("wf", "ns", "uid-1", spec)
    a, b = claim_manifests(ref, "hookbus")
    assert a["metadata"]["labels"] == {"x": "y", WORKFLOW_LABEL: "wf", INSTANCE_LABEL: "hookbus"}
    assert (a["metadata"]["namespace"], b["metadata"]["name"]) == ("ns", "wf-b")
    assert INSTANCE_LABEL not in claim_manifests(ref)[0]["metadata"]["labels"], "no instance id, no label"
    assert "ownerReferences" not in claim_manifests(WorkflowRef("wf", "ns", "", spec))[0]["metadata"], "no object, no owner"
    assert claim_volumes(ref) == [
        {"name": "a", "persistentVolumeClaim": {"claimName": "wf-a"}},
        {"name": "b", "persistentVolumeClaim": {"claimName": "wf-b"}},
    ]
    assert claims_to_delete(ref, "Error", claim_volumes(ref)[1:]) == ["wf-b"], "only the claims that were created"
    assert owned_by(a, ref) and not owned_by(a, WorkflowRef("wf", "ns", "uid-2", spec))
    assert not owned_by({"metadata": {"labels": {WORKFLOW_LABEL: "wf"}}}, ref), "a claim without this uid is not this Workflow's"
    unowned = WorkflowRef("wf", "ns", "", spec)
    assert owned_by({"metadata": {"labels": {WORKFLOW_LABEL: "wf"}}}, unowned)
    assert not owned_by(a, unowned), "owned by an object: not a control-API workflow's"


@needs_examples
def test_lint_for_kubernetes_mode_accepts_volume_claim_templates(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["lint", "--target", "kubernetes", str(EXAMPLES / "volumes-pvc.yaml")]) == 0
    assert "volumeClaimTemplates" not in capsys.readouterr().out

