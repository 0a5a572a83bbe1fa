"""Unhappy paths as Argo ends them: outputs of Skipped/Omitted producers, retry limits,
failFast messages, suspends whose supplied outputs were never set."""

from __future__ import annotations

from typing import Any

from hookbus.controller.engine.clock import ManualClock
from tests.support.engine import ScriptedExecutor, by_name, load, make_controller
from tests.support.waiting import wait_for

ABSENT_MSG = "argument references an absent optional (skipped/omitted node output with no default)"


async def run(text: str, ex: ScriptedExecutor | None = None, timeout: float = 5) -> dict[str, Any]:
    ex = ex or ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(text))
        return await ctl.wait(key, timeout=timeout)


def by_display(wf: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["displayName"]: n for n in wf["status"]["nodes"].values()}


def _producer(default: str | None) -> str:
    value_from = "{path: /tmp/m" + (f", default: {default}" if default is not None else "") + "}"
    return f"""
  - name: produce
    container: {{image: alpine, command: [sh, -c], args: ["write /tmp/m real"]}}
    outputs: {{parameters: [{{name: msg, valueFrom: {value_from}}}]}}
"""


def _consumer(default: str | None) -> str:
    decl = "{name: msg" + (f", default: {default}" if default is not None else "") + "}"
    return f"""
  - name: consume
    inputs: {{parameters: [{decl}]}}
    container: {{image: alpine, command: [sh, -c], args: ["echo got {{{{inputs.parameters.msg}}}}"]}}
"""


def dag_wf(producer_default: str | None, consumer_default: str | None, *, omitted: bool = False) -> str:
    skip = "depends: \"gate.Failed\"" if omitted else "when: \"false == true\""
    consumer_depends = "producer.Omitted" if omitted else "producer"
    return f"""
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {{name: dg}}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - {{name: gate, template: ok}}
      - {{name: producer, template: produce, {skip}}}
      - name: consumer
        template: consume
        depends: "{consumer_depends}"
        arguments: {{parameters: [{{name: msg, value: "{{{{tasks.producer.outputs.parameters.msg}}}}"}}]}}
  - name: ok
    container: {{image: alpine, command: [sh, -c], args: ["echo ok"]}}
{_producer(producer_default)}{_consumer(consumer_default)}"""


def steps_wf(producer_default: str | None, consumer_default: str | None) -> str:
    return f"""
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {{name: sg}}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {{name: producer, template: produce, when: "false == true"}}
    - - name: consumer
        template: consume
        arguments: {{parameters: [{{name: msg, value: "{{{{steps.producer.outputs.parameters.msg}}}}"}}]}}
{_producer(producer_default)}{_consumer(consumer_default)}"""


# ---------------------------------------------------------------- 1. Skipped/Omitted producers


async def test_dag_skipped_producer_default_is_the_value() -> None:
    wf = await run(dag_wf("from-producer", "from-consumer"))
    nodes = by_display(wf)
    assert wf["status"]["phase"] == "Succeeded"
    assert nodes["producer"]["phase"] == "Skipped"
    assert nodes["consumer"]["phase"] == "Succeeded"
    assert nodes["consumer"]["inputs"]["parameters"] == [{"name": "msg", "value": "from-producer"}]
    assert nodes["consumer"]["outputs"]["result"] == "got from-producer"


async def test_dag_omitted_producer_falls_back_to_consumer_default() -> None:
    wf = await run(dag_wf(None, "from-consumer", omitted=True))
    nodes = by_display(wf)
    assert wf["status"]["phase"] == "Succeeded"
    assert nodes["producer"]["phase"] == "Omitted"
    assert nodes["consumer"]["phase"] == "Succeeded"
    assert nodes["consumer"]["inputs"]["parameters"] == [{"name": "msg", "value": "from-consumer"}]


async def test_dag_skipped_producer_without_defaults_errors_the_consumer() -> None:
    ex = ScriptedExecutor()
    wf = await run(dag_wf(None, None), ex)
    nodes = by_display(wf)
    assert wf["status"]["phase"] == "Error"
    assert nodes["gate"]["phase"] == "Succeeded"
    assert nodes["producer"]["phase"] == "Skipped"
    assert nodes["consumer"]["phase"] == "Error"
    assert nodes["consumer"]["message"] == f"inputs.parameters.msg: {ABSENT_MSG}"
    assert not any(name.endswith(".consumer") for name in ex.started)  # never ran


