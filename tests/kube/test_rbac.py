"""Every request the controller and the CLI send is granted by the RBAC in ``deploy/``, and
every rule there is used (or kept for a stated reason).

A whole controller process (embedded NATS, JetStream store, the Kubernetes executor, the
Lease) runs in the ``hookbus`` namespace of the quick-start overlay against the test API
server, through what it does in a cluster: hello-world (its result read back from
``pods/log``), a failing step retried, ``podGC``, ``volumeClaimTemplates``, an input artifact (its ConfigMap), an existing
claim, Argo's ``k8s-*`` resource-template examples, WorkflowTemplate, ClusterWorkflowTemplate
and ConfigMap reads, a status write answered 409 and re-read, a restart that re-attaches a
running pod, and a deleted Workflow whose pods and claim go. The server's log tells the controller's
requests (``User-Agent: hookbus-controller/...``) from the test's own; each is checked
against the rules the rendered overlay binds to the ``hookbus-controller`` ServiceAccount
(:mod:`tests.support.rbac`). The same for ``hookbus ... --kubernetes`` against the
``hookbus-user`` ClusterRole of ``deploy/examples/user-role``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from hookbus.controller import cli
from hookbus.controller.app import Hookbus
from hookbus.controller.argo.labels import INSTANCE_LABEL, WORKFLOW_LABEL
from hookbus.controller.kube.launcher import SPILL_MARK
from hookbus.controller.kube.resources import WORKFLOWS
from hookbus.controller.kube.settings import LeaseSettings
from hookbus.controller.settings import ExecutorSettings
from tests.kube.support import app_settings
from tests.kube.test_deploy import render
from tests.kube.test_resource_templates import EXAMPLES
from tests.support.kubeapi import Fault
from tests.support.kubelet import Kubelet, Outcome
from tests.support.rbac import Need, allowed, needs, subject_rules, unused
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from hookbus.controller.kube.client import KubeClient
    from hookbus.controller.settings import HookbusSettings
    from tests.support.kubeapi import KubeApi

Obj = dict[str, Any]
ROOT = Path(__file__).resolve().parents[2]
NS = "hookbus"
"""The quick-start overlay's namespace: the controller watches the namespace it runs in."""
RESOURCE_EXAMPLES = ("k8s-jobs", "k8s-owner-reference", "k8s-patch-pod", "k8s-patch-merge-pod", "k8s-patch-json-pod")

needs_examples = pytest.mark.skipif(not EXAMPLES.is_dir(), reason="Argo's example workflows are not beside the repository")

CONTROLLER_UNUSED_ALLOWED: dict[tuple[str, str, str], str] = {}
"""Rules of the controller's RBAC no request of the run uses, ``(group, resource, verb)``, each
with the reason it stays (a path only a real cluster reaches). None: the run uses every rule."""


def _wf(text: str) -> Obj:
    obj: Obj = yaml.safe_load(text)
    obj["metadata"].setdefault("labels", {})[INSTANCE_LABEL] = "hookbus"
    return obj


def _example(name: str, wf_name: str) -> Obj:
    obj: Obj = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
    obj["metadata"] = {"name": wf_name, "labels": {INSTANCE_LABEL: "hookbus"}}
    return obj


HELLO = _wf("""
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: hello}
spec:
  entrypoint: main
  templates:
  - name: main
    script: {image: python:3.12, command: [python], source: "print('hello ' * 2000)"}
""")

RETRIED = _wf("""
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: retried}
spec:
  entrypoint: main
  templates:
  - name: main
    retryStrategy: {limit: 2}
    container: {image: busybox, command: ["false"]}
""")

POD_GC = _wf("""
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: collected}
spec:
  entrypoint: main
  podGC: {strategy: OnPodCompletion}
  templates:
  - name: main
    container: {image: busybox, command: ["true"]}
""")

CLAIMS = _wf("""
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: claims}
spec:
  entrypoint: main
  volumeClaimTemplates:
  - metadata: {name: workdir}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
  templates:
  - name: main
    container: {image: busybox, command: ["true"], volumeMounts: [{name: workdir, mountPath: /work}]}
""")

INPUTS = _wf("""
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: inputs}
spec:
  entrypoint: main
  templates:
  - name: main
    inputs:
      artifacts: [{name: message, path: /tmp/message, raw: {data: hello}}]
    container: {image: busybox, command: [cat, /tmp/message]}
""")

