"""Pod-level fields a ``pod.preCreate`` plugin patches are in the created Pod; forbidden ones create nothing.

A whole controller process follows the test API server with the Kubernetes executor, and a
real plugin process (``hookbus plugin run``) patches the Pod it is shown. No kubelet runs:
what is checked is the Pod the controller creates (or does not create).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from hookbus.bus.testing import wait_registered
from hookbus.controller.app import Hookbus
from hookbus.controller.argo.labels import WORKFLOW_LABEL
from hookbus.controller.kube.pods_patch import changed_pod_fields, refused_pod_fields
from hookbus.controller.kube.resources import WORKFLOWS
from hookbus.controller.settings import ExecutorSettings
from tests.kube.support import app_settings, manifest
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from hookbus.controller.kube.client import KubeClient
    from tests.support.kubeapi import KubeApi

Obj = dict[str, Any]
HOOKBUS = Path(sys.executable).parent / "hookbus"

PLACER = '''
from hookbus.bus import Plugin, patch

plugin = Plugin("placer", version="1.0.0")


@plugin.pod_pre_create(timeout=5.0)
def place(pod, workflow, **kwargs):
    name = workflow["metadata"]["name"]
    if name == "forbidden":
        return patch([{"op": "add", "path": "/spec/hostNetwork", "value": True}])
    if name == "host-path":
        return patch([{"op": "add", "path": "/spec/volumes/-", "value": {"name": "root", "hostPath": {"path": "/"}}}])
    return patch([
        {"op": "add", "path": "/spec/nodeSelector", "value": {"disk": "ssd"}},
        {"op": "add", "path": "/spec/tolerations", "value": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]},
        {"op": "add", "path": "/spec/priorityClassName", "value": "batch-high"},
        {"op": "add", "path": "/spec/schedulerName", "value": "bin-packer"},
        {"op": "add", "path": "/spec/volumes/-", "value": {"name": "cache", "emptyDir": {"medium": "Memory"}}},
        {"op": "add", "path": "/spec/containers/0/volumeMounts/-", "value": {"name": "cache", "mountPath": "/cache"}},
    ])
'''

WORKFLOW = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: NAME}
spec:
  entrypoint: main
  templates:
    - name: main
      container: {image: busybox, command: [echo, hi]}
"""


def workflow(name: str) -> Obj:
    return manifest(yaml.safe_load(WORKFLOW.replace("NAME", name)))


def created(api: KubeApi, name: str) -> list[Obj]:
    """The pods the controller asked the API server to create for workflow *name*."""
    return [
        r.body for r in api.requests("POST", "pods")
        if isinstance(r.body, dict) and (r.body.get("metadata") or {}).get("labels", {}).get(WORKFLOW_LABEL) == name
    ]


def nodes(api: KubeApi, name: str) -> list[Obj]:
    obj = api.get("workflows", "default", name) or {}
    return list(((obj.get("status") or {}).get("nodes") or {}).values())