async def test_dag_omitted_producer_without_defaults_errors_the_consumer() -> None:
    wf = await run(dag_wf(None, None, omitted=True))
    nodes = by_display(wf)
    assert wf["status"]["phase"] == "Error"
    assert nodes["producer"]["phase"] == "Omitted"
    assert nodes["consumer"]["phase"] == "Error"
    assert ABSENT_MSG in nodes["consumer"]["message"]


async def test_steps_skipped_producer_default_is_the_value() -> None:
    wf = await run(steps_wf("from-producer", None))
    nodes = by_display(wf)
    assert wf["status"]["phase"] == "Succeeded"
    assert nodes["consumer"]["inputs"]["parameters"] == [{"name": "msg", "value": "from-producer"}]


async def test_steps_skipped_producer_falls_back_to_consumer_default() -> None:
    wf = await run(steps_wf(None, "from-consumer"))
    nodes = by_display(wf)
    assert wf["status"]["phase"] == "Succeeded"
    assert nodes["producer"]["phase"] == "Skipped"
    assert nodes["consumer"]["inputs"]["parameters"] == [{"name": "msg", "value": "from-consumer"}]


async def test_steps_skipped_producer_without_defaults_fails_the_workflow() -> None:
    wf = await run(steps_wf(None, None))
    nodes = by_name(wf)
    assert wf["status"]["phase"] == "Failed"
    assert nodes["sg[0].producer"]["phase"] == "Skipped"
    consumer = nodes["sg[1].consumer"]
    assert consumer["phase"] == "Error"
    assert consumer["message"] == f"inputs.parameters.msg: {ABSENT_MSG}"
    assert nodes["sg[1]"]["phase"] == "Failed"
    assert nodes["sg"]["phase"] == "Failed"


async def test_absent_optional_inside_longer_text_is_an_error_even_with_a_default() -> None:
    text = steps_wf(None, "from-consumer").replace(
        '"{{steps.producer.outputs.parameters.msg}}"', '"x-{{steps.producer.outputs.parameters.msg}}"'
    )
    wf = await run(text)
    consumer = by_name(wf)["sg[1].consumer"]
    assert wf["status"]["phase"] == "Failed"
    assert consumer["phase"] == "Error"
    assert consumer["message"] == f"inputs.parameters.msg: {ABSENT_MSG}"


async def test_when_on_absent_optional_errors_the_step() -> None:
    text = steps_wf(None, "d").replace(
        "template: consume\n", 'template: consume\n        when: "{{steps.producer.outputs.parameters.msg}} == a"\n'
    )
    wf = await run(text)
    consumer = by_name(wf)["sg[1].consumer"]
    assert wf["status"]["phase"] == "Failed"
    assert consumer["phase"] == "Error"
    assert consumer["message"] == "when: the expression references an absent optional (skipped/omitted node output with no default)"


async def test_with_param_on_absent_optional_errors_the_task() -> None:
    text = dag_wf(None, "d").replace(
        "template: consume\n", 'template: consume\n        withParam: "{{tasks.producer.outputs.parameters.msg}}"\n'
    )
    wf = await run(text)
    consumer = by_display(wf)["consumer"]
    assert wf["status"]["phase"] == "Error"
    assert consumer["phase"] == "Error"
    assert consumer["message"] == "consumer: withParam references an absent optional (skipped/omitted node output with no default)"


DAG_OUTPUT = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: do}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - {name: producer, template: produce, when: "false == true"}
    outputs:
      parameters:
      - name: out
        valueFrom: {parameter: "{{tasks.producer.outputs.parameters.msg}}"}
  - name: produce
    container: {image: alpine, command: [sh, -c], args: ["write /tmp/m real"]}
    outputs: {parameters: [{name: msg, valueFrom: {path: /tmp/m}}]}