TEMPLATES = _wf("""
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: referring}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: here, templateRef: {name: greeting, template: greet}}
      - {name: cluster, templateRef: {name: cluster-greeting, template: greet, clusterScope: true}}
      - {name: configured, template: configured}
  - name: configured
    inputs:
      parameters:
      - name: who
        valueFrom: {configMapKeyRef: {name: settings, key: who}}
    container: {image: busybox, command: [echo, "{{inputs.parameters.who}}"]}
""")

GREETING = """
apiVersion: argoproj.io/v1alpha1
kind: {kind}
metadata: {{name: {name}}}
spec:
  templates:
  - name: greet
    container: {{image: busybox, command: [echo, hi]}}
"""

SLEEPER = _wf("""
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: sleeper}
spec:
  entrypoint: main
  volumeClaimTemplates:
  - metadata: {name: scratch}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
  templates:
  - name: main
    container: {image: busybox, command: [sleep, "3600"], volumeMounts: [{name: scratch, mountPath: /scratch}]}
""")

FINAL = ("Succeeded", "Failed", "Error")


def _phase(api: KubeApi, name: str) -> str | None:
    obj = api.get("workflows", NS, name)
    return None if obj is None else (obj.get("status") or {}).get("phase")


async def _succeeded(api: KubeApi, names: list[str]) -> None:
    def done() -> bool:
        phases = {n: _phase(api, n) for n in names}
        failed = {n: (api.get("workflows", NS, n) or {}).get("status") for n, p in phases.items() if p in ("Failed", "Error")}
        assert not failed, failed
        return all(p == "Succeeded" for p in phases.values())

    await wait_for(done, timeout=60, what=f"{', '.join(names)} Succeeded")


def _pods(api: KubeApi, workflow: str) -> list[Obj]:
    return [p for p in api.objects("pods", NS) if (p["metadata"].get("labels") or {}).get(WORKFLOW_LABEL) == workflow]


def _kubelet_rule() -> Any:
    failed_once: set[str] = set()

    def rule(pod: Obj) -> Outcome | None:
        workflow = (pod["metadata"].get("labels") or {}).get(WORKFLOW_LABEL)
        if workflow == "sleeper":
            return None
        if workflow == "retried" and workflow not in failed_once:
            failed_once.add(workflow)
            return Outcome(exit_code=1)
        if workflow == "hello":  # a result too long for the termination message: read from the log
            whole = json.dumps({"hookbus": 1, "exitCode": 0, "result": "hello " * 2000})
            report = json.dumps({"hookbus": 1, "exitCode": 0, "spilled": ["result"]})
            return Outcome(log=f"{SPILL_MARK}{whole}\n", message=report)
        return Outcome()

    return rule


@contextlib.asynccontextmanager
async def _job_controller(api: KubeApi) -> AsyncIterator[None]:
    """Marks each Job complete (``status.succeeded: 3``), as the Job controller would."""

    async def loop() -> None:
        while True:
            changed = api.changed
            for job in api.objects("jobs", NS):
                if not (job.get("status") or {}).get("succeeded"):
                    api.modify("jobs", NS, job["metadata"]["name"], lambda j: j.update(status={"succeeded": 3}))
            await changed.wait()

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _settings(api: KubeApi, tmp_path: Path) -> HookbusSettings:
    base = app_settings(str(api.url), tmp_path, namespace=NS, lease=True)
    # a lease that outlasts a busy machine's pauses: the restart waits for it to expire once
    lease = LeaseSettings(enabled=True, duration=8, renew_deadline=6, retry=1, margin=1)
    return replace(
        base,
        executor=ExecutorSettings(kind="kubernetes"),
        controller=replace(base.controller, resource_poll_seconds=0.05),
        kubernetes=replace(base.kubernetes, lease=lease),
    )


