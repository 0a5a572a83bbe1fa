"""``resource`` templates in Kubernetes mode: Argo's ``k8s-*`` examples against the test API server.

Argo runs a resource template in a pod of its own, which the ``k8s-patch-*-pod`` examples
patch through ``{{pod.name}}``. hookbus acts on the cluster from the controller, so no such
pod exists: these tests create the pod the examples patch (named as the node's
``pod.name``, the workflow's name for a one-template workflow). Where an example waits
for a Job, a small stand-in for the Job controller marks it complete.
"""

from __future__ import annotations

import copy
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from hookbus.controller.app import Hookbus
from hookbus.controller.argo.labels import INSTANCE_LABEL
from hookbus.controller.engine.resource_template import service_account
from hookbus.controller.kube.resources import WORKFLOWS
from tests.conformance.runner import DEFAULT_EXAMPLES
from tests.kube.support import app_settings
from tests.support.kubeapi import grant
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from hookbus.controller.kube.client import KubeClient
    from hookbus.controller.settings import HookbusSettings
    from tests.support.kubeapi import KubeApi

EXAMPLES = Path(os.environ.get("HOOKBUS_ARGO_EXAMPLES") or DEFAULT_EXAMPLES)
"""Argo's example workflows (``../shared/conformance/argo-examples`` beside the repository)."""

pytestmark = pytest.mark.skipif(not EXAMPLES.is_dir(), reason="Argo's example workflows are not beside the repository")


def example(name: str, wf_name: str) -> dict[str, Any]:
    obj: dict[str, Any] = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
    meta = obj["metadata"]
    meta.pop("generateName", None)
    meta["name"] = wf_name
    meta.setdefault("labels", {})[INSTANCE_LABEL] = "hookbus"
    return obj


def settings(api: KubeApi, tmp_path: Path) -> HookbusSettings:
    base = app_settings(str(api.url), tmp_path)
    return replace(base, controller=replace(base.controller, resource_poll_seconds=0.05))


def status(api: KubeApi, name: str) -> dict[str, Any]:
    obj = api.get("workflows", "default", name)
    return {} if obj is None else dict(obj.get("status") or {})


def ended(api: KubeApi, name: str) -> bool:
    return status(api, name).get("phase") in ("Succeeded", "Failed", "Error")


POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": ""}, "spec": {"containers": [{"name": "main", "image": "argoproj/argosay:v2"}]}}


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("k8s-patch-pod", "application/strategic-merge-patch+json"),
        ("k8s-patch-merge-pod", "application/merge-patch+json"),
        ("k8s-patch-json-pod", "application/json-patch+json"),
    ],
)
async def test_patch_examples_annotate_the_pod(kube: KubeClient, kube_api: KubeApi, tmp_path: Path, name: str, content_type: str) -> None:
    pod = copy.deepcopy(POD)
    pod["metadata"] = {"name": name, "annotations": {"keep": "me"}}
    kube_api.put(pod)
    async with Hookbus(settings(kube_api, tmp_path)):
        await kube.create(WORKFLOWS, "default", example(name, name))
        await wait_for(lambda: ended(kube_api, name), timeout=30, what=f"{name} ended")
    assert status(kube_api, name)["phase"] == "Succeeded", status(kube_api, name)
    annotations = kube_api.get("pods", "default", name)["metadata"]["annotations"]  # type: ignore[index]
    assert annotations == {"keep": "me", "foo": "bar"}
    patches = kube_api.requests("PATCH", "pods")
    assert [p.content_type.split(";")[0] for p in patches] == [content_type]


