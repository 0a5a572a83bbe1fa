"""retryStrategy: Retry nodes, attempts, policies, backoff on an injected clock, expression."""

from __future__ import annotations

from hookbus.controller.engine.clock import ManualClock
from tests.support.engine import ScriptedExecutor, by_name, children_names, load, make_controller
from tests.support.waiting import wait_for

RETRY = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: rt}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: flaky
        template: flaky
  - name: flaky
    retryStrategy: STRATEGY
    container: {image: alpine, args: ["echo try"]}
"""


async def _run(strategy: str, codes: list[int], clock: ManualClock | None = None) -> dict:  # type: ignore[type-arg]
    ex = ScriptedExecutor(plan={"flaky": list(codes)})
    async with make_controller(ex, clock=clock) as ctl:
        key = await ctl.submit(load(RETRY.replace("STRATEGY", strategy)))
        wf = await ctl.wait(key, timeout=5)
    return wf


async def test_retry_until_success() -> None:
    wf = await _run("{limit: 3}", [1, 1, 0])
    nodes = by_name(wf)
    retry = nodes["rt[0].flaky"]
    assert retry["type"] == "Retry" and retry["phase"] == "Succeeded"
    assert children_names(wf, "rt[0].flaky") == ["rt[0].flaky(0)", "rt[0].flaky(1)", "rt[0].flaky(2)"]
    assert [nodes[f"rt[0].flaky({i})"]["phase"] for i in range(3)] == ["Failed", "Failed", "Succeeded"]
    assert nodes["rt[0].flaky(1)"]["type"] == "Pod"
    assert nodes["rt[0].flaky(1)"]["displayName"] == "flaky(1)"
    assert nodes["rt[0].flaky(1)"]["boundaryID"] == retry["boundaryID"] == "rt"
    assert retry["outputs"]["result"] == "try"
    # the next step group would attach to the last attempt: the retry's outbound is its last child
    assert wf["status"]["phase"] == "Succeeded"
    assert wf["status"]["progress"] == "1/3"


async def test_retry_limit_exhausted() -> None:
    wf = await _run("{limit: 2}", [1, 1, 1, 0])
    nodes = by_name(wf)
    retry = nodes["rt[0].flaky"]
    assert retry["phase"] == "Failed"
    assert retry["message"] == "No more retries left"
    assert len(children_names(wf, "rt[0].flaky")) == 3  # limit 2 = 3 attempts
    assert wf["status"]["phase"] == "Failed"


async def test_retry_policy_on_error_does_not_retry_failures() -> None:
    wf = await _run("{limit: 3, retryPolicy: OnError}", [1, 0])
    nodes = by_name(wf)
    assert nodes["rt[0].flaky"]["phase"] == "Failed"
    assert len(children_names(wf, "rt[0].flaky")) == 1
    assert nodes["rt[0].flaky"]["message"] == nodes["rt[0].flaky(0)"]["message"]


async def test_retry_expression() -> None:
    wf = await _run('{limit: 5, expression: "lastRetry.exitCode == \'2\'"}', [2, 3, 0])
    nodes = by_name(wf)
    assert len(children_names(wf, "rt[0].flaky")) == 2
    assert nodes["rt[0].flaky"]["phase"] == "Failed"
    assert nodes["rt[0].flaky"]["message"] == "retryStrategy.expression evaluated to false"


async def test_backoff_waits_on_the_clock() -> None:
    clock = ManualClock()
    ex = ScriptedExecutor(plan={"flaky": [1, 1, 0]})
    strategy = '{limit: 3, backoff: {duration: "10s", factor: 2}}'
    async with make_controller(ex, clock=clock) as ctl:
        key = await ctl.submit(load(RETRY.replace("STRATEGY", strategy)))
        await wait_for(lambda: len(ex.runs) == 1, what="first attempt")
        await wait_for(lambda: clock.sleepers == 1, what="backoff timer")
        retry = by_name(ctl.get(key))["rt[0].flaky"]
        assert retry["phase"] == "Running" and retry["message"].startswith("Backoff for")
        clock.advance(9)
        await wait_for(lambda: clock.sleepers == 1, what="still waiting")
        assert len(ex.runs) == 1
        clock.advance(1)  # 10s: first backoff = duration
        await wait_for(lambda: len(ex.runs) == 2, what="second attempt")
        await wait_for(lambda: clock.sleepers == 1, what="second backoff timer")
        clock.advance(19)
        assert len(ex.runs) == 2
        clock.advance(1)  # 20s: duration * factor^1
        wf = await ctl.wait(key, timeout=5)
    assert wf["status"]["phase"] == "Succeeded"
    assert len(ex.runs) == 3


async def test_max_duration_stops_retries() -> None:
    clock = ManualClock()
    ex = ScriptedExecutor(plan={"flaky": [1, 1, 0]})
    strategy = '{limit: 3, backoff: {duration: "10s", maxDuration: "5s"}}'
    async with make_controller(ex, clock=clock) as ctl:
        key = await ctl.submit(load(RETRY.replace("STRATEGY", strategy)))
        wf = await ctl.wait(key, timeout=5)
    retry = by_name(wf)["rt[0].flaky"]
    assert retry["phase"] == "Failed"
    assert retry["message"] == "Backoff would exceed max duration limit"


DEFAULTS = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: td}
spec:
  entrypoint: flaky
  templateDefaults:
    retryStrategy: {limit: 2}
  templates:
  - name: flaky
    container: {image: alpine, args: ["echo try"]}
"""


async def test_template_defaults_apply_retry_strategy() -> None:
    ex = ScriptedExecutor(plan={"flaky": [1, 0]})
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(DEFAULTS))
        wf = await ctl.wait(key, timeout=5)
    nodes = by_name(wf)
    assert nodes["td"]["type"] == "Retry"
    assert [nodes[f"td({i})"]["phase"] for i in range(2)] == ["Failed", "Succeeded"]
    assert wf["status"]["phase"] == "Succeeded"


async def test_stop_during_backoff_fails_the_retry_node_at_once() -> None:
    clock = ManualClock()
    ex = ScriptedExecutor(plan={"flaky": [1, 0]})
    strategy = '{limit: 3, backoff: {duration: "1h"}}'
    async with make_controller(ex, clock=clock) as ctl:
        key = await ctl.submit(load(RETRY.replace("STRATEGY", strategy)))
        await wait_for(lambda: clock.sleepers == 1 and len(ex.runs) == 1, what="in backoff")
        await ctl.stop_workflow(key)
        wf = await ctl.wait(key, timeout=5)  # no clock advance needed
    retry = by_name(wf)["rt[0].flaky"]
    assert retry["phase"] == "Failed"
    assert retry["message"] == "Stopped with strategy 'Stop'"
    assert len(ex.runs) == 1


class TransientExecutor(ScriptedExecutor):
    """Fails with a transient message first, then a permanent one."""

    async def run(self, task):  # type: ignore[no-untyped-def]
        from hookbus.controller.executors.base import TaskResult

        self.runs.append(task.node_name)
        message = "connection refused" if len(self.runs) == 1 else "bad input"
        return TaskResult("Error", None, message, None, {}, None, 0.0, 0.0)


async def test_on_transient_error_retries_only_transient_messages() -> None:
    ex = TransientExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(RETRY.replace("STRATEGY", "{limit: 5, retryPolicy: OnTransientError}")))
        wf = await ctl.wait(key, timeout=5)
    nodes = by_name(wf)
    assert len(ex.runs) == 2
    assert nodes["rt[0].flaky"]["phase"] == "Error"
    assert nodes["rt[0].flaky"]["message"] == "bad input"
