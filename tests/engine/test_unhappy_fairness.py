"""One slow workflow (expressions near the evaluation budget, a 10,000-node fan-out) does
not stop a small workflow from finishing promptly."""

from __future__ import annotations

import asyncio
import time

from hookbus.controller.argo.expr import EVAL_BUDGET_S, evaluate
from tests.support.engine import ScriptedExecutor, load, make_controller

SLOW_EXPRESSION = "sum(1..1000000) + sum(1..500000)"

SLOW = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: slow}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: heavy, template: heavy, withSequence: {count: "6"}}
      - {name: fan, template: light, withSequence: {count: "10000"}}
  - name: heavy
    container: {image: alpine, args: ["echo {{=EXPR}}"]}
  - name: light
    container: {image: alpine, args: ["echo ok"]}
""".replace("EXPR", SLOW_EXPRESSION)

SMALL = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: small}
spec:
  entrypoint: main
  templates:
  - name: main
    container: {image: alpine, args: ["echo small"]}
"""


async def test_a_slow_workflow_does_not_hold_up_a_small_one() -> None:
    started = time.monotonic()
    evaluate(SLOW_EXPRESSION, {})  # how long one takes on this machine now (under the budget)
    one = min(time.monotonic() - started, EVAL_BUDGET_S)
    async with make_controller(ScriptedExecutor(blocking=False)) as ctl:
        slow = await ctl.submit(load(SLOW))
        began = time.monotonic()
        small = await ctl.submit(load(SMALL))
        done = await ctl.wait(small, timeout=30)
        took = time.monotonic() - began
        assert done["status"]["phase"] == "Succeeded"
        slow_phase = ctl.get(slow)["status"]["phase"]
        # At most about one slow evaluation (and the small workflow's own passes) ahead of it:
        # the slow workflow's six evaluations alone take six times as long.
        assert took < 2 * one + 1.0, f"the small workflow took {took:.2f}s (one slow evaluation: {one:.2f}s)"
        assert slow_phase == "Running", "the slow workflow was still under way"
        await ctl.terminate(slow)
        await asyncio.wait_for(ctl.wait(slow, timeout=30), 35)
