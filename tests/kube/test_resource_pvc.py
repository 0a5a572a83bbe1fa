"""An existing PersistentVolumeClaim in Kubernetes mode: Argo's ``volumes-existing`` example.

The nodes run as pods through the Kubernetes executor; the pods reference the claim the
test API server holds, and the simulated kubelet runs them. In local mode the same
workflow still needs a claim directory (``tests/engine`` covers that).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from kubernetes_asyncio import client

from hookbus.controller.adapters.kube_source import UID_ANNOTATION, KubeWorkflowSource
from hookbus.controller.adapters.kube_status import KubeStatusWriter
from hookbus.controller.argo.labels import INSTANCE_LABEL
from hookbus.controller.engine.controller import Controller
from hookbus.controller.engine.memory_store import MemoryStore
from hookbus.controller.engine.settings import ControllerSettings
from hookbus.controller.executors.kube import KubernetesExecutor
from hookbus.controller.kube.pods import PodSettings, WorkflowRef
from hookbus.controller.kube.pods_plan import KubePodPlan
from hookbus.controller.kube.resources import WORKFLOWS
from tests.kube.test_resource_templates import EXAMPLES
from tests.support.kubelet import Kubelet
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from hookbus.controller.engine.ports import WorkflowKey
    from hookbus.controller.kube.client import KubeClient
    from tests.support.kubeapi import KubeApi

pytestmark = pytest.mark.skipif(not EXAMPLES.is_dir(), reason="Argo's example workflows are not beside the repository")


@contextlib.asynccontextmanager
async def pods_controller(kube: KubeClient, api: KubeApi, tmp_path: Path) -> AsyncIterator[Controller]:
    """A controller whose leaves are pods on *api*, following its Workflows, status written back."""
    controller: Controller

    def ref(key: WorkflowKey) -> WorkflowRef | None:
        try:
            wf = controller.get(key)
        except KeyError:
            return None
        meta = wf.get("metadata") or {}
        return WorkflowRef(key.name, key.namespace, str((meta.get("annotations") or {}).get(UID_ANNOTATION, "")), wf.get("spec") or {})

    config = client.Configuration(host=str(api.url).rstrip("/"))
    async with client.ApiClient(config) as api_client:
        executor = KubernetesExecutor(client.CoreV1Api(api_client), KubePodPlan(PodSettings(instance_id="hookbus"), ref), artifact_dir=tmp_path / "artifacts")
        writer = KubeStatusWriter(None)
        controller = Controller(ControllerSettings(executor="kubernetes", state_dir=tmp_path), store=MemoryStore(), executor=executor, events=writer)
        await controller.start()
        source = KubeWorkflowSource(kube, controller, namespace="default", instance_id="hookbus")
        writer.bind(kube, controller.read, source.object_for)
        await source.start(timeout=10)
        try:
            yield controller
        finally:
            await source.stop()
            await writer.close()
            await controller.stop()
            await executor.close()


async def test_volumes_existing_runs_with_the_claim_of_the_cluster(kube: KubeClient, kube_api: KubeApi, tmp_path: Path) -> None:
    kube_api.put({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "my-existing-volume"}, "spec": {"accessModes": ["ReadWriteOnce"]}})
    wf: dict[str, Any] = yaml.safe_load((EXAMPLES / "volumes-existing.yaml").read_text())
    wf["metadata"] = {"name": "existing", "labels": {INSTANCE_LABEL: "hookbus"}}
    async with Kubelet(kube_api).run(), pods_controller(kube, kube_api, tmp_path):
        await kube.create(WORKFLOWS, "default", wf)

        def phase() -> str | None:
            obj = kube_api.get("workflows", "default", "existing")
            return ((obj or {}).get("status") or {}).get("phase")

        await wait_for(lambda: phase() in ("Succeeded", "Failed", "Error"), timeout=30, what="the workflow ended")
    status = kube_api.get("workflows", "default", "existing")["status"]  # type: ignore[index]
    assert status["phase"] == "Succeeded", [n.get("message") for n in status["nodes"].values()]
    pods = kube_api.objects("pods", "default")
    assert len(pods) == 2
    for pod in pods:
        claims = [v["persistentVolumeClaim"]["claimName"] for v in pod["spec"]["volumes"] if "persistentVolumeClaim" in v]
        assert claims == ["my-existing-volume"]
        main = next(c for c in pod["spec"]["containers"] if c["name"] == "main")
        assert {"name": "workdir", "mountPath": "/mnt/vol"} in main["volumeMounts"]
    assert not (tmp_path / "volumes").exists() or not any((tmp_path / "volumes").rglob("my-existing-volume")), "no host directory for the claim"
