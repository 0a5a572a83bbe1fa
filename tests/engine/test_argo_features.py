"""memoize on steps and DAG templates, workflow-level retryStrategy and nodeFlag, as Argo v4 has them."""

from __future__ import annotations

from tests.support.engine import ScriptedExecutor, by_name, children_names, load, make_controller
from tests.support.waiting import wait_for

MEMO_COMPOSITE = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: NAME}
spec:
  entrypoint: main
  templates:
  - name: main
    memoize:
      key: "group-{{workflow.parameters.x}}"
      maxAge: 1h
      cache: {configMap: {name: composite-cache}}
    KIND
    outputs:
      parameters:
      - name: out
        valueFrom: {parameter: "{{REF.outputs.parameters.p}}"}
  - name: produce
    outputs:
      parameters:
      - {name: p, valueFrom: {path: /tmp/p}}
    container: {image: alpine, args: ["write /tmp/p computed-{{workflow.parameters.x}}"]}
  arguments: {parameters: [{name: x, value: "1"}]}
"""
STEPS_BODY = """steps:
    - - name: a
        template: produce"""
DAG_BODY = """dag:
      tasks:
      - name: a
        template: produce"""


async def _memo_runs(kind: str) -> None:
    body, ref = (STEPS_BODY, "steps.a") if kind == "steps" else (DAG_BODY, "tasks.a")
    manifest = MEMO_COMPOSITE.replace("KIND", body).replace("REF", ref)
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        first = await ctl.wait(await ctl.submit(load(manifest.replace("NAME", f"{kind}1"))), timeout=5)
        second = await ctl.wait(await ctl.submit(load(manifest.replace("NAME", f"{kind}2"))), timeout=5)
        other = await ctl.wait(
            await ctl.submit(load(manifest.replace("NAME", f"{kind}3")), parameters={"x": "2"}), timeout=5
        )
    child = "[0].a" if kind == "steps" else ".a"
    assert ex.runs == [f"{kind}1{child}", f"{kind}3{child}"]
    root = by_name(first)[f"{kind}1"]
    assert root["memoizationStatus"] == {"hit": False, "key": "group-1", "cacheName": "composite-cache"}
    assert root["outputs"]["parameters"][0]["value"] == "computed-1"
    hit = by_name(second)[f"{kind}2"]
    assert second["status"]["phase"] == "Succeeded"
    assert hit["phase"] == "Succeeded" and hit["type"] == ("Steps" if kind == "steps" else "DAG")
    assert hit["memoizationStatus"] == {"hit": True, "key": "group-1", "cacheName": "composite-cache"}
    assert hit["outputs"]["parameters"][0]["value"] == "computed-1"
    assert list(by_name(second)) == [f"{kind}2"]  # no children: nothing of it ran
    assert by_name(other)[f"{kind}3"]["memoizationStatus"]["hit"] is False


async def test_memoized_steps_template_succeeds_from_the_cache_without_running_its_children() -> None:
    await _memo_runs("steps")


async def test_memoized_dag_template_succeeds_from_the_cache_without_running_its_tasks() -> None:
    await _memo_runs("dag")


WF_RETRY = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: NAME}
spec:
  entrypoint: main
  retryStrategy: {limit: 1}
  templates:
  - name: main
    steps:
    - - name: a
        template: flaky
  - name: flaky
    container: {image: alpine, args: ["echo try"]}
"""


async def test_workflow_retry_strategy_makes_the_root_a_retry_node_of_entrypoint_attempts() -> None:
    ex = ScriptedExecutor(plan={"flaky": [1, 0]})
    async with make_controller(ex) as ctl:
        wf = await ctl.wait(await ctl.submit(load(WF_RETRY.replace("NAME", "wr"))), timeout=5)
    nodes = by_name(wf)
    assert wf["status"]["phase"] == "Succeeded"
    assert nodes["wr"]["type"] == "Retry" and nodes["wr"]["phase"] == "Succeeded"
    assert children_names(wf, "wr") == ["wr(0)"]
    assert nodes["wr(0)"]["type"] == "Steps" and nodes["wr(0)"]["nodeFlag"] == {"retried": True}
    # as Argo: spec.retryStrategy applies to every template without its own
    step = nodes["wr(0)[0].a"]
    assert step["type"] == "Retry" and step["phase"] == "Succeeded" and "nodeFlag" not in step
    assert children_names(wf, "wr(0)[0].a") == ["wr(0)[0].a(0)", "wr(0)[0].a(1)"]
    assert nodes["wr(0)[0].a(0)"]["phase"] == "Failed" and nodes["wr(0)[0].a(1)"]["phase"] == "Succeeded"
    assert nodes["wr(0)[0].a(1)"]["nodeFlag"] == {"retried": True}
    assert ex.runs == ["wr(0)[0].a(0)", "wr(0)[0].a(1)"]


