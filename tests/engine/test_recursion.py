"""A template that calls itself without end stops at depth 100 with Argo's message."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.support.engine import ScriptedExecutor, load, make_controller

MESSAGE = (
    "error in entry template execution: Maximum recursion depth exceeded. See "
    "https://argo-workflows.readthedocs.io/en/latest/scaling/#maximum-recursion-depth"
)

SELF = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: forever}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: again
        template: main
"""

MUTUAL = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: ping-pong}
spec:
  entrypoint: ping
  templates:
  - name: ping
    dag:
      tasks:
      - {name: pong, template: pong}
  - name: pong
    steps:
    - - {name: ping, template: ping}
"""

BOUNDED = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: countdown}
spec:
  entrypoint: main
  arguments: {parameters: [{name: n, value: "40"}]}
  templates:
  - name: main
    inputs: {parameters: [{name: n}]}
    steps:
    - - name: deeper
        template: main
        when: "{{inputs.parameters.n}} > 0"
        arguments: {parameters: [{name: n, value: "{{=asInt(inputs.parameters.n) - 1}}"}]}
"""


@pytest.mark.parametrize("manifest", [SELF, MUTUAL], ids=["self", "mutual"])
async def test_endless_recursion_ends_the_workflow_in_error_at_depth_100(manifest: str) -> None:
    async with make_controller(ScriptedExecutor()) as ctl:
        done = await ctl.wait(await ctl.submit(load(manifest)), timeout=30)
    assert done["status"]["phase"] == "Error"
    assert done["status"]["message"] == MESSAGE
    composites = Counter(n["type"] for n in done["status"]["nodes"].values() if n["type"] in ("Steps", "DAG"))
    assert sum(composites.values()) == 101  # depths 0 to 100 ran; 101 was refused


async def test_recursion_that_ends_by_itself_is_not_limited_below_100() -> None:
    async with make_controller(ScriptedExecutor()) as ctl:
        done = await ctl.wait(await ctl.submit(load(BOUNDED)), timeout=30)
    assert done["status"]["phase"] == "Succeeded"
    assert sum(1 for n in done["status"]["nodes"].values() if n["type"] == "Steps") == 41
