"""A resume Argo refuses: a waiting suspend node with an output to be supplied that is
unset and has no default (``ResumeWorkflow``)."""

from __future__ import annotations

import pytest

from tests.support.engine import ScriptedExecutor, by_name, load, make_controller
from tests.support.waiting import wait_for

APPROVAL = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: ask}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: approve, template: approve}
    - - {name: after, template: ok}
  - name: approve
    suspend: {}
    outputs: {parameters: [{name: answer, valueFrom: VALUE_FROM}]}
  - name: ok
    container: {image: alpine, args: ["echo ok"]}
"""


async def test_resume_is_refused_while_a_supplied_output_has_no_value_or_default() -> None:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(APPROVAL.replace("VALUE_FROM", "{supplied: {}}")))
        await wait_for(lambda: "ask[0].approve" in by_name(ctl.get(key)), what="the suspend node")
        with pytest.raises(ValueError, match="^raw output parameter 'answer' has not been set and does not have a default value$"):
            await ctl.resume(key)
        wf = ctl.get(key)
        assert by_name(wf)["ask[0].approve"]["phase"] == "Running", "a refused resume changes nothing"
        assert wf["status"]["phase"] == "Running"
        await ctl.terminate(key)
        await ctl.wait(key, timeout=5)
    assert ex.runs == []


async def test_resume_with_a_default_still_succeeds() -> None:
    async with make_controller(ScriptedExecutor()) as ctl:
        key = await ctl.submit(load(APPROVAL.replace("VALUE_FROM", '{supplied: {}, default: "yes"}')))
        await wait_for(lambda: "ask[0].approve" in by_name(ctl.get(key)), what="the suspend node")
        await ctl.resume(key)
        wf = await ctl.wait(key, timeout=5)
    assert wf["status"]["phase"] == "Succeeded"
    assert by_name(wf)["ask[0].approve"]["outputs"]["parameters"] == [{"name": "answer", "value": "yes"}]


FAIL_FAST_RETRY = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: ffr}
spec:
  entrypoint: main
  templates:
  - name: main
    failFast: FLAG
    steps:
    - - {name: flaky, template: flaky}
      - {name: steady, template: steady}
  - name: flaky
    retryStrategy: {limit: 2}
    container: {image: alpine, args: ["echo try"]}
  - name: steady
    container: {image: alpine, args: ["echo ok"]}
"""


async def test_fail_fast_counts_a_failed_retry_attempt_as_argo() -> None:
    """Argo's failFast counts every failed pod of the template's boundary, retry
    attempts included (``checkParallelism``, ``getUnsuccessfulChildren``)."""
    ex = ScriptedExecutor(plan={"flaky": [1, 0]})
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(FAIL_FAST_RETRY.replace("FLAG", "true")))
        wf = await ctl.wait(key, timeout=5)
    nodes = by_name(wf)
    assert nodes["ffr[0].flaky(0)"]["phase"] == "Failed"
    assert "ffr[0].flaky(1)" not in nodes, "the failed attempt is not retried"
    assert nodes["ffr[0].flaky"]["phase"] == "Failed"
    message = "template has failed or errored children and failFast enabled"
    assert (nodes["ffr"]["phase"], nodes["ffr"]["message"]) == ("Failed", message)
    assert (nodes["ffr[0]"]["phase"], nodes["ffr[0]"]["message"]) == ("Failed", message)
    assert wf["status"]["phase"] == "Failed"

    ex = ScriptedExecutor(plan={"flaky": [1, 0]})
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(FAIL_FAST_RETRY.replace("FLAG", "false")))
        wf = await ctl.wait(key, timeout=5)
    assert wf["status"]["phase"] == "Succeeded", "without failFast the attempt is retried"
    assert by_name(wf)["ffr[0].flaky(1)"]["phase"] == "Succeeded"
