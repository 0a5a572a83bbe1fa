"""Kubernetes mode end to end: Workflow objects in, real Pod manifests out, outcomes back.

A whole controller process (embedded nats-server, JetStream store) follows the test API
server with the Kubernetes executor. The simulated kubelet runs each pod's ``main`` on this
host behind the real launcher (:mod:`tests.kube.podrun`), so exit codes, results and output
parameters come back as the launcher reports them in the termination message.
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

import pytest
import yaml

from hookbus.bus.testing import wait_registered
from hookbus.controller.app import Hookbus
from hookbus.controller.argo.labels import INSTANCE_LABEL, NODE_NAME_ANNOTATION, WORKFLOW_LABEL
from hookbus.controller.kube.launcher import LAUNCHER_PATH
from hookbus.controller.kube.resources import WORKFLOWS
from hookbus.controller.settings import ExecutorSettings, HookbusSettings
from tests.kube.podrun import HostRule, build_launcher, container
from tests.kube.support import app_settings, manifest
from tests.support.kubelet import Kubelet, Outcome
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from hookbus.controller.kube.client import KubeClient
    from tests.support.kubeapi import KubeApi

Obj = dict[str, Any]
ROOT = Path(__file__).resolve().parents[2]
HOOKBUS = Path(sys.executable).parent / "hookbus"


@pytest.fixture(scope="module")
def launcher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_launcher(tmp_path_factory.mktemp("launcher"))


@pytest.fixture
def rule(launcher: Path, tmp_path: Path, kube_api: KubeApi) -> HostRule:
    return HostRule(launcher, tmp_path / "pods", api=kube_api)


def pod_settings(server: str, tmp_path: Path, *, plugins: bool = False) -> HookbusSettings:
    """A whole process in Kubernetes mode with the Kubernetes executor."""
    settings = app_settings(server, tmp_path)
    return replace(settings, executor=ExecutorSettings(kind="kubernetes"), plugins=plugins)


def workflow(text: str) -> Obj:
    return manifest(yaml.safe_load(text))


def phase(api: KubeApi, name: str) -> str | None:
    obj = api.get("workflows", "default", name)
    return None if obj is None else (obj.get("status") or {}).get("phase")


def pods(api: KubeApi) -> list[Obj]:
    return api.objects("pods", "default")


def pod_of(api: KubeApi, node_name: str) -> Obj | None:
    return next((p for p in pods(api) if p["metadata"]["annotations"].get(NODE_NAME_ANNOTATION) == node_name), None)


def watching_pods(api: KubeApi) -> bool:
    """Whether a pod watch stream is open on the server."""
    return any(w.kind.plural == "pods" for w in api._watches)


def nodes(api: KubeApi, name: str) -> dict[str, Obj]:
    obj = api.get("workflows", "default", name) or {}
    return {n["displayName"]: n for n in ((obj.get("status") or {}).get("nodes") or {}).values()}


async def succeeded(api: KubeApi, name: str, timeout: float = 30) -> None:
    def done() -> bool:
        got = phase(api, name)
        assert got not in ("Failed", "Error"), (api.get("workflows", "default", name) or {}).get("status")
        return got == "Succeeded"

    await wait_for(done, timeout=timeout, what=f"{name} Succeeded")


HELLO = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: hello-world}
spec:
  entrypoint: main
  templates:
    - name: main
      container: {image: busybox, command: [echo], args: ["hello world"]}
"""


async def test_hello_world_runs_as_one_pod_with_owner_labels_and_the_users_command(
    kube: KubeClient, kube_api: KubeApi, tmp_path: Path, rule: HostRule
) -> None:
    async with Hookbus(pod_settings(str(kube_api.url), tmp_path)), Kubelet(kube_api).run(rule):
        created = await kube.create(WORKFLOWS, "default", workflow(HELLO))
        await succeeded(kube_api, "hello-world")
        assert len(kube_api.requests("POST", "pods")) == 1
        (pod,) = pods(kube_api)
        labels = pod["metadata"]["labels"]
        assert labels[WORKFLOW_LABEL] == "hello-world" and labels[INSTANCE_LABEL] == "hookbus"
        (owner,) = pod["metadata"]["ownerReferences"]
        assert owner["kind"] == "Workflow" and owner["name"] == "hello-world"
        assert owner["uid"] == created["metadata"]["uid"] and owner["controller"] is True
        main = container(pod, "main")
        assert main["image"] == "busybox"
        assert main["command"][0] == LAUNCHER_PATH and main["command"][-2:] == ["--", "echo"]
        assert main["args"] == ["hello world"]
        (node,) = nodes(kube_api, "hello-world").values()
        assert node["phase"] == "Succeeded"
        await wait_for(lambda: pods(kube_api)[0]["metadata"]["labels"]["workflows.argoproj.io/completed"] == "true",
                       what="the pod labelled completed")


