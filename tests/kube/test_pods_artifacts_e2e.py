"""Artifacts through pods end to end: test API server, stand-in kubelet, the real launcher.

A whole controller in Kubernetes mode; the kubelet of :mod:`tests.kube.podrun` runs the
launcher's ``init`` for real (it reads the node's input ConfigMap from the test API server
and places the artifacts) and ``main`` in a mount namespace where the input artifacts are
mounted at their paths. Each container has a /tmp of its own, as in a pod; paths are
under the test's directory all the same.
"""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

import pytest

from hookbus.controller.app import Hookbus
from hookbus.controller.kube.resources import WORKFLOWS
from tests.kube.podrun import HostRule
from tests.kube.test_pods_e2e import (
    launcher,
    nodes,
    phase,
    plugin,
    pod_of,
    pod_settings,
    succeeded,
    workflow,
)
from tests.support.kubelet import Kubelet
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from pathlib import Path

    from hookbus.controller.kube.client import KubeClient
    from tests.support.kubeapi import KubeApi

__all__ = ["launcher"]

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None, reason="the stand-in kubelet mounts volumes in mount namespaces (root)"
)


@pytest.fixture
def rule(launcher: Path, tmp_path: Path, kube_api: KubeApi) -> HostRule:
    return HostRule(launcher, tmp_path / "pods", api=kube_api)


PASSING = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: passing}
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - {name: produce, template: produce}
        - - name: consume
            template: consume
            arguments:
              artifacts: [{name: message, from: "{{steps.produce.outputs.artifacts.message}}"}]
    - name: produce
      container: {image: busybox, command: [sh, -c, "mkdir -p T/. && echo from the first step > T/out.txt"]}
      outputs:
        artifacts: [{name: message, path: T/out.txt}]
    - name: consume
      inputs:
        artifacts:
          - {name: message, path: T/in/message}
          - {name: note, path: T/in/note.txt, raw: {data: "a raw note"}}
          - {name: tool, path: T/in/tool.sh, mode: 0755, raw: {data: "echo tool ran"}}
      container: {image: busybox, command: [sh, -c, "cat T/in/message T/in/note.txt; echo; T/in/tool.sh"]}
"""


async def test_a_raw_artifact_and_one_from_a_previous_step_are_read_by_main(
    kube: KubeClient, kube_api: KubeApi, tmp_path: Path, rule: HostRule
) -> None:
    where = tmp_path / "wf"
    where.mkdir()
    async with Hookbus(pod_settings(str(kube_api.url), tmp_path)), Kubelet(kube_api).run(rule):
        await kube.create(WORKFLOWS, "default", workflow(PASSING.replace("T/", f"{where}/")))
        await succeeded(kube_api, "passing")
        consumer = pod_of(kube_api, "passing[1].consume")
        assert consumer is not None
        name = consumer["metadata"]["name"]
        # the ConfigMap existed (created before the pod), and is gone once the node ended
        assert kube_api.requests("POST", "configmaps")
        await wait_for(lambda: kube_api.get("configmaps", "default", name) is None, timeout=10, what="input ConfigMap deleted")
    assert nodes(kube_api, "passing")["consume"]["outputs"]["result"] == "from the first step\na raw note\ntool ran"
    # mounted in the pod's mount namespace only; the mount points the kubelet made are gone again
    assert not (where / "in").exists()
    assert rule.mount_points == {}
    assert len(kube_api.requests("POST", "configmaps")) == 1, "one ConfigMap: the producer has no input artifact"
    assert kube_api.requests("DELETE", "configmaps", name=name)


DIRECTORY = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: folders}
spec:
  entrypoint: main
  templates:
    - name: main
      dag:
        tasks:
          - {name: produce, template: produce}
          - name: consume
            template: consume
            dependencies: [produce]
            arguments:
              artifacts: [{name: tree, from: "{{tasks.produce.outputs.artifacts.tree}}"}]
    - name: produce
      container:
        image: busybox
        command: [sh, -c, "mkdir -p T/tree/sub && echo alpha > T/tree/a.txt && echo beta > T/tree/sub/b.txt"]
      outputs:
        artifacts: [{name: tree, path: T/tree}]
    - name: consume
      inputs:
        artifacts: [{name: tree, path: T/copy}]
      container: {image: busybox, command: [sh, -c, "cat T/copy/a.txt T/copy/sub/b.txt"]}
"""


async def test_a_directory_artifact_is_passed_downstream(kube: KubeClient, kube_api: KubeApi, tmp_path: Path, rule: HostRule) -> None:
    where = tmp_path / "wf"
    where.mkdir()
    async with Hookbus(pod_settings(str(kube_api.url), tmp_path)), Kubelet(kube_api).run(rule):
        await kube.create(WORKFLOWS, "default", workflow(DIRECTORY.replace("T/", f"{where}/")))
        await succeeded(kube_api, "folders")
    assert nodes(kube_api, "folders")["consume"]["outputs"]["result"] == "alpha\nbeta"