async def test_owner_reference_example_creates_an_owned_workflow_that_runs(kube: KubeClient, kube_api: KubeApi, tmp_path: Path) -> None:
    async with Hookbus(settings(kube_api, tmp_path)):
        created = await kube.create(WORKFLOWS, "default", example("k8s-owner-reference", "owner"))
        await wait_for(lambda: ended(kube_api, "owner"), timeout=30, what="the owner ended")
        assert status(kube_api, "owner")["phase"] == "Succeeded", status(kube_api, "owner")
        owned = [w for w in kube_api.objects("workflows") if w["metadata"]["name"].startswith("owned-eg-")]
        assert len(owned) == 1
        meta = owned[0]["metadata"]
        assert meta["ownerReferences"] == [
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Workflow",
                "name": "owner",
                "uid": created["metadata"]["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        assert meta["labels"][INSTANCE_LABEL] == "hookbus", "created objects carry the instance id"
        # labelled for this controller, the owned Workflow runs too
        await wait_for(lambda: status(kube_api, meta["name"]).get("phase") == "Succeeded", timeout=30, what="the owned workflow ran")


async def test_jobs_example_waits_for_its_success_condition_and_reads_outputs(kube: KubeClient, kube_api: KubeApi, tmp_path: Path) -> None:
    async with Hookbus(settings(kube_api, tmp_path)):
        await kube.create(WORKFLOWS, "default", example("k8s-jobs", "jobs"))
        await wait_for(lambda: bool(kube_api.objects("jobs")), timeout=30, what="the Job created")
        job = kube_api.objects("jobs")[0]
        job_name = job["metadata"]["name"]
        assert job_name.startswith("rand-num-") and job["metadata"]["ownerReferences"][0]["name"] == "jobs"
        kube_api.modify("jobs", "default", job_name, lambda j: j.update(status={"succeeded": 2}))
        reads = len(kube_api.requests("GET", "jobs"))
        await wait_for(lambda: len(kube_api.requests("GET", "jobs")) >= reads + 2, timeout=30, what="the Job read again")
        assert not ended(kube_api, "jobs"), "status.succeeded > 2 does not hold yet"
        # the stand-in for the Job controller: all three completions done
        kube_api.modify("jobs", "default", job_name, lambda j: j.update(status={"succeeded": 3}))
        await wait_for(lambda: ended(kube_api, "jobs"), timeout=30, what="the workflow ended")
    got = status(kube_api, "jobs")
    assert got["phase"] == "Succeeded", got
    node = got["nodes"]["jobs"]
    params = {p["name"]: p["value"] for p in node["outputs"]["parameters"]}
    assert params["job-name"] == job_name
    assert yaml.safe_load(params["job-obj"])["metadata"]["name"] == job_name


async def test_a_failure_condition_fails_the_node(kube: KubeClient, kube_api: KubeApi, tmp_path: Path) -> None:
    async with Hookbus(settings(kube_api, tmp_path)):
        await kube.create(WORKFLOWS, "default", example("k8s-jobs", "failing"))
        await wait_for(lambda: bool(kube_api.objects("jobs")), timeout=30, what="the Job created")
        job_name = kube_api.objects("jobs")[0]["metadata"]["name"]
        kube_api.modify("jobs", "default", job_name, lambda j: j.update(status={"failed": 2}))
        await wait_for(lambda: ended(kube_api, "failing"), timeout=30, what="the workflow ended")
    node = status(kube_api, "failing")["nodes"]["failing"]
    assert node["phase"] == "Failed" and node["message"] == "failure condition 'status.failed > 1' evaluated true"


ACTIONS = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: actions
  labels: {workflows.argoproj.io/controller-instanceid: hookbus}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: create, template: cm, arguments: {parameters: [{name: action, value: apply}, {name: v, value: one}]}}
    - - {name: update, template: cm, arguments: {parameters: [{name: action, value: apply}, {name: v, value: two}]}}
    - - {name: read, template: read}
    - - {name: remove, template: cm, arguments: {parameters: [{name: action, value: delete}, {name: v, value: x}]}}
    - - {name: again, template: cm, arguments: {parameters: [{name: action, value: delete}, {name: v, value: x}]}}
    - - {name: bad, template: bad, continueOn: {failed: true, error: true}}
  - name: cm
    inputs: {parameters: [{name: action}, {name: v}]}
    resource:
      action: "{{inputs.parameters.action}}"
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: settings}
        data: {value: "{{inputs.parameters.v}}"}
  - name: read
    resource:
      action: get
      successCondition: data.value = two
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: settings}
    outputs:
      parameters:
      - {name: value, valueFrom: {jsonPath: "{.data.value}"}}
  - name: bad
    resource:
      action: patch
      flags: [nosuchthing, x]
      manifest: "{}"