async def _run_everything(kube: KubeClient, api: KubeApi, tmp_path: Path) -> None:
    """The controller through everything it does in a cluster (the module docstring)."""
    api.put({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "my-existing-volume"}, "spec": {"accessModes": ["ReadWriteOnce"]}}, NS)
    api.put({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"who": "world"}}, NS)
    api.put(yaml.safe_load(GREETING.format(kind="WorkflowTemplate", name="greeting")), NS)
    api.put(yaml.safe_load(GREETING.format(kind="ClusterWorkflowTemplate", name="cluster-greeting")))
    for name in RESOURCE_EXAMPLES[2:]:  # the pods the k8s-patch-* examples patch ({{pod.name}})
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "annotations": {"keep": "me"}}, "spec": {"containers": [{"name": "main", "image": "busybox"}]}}
        api.put(pod, NS)
    api.inject(Fault("PATCH", "workflows", status=409))  # one status write meets a conflict: read again
    settings = _settings(api, tmp_path)
    existing = _example("volumes-existing", "existing")
    workflows = [HELLO, RETRIED, POD_GC, CLAIMS, INPUTS, TEMPLATES, existing, *(_example(n, n) for n in RESOURCE_EXAMPLES)]
    async with Kubelet(api).run(_kubelet_rule()), _job_controller(api), Hookbus(settings):
        for wf in workflows:
            await kube.create(WORKFLOWS, NS, wf)
        await _succeeded(api, [wf["metadata"]["name"] for wf in workflows])
        await wait_for(lambda: bool(api.requests("PUT", "leases")), timeout=30, what="the lease renewed")
        await kube.create(WORKFLOWS, NS, SLEEPER)
        await wait_for(
            lambda: _phase(api, "sleeper") == "Running" and any((p.get("status") or {}).get("phase") == "Running" for p in _pods(api, "sleeper")),
            timeout=30,
            what="the sleeper's pod running",
        )
    assert not _pods(api, "collected"), "podGC deleted the pod"
    owned = [w["metadata"]["name"] for w in api.objects("workflows", NS) if w["metadata"]["name"].startswith("owned-eg-")]
    async with Kubelet(api).run(_kubelet_rule()), Hookbus(settings):  # a restart: the running pod is re-attached
        await wait_for(lambda: api.get("leases", NS, "hookbus-controller-hookbus") is not None, timeout=30, what="the lease")
        await wait_for(lambda: all(_phase(api, n) in FINAL for n in owned), timeout=30, what="the owned Workflow ended")
        await kube.delete(WORKFLOWS, NS, "sleeper")
        await wait_for(lambda: not _pods(api, "sleeper"), timeout=30, what="the deleted Workflow's pods deleted")
        await wait_for(lambda: bool(api.requests("DELETE", "persistentvolumeclaims", name="sleeper-scratch")), timeout=30, what="the deleted Workflow's claim deleted")
    assert api.get("persistentvolumeclaims", NS, "claims-workdir") is None, "volumeClaimGC deleted the claim"


def _report(title: str, items: Any) -> str:
    return title + "".join(f"\n  {item}" for item in sorted(str(i) for i in items))


@needs_examples
async def test_every_request_of_the_controller_is_granted_and_every_rule_used(kube: KubeClient, kube_api: KubeApi, tmp_path: Path) -> None:
    await _run_everything(kube, kube_api, tmp_path)
    used = needs(kube_api.log, "hookbus-controller")
    assert Need("impersonate", "", "serviceaccounts", NS, "default") in used, "resource templates act as the workflow's service account"
    rules = subject_rules(render("overlays/quick-start"), "ServiceAccount", "hookbus-controller", NS)
    refused = [n for n in used if not allowed(rules, n)]
    assert not refused, _report("requests of the controller that deploy/'s RBAC does not grant:", refused)
    left = unused(rules, used) - set(CONTROLLER_UNUSED_ALLOWED)
    assert not left, _report("rules of deploy/'s RBAC that no request used (remove them, or say why they stay):", left)
    assert set(CONTROLLER_UNUSED_ALLOWED) <= unused(rules, used), "an allowed-unused rule is used now: drop it from the list"
    assert {r.identity for r in kube_api.log} <= {"hookbus-controller", "hookbus-tests"}


USER_UNUSED_ALLOWED: dict[tuple[str, str, str], str] = {}
"""Rules of the ``hookbus-user`` role no CLI request of the run uses, each with its reason."""


async def _hookbus(capsys: pytest.CaptureFixture[str], *argv: str) -> int:
    capsys.readouterr()
    code = await asyncio.to_thread(cli.main, list(argv))
    capsys.readouterr()
    return code