TOO_LARGE = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: too-large}
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - {name: produce, template: produce}
        - - name: consume
            template: consume
            arguments:
              artifacts: [{name: big, from: "{{steps.produce.outputs.artifacts.big}}"}]
    - name: produce
      container: {image: busybox, command: [sh, -c, "mkdir -p T/. && head -c 1000500 /dev/zero | tr '\\\\000' x > T/big"]}
      outputs:
        artifacts: [{name: big, path: T/big}]
    - name: consume
      inputs:
        artifacts: [{name: big, path: T/in/big}]
      container: {image: busybox, command: [wc, -c, T/in/big]}
"""


async def test_an_input_artifact_too_large_for_a_config_map_is_a_clear_error(
    kube: KubeClient, kube_api: KubeApi, tmp_path: Path, rule: HostRule
) -> None:
    where = tmp_path / "wf"
    where.mkdir()
    async with Hookbus(pod_settings(str(kube_api.url), tmp_path)), Kubelet(kube_api).run(rule):
        await kube.create(WORKFLOWS, "default", workflow(TOO_LARGE.replace("T/", f"{where}/")))
        await wait_for(lambda: phase(kube_api, "too-large") in ("Failed", "Error"), timeout=60, what="too-large ended")
    by_name = nodes(kube_api, "too-large")
    assert by_name["produce"]["phase"] == "Succeeded"
    consume = by_name["consume"]
    assert consume["phase"] == "Error"
    assert consume["message"].startswith("input artifact 'big' (")
    assert "limited to 1000000 bytes in all in Kubernetes mode" in consume["message"]
    assert pod_of(kube_api, "too-large[1].consume") is None, "nothing is created for a node whose inputs do not fit"
    assert not kube_api.requests("POST", "configmaps")


SHARED = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: shared}
spec:
  entrypoint: main
  templates:
    - name: main
      volumes: [{name: scratch, emptyDir: {}}]
      initContainers:
        - name: prepare
          image: busybox
          command: [sh, -c, "echo from init > S/init.txt"]
          volumeMounts: [{name: scratch, mountPath: S}]
      sidecars:
        - name: side
          image: busybox
          command: [sh, -c, "echo from the sidecar > S/side.tmp && mv S/side.tmp S/side.txt && sleep 30"]
          volumeMounts: [{name: scratch, mountPath: S}]
      container:
        image: busybox
        command: [sh, -c, "for i in $(seq 100); do [ -f S/side.txt ] && break; sleep 0.1; done; cat S/init.txt S/side.txt"]
        volumeMounts: [{name: scratch, mountPath: S}]
"""


async def test_an_empty_dir_is_shared_by_init_containers_sidecars_and_main(
    kube: KubeClient, kube_api: KubeApi, tmp_path: Path, rule: HostRule
) -> None:
    shared = tmp_path / "wf" / "shared"
    async with Hookbus(pod_settings(str(kube_api.url), tmp_path)), Kubelet(kube_api).run(rule):
        await kube.create(WORKFLOWS, "default", workflow(SHARED.replace("S/", f"{shared}/").replace("S}", f"{shared}}}")))
        await succeeded(kube_api, "shared")
    assert nodes(kube_api, "shared")["shared"]["outputs"]["result"] == "from init\nfrom the sidecar"
    assert not shared.exists(), "the volume was mounted in the containers' namespaces only"


PATCHED_WITH_INPUT = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: policed}
spec:
  entrypoint: main
  templates:
    - name: main
      inputs:
        artifacts: [{name: note, path: T/note.txt, raw: {data: "kept through the patch"}}]
      container:
        image: busybox
        command: [cat, T/note.txt]
        resources: {limits: {memory: 64Mi}}
"""


async def test_input_artifacts_survive_a_pod_precreate_patch(kube: KubeClient, kube_api: KubeApi, tmp_path: Path, rule: HostRule) -> None:
    settings = pod_settings(str(kube_api.url), tmp_path, plugins=True)
    async with Hookbus(settings) as app, plugin(app, "pod-policy", "pod_policy.py"), Kubelet(kube_api).run(rule):
        await kube.create(WORKFLOWS, "default", workflow(PATCHED_WITH_INPUT.replace("T/", f"{tmp_path}/wf/")))
        await succeeded(kube_api, "policed")
        (pod,) = kube_api.objects("pods", "default")
        assert pod["metadata"]["annotations"]["hookbus.io/policy"] == "checked", "the plugin patched the pod"
        assert [c["name"] for c in pod["spec"]["initContainers"]] == ["init"]
    assert nodes(kube_api, "policed")["policed"]["outputs"]["result"] == "kept through the patch"
