"""The plugin use cases, end to end: the controller, plugin processes, a real nats-server."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.hookstack import Stack, make_stack
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

pytestmark = pytest.mark.slow

STEPS = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: uc-}
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - {name: first, template: work}
        - - {name: second, template: work}
    - name: work
      container: {image: IMAGE, command: [echo], args: [hi]}
"""


@pytest.fixture
async def stack(nats_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    s = await make_stack(nats_url, tmp_path / "state")
    yield s
    await s.close()


async def test_image_allowlist_rejects_a_workflow_naming_template_and_image(stack: Stack) -> None:
    await stack.plugin("image-allowlist", "image_allowlist.py", {"HOOKBUS_ALLOWED_IMAGES": "alpine:*"})
    events: list[str] = []

    async def on_event(msg: Any) -> None:
        events.append((msg.headers or {}).get("ce-type", ""))

    sub = await stack.nc.subscribe("hookbus.event.v1.default.*.>", cb=on_event)
    try:
        rejected = await stack.run(STEPS.replace("IMAGE", "evil/miner:1"))
        wanted = {"io.hookbus.plugin.rejected", "io.hookbus.workflow.failed"}
        await wait_for(lambda: wanted <= set(events), timeout=10, what="the rejection and failure events")
    finally:
        await sub.unsubscribe()
    status = rejected["status"]
    assert status["phase"] == "Failed" and not status.get("nodes"), "rejected: failed at once, nothing ran"
    message = status["message"]
    assert "template 'work'" in message and "'evil/miner:1'" in message and "image-allowlist" in message
    # the record, the phase event and the verdict event are all there for anyone watching
    stored = {s.key.name: s for s in await stack.controller.store.load_all()}
    assert stored[rejected["metadata"]["name"]].workflow["status"]["phase"] == "Failed"
    done = await stack.run(STEPS.replace("IMAGE", "alpine:3.23"))
    assert done["status"]["phase"] == "Succeeded"


async def test_lineage_records_every_node_and_stamps_the_workflow(stack: Stack, tmp_path: Path) -> None:
    db = tmp_path / "lineage.sqlite"
    await stack.plugin("lineage", "lineage.py", {"HOOKBUS_LINEAGE_DB": str(db)})
    done = await stack.run(STEPS.replace("IMAGE", "alpine"))
    assert done["status"]["phase"] == "Succeeded"
    assert done["metadata"]["annotations"]["lineage.hookbus.io/run-id"].startswith("run-")
    rows = sqlite3.connect(db).execute("SELECT name, phase FROM nodes ORDER BY name").fetchall()
    pods = [n["name"] for n in done["status"]["nodes"].values() if n["type"] == "Pod"]
    assert sorted(r[0] for r in rows) == sorted(pods)
    assert {r[1] for r in rows} == {"Succeeded"}


async def test_gate_holds_a_node_until_the_external_system_says_go(stack: Stack, tmp_path: Path) -> None:
    gates = tmp_path / "gates"
    gates.mkdir()
    await stack.plugin("gate", "gate.py", {"HOOKBUS_GATE_DIR": str(gates), "HOOKBUS_GATE_POLL": "0.2"})
    manifest = STEPS.replace("IMAGE", "alpine").replace(
        "    - name: work\n", "    - name: work\n      metadata: {annotations: {gate.hookbus.io/wait-for: logged}}\n"
    )
    key = await stack.submit(manifest)

    def held() -> bool:
        nodes = stack.controller.get(key)["status"].get("nodes", {}).values()
        return any("waiting for 'logged'" in (n.get("message") or "") for n in nodes)

    await wait_for(held, timeout=20, what="the first step to be held")
    assert stack.controller.get(key)["status"]["phase"] == "Running"
    (gates / "logged").touch()
    done = await stack.controller.wait(key, timeout=30)
    assert done["status"]["phase"] == "Succeeded"


async def test_external_cache_hit_skips_the_node_and_its_outputs_feed_downstream(stack: Stack, tmp_path: Path) -> None:
    await stack.plugin("cache", "cache.py", {"HOOKBUS_CACHE_DIR": str(tmp_path / "cache")})
    manifest = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: cached-}
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - {name: produce, template: produce}
        - - name: consume
            template: consume
            arguments: {parameters: [{name: x, value: "{{steps.produce.outputs.parameters.answer}}"}]}
    - name: produce
      metadata:
        annotations: {cache.hookbus.io/enabled: "true", hookbus.io/simulate-output.answer: "ANSWER"}
      container: {image: alpine, command: [sh, -c, "echo 42 > /tmp/answer"]}
      outputs: {parameters: [{name: answer, valueFrom: {path: /tmp/answer}}]}
    - name: consume
      inputs: {parameters: [{name: x}]}
      container: {image: alpine, command: [echo, "{{inputs.parameters.x}}"]}
