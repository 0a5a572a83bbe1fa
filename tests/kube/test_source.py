"""Workflows from the cluster: taken by instance id, once per uid; deletes, suspends,
shutdowns and spec edits followed; status written back, coalesced and conflict-safe."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hookbus.controller.adapters.kube_source import UID_ANNOTATION
from hookbus.controller.argo.labels import (
    COMPLETED_LABEL,
    INSTANCE_LABEL,
    PHASE_LABEL,
    WORKFLOW_LABEL,
)
from hookbus.controller.engine.ports import WorkflowKey
from hookbus.controller.kube.resources import WORKFLOWS
from tests.kube.support import HELLO, WAITING, following, manifest
from tests.support.kubeapi import Fault
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from pathlib import Path

    from hookbus.controller.kube.client import KubeClient
    from tests.support.kubeapi import KubeApi


def phase(api: KubeApi, name: str, namespace: str = "default") -> str | None:
    obj = api.get("workflows", namespace, name)
    return None if obj is None else (obj.get("status") or {}).get("phase")


async def test_a_workflow_object_runs_and_gets_argo_shaped_status(kube: KubeClient, kube_api: KubeApi, tmp_path: Path) -> None:
    created = kube_api.put(manifest(HELLO))
    async with following(kube, tmp_path) as rig:
        await wait_for(lambda: phase(kube_api, "hello") == "Succeeded", what="Succeeded on the object")
        obj = kube_api.get("workflows", "default", "hello")
        assert obj is not None
        status = obj["status"]
        assert status["startedAt"] and status["finishedAt"] and status["progress"] == "1/1"
        assert [n["phase"] for n in status["nodes"].values()] == ["Succeeded"]
        assert not any(k.startswith("x-") for k in status)
        labels = obj["metadata"]["labels"]
        assert labels[PHASE_LABEL] == "Succeeded" and labels[COMPLETED_LABEL] == "true"
        assert labels[INSTANCE_LABEL] == "hookbus"
        stored = rig.controller.get(WorkflowKey("default", "hello"))
        assert stored["metadata"]["annotations"][UID_ANNOTATION] == created["metadata"]["uid"]
        # every write was a conditional merge patch
        patches = kube_api.requests("PATCH", "workflows")
        assert patches and all(p.content_type == "application/merge-patch+json" for p in patches)
        assert all(p.body["metadata"]["resourceVersion"] for p in patches)
        assert not kube_api.requests("PUT", "workflows")


async def test_writes_are_coalesced(kube: KubeClient, kube_api: KubeApi, tmp_path: Path) -> None:
    wide = manifest(HELLO, "wide")
    wide["spec"]["templates"] = [
        {"name": "main", "steps": [[{"name": f"s{i}", "template": "leaf"} for i in range(20)]]},
        {"name": "leaf", "container": {"image": "busybox", "command": ["true"]}},
    ]
    kube_api.put(wide)
    async with following(kube, tmp_path) as rig:
        await wait_for(lambda: phase(kube_api, "wide") == "Succeeded", what="Succeeded")
        obj = kube_api.get("workflows", "default", "wide")
        assert obj is not None and len(obj["status"]["nodes"]) == 22
        # The writer counts a write once its answer is back; the server logs it on arrival.
        await wait_for(
            lambda: len(kube_api.requests("PATCH", "workflows", name="wide")) == rig.writer.writes,
            what="the writer's count to match the server's log",
        )
        writes = rig.writer.writes
        assert writes <= 6, f"{writes} writes for one small workflow"


async def test_instance_id_selects_what_is_taken(kube: KubeClient, kube_api: KubeApi, tmp_path: Path) -> None:
    kube_api.put(manifest(HELLO, "ours"))
    kube_api.put(manifest(HELLO, "unlabelled", instance=None))
    kube_api.put(manifest(HELLO, "argos", instance="argo"))
    async with following(kube, tmp_path) as rig:
        await wait_for(lambda: phase(kube_api, "ours") == "Succeeded", what="ours Succeeded")
        assert [k.name for k in rig.controller._runs] == ["ours"]
        touched = {r.name for r in kube_api.log if r.write}
        assert touched == {"ours"}
        watches = [r for r in kube_api.requests("GET", "workflows") if r.watch]
        assert watches[0].query["labelSelector"] == f"{INSTANCE_LABEL}=hookbus"
    kube_api.log.clear()
    async with following(kube, tmp_path / "empty", instance_id="") as rig:
        await wait_for(lambda: phase(kube_api, "unlabelled") == "Succeeded", what="unlabelled Succeeded")
        assert [k.name for k in rig.controller._runs] == ["unlabelled"]
        assert {r.name for r in kube_api.log if r.write} == {"unlabelled"}
        assert phase(kube_api, "argos") is None


async def test_a_conflicting_write_is_read_again_and_applied(kube: KubeClient, kube_api: KubeApi, tmp_path: Path) -> None:
    kube_api.put(manifest(WAITING))

    def someone_else_writes() -> None:
        kube_api.modify("workflows", "default", "waiting", lambda o: o["metadata"].setdefault("annotations", {}).update(owner="team-a"))

    fault = kube_api.inject(Fault("PATCH", "workflows", name="waiting", before=someone_else_writes))
    async with following(kube, tmp_path) as rig:
        await wait_for(lambda: phase(kube_api, "waiting") == "Running", what="Running on the object")
        assert fault.hits == 1
        obj = kube_api.get("workflows", "default", "waiting")
        assert obj is not None and obj["metadata"]["annotations"] == {"owner": "team-a"}
        first, second = kube_api.requests("PATCH", "workflows", name="waiting")[:2]
        assert first.body["metadata"]["resourceVersion"] != second.body["metadata"]["resourceVersion"]
        assert [r.method for r in kube_api.log if r.name == "waiting"][:3] == ["PATCH", "GET", "PATCH"]
        assert rig.controller.exists(WorkflowKey("default", "waiting"))


async def test_a_deleted_workflow_stops_and_its_pods_are_deleted(kube: KubeClient, kube_api: KubeApi, tmp_path: Path) -> None:
    kube_api.put(manifest(WAITING))
    for name, workflow in (("waiting-pod", "waiting"), ("other-pod", "other")):
        kube_api.put({"kind": "Pod", "metadata": {"name": name, "labels": {WORKFLOW_LABEL: workflow, INSTANCE_LABEL: "hookbus"}}, "spec": {"containers": [{"name": "main"}]}})
    async with following(kube, tmp_path) as rig:
        key = WorkflowKey("default", "waiting")
        await wait_for(lambda: phase(kube_api, "waiting") == "Running", what="Running")
        await kube.delete(WORKFLOWS, "default", "waiting")
        await wait_for(lambda: not rig.controller.exists(key), what="the workflow forgotten")
        await wait_for(lambda: kube_api.get("pods", "default", "waiting-pod") is None, what="its pod deleted")
        assert kube_api.get("pods", "default", "other-pod") is not None
        # created again under the same name: a new object, run anew
        kube_api.put(manifest(WAITING))
        await wait_for(lambda: rig.controller.exists(key), what="the new object taken")


async def test_suspend_and_resume_through_the_spec(kube: KubeClient, kube_api: KubeApi, tmp_path: Path) -> None:
    kube_api.put(manifest(WAITING))
    async with following(kube, tmp_path) as rig:
        key = WorkflowKey("default", "waiting")
        await wait_for(lambda: phase(kube_api, "waiting") == "Running", what="Running")
        await kube.patch(WORKFLOWS, "default", "waiting", {"spec": {"suspend": True}})
        await wait_for(lambda: rig.controller.get(key)["spec"].get("suspend") is True, what="suspended")
        assert len(rig.hooks.pre_operate) == 2, "the edit was shown to workflow.preOperate"
        await kube.patch(WORKFLOWS, "default", "waiting", {"spec": {"suspend": None}})
        await wait_for(lambda: not rig.controller.get(key)["spec"].get("suspend"), what="resumed")


async def test_shutdown_stop_and_terminate_through_the_spec(kube: KubeClient, kube_api: KubeApi, tmp_path: Path) -> None:
    kube_api.put(manifest(WAITING, "stopped"))
    kube_api.put(manifest(WAITING, "terminated"))
    async with following(kube, tmp_path):
        await wait_for(lambda: phase(kube_api, "stopped") == "Running" and phase(kube_api, "terminated") == "Running", what="Running")
        await kube.patch(WORKFLOWS, "default", "stopped", {"spec": {"shutdown": "Stop"}})
        await kube.patch(WORKFLOWS, "default", "terminated", {"spec": {"shutdown": "Terminate"}})
        await wait_for(lambda: phase(kube_api, "stopped") == "Failed" and phase(kube_api, "terminated") == "Failed", what="both ended")
        stopped = kube_api.get("workflows", "default", "stopped")
        assert stopped is not None and "Stop" in stopped["status"]["message"]
        assert stopped["metadata"]["labels"][COMPLETED_LABEL] == "true"


async def test_a_spec_edit_a_plugin_rejects_is_refused_and_the_workflow_runs_on(kube: KubeClient, kube_api: KubeApi, tmp_path: Path) -> None:
    kube_api.put(manifest(WAITING))
    async with following(kube, tmp_path) as rig:
        await wait_for(lambda: phase(kube_api, "waiting") == "Running", what="Running")
        rig.hooks.reject = "no edits after start"
        await kube.patch(WORKFLOWS, "default", "waiting", {"spec": {"arguments": {"parameters": [{"name": "x", "value": "1"}]}}})

        def refused() -> bool:
            conditions = ((kube_api.get("workflows", "default", "waiting") or {}).get("status") or {}).get("conditions") or []
            return any(c["type"] == "SpecError" and "no edits after start" in c["message"] for c in conditions)

        await wait_for(refused, what="the refusal on the object")
        assert phase(kube_api, "waiting") == "Running"
        edited = rig.hooks.pre_operate[-1]
        assert edited["spec"]["arguments"]["parameters"][0]["value"] == "1"
        assert "arguments" not in rig.controller.get(WorkflowKey("default", "waiting"))["spec"], "the previous spec stays"


async def test_an_invalid_workflow_gets_error_status(kube: KubeClient, kube_api: KubeApi, tmp_path: Path) -> None:
    bad = manifest(HELLO, "bad")
    bad["spec"]["entrypoint"] = "missing"
    kube_api.put(bad)
    async with following(kube, tmp_path) as rig:
        await wait_for(lambda: phase(kube_api, "bad") == "Error", what="Error on the object")
        obj = kube_api.get("workflows", "default", "bad")
        assert obj is not None and "missing" in obj["status"]["message"]
        assert not rig.controller.exists(WorkflowKey("default", "bad"))


async def test_templates_and_config_maps_come_from_the_api(kube: KubeClient, kube_api: KubeApi, tmp_path: Path) -> None:
    kube_api.put({"kind": "WorkflowTemplate", "metadata": {"name": "shared"}, "spec": {"templates": [{"name": "say", "container": {"image": "busybox", "command": ["true"]}}]}})
    kube_api.put({"kind": "ClusterWorkflowTemplate", "metadata": {"name": "global"}, "spec": {"templates": [{"name": "say", "container": {"image": "busybox", "command": ["true"]}}]}})
    uses = manifest(HELLO, "uses")
    uses["spec"]["templates"] = [
        {"name": "main", "steps": [[
            {"name": "a", "templateRef": {"name": "shared", "template": "say"}},
            {"name": "b", "templateRef": {"name": "global", "template": "say", "clusterScope": True}},
        ]]},
    ]
    async with following(kube, tmp_path):
        kube_api.put(uses)
        await wait_for(lambda: phase(kube_api, "uses") == "Succeeded", what="Succeeded")


async def test_a_status_too_large_leaves_the_nodes_in_the_store(kube: KubeClient, kube_api: KubeApi, tmp_path: Path) -> None:
    kube_api.put(manifest(HELLO))
    async with following(kube, tmp_path) as rig:
        rig.writer.max_bytes = 200
        await wait_for(lambda: phase(kube_api, "hello") == "Succeeded", what="Succeeded")
        obj = kube_api.get("workflows", "default", "hello")
        assert obj is not None
        assert "nodes" not in obj["status"] and obj["status"]["offloadNodeStatusVersion"].startswith("hookbus-")
        assert obj["status"]["progress"] == "1/1"
        full = await rig.controller.read(WorkflowKey("default", "hello"))
        assert len(full["status"]["nodes"]) == 1


async def test_a_name_taken_through_the_control_api_is_not_overwritten(kube: KubeClient, kube_api: KubeApi, tmp_path: Path) -> None:
    async with following(kube, tmp_path) as rig:
        direct = manifest(WAITING)
        key = await rig.controller.submit(direct)
        kube_api.put(manifest(HELLO, "waiting"))
        await wait_for(lambda: phase(kube_api, "waiting") == "Error", what="Error on the object")
        obj = kube_api.get("workflows", "default", "waiting")
        assert obj is not None and "already exists" in obj["status"]["message"]
        assert rig.controller.exists(key) and rig.source.object_for(key) is None


def test_a_status_write_carries_only_what_changed() -> None:
    from hookbus.controller.adapters.kube_status import merge_diff, status_patch

    old = {"phase": "Running", "progress": "1/2", "message": "x", "nodes": {"a": {"phase": "Succeeded", "outputs": {"p": 1}}, "b": {"phase": "Running"}, "gone": {"phase": "Failed"}}}
    new = {"phase": "Running", "progress": "2/2", "nodes": {"a": {"phase": "Succeeded", "outputs": {"p": 1}}, "b": {"phase": "Succeeded", "finishedAt": "t"}}}
    current = {"metadata": {"labels": {PHASE_LABEL: "Running", COMPLETED_LABEL: "false"}}, "status": old}
    patch = status_patch(current, new)
    assert patch is not None
    assert patch["status"] == {"message": None, "progress": "2/2", "nodes": {"gone": None, "b": {"phase": "Succeeded", "finishedAt": "t"}}}
    from tests.support.kubeapi import merge_patch

    assert merge_patch({"status": old}, {"status": patch["status"]}) == {"status": new}
    assert status_patch({"metadata": current["metadata"], "status": new}, new) is None
    assert merge_diff({"nodes": {"a": {}}}, {"progress": "0/0"}) == {"nodes": None, "progress": "0/0"}