async def test_every_request_of_the_cli_is_granted_by_the_user_role(kube_api: KubeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hello = str(ROOT / "examples" / "hello-world.yaml")
    flags = ("--kubernetes", "--kube-server", str(kube_api.url))
    kube_api.put({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "hi-pod", "labels": {WORKFLOW_LABEL: "hi"}, "annotations": {"workflows.argoproj.io/node-name": "hi"}},
        "spec": {"containers": [{"name": "main", "image": "busybox"}]},
    })
    kube_api.logs[("default", "hi-pod", "main")] = "hello\n"
    async with Hookbus(app_settings(str(kube_api.url), tmp_path / "state")):
        assert await _hookbus(capsys, "submit", *flags, hello, "--name", "hi", "--watch") == 0
        for argv in (("get", "hi"), ("list",), ("watch", "hi"), ("logs", "hi")):
            assert await _hookbus(capsys, argv[0], *flags, *argv[1:]) == 0, argv
    kube_api.put({**HELLO, "metadata": {"name": "paused"}})
    for action in ("suspend", "resume", "stop", "terminate", "delete"):
        assert await _hookbus(capsys, action, *flags, "paused") == 0, action
    used = needs(kube_api.log, "hookbus-cli")
    assert used, "the CLI names itself in its requests"
    rules = subject_rules(render("examples/user-role"), "Group", "hookbus-users")
    rules = [replace(r, namespace="default") for r in rules]  # the RoleBinding, applied with -n default
    refused = [n for n in used if not allowed(rules, n)]
    assert not refused, _report("requests of the CLI that the hookbus-user role does not grant:", refused)
    left = unused(rules, used) - set(USER_UNUSED_ALLOWED)
    assert not left, _report("rules of the hookbus-user role that no request used (remove them, or say why they stay):", left)


def test_rbac_is_evaluated_as_an_api_server_does() -> None:
    from tests.support.kubeapi import rbac_verb
    from tests.support.rbac import Rule

    assert [rbac_verb("GET", "x", False), rbac_verb("GET", None, False), rbac_verb("GET", None, True)] == ["get", "list", "watch"]
    assert [rbac_verb("DELETE", "x", False), rbac_verb("DELETE", None, False), rbac_verb("PUT", "x", False)] == ["delete", "deletecollection", "update"]

    def rule(verbs: str, resources: str, groups: str = "", names: str = "", namespace: str | None = "ns") -> Rule:
        split = lambda text: frozenset(text.split(",")) if text else frozenset()  # noqa: E731
        return Rule(split(verbs), split(groups) or frozenset([""]), split(resources), split(names), namespace, "Role/r")

    log_get = Need("get", "", "pods/log", "ns", "p")
    assert allowed([rule("get", "pods/*")], log_get) and allowed([rule("*", "*", "*")], log_get)
    assert not allowed([rule("get", "pods")], log_get), "pods does not grant a subresource"
    assert allowed([rule("get", "*/log")], log_get) and not allowed([rule("get", "*/exec")], log_get)
    assert not allowed([rule("get", "pods/*", namespace="other")], log_get), "a Role grants in its namespace only"
    assert allowed([rule("get", "pods/*", namespace=None)], log_get), "a ClusterRoleBinding grants everywhere"
    assert allowed([rule("get", "configmaps", names="a")], Need("get", "", "configmaps", "ns", "a"))
    assert not allowed([rule("get", "configmaps", names="a")], Need("get", "", "configmaps", "ns", "b"))
    assert not allowed([rule("list", "configmaps", names="a")], Need("list", "", "configmaps", "ns", None)), "resourceNames never grant a list"
    assert not allowed([rule("get", "workflows")], Need("get", "argoproj.io", "workflows", "ns", "w")), "the group counts"
    assert unused([rule("get,list", "pods")], [Need("list", "", "pods", "ns", None)]) == {("", "pods", "get")}


async def test_the_server_logs_who_asked_what_and_as_whom(kube: KubeClient, kube_api: KubeApi) -> None:
    from hookbus.controller.kube.errors import KubeError
    from hookbus.controller.kube.resources import CONFIG_MAPS, PODS
    from tests.support.kubeapi import grant

    robot = kube.impersonating("system:serviceaccount:default:robot")
    kube_api.grants = {"system:serviceaccount:default:robot": [grant("create", "configmaps", namespace="default")]}
    await robot.create(CONFIG_MAPS, "default", {"metadata": {"name": "c"}})
    with pytest.raises(KubeError) as refused:
        await robot.get(PODS, "default", "p")
    assert refused.value.status == 403
    assert refused.value.message == (
        'pods "p" is forbidden: User "system:serviceaccount:default:robot" cannot get resource "pods" in API group "" in the namespace "default"'
    )
    await kube.list(PODS, "default")  # the client itself is not held to the table
    created, got, listed = kube_api.log[-3:]
    assert (created.identity, created.verb, created.group, created.resource, created.namespace) == ("hookbus-tests", "create", "", "configmaps", "default")
    assert created.impersonate_user == "system:serviceaccount:default:robot"
    assert created.impersonate_groups == ("system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated")
    assert (got.verb, got.name, listed.verb, listed.impersonate_user) == ("get", "p", "list", "")
    assert kube.headers == {}, "impersonating gives a copy; the client stays itself"