async def test_workflow_retry_strategy_retries_the_whole_entrypoint_until_its_limit() -> None:
    ex = ScriptedExecutor(plan={"flaky": [1, 1, 1, 1]})
    async with make_controller(ex) as ctl:
        wf = await ctl.wait(await ctl.submit(load(WF_RETRY.replace("NAME", "wf"))), timeout=5)
    nodes = by_name(wf)
    assert wf["status"]["phase"] == "Failed"
    assert wf["status"]["message"] == "No more retries left"
    assert nodes["wf"]["phase"] == "Failed" and nodes["wf"]["message"] == "No more retries left"
    assert children_names(wf, "wf") == ["wf(0)", "wf(1)"]
    assert [nodes[n]["phase"] for n in ("wf(0)", "wf(1)")] == ["Failed", "Failed"]
    assert nodes["wf(1)[0].a"]["message"] == "No more retries left"
    assert len(ex.runs) == 4


HOOKED = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: hk}
spec:
  entrypoint: main
  onExit: bye
  hooks:
    running:
      expression: workflow.status == "Running"
      template: note
  templates:
  - name: main
    steps:
    - - name: a
        template: note
        hooks:
          exit: {template: retried-note}
          started: {expression: steps.a.status == "Running", template: note}
  - name: note
    container: {image: alpine, args: ["echo note"]}
  - name: retried-note
    retryStrategy: {limit: 1}
    container: {image: alpine, args: ["echo note"]}
  - name: bye
    container: {image: alpine, args: ["echo bye"]}
"""


async def test_node_flag_marks_hook_and_exit_handler_nodes_hooked_and_attempts_retried() -> None:
    ex = ScriptedExecutor(plan={"retried-note": [1, 0]})
    async with make_controller(ex) as ctl:
        wf = await ctl.wait(await ctl.submit(load(HOOKED)), timeout=5)
    nodes = by_name(wf)
    assert wf["status"]["phase"] == "Succeeded"
    assert nodes["hk.onExit"]["nodeFlag"] == {"hooked": True}
    assert nodes["hk.hooks.running"]["nodeFlag"] == {"hooked": True}
    assert nodes["hk[0].a.hooks.started"]["nodeFlag"] == {"hooked": True}
    assert nodes["hk[0].a.onExit"]["nodeFlag"] == {"hooked": True}
    assert nodes["hk[0].a.onExit(0)"]["nodeFlag"] == {"hooked": True, "retried": True}
    assert nodes["hk[0].a.onExit(1)"]["nodeFlag"] == {"hooked": True, "retried": True}
    for plain in ("hk", "hk[0]", "hk[0].a"):
        assert "nodeFlag" not in nodes[plain]


DAEMON_RETRY = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: dr}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: server
        template: server
    - - name: client
        template: client
  - name: server
    daemon: true
    retryStrategy: {limit: 2}
    container: {image: nginx, args: ["block"]}
  - name: client
    container: {image: alpine, args: ["block"]}
"""


async def test_a_failed_daemon_is_retried_per_its_retry_strategy_and_killed_at_the_end() -> None:
    ex = ScriptedExecutor(plan={"server": [1, 0]})
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(DAEMON_RETRY))
        await wait_for(lambda: ex.started == ["dr[0].server(0)", "dr[1].client"], what="client runs beside the daemon")
        running = by_name(ctl.get(key))["dr[0].server"]
        assert running["type"] == "Retry" and running["phase"] == "Running" and running["daemoned"] is True
        ex.release("dr[0].server(0)")  # the daemon fails: a new attempt starts, the client goes on
        await wait_for(lambda: "dr[0].server(1)" in ex.started, what="the daemon's second attempt")
        nodes = by_name(ctl.get(key))
        assert nodes["dr[0].server(0)"]["phase"] == "Failed"
        assert nodes["dr[0].server"]["phase"] == "Running"
        ex.release("dr[0].server(1)")  # exits 0 on its own: a daemon that ends is Failed, as Argo
        await wait_for(lambda: "dr[0].server(2)" in ex.started, what="the daemon's third attempt")
        assert by_name(ctl.get(key))["dr[0].server(1)"]["phase"] == "Failed"
        ex.release("dr[1].client")
        wf = await ctl.wait(key, timeout=5)
    nodes = by_name(wf)
    assert wf["status"]["phase"] == "Succeeded"
    assert nodes["dr[0].server(2)"]["phase"] == "Succeeded"  # killed when its steps template ended
    assert nodes["dr[0].server"]["phase"] == "Succeeded"
    assert [nodes[f"dr[0].server({i})"]["nodeFlag"] for i in range(3)] == [{"retried": True}] * 3
