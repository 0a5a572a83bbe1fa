"""Exit handlers, suspend/resume, deadlines and timeouts, stop/terminate, memoize."""

from __future__ import annotations

import json

from hookbus.controller.engine.clock import ManualClock
from tests.support.engine import ScriptedExecutor, by_name, children_names, load, make_controller
from tests.support.waiting import wait_for

EXIT = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: ex}
spec:
  entrypoint: main
  onExit: handler
  templates:
  - name: main
    steps:
    - - name: work
        template: CHOICE
        hooks:
          exit:
            template: step-exit
            arguments: {parameters: [{name: s, value: "{{steps.work.status}}"}]}
  - name: ok
    container: {image: alpine, args: ["echo ok"]}
  - name: bad
    container: {image: alpine, args: ["exit 1"]}
  - name: step-exit
    inputs: {parameters: [{name: s}]}
    container: {image: alpine, args: ["echo step-exit {{inputs.parameters.s}}"]}
  - name: handler
    steps:
    - - name: report
        template: report
        arguments: {parameters: [{name: s, value: "{{workflow.status}}"}, {name: f, value: "{{workflow.failures}}"}]}
  - name: report
    inputs: {parameters: [{name: s}, {name: f}]}
    container: {image: alpine, args: ["echo {{inputs.parameters.s}}"]}
"""


async def test_exit_handlers_on_success() -> None:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(EXIT.replace("CHOICE", "ok")))
        wf = await ctl.wait(key, timeout=5)
    nodes = by_name(wf)
    assert wf["status"]["phase"] == "Succeeded"
    # step-level exit hook: a child of the step node named <step>.onExit, run after it
    assert children_names(wf, "ex[0].work")[0] == "ex[0].work.onExit"
    assert ex.runs.index("ex[0].work") < ex.runs.index("ex[0].work.onExit")
    # workflow-level onExit: node <wf>.onExit, after the entrypoint, sees workflow.status
    handler = nodes["ex.onExit"]
    assert handler["type"] == "Steps" and handler["phase"] == "Succeeded"
    assert nodes["ex.onExit[0].report"]["outputs"]["result"] == "Succeeded"
    assert ex.runs[-1] == "ex.onExit[0].report"


async def test_exit_handler_sees_failures() -> None:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(EXIT.replace("CHOICE", "bad")))
        wf = await ctl.wait(key, timeout=5)
    nodes = by_name(wf)
    assert wf["status"]["phase"] == "Failed"
    report = nodes["ex.onExit[0].report"]
    assert report["outputs"]["result"] == "Failed"
    failures = json.loads(report["inputs"]["parameters"][1]["value"])
    assert [f["displayName"] for f in failures] == ["work"]
    assert failures[0]["templateName"] == "bad" and failures[0]["phase"] == "Failed"
    # the step's own exit hook still ran, seeing the step's status
    assert nodes["ex[0].work.onExit"]["phase"] == "Succeeded"
    assert nodes["ex[0].work.onExit"]["outputs"]["result"] == "step-exit Failed"


EXIT_FAILS = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: exf}
spec:
  entrypoint: ok
  onExit: bad
  templates:
  - name: ok
    container: {image: alpine, args: ["echo ok"]}
  - name: bad
    container: {image: alpine, args: ["exit 2"]}
"""


async def test_failing_exit_handler_fails_a_successful_workflow() -> None:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(EXIT_FAILS))
        wf = await ctl.wait(key, timeout=5)
    nodes = by_name(wf)
    assert nodes["exf"]["phase"] == "Succeeded"
    assert nodes["exf.onExit"]["phase"] == "Failed"
    assert wf["status"]["phase"] == "Failed"


SUSPEND = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: sus}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: wait
        template: wait
    - - name: after
        template: ok
  - name: wait
    suspend: DURATION
  - name: ok
    container: {image: alpine, args: ["echo ok"]}
"""


async def test_suspend_until_resumed() -> None:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(SUSPEND.replace("DURATION", "{}")))
        await wait_for(lambda: by_name(ctl.get(key)).get("sus[0].wait", {}).get("phase") == "Running", what="suspended")
        node = by_name(ctl.get(key))["sus[0].wait"]
        assert node["type"] == "Suspend"
        assert ex.runs == []
        await ctl.resume(key)
        wf = await ctl.wait(key, timeout=5)
    assert by_name(wf)["sus[0].wait"]["phase"] == "Succeeded"
    assert wf["status"]["phase"] == "Succeeded"
    assert ex.runs == ["sus[1].after"]


async def test_suspend_duration_on_the_clock() -> None:
    clock = ManualClock()
    ex = ScriptedExecutor()
    async with make_controller(ex, clock=clock) as ctl:
        key = await ctl.submit(load(SUSPEND.replace("DURATION", '{duration: "1m"}')))
        await wait_for(lambda: clock.sleepers == 1, what="suspend timer")
        clock.advance(59)
        await wait_for(lambda: clock.sleepers == 1, what="still suspended")
        assert by_name(ctl.get(key))["sus[0].wait"]["phase"] == "Running"
        clock.advance(1)
        wf = await ctl.wait(key, timeout=5)
    assert wf["status"]["phase"] == "Succeeded"


DEADLINE = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: dl}
spec:
  entrypoint: main
  WFDEADLINE
  templates:
  - name: main
    steps:
    - - name: slow
        template: slow
  - name: slow
    TMPLDEADLINE
    container: {image: alpine, args: ["block"]}
"""


