"""Argo executor plugins (``template.execute``), end to end: controller, plugin process, nats-server."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.support.hookstack import ROOT, Stack, make_stack
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

pytestmark = pytest.mark.slow

EXAMPLES = ROOT.parent / "shared" / "conformance" / "argo-examples"


@pytest.fixture
async def stack(nats_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    s = await make_stack(nats_url, tmp_path / "state")
    yield s
    await s.close()


def plugin_node(workflow: dict[str, Any]) -> dict[str, Any]:
    nodes = [n for n in workflow["status"]["nodes"].values() if n.get("templateName") in ("main", "run") and n["type"] != "Steps"]
    assert len(nodes) == 1, nodes
    return nodes[0]


def argo_example(name: str) -> str:
    path = EXAMPLES / name
    if not path.exists():
        pytest.skip(f"Argo example {name} is not available here")
    return path.read_text()


async def test_argos_workflow_level_executor_plugin_example_succeeds(stack: Stack) -> None:
    await stack.plugin("hello-executor", "hello_executor.py")
    done = await stack.run(argo_example("workflow-level-executor-plugin.yaml"))
    assert done["status"]["phase"] == "Succeeded", done["status"].get("message")
    node = plugin_node(done)
    assert node["phase"] == "Succeeded"
    assert node["message"] == "Hello from a workflow-level executor plugin!"


HELLO = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: hello-}
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - {name: hello, template: run}
        - - name: show
            template: show
            arguments: {parameters: [{name: foo, value: "{{steps.hello.outputs.parameters.foo}}"}]}
    - name: run
      plugin:
        hello: {}
    - name: show
      inputs: {parameters: [{name: foo}]}
      container: {image: alpine, command: [echo, "{{inputs.parameters.foo}}"]}
"""


async def test_the_docs_hello_plugin_succeeds_and_its_outputs_feed_downstream(stack: Stack) -> None:
    await stack.plugin("hello-executor", "hello_executor.py")
    done = await stack.run(HELLO)
    assert done["status"]["phase"] == "Succeeded", done["status"].get("message")
    node = plugin_node(done)
    assert node["message"] == "Hello template!"
    show = next(n for n in done["status"]["nodes"].values() if n["displayName"] == "show")
    assert show["inputs"]["parameters"] == [{"name": "foo", "value": "bar"}]


COUNTDOWN = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: countdown-}
spec:
  entrypoint: run
  templates:
    - name: run
      plugin:
        countdown: {calls: 3, requeue: 0.3}
"""


async def test_requeue_keeps_the_node_running_and_asks_again(stack: Stack) -> None:
    await stack.plugin("hello-executor", "hello_executor.py")
    key = await stack.submit(COUNTDOWN)
    seen: list[tuple[str, str]] = []

    def record() -> bool:
        status = stack.controller.get(key)["status"]
        for node in (status.get("nodes") or {}).values():
            pair = (node.get("phase", ""), node.get("message") or "")
            if not seen or seen[-1] != pair:
                seen.append(pair)
        return status.get("phase") in ("Succeeded", "Failed", "Error")

    await wait_for(record, timeout=30, interval=0.05, what="the countdown workflow to end")
    done = stack.controller.get(key)
    assert done["status"]["phase"] == "Succeeded", done["status"].get("message")
    node = plugin_node(done)
    # Three calls: two answered Running + requeue, the third Succeeded.
    assert node["message"] == "done after 3 calls"
    assert node["outputs"]["parameters"] == [{"name": "calls", "value": "3"}]
    assert ("Running", "call 1: not done yet") in seen or ("Running", "call 2: not done yet") in seen, seen


NOBODY = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: nobody-}
spec:
  entrypoint: run
  templates:
    - name: run
      plugin:
        slack: {text: hi}
"""


async def test_a_plugin_template_no_plugin_executes_fails_the_node(stack: Stack) -> None:
    await stack.plugin("hello-executor", "hello_executor.py")  # live, but not for 'slack'
    done = await stack.run(NOBODY)
    assert done["status"]["phase"] == "Failed"
    node = plugin_node(done)
    # Argo's agent: phase Failed, message "no plugin executed the template"
    assert node["phase"] == "Failed"
    assert node["message"].startswith("no plugin executed the template") and "'run'" in node["message"]


async def test_a_plugin_template_with_no_plugins_at_all_fails_the_node(stack: Stack) -> None:
    done = await stack.run(NOBODY)
    node = plugin_node(done)
    assert node["phase"] == "Failed"
    assert node["message"].startswith("no plugin executed the template")


async def test_a_plugin_that_answers_not_mine_passes_the_template_to_the_next(stack: Stack) -> None:
    from hookbus.bus import NatsSettings, Plugin
    from hookbus.bus.connection import connect
    from hookbus.bus.testing import wait_registered

    asked: list[str] = []
    first = Plugin("aa-declines")  # offered every plugin: template, asked first (priority 10)

    @first.template_execute(priority=10)
    def decline(node: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        asked.append(node["id"])
        return {}

    nc = await connect(NatsSettings(urls=(stack.url,), name="aa-declines"))
    try:
        await first.start(nc)
        await wait_registered(stack.registry, "aa-declines")
        await stack.plugin("hello-executor", "hello_executor.py")
        done = await stack.run(HELLO)
    finally:
        await first.stop(timeout=4)
        await nc.close()
    assert done["status"]["phase"] == "Succeeded", done["status"].get("message")
    node = plugin_node(done)
    assert asked == [node["id"]]  # asked once, declined, and the next plugin executed it
    assert node["message"] == "Hello template!"