RETRY = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: retry}
spec:
  entrypoint: flaky
  templates:
    - name: flaky
      retryStrategy: {limit: 2}
      container:
        image: busybox
        command: [sh, -c, 'test -e "$FLAG" || { touch "$FLAG"; echo first attempt fails >&2; exit 3; }']
        env: [{name: FLAG, value: FLAGFILE}]
"""


async def test_a_failed_pod_is_retried_in_a_second_pod_with_a_new_name(
    kube: KubeClient, kube_api: KubeApi, tmp_path: Path, rule: HostRule
) -> None:
    async with Hookbus(pod_settings(str(kube_api.url), tmp_path)), Kubelet(kube_api).run(rule):
        await kube.create(WORKFLOWS, "default", workflow(RETRY.replace("FLAGFILE", str(tmp_path / "flag"))))
        await succeeded(kube_api, "retry")
        created = kube_api.requests("POST", "pods")
        assert len(created) == 2
        names = {p["metadata"]["name"] for p in pods(kube_api)}
        assert len(names) == 2
        attempts = {n: v for n, v in nodes(kube_api, "retry").items() if n.startswith("retry(")}
        assert attempts["retry(0)"]["phase"] == "Failed" and "exit code 3" in attempts["retry(0)"]["message"]
        assert attempts["retry(1)"]["phase"] == "Succeeded"


FAILING = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: failing}
spec:
  entrypoint: main
  templates:
    - name: main
      container: {image: busybox, command: [sh, -c, "exit 7"]}
"""


async def test_a_failing_pod_fails_the_workflow(kube: KubeClient, kube_api: KubeApi, tmp_path: Path, rule: HostRule) -> None:
    async with Hookbus(pod_settings(str(kube_api.url), tmp_path)), Kubelet(kube_api).run(rule):
        await kube.create(WORKFLOWS, "default", workflow(FAILING))
        await wait_for(lambda: phase(kube_api, "failing") == "Failed", timeout=30, what="Failed")
        (node,) = nodes(kube_api, "failing").values()
        assert "exit code 7" in node["message"]


DIAMOND = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: diamond}
spec:
  entrypoint: main
  templates:
    - name: main
      dag:
        tasks:
          - {name: A, template: echo}
          - {name: B, template: echo, dependencies: [A]}
          - {name: C, template: echo, dependencies: [A]}
          - {name: D, template: echo, dependencies: [B, C]}
    - name: echo
      container: {image: busybox, command: [echo, hi]}
"""


async def test_a_dag_diamond_creates_ds_pod_only_after_b_and_c_succeeded(
    kube: KubeClient, kube_api: KubeApi, tmp_path: Path, rule: HostRule
) -> None:
    seen_when_d_ran: dict[str, str] = {}

    def watching(pod: Obj) -> Outcome:
        if pod["metadata"]["annotations"][NODE_NAME_ANNOTATION] == "diamond.D":
            for task in ("B", "C"):
                other = pod_of(kube_api, f"diamond.{task}")
                seen_when_d_ran[task] = "" if other is None else (other.get("status") or {}).get("phase", "")
        return rule(pod)

    async with Hookbus(pod_settings(str(kube_api.url), tmp_path)), Kubelet(kube_api).run(watching):
        await kube.create(WORKFLOWS, "default", workflow(DIAMOND))
        await succeeded(kube_api, "diamond")
    assert seen_when_d_ran == {"B": "Succeeded", "C": "Succeeded"}
    assert len(kube_api.requests("POST", "pods")) == 4
    assert rule.ran[0] == pod_of(kube_api, "diamond.A")["metadata"]["name"]  # type: ignore[index]
    assert rule.ran[-1] == pod_of(kube_api, "diamond.D")["metadata"]["name"]  # type: ignore[index]


OUTPUTS = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: outputs}
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - {name: flip, template: flip}
        - - {name: heads, template: say, when: "{{steps.flip.outputs.result}} == heads", arguments: {parameters: [{name: msg, value: was heads}]}}
          - {name: tails, template: say, when: "{{steps.flip.outputs.result}} == tails", arguments: {parameters: [{name: msg, value: was tails}]}}
        - - {name: write, template: write}
        - - {name: read, template: say, arguments: {parameters: [{name: msg, value: "{{steps.write.outputs.parameters.word}}"}]}}
    - name: flip
      script:
        image: busybox
        command: [sh]
        source: |
          echo heads
    - name: write
      container: {image: busybox, command: [sh, -c, "printf from-a-file > OUTFILE"]}
      outputs:
        parameters: [{name: word, valueFrom: {path: OUTFILE}}]
    - name: say
      inputs: {parameters: [{name: msg}]}
      container: {image: busybox, command: [echo, "{{inputs.parameters.msg}}"]}
"""