@contextlib.asynccontextmanager
async def placer(app: Hookbus, tmp_path: Path) -> AsyncIterator[None]:
    source = tmp_path / "placer.py"
    source.write_text(PLACER)
    proc = await asyncio.create_subprocess_exec(
        str(HOOKBUS), "plugin", "run", str(source), "--nats-url", app.nats_url,
        env={**os.environ, "HOOKBUS_LOG_FORMAT": "json"}, stdin=asyncio.subprocess.DEVNULL,
    )
    try:
        assert app.registry is not None
        await wait_registered(app.registry, "placer", timeout=30)
        yield
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def test_a_plugins_pod_level_fields_are_in_the_created_pod_and_forbidden_ones_create_nothing(
    kube: KubeClient, kube_api: KubeApi, tmp_path: Path
) -> None:
    settings = replace(app_settings(str(kube_api.url), tmp_path), executor=ExecutorSettings(kind="kubernetes"), plugins=True)
    async with Hookbus(settings) as app, placer(app, tmp_path):
        await kube.create(WORKFLOWS, "default", workflow("placed"))
        await wait_for(lambda: created(kube_api, "placed"), timeout=30, what="the pod created")
        (pod,) = created(kube_api, "placed")
        spec = pod["spec"]
        assert spec["nodeSelector"] == {"disk": "ssd"}
        assert spec["tolerations"] == [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]
        assert spec["priorityClassName"] == "batch-high" and spec["schedulerName"] == "bin-packer"
        assert {"name": "cache", "emptyDir": {"medium": "Memory"}} in spec["volumes"]
        assert "hookbus-launcher" in [v["name"] for v in spec["volumes"]], "hookbus's own volume stays"
        (main,) = [c for c in spec["containers"] if c["name"] == "main"]
        assert {"name": "cache", "mountPath": "/cache"} in main["volumeMounts"]
        assert spec["restartPolicy"] == "Never"

        for name, field in (("forbidden", "spec.hostNetwork"), ("host-path", "spec.volumes[root].hostPath")):
            await kube.create(WORKFLOWS, "default", workflow(name))
            await wait_for(lambda n=name: any(x.get("phase") == "Error" for x in nodes(kube_api, n)), timeout=30, what=f"{name} refused")
            (node,) = [x for x in nodes(kube_api, name) if x.get("type") == "Pod"]
            assert "placer" in node["message"] and field in node["message"], node["message"]
            assert "plugins may not set" in node["message"]
            assert created(kube_api, name) == [], "a refused patch creates nothing"


# ------------------------------------------------------------------- pure parts


SHOWN: Obj = {
    "spec": {
        "restartPolicy": "Never",
        "activeDeadlineSeconds": 60,
        "serviceAccountName": "workload",
        "containers": [{"name": "main", "image": "busybox", "securityContext": {"privileged": True}}],
        "volumes": [{"name": "hookbus-launcher", "emptyDir": {}}, {"name": "data", "hostPath": {"path": "/data"}}],
    }
}


def patched(**spec: Any) -> Obj:
    return {"spec": {**SHOWN["spec"], **spec}}


def test_changed_pod_fields_are_those_the_plugin_set_removed_or_replaced() -> None:
    out = changed_pod_fields(SHOWN, patched(nodeSelector={"a": "b"}, activeDeadlineSeconds=5), own_volumes=["hookbus-launcher"])
    assert out == {"nodeSelector": {"a": "b"}}, "hookbus's own fields are not the plugin's"
    removed = {"spec": {k: v for k, v in SHOWN["spec"].items() if k != "serviceAccountName"}}
    assert changed_pod_fields(SHOWN, removed) == {"serviceAccountName": None}
    volumes = [{"name": "data", "hostPath": {"path": "/data"}}, {"name": "x", "emptyDir": {}}]
    assert changed_pod_fields(SHOWN, patched(volumes=volumes), own_volumes=["hookbus-launcher"]) == {"volumes": volumes}
    assert changed_pod_fields(SHOWN, SHOWN) == {}


def test_refused_pod_fields_name_what_a_plugin_introduced_and_leave_what_the_workflow_had() -> None:
    assert refused_pod_fields(SHOWN, SHOWN) == [], "privileged main and a hostPath the workflow set are not the plugin's doing"
    assert refused_pod_fields(SHOWN, patched(hostPID=True, serviceAccountName="admin")) == ["spec.hostPID", "spec.serviceAccountName"]
    sidecar = {"name": "spy", "image": "x", "securityContext": {"capabilities": {"add": ["NET_ADMIN"]}}, "ports": [{"containerPort": 1, "hostPort": 80}]}
    assert refused_pod_fields(SHOWN, patched(containers=[*SHOWN["spec"]["containers"], sidecar])) == [
        "spec.containers[spy].securityContext.capabilities.add",
        "spec.containers[spy].ports.hostPort",
    ]
    assert refused_pod_fields(SHOWN, patched(securityContext={"runAsUser": 0})) == ["spec.securityContext.runAsUser"]
    moved = [SHOWN["spec"]["volumes"][0], {"name": "data", "hostPath": {"path": "/etc"}}]
    assert refused_pod_fields(SHOWN, patched(volumes=moved)) == ["spec.volumes[data].hostPath"]
    assert refused_pod_fields(SHOWN, patched(nodeSelector={"a": "b"}, tolerations=[{"key": "k"}], securityContext={"runAsNonRoot": True})) == []