"""


async def test_composite_output_of_absent_optional_errors() -> None:
    wf = await run(DAG_OUTPUT)
    root = by_name(wf)["do"]
    assert wf["status"]["phase"] == "Error"
    assert root["phase"] == "Error"
    assert root["message"] == (
        'output parameter "out": "{{tasks.producer.outputs.parameters.msg}}" is an absent optional '
        "(skipped/omitted node output with no default)"
    )


async def test_composite_output_of_absent_optional_takes_its_own_default() -> None:
    wf = await run(DAG_OUTPUT.replace('"{{tasks.producer.outputs.parameters.msg}}"}', '"{{tasks.producer.outputs.parameters.msg}}", default: dd}'))
    assert wf["status"]["phase"] == "Succeeded"
    assert by_name(wf)["do"]["outputs"]["parameters"] == [{"name": "out", "value": "dd"}]


# ---------------------------------------------------------------- 2. templated retryStrategy.limit

RETRY_LIMIT = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: rl}
spec:
  entrypoint: main
  arguments: {parameters: [{name: tries, value: "1"}]}
  templates:
  - name: main
    steps:
    - - name: flaky
        template: flaky
        arguments: {parameters: [{name: limit, value: "LIMIT"}]}
  - name: flaky
    inputs: {parameters: [{name: limit}]}
    retryStrategy: {limit: "STRATEGY"}
    container: {image: alpine, args: ["echo try"]}
"""


async def _retry(limit: str, strategy: str = "{{inputs.parameters.limit}}") -> dict[str, Any]:
    ex = ScriptedExecutor(plan={"flaky": [1, 1, 1, 1, 1]})
    return await run(RETRY_LIMIT.replace("LIMIT", limit).replace("STRATEGY", strategy), ex)


async def test_retry_limit_from_the_templates_inputs() -> None:
    wf = await _retry("2")
    nodes = by_name(wf)
    retry = nodes["rl[0].flaky"]
    assert wf["status"]["phase"] == "Failed"
    assert retry["type"] == "Retry" and retry["phase"] == "Failed"
    assert retry["message"] == "No more retries left"
    assert [nodes[f"rl[0].flaky({i})"]["phase"] for i in range(3)] == ["Failed"] * 3
    assert "rl[0].flaky(3)" not in nodes


async def test_retry_limit_from_a_workflow_parameter() -> None:
    wf = await _retry("0", "{{workflow.parameters.tries}}")
    nodes = by_name(wf)
    assert nodes["rl[0].flaky"]["message"] == "No more retries left"
    assert "rl[0].flaky(1)" in nodes and "rl[0].flaky(2)" not in nodes
    assert wf["status"]["phase"] == "Failed"


async def test_retry_limit_that_is_not_a_whole_number_is_a_clear_error() -> None:
    wf = await _retry("two")
    nodes = by_name(wf)
    retry = nodes["rl[0].flaky"]
    assert retry["phase"] == "Error"
    assert retry["message"] == "retryStrategy.limit: 'two' is not a whole number"
    assert "internal error" not in wf["status"].get("message", "")
    assert wf["status"]["phase"] == "Failed"  # the steps node fails on its errored child


# ---------------------------------------------------------------- 3. failFast messages

FAIL_FAST = "template has failed or errored children and failFast enabled"

STEPS_FAIL_FAST = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: sff}
spec:
  entrypoint: main
  templates:
  - name: main
    parallelism: 2
    failFast: FLAG
    steps:
    - - {name: step1, template: fail}
      - {name: step2, template: slow}
      - {name: step3, template: slow}
  - name: fail
    container: {image: alpine, args: ["exit 1"]}
  - name: slow
    container: {image: alpine, args: ["block"]}
"""

DAG_FAIL_FAST = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: dff}
spec:
  entrypoint: main
  templates:
  - name: main
    parallelism: 2
    failFast: FLAG
    dag:
      failFast: false
      tasks:
      - {name: task1, template: fail}
      - {name: task2, template: slow}
      - {name: task3, template: slow}
  - name: fail
    container: {image: alpine, args: ["exit 1"]}
  - name: slow
    container: {image: alpine, args: ["block"]}
"""


async def _fail_fast(text: str, failing: str, slow: str) -> dict[str, Any]:
    """Run until *failing* failed while *slow* is still running, then let *slow* finish."""
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(text))

        def failed() -> bool:
            return by_name(ctl.get(key)).get(failing, {}).get("phase") == "Failed"

        await wait_for(failed, what=f"{failing} failed")
        await wait_for(lambda: slow in ex.started, what=f"{slow} running")
        ex.blocking = False
        ex.release()
        return await ctl.wait(key, timeout=5)