async def test_a_scripts_result_drives_when_and_a_file_output_flows_downstream(
    kube: KubeClient, kube_api: KubeApi, tmp_path: Path, rule: HostRule
) -> None:
    text = OUTPUTS.replace("OUTFILE", str(tmp_path / "word.txt"))
    async with Hookbus(pod_settings(str(kube_api.url), tmp_path)), Kubelet(kube_api).run(rule):
        await kube.create(WORKFLOWS, "default", workflow(text))
        await succeeded(kube_api, "outputs")
    by_name = nodes(kube_api, "outputs")
    assert by_name["flip"]["outputs"]["result"] == "heads"
    assert by_name["heads"]["phase"] == "Succeeded" and by_name["tails"]["phase"] == "Skipped"
    assert pod_of(kube_api, "outputs[1].tails") is None, "a skipped step has no pod"
    assert by_name["write"]["outputs"]["parameters"][0]["value"] == "from-a-file"
    read = pod_of(kube_api, "outputs[3].read")
    assert read is not None and container(read, "main")["command"][-2:] == ["echo", "from-a-file"]
    flip = pod_of(kube_api, "outputs[0].flip")
    assert flip is not None and container(flip, "main")["args"] == ["/argo/staging/script"]


POLICY = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: NAME}
spec:
  entrypoint: main
  templates:
    - name: main
      container:
        image: busybox
        command: [echo, hi]
        resources: {limits: {memory: 64Mi}}
        securityContext: {privileged: PRIVILEGED}
"""


@contextlib.asynccontextmanager
async def plugin(app: Hookbus, name: str, file: str) -> AsyncIterator[None]:
    """``hookbus plugin run examples/plugins/<file>`` against *app*'s NATS, registered as *name*."""
    proc = await asyncio.create_subprocess_exec(
        str(HOOKBUS), "plugin", "run", str(ROOT / "examples" / "plugins" / file), "--nats-url", app.nats_url,
        env={**os.environ, "HOOKBUS_LOG_FORMAT": "json"}, stdin=asyncio.subprocess.DEVNULL,
    )
    try:
        assert app.registry is not None
        await wait_registered(app.registry, name, timeout=30)
        yield
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def test_pod_precreate_plugins_see_the_real_pod_and_their_patch_is_created(
    kube: KubeClient, kube_api: KubeApi, tmp_path: Path, rule: HostRule
) -> None:
    settings = pod_settings(str(kube_api.url), tmp_path, plugins=True)
    async with Hookbus(settings) as app, plugin(app, "pod-policy", "pod_policy.py"), Kubelet(kube_api).run(rule):
        await kube.create(WORKFLOWS, "default", workflow(POLICY.replace("NAME", "plain").replace("PRIVILEGED", "false")))
        await succeeded(kube_api, "plain")
        (pod,) = pods(kube_api)
        meta = pod["metadata"]
        assert meta["labels"]["hookbus.io/owner"] == "default"
        assert meta["annotations"]["hookbus.io/policy"] == "checked"
        assert meta["labels"][WORKFLOW_LABEL] == "plain" and meta["ownerReferences"]
        names = [c["name"] for c in pod["spec"]["containers"]]
        assert names == ["main", "log-shipper"]
        main = container(pod, "main")
        assert main["command"][0] == LAUNCHER_PATH and main["command"][-3:] == ["--", "echo", "hi"]
        assert main["resources"] == {"limits": {"memory": "64Mi"}}
        assert [c["name"] for c in pod["spec"]["initContainers"]] == ["init"], "the launcher's init once"

        await kube.create(WORKFLOWS, "default", workflow(POLICY.replace("NAME", "privileged").replace("PRIVILEGED", "true")))
        await wait_for(lambda: phase(kube_api, "privileged") in ("Failed", "Error"), timeout=30, what="vetoed")
        (node,) = nodes(kube_api, "privileged").values()
        assert node["phase"] == "Error"
        assert "pod creation vetoed" in node["message"] and "privileged" in node["message"]
        assert "pod-policy" in node["message"]
        assert not [r for r in kube_api.requests("POST", "pods") if (r.body or {}).get("metadata", {}).get("labels", {}).get(WORKFLOW_LABEL) == "privileged"]
        assert len(pods(kube_api)) == 1, "a veto creates nothing"


