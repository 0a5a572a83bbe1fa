"""End to end: the ``hookbus`` command as a user runs it, as a separate process.

``hookbus run`` starts its own embedded NATS and controller; ``hookbus server``
runs in the background while client commands talk to it over NATS.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

ROOT = Path(__file__).resolve().parents[2]
HELLO = ROOT / "examples" / "hello-world.yaml"

FAILING = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: failing-}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: ok, template: say}
    - - {name: boom, template: fail}
  - name: say
    container: {image: busybox, command: [echo, fine]}
  - name: fail
    container: {image: busybox, command: [sh, -c, "echo going down; exit 3"]}
"""

INVALID = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: invalid-}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - {name: a, template: missing-template}
"""

SLEEPY = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: sleepy}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: first, template: nap}
    - - {name: second, template: nap}
  - name: nap
    container: {image: busybox, command: [sh, -c, "echo napping; sleep 0.5; echo awake"]}
"""


async def hookbus(
    *argv: str, env: dict[str, str] | None = None, timeout: float = 60
) -> tuple[int, str, str]:
    """Run ``python -m hookbus.controller.cli ARGV``; its exit code, stdout and stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hookbus.controller.cli",
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_run_hello_world_succeeds() -> None:
    code, out, err = await hookbus("run", str(HELLO.relative_to(ROOT)), "--log")
    assert code == 0, err
    assert "hello world" in out, "--log prints the pod's output"
    assert "Status:              Succeeded" in out
    tree = [line for line in out.splitlines() if line.startswith(" ✔ hello-world-")]
    assert len(tree) == 1, out
    assert "Succeeded" in err, "progress goes to stderr"


async def test_run_json_output_is_an_argo_workflow() -> None:
    code, out, err = await hookbus(
        "run", str(HELLO), "-o", "json", "-p", "greeting=bonjour", "--log"
    )
    assert code == 0
    workflow = json.loads(out)
    assert ": bonjour" in err, "with -o json the pod logs go to stderr"
    assert workflow["kind"] == "Workflow"
    assert workflow["metadata"]["name"].startswith("hello-world-")
    assert workflow["status"]["phase"] == "Succeeded"
    nodes = list(workflow["status"]["nodes"].values())
    assert [(n["type"], n["templateName"], n["phase"]) for n in nodes] == [
        ("Pod", "hello", "Succeeded")
    ]
    assert nodes[0]["id"] == workflow["metadata"]["name"], "the root node's id is the workflow name"
    assert nodes[0]["inputs"]["parameters"] == [{"name": "greeting", "value": "bonjour"}]


async def test_run_failed_workflow_exits_1(tmp_path: Path) -> None:
    manifest = tmp_path / "failing.yaml"
    manifest.write_text(FAILING)
    code, out, _err = await hookbus("run", str(manifest))
    assert code == 1
    assert "Status:              Failed" in out
    assert " ├───✔ ok" in out
    assert " └───✖ boom" in out
    assert "exit code 3" in out


async def test_run_invalid_workflow_exits_2_with_lint_messages(tmp_path: Path) -> None:
    manifest = tmp_path / "invalid.yaml"
    manifest.write_text(INVALID)
    code, out, err = await hookbus("run", str(manifest))
    assert code == 2
    assert out == ""
    assert "spec.templates[0].dag.tasks[0]" in err
    assert "missing-template" in err

    code, out, _err = await hookbus("lint", str(manifest), str(HELLO))
    assert code == 2
    assert "missing-template" in out
    code, out, _err = await hookbus("lint", str(HELLO))
    assert (code, out.strip()) == (0, "✔ no linting errors found!")


async def test_run_missing_workflow_template_ends_error_and_exits_1(tmp_path: Path) -> None:
    manifest = tmp_path / "ref.yaml"
    manifest.write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: by-ref}\n"
        "spec:\n  workflowTemplateRef: {name: greeter}\n"
    )
    code, out, err = await hookbus("run", str(manifest))
    assert code == 1, err
    assert "Status:              Error" in out
    assert 'workflowtemplate.argoproj.io "greeter" not found' in out
    assert "Warning:" in err and "greeter" in err, "lint's finding is shown before the run"


async def test_run_missing_file_and_bad_parameter_exit_2(tmp_path: Path) -> None:
    code, _out, err = await hookbus("run", str(tmp_path / "nope.yaml"))
    assert code == 2
    assert "nope.yaml" in err
    code, _out, err = await hookbus("run", str(HELLO), "-p", "greeting")
    assert code == 2
    assert "name=value" in err


@contextlib.asynccontextmanager
async def running_server(state_dir: Path, *extra: str) -> AsyncIterator[str]:
    """A ``hookbus server`` process; yields the NATS URL it printed, stops it with SIGTERM."""
    url_file = state_dir.parent / f"{state_dir.name}.url"
    url_file.unlink(missing_ok=True)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hookbus.controller.cli",
        "server",
        "--state-dir",
        str(state_dir),
        "--url-file",
        str(url_file),
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "HOOKBUS_NATS_URL"},
    )
    try:
        await wait_for(url_file.exists, timeout=30, what="the server to write its URL")
        url = url_file.read_text().strip()
        assert proc.stdout is not None
        first = (await proc.stdout.readline()).decode()
        assert url in first, "the server prints where clients should connect"
        yield url
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0, "SIGTERM is a clean shutdown"
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[str]:
    async with running_server(tmp_path / "state") as url:
        yield url


async def test_server_submit_get_watch_logs(server: str, tmp_path: Path) -> None:
    env = {"HOOKBUS_NATS_URL": server}
    manifest = tmp_path / "sleepy.yaml"
    manifest.write_text(SLEEPY)

    code, out, err = await hookbus("submit", str(manifest), "-o", "name", env=env)
    assert code == 0, err
    assert out.strip() == "sleepy"

    code, out, err = await hookbus("watch", "sleepy", env=env)
    assert code == 0, err
    assert "Status:              Succeeded" in out
    assert " ├───✔ first" in out and " └───✔ second" in out

    code, out, _err = await hookbus("get", "sleepy", "-o", "json", env=env)
    assert code == 0
    workflow = json.loads(out)
    assert workflow["status"]["phase"] == "Succeeded"
    by_name = {n["name"]: n for n in workflow["status"]["nodes"].values()}
    assert by_name["sleepy"]["type"] == "Steps"
    assert by_name["sleepy[0].first"]["type"] == "Pod"
    assert by_name["sleepy[1].second"]["phase"] == "Succeeded"
    assert by_name["sleepy[0].first"]["finishedAt"] <= by_name["sleepy[1].second"]["startedAt"]

    code, out, _err = await hookbus("logs", "sleepy", env=env)
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 4
    assert [line.split(": ", 1)[1] for line in lines] == ["napping", "awake", "napping", "awake"]

    code, out, _err = await hookbus("list", "-o", "name", env=env)
    assert (code, out.split()) == (0, ["sleepy"])

    code, out, _err = await hookbus("events", "--workflow", "sleepy", "-o", "json", env=env)
    assert code == 0
    types = [json.loads(line)["type"] for line in out.splitlines()]
    assert types.index("io.hookbus.workflow.running") < types.index("io.hookbus.workflow.succeeded")
    assert types.count("io.hookbus.node.succeeded") >= 3, "the steps node and its two pods"

    code, _out, err = await hookbus("submit", str(manifest), env=env)
    assert code != 0, "a workflow name that exists is refused"

    code, _out, _err = await hookbus("delete", "sleepy", env=env)
    assert code == 0
    code, _out, err = await hookbus("get", "sleepy", env=env)
    assert code == 3, err


async def test_submit_watch_failed_exit_1(server: str, tmp_path: Path) -> None:
    manifest = tmp_path / "failing.yaml"
    manifest.write_text(FAILING)
    code, out, _err = await hookbus(
        "submit", str(manifest), "--watch", env={"HOOKBUS_NATS_URL": server}
    )
    assert code == 1
    assert "Status:              Failed" in out


PLUGIN = """
from hookbus.bus import Plugin

