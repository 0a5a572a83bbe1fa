"""The Kubernetes executor over HTTP against kmock's Kubernetes emulator.

The emulator stores pods, answers 404/409, patches, deletes and streams ``?watch=true``
events. It runs no kubelet: a test plays the kubelet by writing the pod's status.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from kubernetes_asyncio import client

from hookbus.controller.argo.names import node_id
from hookbus.controller.engine.ports import ProcessSpec, TaskResult, TaskSpec
from hookbus.controller.executors.kube import KubernetesExecutor, PodPlan
from hookbus.controller.kube.pods import PodSettings, WorkflowRef
from hookbus.controller.kube.pods_plan import KubePodPlan
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

NS = "argo"
UID = "0b5c3a9e-7b1f-4a37-9a0e-3f4f1e2d6c10"


def task(node: str = "wf.step", *, command: tuple[str, ...] = ("echo", "hi"), image: str = "alpine") -> TaskSpec:
    return TaskSpec(
        namespace=NS,
        workflow="wf",
        node_id=node_id("wf", node),
        node_name=node,
        template_name="step",
        main=ProcessSpec(name="main", image=image, command=command, args=(), env={}),
        output_parameters={"p": "/tmp/p"},
    )


class Fixture:
    def __init__(self, kmock: Any, api: Any, executor: KubernetesExecutor, results: list[TaskResult]) -> None:
        self.kmock = kmock
        self.api = api
        self.executor = executor
        self.results = results

    async def pod(self, name: str) -> dict[str, Any] | None:
        response = await self.api.read_namespaced_pod(name, NS, _preload_content=False)
        if response.status != 200:
            return None
        return await response.json()  # type: ignore[no-any-return]

    async def kubelet(self, name: str, status: dict[str, Any]) -> None:
        """Write the pod's status, as a kubelet would."""
        response = await self.api.patch_namespaced_pod_status(name, NS, {"status": status}, _preload_content=False)
        assert response.status == 200


def read(path: str) -> bytes:
    return Path(path).read_bytes()


def ended(code: int, report: dict[str, Any] | None = None, phase: str = "Succeeded", reason: str = "Completed") -> dict[str, Any]:
    message = json.dumps({"hookbus": 1, "exitCode": code, **(report or {})})
    return {
        "phase": phase,
        "containerStatuses": [{"name": "main", "state": {"terminated": {"exitCode": code, "reason": reason, "message": message}}}],
    }


@pytest.fixture
async def k8s(kmock: Any, tmp_path: Path) -> AsyncIterator[Fixture]:
    config = client.Configuration(host=str(kmock.url).rstrip("/"))
    spec = {"templates": [{"name": "step", "container": {"image": "alpine", "command": ["echo", "hi"], "resources": {"limits": {"memory": "64Mi"}}}}]}
    refs = {("argo", "wf"): WorkflowRef("wf", NS, UID, spec)}
    plan: PodPlan = KubePodPlan(PodSettings(instance_id="blue"), lambda key: refs.get((key.namespace, key.name)))
    async with client.ApiClient(config) as api_client:
        api = client.CoreV1Api(api_client)
        executor = KubernetesExecutor(api, plan, artifact_dir=tmp_path / "artifacts")
        results: list[TaskResult] = []
        executor.bind(results.append)
        yield Fixture(kmock, api, executor, results)
        await executor.close()


async def test_a_node_becomes_a_pod_and_its_end_a_result(k8s: Fixture) -> None:
    t = task()
    await k8s.executor.start(t)
    name = k8s.executor.plan.name(t)
    pod = await k8s.pod(name)
    assert pod is not None
    assert pod["metadata"]["ownerReferences"][0]["uid"] == UID
    assert pod["metadata"]["labels"]["workflows.argoproj.io/controller-instanceid"] == "blue"
    main = pod["spec"]["containers"][0]
    assert main["command"][-3:] == ["--", "echo", "hi"]
    assert main["resources"] == {"limits": {"memory": "64Mi"}}  # from the workflow's template
    assert k8s.results == []

    await k8s.kubelet(name, {"phase": "Running", "containerStatuses": [{"name": "main", "state": {"running": {}}}]})
    await k8s.kubelet(name, ended(0, {"result": "hi", "parameters": {"p": "42"}, "artifacts": {"bin": base64.b64encode(b"\xff\x00").decode()}}))
    await wait_for(lambda: bool(k8s.results), what="the node's result")
    (result,) = k8s.results
    assert (result.phase, result.exit_code, result.result) == ("Succeeded", 0, "hi")
    assert dict(result.parameters) == {"p": "42"}
    assert result.key is not None and (result.key.namespace, result.key.name) == (NS, "wf")
    assert result.node_id == t.node_id
    assert read(result.artifacts["bin"]) == b"\xff\x00"

    async def completed() -> bool:
        pod = await k8s.pod(name)
        return pod is not None and pod["metadata"]["labels"]["workflows.argoproj.io/completed"] == "true"

    await wait_for(completed, what="the completed label")