WAIT_POD = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: restarted}
spec:
  entrypoint: main
  templates:
    - name: main
      container: {image: busybox, command: [echo, hi]}
"""


async def test_a_restarted_controller_reattaches_to_its_pod(kube: KubeClient, kube_api: KubeApi, tmp_path: Path) -> None:
    settings = pod_settings(str(kube_api.url), tmp_path)
    async with Hookbus(settings):
        await kube.create(WORKFLOWS, "default", workflow(WAIT_POD))
        await wait_for(lambda: len(pods(kube_api)) == 1, timeout=30, what="the pod created")
        await wait_for(lambda: phase(kube_api, "restarted") == "Running", timeout=30, what="Running")
    assert len(kube_api.requests("POST", "pods")) == 1
    kubelet = Kubelet(kube_api)
    async with Hookbus(settings):
        await wait_for(lambda: len([r for r in kube_api.requests("GET", "pods") if r.watch]) >= 2, timeout=30, what="the pod watched again")
        (pod,) = pods(kube_api)
        name = pod["metadata"]["name"]
        kubelet.start("default", name)
        kubelet.finish("default", name, Outcome(0, "hi\n", '{"hookbus": 1, "exitCode": 0, "result": "hi"}'))
        await succeeded(kube_api, "restarted")
        assert len(kube_api.requests("POST", "pods")) == 1, "no second create"
        (node,) = nodes(kube_api, "restarted").values()
        assert node["outputs"]["result"] == "hi"


async def test_a_pod_deleted_under_a_running_node_is_an_error_and_retried(kube: KubeClient, kube_api: KubeApi, tmp_path: Path) -> None:
    text = WAIT_POD.replace("name: restarted", "name: vanished").replace("- name: main\n", "- name: main\n      retryStrategy: {limit: 1, retryPolicy: Always}\n")
    kubelet = Kubelet(kube_api)
    async with Hookbus(pod_settings(str(kube_api.url), tmp_path)):
        await kube.create(WORKFLOWS, "default", workflow(text))
        await wait_for(lambda: len(pods(kube_api)) == 1, timeout=30, what="the first pod")
        first = pods(kube_api)[0]["metadata"]["name"]
        await wait_for(lambda: watching_pods(kube_api), what="the pod watch open")
        kube_api.remove("pods", "default", first)
        await wait_for(lambda: len(pods(kube_api)) == 1 and pods(kube_api)[0]["metadata"]["name"] != first, timeout=30, what="the second pod")
        second = pods(kube_api)[0]["metadata"]["name"]
        kubelet.start("default", second)
        kubelet.finish("default", second, Outcome(0, "", '{"hookbus": 1, "exitCode": 0}'))
        await succeeded(kube_api, "vanished")
        attempts = nodes(kube_api, "vanished")
        assert attempts["vanished(0)"]["phase"] == "Error" and attempts["vanished(0)"]["message"] == "pod deleted"


async def test_deleting_the_workflow_deletes_its_pods(kube: KubeClient, kube_api: KubeApi, tmp_path: Path) -> None:
    text = WAIT_POD.replace("name: restarted", "name: doomed")
    async with Hookbus(pod_settings(str(kube_api.url), tmp_path)):
        await kube.create(WORKFLOWS, "default", workflow(text))
        await wait_for(lambda: len(pods(kube_api)) == 1, timeout=30, what="the pod")
        await kube.delete(WORKFLOWS, "default", "doomed")
        await wait_for(lambda: not pods(kube_api), timeout=30, what="the pod deleted")


def test_settings_for_pods_come_from_the_environment_and_flags(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from hookbus.controller.cli import build_parser, settings_from_args
    from hookbus.controller.cli.common import CliError
    from hookbus.controller.settings import from_env

    env = {
        "HOOKBUS_EXECUTOR": "kubernetes", "HOOKBUS_LAUNCHER_IMAGE": "registry.example/hookbus:9",
        "HOOKBUS_POD_SERVICE_ACCOUNT": "workload", "HOOKBUS_IMAGES_FILE": "/etc/hookbus/images.yaml",
        "HOOKBUS_NAMESPACE": "hookbus",
    }
    settings = from_env(env)
    kube = settings.kubernetes
    assert settings.executor.kind == "kubernetes" and kube.enabled, "the kubernetes executor implies Kubernetes mode"
    assert kube.launcher_image == "registry.example/hookbus:9" and kube.pod_service_account == "workload"
    assert kube.images_file == Path("/etc/hookbus/images.yaml") and kube.namespace == "hookbus"
    with pytest.raises(ValueError, match="HOOKBUS_EXECUTOR"):
        from_env({"HOOKBUS_EXECUTOR": "docker"})

    parse = build_parser().parse_args
    monkeypatch.delenv("HOOKBUS_EXECUTOR", raising=False)
    assert settings_from_args(parse(["server", "--kubernetes"])).executor.kind == "kubernetes"
    assert settings_from_args(parse(["server", "--kubernetes", "--executor", "simulate"])).executor.kind == "simulate"
    assert settings_from_args(parse(["server", "--executor", "kubernetes"])).kubernetes.enabled
    assert settings_from_args(parse(["server"])).executor.kind == "local"
    good = tmp_path / "good.yaml"
    good.write_text("busybox: {cmd: [sh]}\n")
    for name, value in {**env, "HOOKBUS_IMAGES_FILE": str(good)}.items():
        monkeypatch.setenv(name, value)
    from_deploy = settings_from_args(parse(["server", "--state-dir", str(tmp_path)]))
    assert from_deploy.kubernetes.enabled and from_deploy.kubernetes.namespace == "hookbus"
    assert settings_from_args(parse(["server", "-n", "other"])).kubernetes.namespace == "other"
    bad = tmp_path / "images.yaml"
    bad.write_text("busybox: 3\n")
    monkeypatch.setenv("HOOKBUS_IMAGES_FILE", str(bad))
    with pytest.raises(CliError, match=r"images file .*images\.yaml: images\.busybox"):
        settings_from_args(parse(["server"]))


async def test_the_kubernetes_executor_needs_kubernetes_mode(tmp_path: Path) -> None:
    settings = HookbusSettings(executor=ExecutorSettings(kind="kubernetes"), state_dir=tmp_path, plugins=False)
    with pytest.raises(ValueError, match="Kubernetes mode only"):
        async with Hookbus(settings):
            pass


async def test_a_bad_images_file_is_named(kube_api: KubeApi, tmp_path: Path) -> None:
    bad = tmp_path / "images.yaml"
    bad.write_text("busybox: [not, a, map]\n")
    settings = pod_settings(str(kube_api.url), tmp_path)
    settings = replace(settings, kubernetes=replace(settings.kubernetes, images_file=bad))
    with pytest.raises(ValueError, match=r"images file .*images\.yaml: images\.busybox"):
        async with Hookbus(settings):
            pass


PODGC = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: collected}
spec:
  entrypoint: main
  podGC: {strategy: OnWorkflowSuccess}
  templates:
    - name: main
      steps:
        - - {name: one, template: echo}
        - - {name: two, template: echo}
    - name: echo
      container: {image: busybox, command: [echo, hi]}
"""


