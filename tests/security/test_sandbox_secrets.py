"""Secrets given with a workflow (``-t secrets.yaml``): in the step's environment, never in
argv, a status, an event or ``hookbus logs``; a missing one fails the node as Kubernetes
refuses the pod."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from hookbus.controller.argo.errors import ManifestError
from hookbus.controller.argo.manifest import Bundle
from hookbus.controller.engine.controller import Controller
from hookbus.controller.engine.memory_store import MemoryStore
from hookbus.controller.engine.settings import ControllerSettings
from hookbus.controller.engine.templates import TemplateError
from hookbus.controller.engine.volumes import node_mounts
from hookbus.controller.executors.local import LocalExecutor
from tests.cli.test_e2e import hookbus, running_server
from tests.support.engine import by_name, load
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

SECRET_VALUE = "s3cr3t-hunter2-value"

SECRET = f"""
apiVersion: v1
kind: Secret
metadata: {{name: creds}}
data:
  password: {base64.b64encode(SECRET_VALUE.encode()).decode()}
stringData:
  user: alice
"""

USES = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: uses-secret}
spec:
  entrypoint: main
  templates:
  - name: main
    script:
      image: alpine
      command: [sh]
      env:
      - name: PASSWORD
        valueFrom: {secretKeyRef: {name: creds, key: password}}
      - name: USER_NAME
        valueFrom: {secretKeyRef: {name: creds, key: user}}
      - name: ABSENT
        valueFrom: {secretKeyRef: {name: other, key: x, optional: true}}
      source: |
        echo "user=$USER_NAME password=$PASSWORD absent=${ABSENT-unset}"
        sleep "${SLEEP:-0}"
"""


def bundle_with_secret() -> Bundle:
    bundle = Bundle()
    bundle.add(yaml.safe_load(SECRET))
    return bundle


@pytest.fixture
async def executor(tmp_path: Path) -> AsyncIterator[LocalExecutor]:
    local = LocalExecutor(tmp_path / "state")
    try:
        yield local
    finally:
        await local.close()


async def run(executor: LocalExecutor, text: str, bundle: Bundle | None = None, **wait: Any) -> tuple[Controller, dict[str, Any]]:
    settings = ControllerSettings(executor="local", state_dir=executor.state_dir)
    ctl = Controller(settings, store=MemoryStore(), executor=executor)
    await ctl.start()
    key = await ctl.submit(load(text), bundle=bundle)
    return ctl, await ctl.wait(key, timeout=60)


def cmdlines_holding(value: str | bytes) -> list[int]:
    """Host pids whose command line (its NUL-separated words) holds *value*."""
    wanted = value.encode() if isinstance(value, str) else value
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if wanted in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.append(int(entry))
    return found


async def test_a_secret_reaches_the_step_by_its_environment_only(executor: LocalExecutor) -> None:
    text = USES.replace('sleep "${SLEEP:-0}"', "sleep 2")
    settings = ControllerSettings(executor="local", state_dir=executor.state_dir)
    async with Controller(settings, store=MemoryStore(), executor=executor) as ctl:
        key = await ctl.submit(load(text), bundle=bundle_with_secret())
        seen: list[int] = []

        def running() -> bool:
            seen.extend(cmdlines_holding(SECRET_VALUE))
            return bool(cmdlines_holding(b"sleep\x002\x00"))

        await wait_for(running, timeout=30, what="the step to be running")
        seen.extend(cmdlines_holding(SECRET_VALUE))
        wf = await ctl.wait(key, timeout=60)
        values = ctl.secret_values(key)
    assert seen == [], "the secret is in no process's argv"
    node = by_name(wf)["uses-secret"]
    assert node["phase"] == "Succeeded", node.get("message")
    # the step saw the values; what it printed is redacted from its outputs
    assert node["outputs"]["result"] == "user=[redacted] password=[redacted] absent=unset"
    assert SECRET_VALUE not in json.dumps(wf), "no status holds the secret"
    assert SECRET_VALUE in values and "alice" in values
    log = Path(executor.state_dir) / "default" / "uses-secret" / node["id"] / "main.log"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert SECRET_VALUE in log.read_text()  # the node's own log file, readable by the controller's user only


async def test_a_missing_secret_or_key_fails_the_node_as_kubernetes_refuses_the_pod(executor: LocalExecutor) -> None:
    missing = USES.replace("name: creds, key: password", "name: nope, key: password")
    ctl, wf = await run(executor, missing, bundle_with_secret())
    await ctl.stop()
    node = by_name(wf)["uses-secret"]
    assert (node["phase"], node["message"]) == ("Error", 'secret "nope" not found')
    no_key = USES.replace("name: creds, key: password", "name: creds, key: pass")
    ctl, wf = await run(executor, no_key.replace("uses-secret", "no-key"), bundle_with_secret())
    await ctl.stop()
    node = by_name(wf)["no-key"]
    assert (node["phase"], node["message"]) == ("Error", "couldn't find key pass in Secret default/creds")
    ctl, wf = await run(executor, USES.replace("uses-secret", "no-bundle"))
    await ctl.stop()
    assert by_name(wf)["no-bundle"]["message"] == 'secret "creds" not found'


async def test_config_map_key_refs_in_env(executor: LocalExecutor) -> None:
    text = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: uses-config}
spec:
  entrypoint: main
  templates:
  - name: main
    container:
      image: alpine
      command: [sh, -c, 'echo "$MODE"']
      env:
      - name: MODE
        valueFrom: {configMapKeyRef: {name: settings, key: mode}}