async def test_a_failing_command_is_a_failed_node(k8s: Fixture) -> None:
    t = task()
    await k8s.executor.start(t)
    await k8s.kubelet(k8s.executor.plan.name(t), ended(2, phase="Failed", reason="Error"))
    await wait_for(lambda: bool(k8s.results))
    assert (k8s.results[0].phase, k8s.results[0].message) == ("Failed", "Error (exit code 2)")


async def test_a_repeated_create_adopts_the_pod_of_the_same_node(k8s: Fixture) -> None:
    t = task()
    manifest = k8s.executor.plan.manifest(t)
    manifest["status"] = ended(0, {"result": "earlier"})
    assert (await k8s.api.create_namespaced_pod(NS, manifest, _preload_content=False)).status < 300
    await k8s.executor.start(t)
    await wait_for(lambda: bool(k8s.results))
    assert k8s.results[0].result == "earlier"


async def test_a_pod_name_taken_by_another_node_is_an_error(k8s: Fixture) -> None:
    t = task()
    manifest = k8s.executor.plan.manifest(t)
    manifest["metadata"]["annotations"]["workflows.argoproj.io/node-id"] = "someone-else"
    await k8s.api.create_namespaced_pod(NS, manifest, _preload_content=False)
    await k8s.executor.start(t)
    (result,) = k8s.results
    assert result.phase == "Error"
    assert "belongs to node 'someone-else'" in result.message


async def test_a_node_that_cannot_become_a_pod_errors_and_creates_nothing(k8s: Fixture) -> None:
    t = task(command=(), image="example.org/unknown:1")
    await k8s.executor.start(t)
    (result,) = k8s.results
    assert result.phase == "Error"
    assert "template 'step' sets no command" in result.message
    assert await k8s.pod(k8s.executor.plan.name(t)) is None


async def test_cancel_deletes_the_pod_and_attach_finds_only_pods_that_exist(k8s: Fixture) -> None:
    t = task()
    await k8s.executor.start(t)
    name = k8s.executor.plan.name(t)
    assert await k8s.executor.attach(t) is True
    await k8s.executor.cancel(t)
    assert await k8s.pod(name) is None
    assert await k8s.executor.attach(t) is False
    assert k8s.results == []


async def test_a_pod_deleted_while_running_is_an_error(k8s: Fixture) -> None:
    t = task()
    await k8s.executor.start(t)
    await wait_for(lambda: NS in k8s.executor._watches)
    name = k8s.executor.plan.name(t)
    await k8s.kubelet(name, {"phase": "Running", "containerStatuses": [{"name": "main", "state": {"running": {}}}]})
    await k8s.api.delete_namespaced_pod(name, NS, _preload_content=False)
    await wait_for(lambda: bool(k8s.results), what="the lost node's result")
    assert (k8s.results[0].phase, k8s.results[0].message) == ("Error", "pod deleted")


async def test_pod_gc_on_pod_completion_deletes_the_finished_pod(kmock: Any, tmp_path: Path) -> None:
    config = client.Configuration(host=str(kmock.url).rstrip("/"))
    spec = {"podGC": {"strategy": "OnPodCompletion"}, "templates": []}
    plan = KubePodPlan(PodSettings(), lambda key: WorkflowRef("wf", NS, UID, spec))
    async with client.ApiClient(config) as api_client:
        api = client.CoreV1Api(api_client)
        executor = KubernetesExecutor(api, plan, artifact_dir=tmp_path)
        results: list[TaskResult] = []
        executor.bind(results.append)
        k8s = Fixture(kmock, api, executor, results)
        try:
            t = task()
            await executor.start(t)
            await k8s.kubelet(plan.name(t), ended(0))
            await wait_for(lambda: bool(results))

            async def gone() -> bool:
                return await k8s.pod(plan.name(t)) is None

            await wait_for(gone, what="the pod's deletion")
            other = task("wf.other")
            await executor.start(other)
            assert await executor.collect(NS, "wf") == 1
            assert await k8s.pod(plan.name(other)) is None
        finally:
            await executor.close()


async def test_results_before_bind_are_reported_at_bind(kmock: Any) -> None:
    config = client.Configuration(host=str(kmock.url).rstrip("/"))
    async with client.ApiClient(config) as api_client:
        executor = KubernetesExecutor(client.CoreV1Api(api_client), KubePodPlan(PodSettings()))
        await executor.start(task(command=(), image="unknown"))
        results: list[TaskResult] = []
        executor.bind(results.append)
        assert [r.phase for r in results] == ["Error"]
        await executor.close()