"""

    def node(workflow: dict[str, Any], name: str) -> dict[str, Any]:
        return next(n for n in workflow["status"]["nodes"].values() if n["displayName"] == name)

    first = await stack.run(manifest.replace("ANSWER", "42"))
    assert first["status"]["phase"] == "Succeeded", first["status"].get("message")
    assert node(first, "produce").get("message", "") != "cache hit"
    assert node(first, "consume")["inputs"]["parameters"][0]["value"] == "42"
    # Same template and inputs: a hit. Had the node run, it would have produced 7.
    second = await stack.run(manifest.replace("ANSWER", "7").replace("generateName: cached-", "generateName: again-"))
    assert node(second, "produce")["message"] == "cache hit"
    assert node(second, "consume")["inputs"]["parameters"][0]["value"] == "42"


POD_POLICY = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: pods-}
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - {name: plain, template: plain}
    - name: plain
      container: {image: alpine, command: [sh, -c, "echo ok"]}
    - name: privileged
      container: {image: alpine, command: [echo, root], securityContext: {privileged: true}}
"""


async def test_pod_policy_vetoes_privileged_pods_and_patches_the_others(nats_url: str, tmp_path: Path) -> None:
    stack = await make_stack(nats_url, tmp_path / "state", executor="local")
    try:
        await stack.plugin("pod-policy", "pod_policy.py")
        vetoed = await stack.run(POD_POLICY.replace("template: plain}", "template: privileged}"))
        assert vetoed["status"]["phase"] in ("Failed", "Error")
        pod = next(n for n in vetoed["status"]["nodes"].values() if n["type"] == "Pod")
        assert "privileged" in pod["message"] and "pod-policy" in pod["message"]
        done = await stack.run(POD_POLICY)
        assert done["status"]["phase"] == "Succeeded", done["status"].get("message")
        pod = next(n for n in done["status"]["nodes"].values() if n["type"] == "Pod")
        # The sidecar the plugin added ran beside the main container: it has a log of its own.
        log_path = stack.controller.log_path(stack_key(done), pod["id"])
        assert log_path is not None
        logs = sorted(p.name for p in log_path.parent.iterdir())
        assert any("log-shipper" in name for name in logs), logs
    finally:
        await stack.close()


def stack_key(workflow: dict[str, Any]) -> Any:
    from hookbus.controller.adapters.store import WorkflowKey

    return WorkflowKey(workflow["metadata"]["namespace"], workflow["metadata"]["name"])


TAKE_OVER = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: callable-}
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - name: count
            template: count
            arguments: {parameters: [{name: text, value: "one two three"}]}
        - - name: show
            template: show
            arguments: {parameters: [{name: n, value: "{{steps.count.outputs.parameters.words}}"}]}
    - name: count
      metadata: {annotations: {task.hookbus.io/callable: word-count}}
      inputs: {parameters: [{name: text}]}
      outputs: {parameters: [{name: words, valueFrom: {path: /tmp/words}}]}
      container: {image: alpine, command: [sh, -c, "exit 1"]}
    - name: show
      inputs: {parameters: [{name: n}]}
      container: {image: alpine, command: [echo, "{{inputs.parameters.n}}"]}