"""
    bundle = Bundle()
    bundle.add({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"mode": "fast"}})
    ctl, wf = await run(executor, text, bundle)
    await ctl.stop()
    assert by_name(wf)["uses-config"]["outputs"]["result"] == "fast"
    ctl, wf = await run(executor, text.replace("uses-config", "no-config"))
    await ctl.stop()
    assert by_name(wf)["no-config"]["message"] == 'configmap "settings" not found'


async def test_hookbus_logs_redacts_secret_values(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret.yaml"
    secret_file.write_text(SECRET)
    manifest = tmp_path / "wf.yaml"
    manifest.write_text(USES)
    async with running_server(tmp_path / "state") as url:
        env = {"HOOKBUS_NATS_URL": url}
        code, out, err = await hookbus("submit", str(manifest), "-t", str(secret_file), env=env)
        assert code == 0, out + err
        code, out, err = await hookbus("watch", "uses-secret", env=env)
        assert code == 0, out + err
        code, out, err = await hookbus("logs", "uses-secret", env=env)
        assert code == 0, err
        assert out.strip() == "uses-secret: user=[redacted] password=[redacted] absent=unset"
        code, out, _ = await hookbus("get", "uses-secret", "-o", "json", env=env)
        assert code == 0 and SECRET_VALUE not in out


async def test_hookbus_run_log_redacts_secret_values(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret.yaml"
    secret_file.write_text(SECRET)
    manifest = tmp_path / "wf.yaml"
    manifest.write_text(USES)
    code, out, err = await hookbus("run", str(manifest), "-t", str(secret_file), "--log", "--state-dir", str(tmp_path / "state"))
    assert code == 0, out + err
    assert "uses-secret: user=[redacted] password=[redacted] absent=unset" in out
    assert SECRET_VALUE not in out + err


async def test_a_secret_volume_holds_the_secrets_keys(executor: LocalExecutor) -> None:
    text = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: secret-files}
spec:
  entrypoint: main
  volumes:
  - name: creds
    secret: {secretName: creds, items: [{key: password, path: pw}]}
  templates:
  - name: main
    container:
      image: alpine
      command: [sh, -c, 'test "$(cat /etc/creds/pw)" = "$EXPECTED" && echo same; ls /etc/creds']
      env: [{name: EXPECTED, value: PLACEHOLDER}]
      volumeMounts: [{name: creds, mountPath: /etc/creds}]
"""
    ctl, wf = await run(executor, text.replace("PLACEHOLDER", SECRET_VALUE), bundle_with_secret())
    await ctl.stop()
    node = by_name(wf)["secret-files"]
    assert (node["phase"], node["outputs"]["result"]) == ("Succeeded", "same\npw"), node.get("message")


def test_secret_volume_files_are_out_of_other_host_users_reach(tmp_path: Path) -> None:
    tmpl = {"container": {"volumeMounts": [{"name": "creds", "mountPath": "/etc/creds"}]}}
    spec = {"volumes": [{"name": "creds", "secret": {"secretName": "creds"}}]}
    mounts = node_mounts(
        tmpl, spec, root=tmp_path, namespace="ns", workflow="wf", node_id="n1",
        config_map=lambda name: None, secret={"creds": {"password": SECRET_VALUE}}.get,
    )
    folder = Path(mounts["/etc/creds"])
    assert (folder / "password").read_text() == SECRET_VALUE
    assert stat.S_IMODE(folder.parent.stat().st_mode) == 0o700  # the node reaches it through its mount only
    with pytest.raises(TemplateError, match='volume \'creds\': secret "other" not found'):
        node_mounts(
            tmpl, {"volumes": [{"name": "creds", "secret": {"secretName": "other"}}]}, root=tmp_path, namespace="ns",
            workflow="wf", node_id="n2", config_map=lambda name: None, secret={"creds": {}}.get,
        )


async def test_a_secret_that_is_not_base64_is_refused_at_submit(executor: LocalExecutor) -> None:
    bundle = Bundle()
    bundle.add({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"}, "data": {"password": "not base64!"}})
    settings = ControllerSettings(executor="local", state_dir=executor.state_dir)
    async with Controller(settings, store=MemoryStore(), executor=executor) as ctl:
        with pytest.raises(ManifestError, match=r'Secret "creds": data.password is not base64'):
            await ctl.submit(load(USES), bundle=bundle)


def test_plugins_see_no_secret_values_and_their_pod_changes_keep_them() -> None:
    from hookbus.controller.engine.pods import apply_pod, pod_of
    from hookbus.controller.engine.tasks import ProcessSpec, TaskSpec

    main = ProcessSpec("main", "alpine", ("sh",), (), {"PLAIN": "1"}, secret_env={"PASSWORD": SECRET_VALUE}, security_context={"runAsUser": 5})
    spec = TaskSpec("default", "wf", "n", "n", "t", main)
    pod = pod_of(spec, {"container": {"image": "alpine", "securityContext": {"runAsUser": 5}}})
    assert SECRET_VALUE not in json.dumps(pod)
    assert pod["main"]["env"] == {"PLAIN": "1"} and pod["main"]["securityContext"] == {"runAsUser": 5}
    pod["main"]["securityContext"] = {"runAsUser": 1000, "runAsNonRoot": True}  # a policy plugin's change
    pod["main"]["resources"] = {"limits": {"memory": "64Mi"}}
    changed = apply_pod(spec, pod)
    assert changed.main.secret_env == {"PASSWORD": SECRET_VALUE}
    assert changed.main.security_context == {"runAsUser": 1000, "runAsNonRoot": True}
    assert changed.main.resources == {"limits": {"memory": "64Mi"}}