async def test_template_active_deadline() -> None:
    clock = ManualClock()
    ex = ScriptedExecutor()
    text = DEADLINE.replace("WFDEADLINE", "").replace("TMPLDEADLINE", "activeDeadlineSeconds: 30")
    async with make_controller(ex, clock=clock) as ctl:
        key = await ctl.submit(load(text))
        await wait_for(lambda: clock.sleepers == 1 and len(ex.started) == 1, what="running with a deadline")
        clock.advance(30)
        wf = await ctl.wait(key, timeout=5)
    node = by_name(wf)["dl[0].slow"]
    assert node["phase"] == "Failed"
    assert node["message"] == "Pod was active on the node longer than the specified deadline"
    assert wf["status"]["phase"] == "Failed"


async def test_template_timeout() -> None:
    clock = ManualClock()
    ex = ScriptedExecutor()
    text = DEADLINE.replace("WFDEADLINE", "").replace("TMPLDEADLINE", 'timeout: "20s"')
    async with make_controller(ex, clock=clock) as ctl:
        key = await ctl.submit(load(text))
        await wait_for(lambda: clock.sleepers == 1 and len(ex.started) == 1, what="running with a timeout")
        clock.advance(20)
        wf = await ctl.wait(key, timeout=5)
    assert by_name(wf)["dl[0].slow"]["phase"] == "Failed"


async def test_workflow_active_deadline() -> None:
    clock = ManualClock()
    ex = ScriptedExecutor()
    text = DEADLINE.replace("WFDEADLINE", "activeDeadlineSeconds: 60").replace("TMPLDEADLINE", "")
    async with make_controller(ex, clock=clock) as ctl:
        key = await ctl.submit(load(text))
        await wait_for(lambda: clock.sleepers == 1 and len(ex.started) == 1, what="running")
        clock.advance(60)
        wf = await ctl.wait(key, timeout=5)
    assert by_name(wf)["dl[0].slow"]["message"] == "Step exceeded its deadline"
    assert wf["status"]["phase"] == "Failed"


STOPPABLE = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: stp}
spec:
  entrypoint: main
  onExit: cleanup
  templates:
  - name: main
    steps:
    - - name: slow
        template: slow
    - - name: never
        template: cleanup
  - name: slow
    container: {image: alpine, args: ["block"]}
  - name: cleanup
    container: {image: alpine, args: ["echo bye"]}
"""


async def test_stop_runs_exit_handler() -> None:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(STOPPABLE))
        await wait_for(lambda: len(ex.started) == 1, what="running")
        await ctl.stop_workflow(key)
        wf = await ctl.wait(key, timeout=5)
    nodes = by_name(wf)
    assert nodes["stp[0].slow"]["phase"] == "Failed"
    assert nodes["stp[0].slow"]["message"] == "Stopped with strategy 'Stop'"
    assert "stp[1].never" not in nodes
    assert nodes["stp.onExit"]["phase"] == "Succeeded"
    assert wf["status"]["phase"] == "Failed"
    assert wf["status"]["message"] == "Stopped with strategy 'Stop'"


async def test_terminate_skips_exit_handler() -> None:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(STOPPABLE))
        await wait_for(lambda: len(ex.started) == 1, what="running")
        await ctl.terminate(key)
        wf = await ctl.wait(key, timeout=5)
    nodes = by_name(wf)
    assert "stp.onExit" not in nodes
    assert wf["status"]["message"] == "Stopped with strategy 'Terminate'"
    assert wf["status"]["phase"] == "Failed"


async def test_fail_ends_the_workflow_in_error_with_the_message() -> None:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(STOPPABLE))
        await wait_for(lambda: len(ex.started) == 1, what="running")
        ctl.fail(key, "creating claim stp-workdir: Kubernetes API: 403 forbidden")
        wf = await ctl.wait(key, timeout=5)
        ctl.fail(key, "again")  # an ended workflow stays as it ended
        assert (await ctl.read(key))["status"]["message"] == "creating claim stp-workdir: Kubernetes API: 403 forbidden"
    nodes = by_name(wf)
    assert wf["status"]["phase"] == "Error"
    assert wf["status"]["message"] == "creating claim stp-workdir: Kubernetes API: 403 forbidden"
    assert "stp[1].never" not in nodes
    assert "stp.onExit" not in nodes, "nothing more runs"


async def test_workflow_suspend_holds_new_nodes() -> None:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(STOPPABLE))
        await wait_for(lambda: len(ex.started) == 1, what="running")
        await ctl.suspend(key)
        ex.release()
        await wait_for(lambda: by_name(ctl.get(key))["stp[0].slow"]["phase"] == "Succeeded", what="first done")
        await wait_for(lambda: "stp[1].never" in by_name(ctl.get(key)), what="next node created")
        assert by_name(ctl.get(key))["stp[1].never"]["phase"] == "Pending"
        assert len(ex.started) == 1
        await ctl.resume(key)
        wf = await ctl.wait(key, timeout=5)
    assert wf["status"]["phase"] == "Succeeded"


MEMO = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: NAME}
spec:
  entrypoint: main
  templates:
  - name: main
    memoize:
      key: "k-{{workflow.parameters.x}}"
      cache: {configMap: {name: my-cache}}
    container: {image: alpine, args: ["echo computed"]}
  arguments: {parameters: [{name: x, value: "1"}]}
"""