async def test_spilled_values_are_read_from_mains_log(k8s: Fixture) -> None:
    from hookbus.controller.kube.launcher import SPILL_MARK

    t = task()
    name = k8s.executor.plan.name(t)
    whole = json.dumps({"hookbus": 1, "exitCode": 0, "result": "r" * 6000, "parameters": {"p": "v"}})
    k8s.kmock["get", f"/api/v1/namespaces/{NS}/pods/{name}/log"] << f"output\n{SPILL_MARK}{whole}\n".encode()
    await k8s.executor.start(t)
    await k8s.kubelet(name, ended(0, {"parameters": {"p": "v"}, "spilled": ["result"]}))
    await wait_for(lambda: bool(k8s.results))
    assert k8s.results[0].result == "r" * 6000
    assert dict(k8s.results[0].parameters) == {"p": "v"}


async def test_input_artifacts_go_in_a_config_map_created_first_and_deleted_when_the_node_ended(k8s: Fixture, tmp_path: Path) -> None:
    from dataclasses import replace

    from hookbus.controller.kube.filelist import pack

    (tmp_path / "in.txt").write_text("input")
    t = replace(task(), input_files={"/tmp/in.txt": str(tmp_path / "in.txt")})
    await k8s.executor.start(t)
    name = k8s.executor.plan.name(t)
    config_map = await k8s.api.read_namespaced_config_map(name, NS, _preload_content=False)
    assert config_map.status == 200
    assert base64.b64decode((await config_map.json())["binaryData"]["a0"]) == b"input"
    pod = await k8s.pod(name)
    assert pod is not None and {"name": "hookbus-artifacts", "configMap": {"name": name}} in pod["spec"]["volumes"]

    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "f").write_text("in a folder")
    await k8s.kubelet(name, ended(0, {"directories": {"out": base64.b64encode(pack(folder, limit=10_000)).decode()}}))
    await wait_for(lambda: bool(k8s.results), what="the node's result")
    (result,) = k8s.results
    assert read(str(Path(result.artifacts["out"], "sub", "f"))) == b"in a folder"

    async def gone() -> bool:
        response = await k8s.api.read_namespaced_config_map(name, NS, _preload_content=False)
        return bool(response.status == 404)

    await wait_for(gone, what="the input ConfigMap deleted")


async def test_a_cancelled_nodes_input_config_map_is_deleted_with_its_pod(k8s: Fixture, tmp_path: Path) -> None:
    from dataclasses import replace

    (tmp_path / "in.txt").write_text("input")
    t = replace(task(), input_files={"/tmp/in.txt": str(tmp_path / "in.txt")})
    await k8s.executor.start(t)
    name = k8s.executor.plan.name(t)
    await k8s.executor.cancel(t)
    assert await k8s.pod(name) is None
    response = await k8s.api.read_namespaced_config_map(name, NS, _preload_content=False)
    assert response.status == 404


async def test_a_deleted_pods_input_config_map_goes_too(k8s: Fixture, tmp_path: Path) -> None:
    from dataclasses import replace

    (tmp_path / "in.txt").write_text("input")
    t = replace(task(), input_files={"/tmp/in.txt": str(tmp_path / "in.txt")})
    await k8s.executor.start(t)
    await wait_for(lambda: NS in k8s.executor._watches)
    name = k8s.executor.plan.name(t)
    await k8s.kubelet(name, {"phase": "Running", "containerStatuses": [{"name": "main", "state": {"running": {}}}]})
    await k8s.api.delete_namespaced_pod(name, NS, _preload_content=False)
    await wait_for(lambda: bool(k8s.results), what="the lost node's result")
    assert (k8s.results[0].phase, k8s.results[0].message) == ("Error", "pod deleted")

    async def gone() -> bool:
        response = await k8s.api.read_namespaced_config_map(name, NS, _preload_content=False)
        return bool(response.status == 404)

    await wait_for(gone, what="the input ConfigMap deleted")


async def test_after_a_restart_the_input_config_map_of_a_pod_gone_meanwhile_is_deleted(k8s: Fixture, tmp_path: Path) -> None:
    from dataclasses import replace

    (tmp_path / "in.txt").write_text("input")
    t = replace(task(), input_files={"/tmp/in.txt": str(tmp_path / "in.txt")})
    await k8s.executor.start(t)
    name = k8s.executor.plan.name(t)
    k8s.executor.detach()  # the controller stops; its pod is then deleted while none runs
    await k8s.executor.close()
    await k8s.api.delete_namespaced_pod(name, NS, _preload_content=False)

    restarted = KubernetesExecutor(k8s.api, k8s.executor.plan)
    restarted.bind(k8s.results.append)
    try:
        assert await restarted.attach(t) is False
    finally:
        await restarted.close()
    response = await k8s.api.read_namespaced_config_map(name, NS, _preload_content=False)
    assert response.status == 404, "the lost pod's input ConfigMap is deleted"