plugin = Plugin("cli-test", version="1.0.0")


@plugin.node_pre_execute()
def seen(node=None, **kwargs):
    return {}
"""


async def test_plugin_run_serves_until_sigterm(nats_url: str, nc: Any, tmp_path: Path) -> None:
    from nats.errors import NoRespondersError

    from hookbus.bus import subjects
    from hookbus.bus.codec import decode_map, encode

    (tmp_path / "cli_test_plugin.py").write_text(PLUGIN)
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hookbus.controller.cli",
        "plugin",
        "run",
        "cli_test_plugin:plugin",
        "--nats-url",
        nats_url,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        env=env,
        cwd=ROOT,
    )
    try:
        subject = subjects.hook("cli-test", "node.preExecute")
        request = encode(
            {"v": 1, "hook": "node.preExecute", "workflow": {}, "items": [{"node": {}}]}
        )

        async def answers() -> bool:
            try:
                reply = await nc.request(subject, request, timeout=2)
            except NoRespondersError:
                return False
            return "results" in decode_map(reply.data) or bool(reply.data)

        await wait_for(answers, timeout=30, interval=0.1, what="the plugin to answer its hook")
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_plugin_run_bad_spec_exits_2(nats_url: str) -> None:
    code, _out, err = await hookbus(
        "plugin", "run", "no_such_module_here:plugin", "--nats-url", nats_url
    )
    assert code == 2
    assert "no_such_module_here" in err


async def test_run_interrupted_terminates_the_workflow(tmp_path: Path) -> None:
    manifest = tmp_path / "long.yaml"
    manifest.write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: long}\n"
        "spec:\n  entrypoint: main\n  templates:\n  - name: main\n"
        "    container: {image: busybox, command: [sleep, '60']}\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hookbus.controller.cli",
        "run",
        str(manifest),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        assert proc.stderr is not None and proc.stdout is not None
        while b"Running" not in (line := await asyncio.wait_for(proc.stderr.readline(), 30)):
            assert line, "the run ended before it showed progress"
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 130, err.decode()
        text = out.decode()
        assert "Name:                long" in text
        assert "Running" not in text.split("STEP")[0], "the final tree shows the workflow ended"
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_server_on_an_external_nats(nats_url: str, tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hookbus.controller.cli",
        "server",
        "--nats-url",
        nats_url,
        "--executor",
        "simulate",
        "--url-file",
        str(tmp_path / "url"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        cwd=ROOT,
    )
    try:
        await wait_for((tmp_path / "url").exists, timeout=30, what="the server to be ready")
        assert (tmp_path / "url").read_text().strip() == nats_url, "it reports the server it uses"
        code, out, err = await hookbus(
            "submit", str(HELLO), "--watch", "-o", "json", env={"HOOKBUS_NATS_URL": nats_url}
        )
        assert code == 0, err
        workflow = json.loads(out)
        assert workflow["status"]["phase"] == "Succeeded"
        assert len(workflow["status"]["nodes"]) == 1
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_run_simulate_starts_no_process() -> None:
    code, out, err = await hookbus(
        "run", str(ROOT / "examples" / "diamond.yaml"), "--executor", "simulate", "--log"
    )
    assert code == 0, err
    assert "Progress:            4/4" in out
    assert ": " not in out.split("Name:")[0], "no pod wrote a log line"


async def test_workflows_survive_a_server_restart(tmp_path: Path) -> None:
    state = tmp_path / "state"
    failing = tmp_path / "failing.yaml"
    failing.write_text(FAILING.replace("generateName: failing-", "name: failing"))
    async with running_server(state) as url:
        env = {"HOOKBUS_NATS_URL": url}
        code, out, err = await hookbus(
            "submit", str(HELLO), "--name", "hello", "-o", "name", env=env
        )
        assert (code, out.strip()) == (0, "hello"), err
        assert (await hookbus("submit", str(failing), env=env))[0] == 0
        code, out, _err = await hookbus("wait", "hello", env=env)
        assert (code, out.strip()) == (0, "hello Succeeded")
        code, out, _err = await hookbus("wait", "failing", "hello", env=env)
        assert code == 1
        assert out.splitlines()[0].startswith("failing Failed")
    async with running_server(state) as url:
        env = {"HOOKBUS_NATS_URL": url}
        code, out, _err = await hookbus("list", "-o", "name", env=env)
        assert sorted(out.split()) == ["failing", "hello"]
        code, out, _err = await hookbus("get", "hello", "-o", "json", env=env)
        workflow = json.loads(out)
        assert workflow["status"]["phase"] == "Succeeded"
        assert [n["phase"] for n in workflow["status"]["nodes"].values()] == ["Succeeded"]
        code, _out, err = await hookbus("retry", "hello", env=env)
        assert code == 4, f"a Succeeded workflow cannot be retried: {err}"
        assert (await hookbus("retry", "failing", env=env))[0] == 0
        code, out, _err = await hookbus("wait", "failing", env=env)
        assert code == 1, "it fails again: its failing step always exits 3"


DENY_PLUGIN = """
from hookbus.bus import Plugin, reject