"""


async def test_apply_get_and_delete_a_config_map(kube: KubeClient, kube_api: KubeApi, tmp_path: Path) -> None:
    async with Hookbus(settings(kube_api, tmp_path)):
        await kube.create(WORKFLOWS, "default", yaml.safe_load(ACTIONS))
        await wait_for(lambda: ended(kube_api, "actions"), timeout=30, what="the workflow ended")
    got = status(kube_api, "actions")
    nodes = {n["displayName"]: n for n in got["nodes"].values()}
    assert got["phase"] == "Succeeded", got
    assert nodes["read"]["outputs"]["parameters"] == [{"name": "value", "value": "two"}]
    assert kube_api.get("configmaps", "default", "settings") is None, "deleted; deleting again is fine"
    assert nodes["again"]["phase"] == "Succeeded"
    assert nodes["bad"]["phase"] == "Error" and nodes["bad"]["message"] == "the cluster has no resource type 'nosuchthing'"
    patches = kube_api.requests("PATCH", "configmaps")  # apply of an existing object: a merge patch
    assert [r.content_type.split(";")[0] for r in patches] == ["application/merge-patch+json"]
    assert patches[0].body["data"] == {"value": "two"}
    created = kube_api.requests("POST", "configmaps")
    assert len(created) == 1 and created[0].body["metadata"]["labels"] == {INSTANCE_LABEL: "hookbus"}
    # no service account named: the namespace's default, as Argo's resource pod
    acted = [r for r in kube_api.requests(plural="configmaps") if r.verb not in ("list", "watch")]
    assert acted and {(r.identity, r.impersonate_user) for r in acted} == {("hookbus-controller", "system:serviceaccount:default:default")}


def test_the_poll_interval_comes_from_the_flag_and_the_environment() -> None:
    from hookbus.controller.cli import build_parser, settings_from_args
    from hookbus.controller.settings import from_env

    args = build_parser().parse_args(["server", "--kubernetes", "--resource-poll", "0.5"])
    assert settings_from_args(args).controller.resource_poll_seconds == 0.5
    assert from_env({"HOOKBUS_RESOURCE_POLL": "2"}).controller.resource_poll_seconds == 2
    with pytest.raises(ValueError, match="HOOKBUS_RESOURCE_POLL: 'soon'"):
        from_env({"HOOKBUS_RESOURCE_POLL": "soon"})


async def test_a_resource_node_waiting_at_a_restart_ends_in_error(kube: KubeClient, kube_api: KubeApi, tmp_path: Path) -> None:
    conf = settings(kube_api, tmp_path)
    async with Hookbus(conf):
        await kube.create(WORKFLOWS, "default", example("k8s-jobs", "restarted"))
        await wait_for(lambda: bool(kube_api.objects("jobs")), timeout=30, what="the Job created")
        await wait_for(lambda: status(kube_api, "restarted").get("phase") == "Running", timeout=30, what="Running")
    async with Hookbus(conf):
        await wait_for(lambda: ended(kube_api, "restarted"), timeout=30, what="the workflow ended")
    node = status(kube_api, "restarted")["nodes"]["restarted"]
    assert (node["phase"], node["message"]) == ("Error", "pod deleted")
    assert len(kube_api.objects("jobs")) == 1, "the action is not run again"


ACTING = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: acting
  labels: {workflows.argoproj.io/controller-instanceid: hookbus}
spec:
  entrypoint: main
  serviceAccountName: robot
  templates:
  - name: main
    steps:
    - - {name: allowed, template: allowed}
      - {name: elsewhere, template: elsewhere}
      - {name: secret, template: secret}
      - {name: cluster, template: cluster}
      - {name: nobody, template: nobody}
  - name: allowed
    resource:
      action: create
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: mine}
  - name: elsewhere
    resource:
      action: create
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: x, namespace: kube-system}
  - name: secret
    resource:
      action: get
      manifest: |
        apiVersion: v1
        kind: Secret
        metadata: {name: token}
  - name: cluster
    resource:
      action: create
      manifest: |
        apiVersion: argoproj.io/v1alpha1
        kind: ClusterWorkflowTemplate
        metadata: {name: mine}
  - name: nobody
    serviceAccountName: nobody
    resource:
      action: create
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: theirs}
"""