async def test_memoize_second_run_hits_cache() -> None:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        first = await ctl.wait(await ctl.submit(load(MEMO.replace("NAME", "m1"))), timeout=5)
        second = await ctl.wait(await ctl.submit(load(MEMO.replace("NAME", "m2"))), timeout=5)
        third = await ctl.wait(
            await ctl.submit(load(MEMO.replace("NAME", "m3")), parameters={"x": "2"}), timeout=5
        )
    assert ex.runs == ["m1", "m3"]
    assert by_name(first)["m1"]["memoizationStatus"] == {"hit": False, "key": "k-1", "cacheName": "my-cache"}
    hit = by_name(second)["m2"]
    assert hit["memoizationStatus"] == {"hit": True, "key": "k-1", "cacheName": "my-cache"}
    assert hit["phase"] == "Succeeded" and hit["outputs"]["result"] == "computed"
    assert by_name(third)["m3"]["memoizationStatus"]["hit"] is False


DAEMON = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: dmn}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: server
        template: server
    - - name: client
        template: client
        arguments: {parameters: [{name: s, value: "{{steps.server.status}}"}]}
  - name: server
    daemon: true
    container: {image: nginx, args: ["block"]}
  - name: client
    inputs: {parameters: [{name: s}]}
    container: {image: alpine, args: ["echo server is {{inputs.parameters.s}}"]}
"""


async def test_daemon_step_lets_next_steps_run_and_is_killed_at_the_end() -> None:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(DAEMON))
        wf = await ctl.wait(key, timeout=5)  # never released: the daemon is killed
    nodes = by_name(wf)
    assert nodes["dmn[1].client"]["outputs"]["result"] == "server is Running"
    server = nodes["dmn[0].server"]
    assert server["daemoned"] is True
    assert server["phase"] == "Succeeded"
    assert wf["status"]["phase"] == "Succeeded"
    assert "dmn[0].server" not in ex.runs  # its process never finished on its own


DAG_DAEMON = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: dd}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - {name: server, template: server}
      - {name: client, depends: server.Daemoned, template: client}
  - name: server
    daemon: true
    container: {image: nginx, args: ["block"]}
  - name: client
    container: {image: alpine, args: ["echo hi"]}
"""


async def test_dag_depends_daemoned() -> None:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(DAG_DAEMON))
        wf = await ctl.wait(key, timeout=5)
    nodes = by_name(wf)
    assert nodes["dd.client"]["phase"] == "Succeeded"
    assert nodes["dd.server"]["phase"] == "Succeeded"
    assert wf["status"]["phase"] == "Succeeded"


HOOKS = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: lh}
spec:
  entrypoint: main
  hooks:
    running:
      expression: workflow.status == "Running"
      template: note
    failed:
      expression: workflow.status == "Failed"
      template: note
  templates:
  - name: main
    steps:
    - - name: step-1
        template: work
        hooks:
          running:
            expression: steps["step-1"].status == "Running"
            template: note
          success:
            expression: steps["step-1"].status == "Succeeded"
            template: note
          failure:
            expression: steps["step-1"].status == "Failed"
            template: note
    - - name: after
        template: work
  - name: work
    container: {image: alpine, args: ["echo work"]}
  - name: note
    container: {image: alpine, args: ["echo note"]}
"""


async def test_lifecycle_hooks_fire_on_transitions() -> None:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(HOOKS))
        wf = await ctl.wait(key, timeout=5)
    nodes = by_name(wf)
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
    # step hooks: running and success fired (once each), failure did not
    assert nodes["lh[0].step-1.hooks.running"]["phase"] == "Succeeded"
    assert nodes["lh[0].step-1.hooks.success"]["phase"] == "Succeeded"
    assert "lh[0].step-1.hooks.failure" not in nodes
    assert set(children_names(wf, "lh[0].step-1")) >= {"lh[0].step-1.hooks.running", "lh[0].step-1.hooks.success"}
    # the next step starts only after the step's hooks finished
    assert ex.runs.index("lh[0].step-1.hooks.success") < ex.runs.index("lh[1].after")
    # workflow-level: the running hook fired, the failed one not
    assert nodes["lh.hooks.running"]["phase"] == "Succeeded"
    assert "lh.hooks.failed" not in nodes
    assert ex.runs.count("lh.hooks.running") == 1
