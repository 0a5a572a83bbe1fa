"""``podSpecPatch`` with placeholders in Kubernetes mode: substituted for the node before the
pod builder applies it (Argo's ``pod-spec-from-previous-step``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hookbus.controller.app import Hookbus
from hookbus.controller.kube.resources import WORKFLOWS
from tests.kube.podrun import HostRule, container
from tests.kube.test_pods_e2e import launcher, pod_of, pod_settings, succeeded, workflow
from tests.support.kubelet import Kubelet

if TYPE_CHECKING:
    from pathlib import Path

    from hookbus.controller.kube.client import KubeClient
    from tests.support.kubeapi import KubeApi

__all__ = ["launcher"]

PATCHED = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: patched}
spec:
  entrypoint: main
  arguments:
    parameters: [{name: grace, value: "7"}]
  podSpecPatch: '{"terminationGracePeriodSeconds": {{workflow.parameters.grace}}}'
  templates:
    - name: main
      steps:
        - - {name: size, template: size}
        - - name: run
            template: run
            arguments:
              parameters: [{name: resources, value: "{{steps.size.outputs.result}}"}]
    - name: size
      container: {image: busybox, command: [echo, '{"memory": "40Mi", "cpu": "100m"}']}
    - name: run
      inputs:
        parameters: [{name: resources}]
      podSpecPatch: '{"containers":[{"name":"main", "resources":{"limits": {{inputs.parameters.resources}} }}], "priority": {{=len(inputs.parameters.resources)}}}'
      container: {image: busybox, command: ["true"]}
"""


async def test_a_pod_spec_patch_with_placeholders_is_substituted_for_its_node(
    kube: KubeClient, kube_api: KubeApi, tmp_path: Path, launcher: Path
) -> None:
    rule = HostRule(launcher, tmp_path / "pods", api=kube_api)
    async with Hookbus(pod_settings(str(kube_api.url), tmp_path)), Kubelet(kube_api).run(rule):
        await kube.create(WORKFLOWS, "default", workflow(PATCHED))
        await succeeded(kube_api, "patched")
    pod = pod_of(kube_api, "patched[1].run")
    assert pod is not None
    assert container(pod, "main")["resources"]["limits"] == {"memory": "40Mi", "cpu": "100m"}
    assert pod["spec"]["priority"] == len('{"memory": "40Mi", "cpu": "100m"}')
    assert pod["spec"]["terminationGracePeriodSeconds"] == 7