plugin = Plugin("deny-evil", version="1.0.0")


@plugin.workflow_pre_operate(timeout=5.0, mutating=False)
def check(workflow, **kwargs):
    for template in workflow["spec"].get("templates", []):
        image = (template.get("container") or {}).get("image", "")
        if image.startswith("evil/"):
            return reject(f"template {template['name']!r} uses image {image!r}, which is not allowed")
    return None
"""

EVIL = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: evil-}
spec:
  entrypoint: main
  templates:
  - name: main
    container: {image: evil/miner, command: [echo, mining]}
"""


async def test_a_plugin_rejects_a_workflow_through_the_server(server: str, tmp_path: Path) -> None:
    pytest.importorskip("hookbus.controller.adapters.plugin_hooks")
    (tmp_path / "deny_plugin.py").write_text(DENY_PLUGIN)
    (tmp_path / "evil.yaml").write_text(EVIL)
    env = {"HOOKBUS_NATS_URL": server}
    plugin_env = {
        **os.environ,
        **env,
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    plugin = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hookbus.controller.cli",
        "plugin",
        "run",
        "deny_plugin:plugin",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        env=plugin_env,
        cwd=tmp_path,
    )
    outcome: list[tuple[int, str]] = []

    async def rejected() -> bool:
        # Until the server has seen the plugin register, a submit is accepted: delete and try again.
        code, out, err = await hookbus("submit", str(tmp_path / "evil.yaml"), "-o", "name", env=env)
        if code == 0:
            await hookbus("delete", out.strip(), env=env)
            return False
        outcome.append((code, err))
        return "failed at once" in err  # anything else (a busy server timing out): try again

    try:
        await wait_for(rejected, timeout=60, interval=0.2, what="the plugin to reject the workflow")
        code, err = outcome[-1]
        assert code == 1, f"a rejected workflow exists, failed at once: {err}"
        assert "failed at once" in err and "evil/miner" in err and "deny-evil" in err
        code, out, _err = await hookbus("list", "-o", "json", env=env)
        failed = [w for w in json.loads(out) if w["status"]["phase"] == "Failed"]
        assert failed and "deny-evil" in failed[0]["status"]["message"]
        code, out, _err = await hookbus("get", failed[0]["metadata"]["name"], "-o", "json", env=env)
        assert not json.loads(out)["status"].get("nodes"), "nothing of a rejected workflow runs"
        code, out, err = await hookbus("submit", str(HELLO), "--watch", "-o", "name", env=env)
        assert code == 0, "workflows the plugin does not object to still run"
        code, out, err = await hookbus("run", str(tmp_path / "evil.yaml"), "--nats-url", server)
        assert code == 1, "hookbus run on that NATS calls the plugins registered there"
        assert "deny-evil" in out + err
        code, _out, _err = await hookbus(
            "run", str(tmp_path / "evil.yaml"), "--nats-url", server, "--no-plugins"
        )
        assert code == 0
    finally:
        plugin.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(plugin.wait(), 30)
        finally:
            if plugin.returncode is None:
                plugin.kill()
                await plugin.wait()