"""


async def test_a_plugin_takes_a_node_over_and_reports_its_end_asynchronously(stack: Stack) -> None:
    from hookbus.controller.adapters.api_server import ApiServer

    async with ApiServer(stack.controller, stack.nc, takeovers=stack.dispatcher.takeovers):
        await stack.plugin("python-task", "python_task.py")
        done = await stack.run(TAKE_OVER)
    assert done["status"]["phase"] == "Succeeded", done["status"].get("message")
    count = next(n for n in done["status"]["nodes"].values() if n["displayName"] == "count")
    show = next(n for n in done["status"]["nodes"].values() if n["displayName"] == "show")
    # The container would have exited 1: the plugin ran the node instead, and its outputs flowed on.
    assert count["phase"] == "Succeeded"
    assert show["inputs"]["parameters"][0]["value"] == "3"


async def test_completion_reports_are_checked(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    from hookbus.bus import ControlError, complete_node
    from hookbus.controller.adapters.api_server import ApiServer
    from hookbus.controller.engine.run import WorkflowRun

    name = "uc-x"
    with pytest.raises(ControlError) as nobody:
        await complete_node(stack.nc, workflow=name, node_id="n", phase="Succeeded")
    assert nobody.value.code == 503 and nobody.value.retryable
    async with ApiServer(stack.controller, stack.nc):
        done = await stack.run(STEPS.replace("IMAGE", "alpine"))
        name = done["metadata"]["name"]
        pod = next(n for n in done["status"]["nodes"].values() if n["type"] == "Pod")
        # a report names its node by id: it is found without building the whole workflow
        snapshots: list[str] = []
        snapshot = WorkflowRun.snapshot
        monkeypatch.setattr(WorkflowRun, "snapshot", lambda run: snapshots.append(run.name) or snapshot(run))
        with pytest.raises(ControlError) as finished:
            await complete_node(stack.nc, workflow=name, node_id=pod["id"], phase="Failed")
        assert finished.value.code == 409 and "already ended Succeeded" in str(finished.value)
        assert snapshots == []
        with pytest.raises(ControlError) as unknown:
            await complete_node(stack.nc, workflow=name, node_id="no-such-node", phase="Succeeded")
        assert unknown.value.code == 404
        with pytest.raises(ControlError) as bad:
            await complete_node(stack.nc, workflow=name, node_id=pod["id"], phase="Done")  # type: ignore[arg-type]
        assert bad.value.code == 400


async def test_a_plugin_that_is_down_errors_the_node_naming_plugin_and_hook(stack: Stack, tmp_path: Path) -> None:
    from hookbus.bus import Plugin

    down = Plugin("down-plugin")

    @down.node_pre_execute(failure_policy="Fail", timeout=0.5)
    def never(**kwargs: Any) -> None:
        return None

    # Register the manifest, but serve nobody: every call meets "no responders".
    from hookbus.bus.registry import Registration

    registration = Registration(stack.nc.jetstream(), down.manifest)
    await registration.start()
    try:
        from hookbus.bus.testing import wait_registered

        await wait_registered(stack.registry, "down-plugin")
        done = await stack.run(STEPS.replace("IMAGE", "alpine"), timeout=30)
    finally:
        await registration.stop()
    assert done["status"]["phase"] == "Error" or done["status"]["phase"] == "Failed"
    pod = next(n for n in done["status"]["nodes"].values() if n["type"] == "Pod")
    assert pod["phase"] == "Error"
    assert "'down-plugin'" in pod["message"] and "node.preExecute" in pod["message"] and "no responders" in pod["message"]


async def test_verdict_notifications_go_out_after_the_change_is_persisted(stack: Stack) -> None:
    from hookbus.controller.adapters.store import WorkflowStore

    await stack.plugin("pod-policy", "pod_policy.py")
    store = WorkflowStore(stack.nc.jetstream())
    seen: list[tuple[str, str | None]] = []

    async def on_verdict(msg: Any) -> None:
        headers = msg.headers or {}
        node_id = headers.get("ce-subject", "").removeprefix("nodes/")
        workflow = msg.subject.split(".")[4]
        stored = await store.load(stack_key({"metadata": {"namespace": "default", "name": workflow}}))
        phase = stored.nodes.get(node_id, {}).get("phase") if stored else None
        seen.append((headers.get("ce-type", ""), phase))

    sub = await stack.nc.subscribe("hookbus.event.v1.*.*.plugin.vetoed", cb=on_verdict)
    try:
        await stack.run(POD_POLICY.replace("template: plain}", "template: privileged}"))
        await wait_for(lambda: bool(seen), timeout=10, what="the veto notification")
    finally:
        await sub.unsubscribe()
    # When the notification arrived, the store already held the node's final phase.
    assert seen[0] == ("io.hookbus.plugin.vetoed", "Error")
