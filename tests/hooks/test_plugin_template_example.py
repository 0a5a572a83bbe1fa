"""examples/plugin-template.yaml, end to end: a ``plugin:`` step whose outputs feed the next
step, executed by examples/plugins/hello_executor.py in its own process over nats-server."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import yaml

from hookbus.controller.argo.lint import lint_workflow
from tests.support.hookstack import ROOT, Stack, make_stack

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

pytestmark = pytest.mark.slow

EXAMPLE = ROOT / "examples" / "plugin-template.yaml"


@pytest.fixture
async def stack(nats_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    s = await make_stack(nats_url, tmp_path / "state")
    yield s
    await s.close()


def _node(workflow: dict[str, Any], display_name: str) -> dict[str, Any]:
    nodes = [n for n in workflow["status"]["nodes"].values() if n["displayName"] == display_name]
    assert len(nodes) == 1, nodes
    return nodes[0]


def _example(who: str) -> str:
    manifest = yaml.safe_load(EXAMPLE.read_text())
    manifest["spec"]["arguments"]["parameters"] = [{"name": "who", "value": who}]
    return yaml.safe_dump(manifest)


def test_the_example_lints_clean() -> None:
    assert lint_workflow(yaml.safe_load(EXAMPLE.read_text())) == []


async def test_the_plugin_steps_output_feeds_the_next_step(stack: Stack) -> None:
    await stack.plugin("hello-executor", "hello_executor.py")
    done = await stack.run(_example("hookbus"))
    assert done["status"]["phase"] == "Succeeded", done["status"].get("message")
    greet = _node(done, "greet")
    assert greet["phase"] == "Succeeded"
    assert greet["message"] == "Hello, hookbus!"
    assert greet["outputs"]["parameters"] == [{"name": "greeting", "value": "Hello, hookbus!"}]
    show = _node(done, "print")
    assert show["phase"] == "Succeeded"
    assert show["inputs"]["parameters"] == [{"name": "greeting", "value": "Hello, hookbus!"}]


async def test_without_the_plugin_the_step_fails_as_in_argo(stack: Stack) -> None:
    done = await stack.run(EXAMPLE.read_text())
    assert done["status"]["phase"] == "Failed"
    greet = _node(done, "greet")
    assert greet["phase"] == "Failed"
    assert greet["message"] == "no plugin executed the template 'greet'"