async def test_pod_gc_on_workflow_success_deletes_the_pods_when_it_ends(
    kube: KubeClient, kube_api: KubeApi, tmp_path: Path, rule: HostRule
) -> None:
    async with Hookbus(pod_settings(str(kube_api.url), tmp_path)), Kubelet(kube_api).run(rule):
        await kube.create(WORKFLOWS, "default", workflow(PODGC))
        await succeeded(kube_api, "collected")
        await wait_for(lambda: not pods(kube_api), timeout=30, what="the pods collected")
    assert len(kube_api.requests("POST", "pods")) == 2
    assert len(kube_api.requests("DELETE", "pods")) == 2


async def test_a_pod_deleted_while_no_watch_ran_is_found_by_the_next_list(kube: KubeClient, kube_api: KubeApi, tmp_path: Path) -> None:
    text = WAIT_POD.replace("name: restarted", "name: unseen")
    async with Hookbus(pod_settings(str(kube_api.url), tmp_path)):
        await kube.create(WORKFLOWS, "default", workflow(text))
        await wait_for(lambda: len(pods(kube_api)) == 1 and watching_pods(kube_api), timeout=30, what="the pod, watched")
        lists = len([r for r in kube_api.requests("GET", "pods") if not r.watch and r.name is None])
        kube_api.end_watches()  # the stream ends before the delete's event is sent
        kube_api.remove("pods", "default", pods(kube_api)[0]["metadata"]["name"])
        await wait_for(lambda: phase(kube_api, "unseen") in ("Failed", "Error"), timeout=30, what="the workflow ended")
        (node,) = nodes(kube_api, "unseen").values()
        assert node["message"] == "pod deleted"
        assert len([r for r in kube_api.requests("GET", "pods") if not r.watch and r.name is None]) > lists