async def test_steps_fail_fast_stops_the_group_with_argos_message() -> None:
    wf = await _fail_fast(STEPS_FAIL_FAST.replace("FLAG", "true"), "sff[0].step1", "sff[0].step2")
    nodes = by_name(wf)
    assert wf["status"]["phase"] == "Failed"
    assert wf["status"]["message"] == FAIL_FAST
    assert nodes["sff"]["phase"] == "Failed" and nodes["sff"]["message"] == FAIL_FAST
    assert nodes["sff[0]"]["phase"] == "Failed" and nodes["sff[0]"]["message"] == FAIL_FAST
    assert nodes["sff[0].step1"]["phase"] == "Failed"
    assert nodes["sff[0].step2"]["phase"] == "Succeeded"  # started before the failure: runs to its end
    assert "sff[0].step3" not in nodes  # never started


async def test_steps_without_fail_fast_keep_the_child_failed_message() -> None:
    wf = await _fail_fast(STEPS_FAIL_FAST.replace("FLAG", "false"), "sff[0].step1", "sff[0].step2")
    nodes = by_name(wf)
    assert wf["status"]["phase"] == "Failed"
    assert nodes["sff[0].step3"]["phase"] == "Succeeded"
    assert nodes["sff[0]"]["message"] == f"child '{nodes['sff[0].step1']['id']}' failed"


async def test_dag_template_fail_fast_stops_the_dag_with_argos_message() -> None:
    wf = await _fail_fast(DAG_FAIL_FAST.replace("FLAG", "true"), "dff.task1", "dff.task2")
    nodes = by_name(wf)
    assert wf["status"]["phase"] == "Failed"
    assert wf["status"]["message"] == FAIL_FAST
    assert nodes["dff"]["phase"] == "Failed" and nodes["dff"]["message"] == FAIL_FAST
    assert nodes["dff.task1"]["phase"] == "Failed"
    assert nodes["dff.task2"]["phase"] == "Succeeded"
    assert "dff.task3" not in nodes


async def test_dag_fail_fast_of_the_dag_alone_gives_no_message() -> None:
    text = DAG_FAIL_FAST.replace("FLAG", "false").replace("failFast: false\n      tasks", "tasks")
    wf = await _fail_fast(text, "dff.task1", "dff.task2")
    nodes = by_name(wf)
    assert wf["status"]["phase"] == "Failed"
    assert nodes["dff"]["phase"] == "Failed" and nodes["dff"].get("message", "") == ""


# ---------------------------------------------------------------- 4. suspend with a duration

SUSPEND_OUTPUT = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: so}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: approve, template: approve}
    - - name: after
        template: ok
        arguments: {parameters: [{name: v, value: "{{steps.approve.outputs.parameters.answer}}"}]}
  - name: approve
    suspend: {duration: "10s"}
    outputs: {parameters: [{name: answer, valueFrom: VALUE_FROM}]}
  - name: ok
    inputs: {parameters: [{name: v}]}
    container: {image: alpine, args: ["echo {{inputs.parameters.v}}"]}
"""


async def _suspend(value_from: str) -> tuple[dict[str, Any], ScriptedExecutor]:
    clock = ManualClock()
    ex = ScriptedExecutor()
    async with make_controller(ex, clock=clock) as ctl:
        key = await ctl.submit(load(SUSPEND_OUTPUT.replace("VALUE_FROM", value_from)))
        await wait_for(lambda: clock.sleepers == 1, what="suspend timer")
        clock.advance(10)
        return await ctl.wait(key, timeout=5), ex


async def test_suspend_duration_with_supplied_output_and_no_default_errors_the_node() -> None:
    wf, ex = await _suspend("{supplied: {}}")
    nodes = by_name(wf)
    approve = nodes["so[0].approve"]
    assert approve["phase"] == "Error"
    assert approve["message"] == "raw output parameter 'answer' has not been set and does not have a default value"
    assert wf["status"]["phase"] == "Failed"
    assert "so[1].after" not in nodes and ex.runs == []


async def test_suspend_duration_with_supplied_output_takes_its_default() -> None:
    wf, ex = await _suspend("{supplied: {}, default: \"approved\"}")
    nodes = by_name(wf)
    assert nodes["so[0].approve"]["phase"] == "Succeeded"
    assert nodes["so[0].approve"]["outputs"]["parameters"] == [{"name": "answer", "value": "approved"}]
    assert nodes["so[1].after"]["inputs"]["parameters"] == [{"name": "v", "value": "approved"}]
    assert wf["status"]["phase"] == "Succeeded"