APPROVAL = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: approval}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: approve, template: approve}
    - - {name: release, template: say}
  - name: approve
    suspend: {}
  - name: say
    container: {image: busybox, command: [echo, released]}
"""


async def test_resume_a_suspend_node(server: str, tmp_path: Path) -> None:
    env = {"HOOKBUS_NATS_URL": server}
    (tmp_path / "approval.yaml").write_text(APPROVAL)
    assert (await hookbus("submit", str(tmp_path / "approval.yaml"), env=env))[0] == 0

    async def waiting() -> bool:
        _code, out, _err = await hookbus("get", "approval", "-o", "json", env=env)
        nodes = json.loads(out)["status"].get("nodes", {}).values()
        return any(n.get("type") == "Suspend" and n.get("phase") == "Running" for n in nodes)

    await wait_for(waiting, timeout=30, interval=0.2, what="the suspend node to wait")
    code, out, _err = await hookbus("get", "approval", env=env)
    assert "ǁ approve" in out, "a waiting suspend node shows as suspended"
    assert (await hookbus("resume", "approval", env=env))[0] == 0
    code, out, _err = await hookbus("wait", "approval", env=env)
    assert (code, out.strip()) == (0, "approval Succeeded")
    _code, out, _err = await hookbus("logs", "approval", env=env)
    assert out.strip().endswith(": released")


async def test_resume_refused_while_a_supplied_output_is_unset(server: str, tmp_path: Path) -> None:
    env = {"HOOKBUS_NATS_URL": server}
    manifest = APPROVAL.replace(
        "  - name: approve\n    suspend: {}\n",
        "  - name: approve\n    suspend: {}\n    outputs: {parameters: [{name: answer, valueFrom: {supplied: {}}}]}\n",
    )
    assert "supplied" in manifest
    (tmp_path / "approval.yaml").write_text(manifest)
    assert (await hookbus("submit", str(tmp_path / "approval.yaml"), env=env))[0] == 0

    async def waiting() -> bool:
        _code, out, _err = await hookbus("get", "approval", "-o", "json", env=env)
        nodes = json.loads(out)["status"].get("nodes", {}).values()
        return any(n.get("type") == "Suspend" and n.get("phase") == "Running" for n in nodes)

    await wait_for(waiting, timeout=30, interval=0.2, what="the suspend node to wait")
    code, _out, err = await hookbus("resume", "approval", env=env)
    assert code != 0
    assert "raw output parameter 'answer' has not been set and does not have a default value" in err
    assert (await hookbus("terminate", "approval", env=env))[0] == 0


async def test_submit_sends_the_templates_a_workflow_refers_to(server: str, tmp_path: Path) -> None:
    templates = tmp_path / "templates.yaml"
    templates.write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: WorkflowTemplate\nmetadata: {name: greeter}\n"
        "spec:\n  entrypoint: greet\n  arguments: {parameters: [{name: who, value: world}]}\n"
        "  templates:\n  - name: greet\n    inputs: {parameters: [{name: who}]}\n"
        "    container: {image: busybox, command: [echo, 'hello {{inputs.parameters.who}}']}\n"
    )
    ref = tmp_path / "ref.yaml"
    ref.write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: by-ref}\n"
        "spec:\n  workflowTemplateRef: {name: greeter}\n"
    )
    env = {"HOOKBUS_NATS_URL": server}
    missing = tmp_path / "missing.yaml"
    missing.write_text(ref.read_text().replace("by-ref", "by-missing-ref"))
    code, out, err = await hookbus("submit", str(missing), "--watch", env=env)
    assert code == 1, "without its template the reference does not resolve: Argo ends it Error"
    assert 'workflowtemplate.argoproj.io "greeter" not found' in out + err
    code, out, err = await hookbus(
        "submit", str(ref), "-t", str(templates), "-p", "who=bus", "--watch", env=env
    )
    assert code == 0, err
    _code, out, _err = await hookbus("logs", "by-ref", env=env)
    assert out.strip().endswith("hello bus")

    async with running_server(tmp_path / "state2", "-t", str(templates)) as url:
        env = {"HOOKBUS_NATS_URL": url}
        code, out, err = await hookbus("submit", str(ref), "--watch", env=env)
        assert code == 0, f"the server's own templates resolve the reference: {err}"
        _code, out, _err = await hookbus("logs", "by-ref", env=env)
        assert out.strip().endswith("hello world"), "the template's default argument"