ROBOT = "system:serviceaccount:default:robot"


async def test_templates_act_as_the_workflows_service_account(kube: KubeClient, kube_api: KubeApi, tmp_path: Path) -> None:
    # robot may create ConfigMaps in its own namespace, and nothing else; nobody may do nothing
    kube_api.grants = {ROBOT: [grant("create,get", "configmaps", namespace="default")]}
    kube_api.put({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "token"}, "data": {"t": "c2VjcmV0"}})
    async with Hookbus(settings(kube_api, tmp_path)):
        await kube.create(WORKFLOWS, "default", yaml.safe_load(ACTING))
        await wait_for(lambda: ended(kube_api, "acting"), timeout=30, what="the workflow ended")
    nodes = {n["displayName"]: n for n in status(kube_api, "acting")["nodes"].values()}
    assert nodes["allowed"]["phase"] == "Succeeded", nodes["allowed"]
    assert kube_api.get("configmaps", "default", "mine") is not None
    refused = {
        "elsewhere": 'resource create ConfigMap kube-system/x: Kubernetes API: 403 configmaps is forbidden: '
        f'User "{ROBOT}" cannot create resource "configmaps" in API group "" in the namespace "kube-system"',
        "secret": 'resource get Secret default/token: Kubernetes API: 403 secrets "token" is forbidden: '
        f'User "{ROBOT}" cannot get resource "secrets" in API group "" in the namespace "default"',
        "cluster": "resource create ClusterWorkflowTemplate mine: Kubernetes API: 403 clusterworkflowtemplates.argoproj.io "
        f'is forbidden: User "{ROBOT}" cannot create resource "clusterworkflowtemplates" in API group "argoproj.io" '
        "at the cluster scope",
        "nobody": "resource create ConfigMap default/theirs: Kubernetes API: 403 configmaps is forbidden: "
        'User "system:serviceaccount:default:nobody" cannot create resource "configmaps" in API group "" in the namespace "default"',
    }
    for name, message in refused.items():
        assert (nodes[name]["phase"], nodes[name]["message"]) == ("Error", message)
    assert kube_api.get("configmaps", "kube-system", "x") is None and not kube_api.objects("clusterworkflowtemplates")
    acted = [  # the templates' actions (the controller's own lists and watches of templates aside)
        r for r in kube_api.log
        if r.plural in ("configmaps", "secrets", "clusterworkflowtemplates") and r.identity == "hookbus-controller" and r.verb in ("get", "create")
    ]
    assert acted and all(r.impersonate_user for r in acted), "no action with the controller's own rights"
    assert {r.impersonate_user for r in acted} == {ROBOT, "system:serviceaccount:default:nobody"}
    assert {r.impersonate_groups for r in acted} == {("system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated")}


def test_the_service_account_is_chosen_as_argo_chooses_its_resource_pods() -> None:
    template: dict[str, Any] = {"resource": {}}
    assert service_account(template, {}) == "default"
    assert service_account(template, {"serviceAccountName": "wf"}) == "wf"
    assert service_account({**template, "serviceAccountName": "tmpl"}, {"serviceAccountName": "wf"}) == "tmpl"
    assert service_account({**template, "serviceAccountName": "tmpl"}, {"executor": {"serviceAccountName": "exec-wf"}}) == "exec-wf"
    assert service_account({**template, "executor": {"serviceAccountName": "exec"}}, {"executor": {"serviceAccountName": "exec-wf"}}) == "exec"
    with pytest.raises(ValueError, match="serviceAccountName 'a:b' is not a valid service account name"):
        service_account({**template, "serviceAccountName": "a:b"}, {})
