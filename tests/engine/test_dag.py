"""DAG templates: dependencies, depends, omitted tasks, failFast, loops, targets."""

from __future__ import annotations

from tests.support.engine import ScriptedExecutor, by_name, children_names, load, make_controller

DIAMOND = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: dia}
spec:
  entrypoint: diamond
  templates:
  - name: diamond
    dag:
      tasks:
      - {name: A, template: echo, arguments: {parameters: [{name: m, value: A}]}}
      - {name: B, dependencies: [A], template: echo, arguments: {parameters: [{name: m, value: "{{tasks.A.outputs.result}}B"}]}}
      - {name: C, dependencies: [A], template: echo, arguments: {parameters: [{name: m, value: C}]}}
      - {name: D, dependencies: [B, C], template: echo, arguments: {parameters: [{name: m, value: "{{tasks.B.outputs.result}}D"}]}}
  - name: echo
    inputs: {parameters: [{name: m}]}
    container: {image: alpine, args: ["echo {{inputs.parameters.m}}"]}
"""


async def test_diamond_tree() -> None:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(DIAMOND))
        wf = await ctl.wait(key, timeout=5)
    nodes = by_name(wf)
    assert wf["status"]["phase"] == "Succeeded"
    root = nodes["dia"]
    assert root["type"] == "DAG"
    assert children_names(wf, "dia") == ["dia.A"]
    assert sorted(children_names(wf, "dia.A")) == ["dia.B", "dia.C"]
    assert children_names(wf, "dia.B") == ["dia.D"]
    assert children_names(wf, "dia.C") == ["dia.D"]
    assert nodes["dia.A"]["boundaryID"] == "dia"
    assert nodes["dia.D"]["displayName"] == "D"
    assert nodes["dia.D"]["outputs"]["result"] == "ABD"
    assert root["outboundNodes"] == [nodes["dia.D"]["id"]]
    assert ex.runs.index("dia.A") < ex.runs.index("dia.B") < ex.runs.index("dia.D")
    assert ex.runs.index("dia.C") < ex.runs.index("dia.D")
    assert root["progress"] == "4/4"


DEPENDS = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: dep}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - {name: A, template: pass}
      - {name: B, template: fail}
      - {name: C, depends: "A && B.Failed", template: pass}
      - {name: D, depends: "B.Succeeded", template: pass}
      - {name: E, depends: "A.Succeeded || B.Succeeded", template: pass}
  - name: pass
    container: {image: alpine, args: ["echo ok"]}
  - name: fail
    container: {image: alpine, args: ["exit 1"]}
"""


async def test_enhanced_depends_and_omitted() -> None:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(DEPENDS))
        wf = await ctl.wait(key, timeout=5)
    nodes = by_name(wf)
    assert nodes["dep.C"]["phase"] == "Succeeded"
    assert nodes["dep.E"]["phase"] == "Succeeded"
    d = nodes["dep.D"]
    assert d["phase"] == "Omitted" and d["type"] == "Skipped"
    assert d["message"] == "omitted: depends condition not met"
    # D is a target whose branch inherits B's failure: the DAG fails (Argo assessDAGPhase)
    assert nodes["dep"]["phase"] == "Failed"
    assert wf["status"]["phase"] == "Failed"


HANDLED = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: hnd}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      failFast: false
      tasks:
      - {name: B, template: fail}
      - {name: H, depends: "B.Failed", template: pass}
  - name: pass
    container: {image: alpine, args: ["echo ok"]}
  - name: fail
    container: {image: alpine, args: ["exit 1"]}
"""


async def test_failure_handled_by_depends_succeeds() -> None:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(HANDLED))
        wf = await ctl.wait(key, timeout=5)
    nodes = by_name(wf)
    assert nodes["hnd.B"]["phase"] == "Failed"
    assert nodes["hnd.H"]["phase"] == "Succeeded"
    # the only target (H) succeeded, so the DAG succeeds
    assert wf["status"]["phase"] == "Succeeded"


FAILFAST = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: ff}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      failFast: FF
      tasks:
      - {name: A, template: fail}
      - {name: B, template: slow}
      - {name: C, dependencies: [B], template: pass}
  - name: pass
    container: {image: alpine, args: ["echo ok"]}
  - name: slow
    container: {image: alpine, args: ["block"]}
  - name: fail
    container: {image: alpine, args: ["exit 1"]}
"""


async def _failfast(value: str) -> dict[str, dict[str, object]]:
    from tests.support.waiting import wait_for

    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(FAILFAST.replace("FF", value)))
        await wait_for(lambda: by_name(ctl.get(key)).get("ff.A", {}).get("phase") == "Failed", what="A failed")
        ex.release()
        wf = await ctl.wait(key, timeout=5)
    assert wf["status"]["phase"] == "Failed"
    return by_name(wf)


async def test_fail_fast_stops_new_tasks() -> None:
    nodes = await _failfast("true")
    assert nodes["ff.B"]["phase"] == "Succeeded"
    assert "ff.C" not in nodes


async def test_fail_fast_false_runs_the_rest() -> None:
    nodes = await _failfast("false")
    assert nodes["ff.C"]["phase"] == "Succeeded"


LOOPS = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: dl}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - {name: fan, template: echo, withItems: [1, 2, 3], arguments: {parameters: [{name: m, value: "{{item}}"}]}}
      - {name: after, dependencies: [fan], template: echo, arguments: {parameters: [{name: m, value: "{{tasks.fan.outputs.result}}"}]}}
      - {name: skipped, template: echo, when: "1 == 2", arguments: {parameters: [{name: m, value: x}]}}
  - name: echo
    inputs: {parameters: [{name: m}]}
    container: {image: alpine, args: ["echo {{inputs.parameters.m}}"]}
"""


async def test_dag_loops_task_group() -> None:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(LOOPS))
        wf = await ctl.wait(key, timeout=5)
    nodes = by_name(wf)
    fan = nodes["dl.fan"]
    assert fan["type"] == "TaskGroup" and fan["phase"] == "Succeeded"
    assert children_names(wf, "dl.fan") == ["dl.fan(0:1)", "dl.fan(1:2)", "dl.fan(2:3)"]
    # dependants hang off the group's outbound nodes (every item)
    for item in ("dl.fan(0:1)", "dl.fan(1:2)", "dl.fan(2:3)"):
        assert children_names(wf, item) == ["dl.after"]
    assert nodes["dl.after"]["inputs"]["parameters"][0]["value"] == "[1,2,3]"
    assert nodes["dl.skipped"]["phase"] == "Skipped"
    assert wf["status"]["phase"] == "Succeeded"


TARGETS = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: tg}
spec:
  entrypoint: main
  arguments: {parameters: [{name: target, value: B}]}
  templates:
  - name: main
    dag:
      target: "{{workflow.parameters.target}}"
      tasks:
      - {name: A, template: pass}
      - {name: B, dependencies: [A], template: pass}
      - {name: C, dependencies: [A], template: pass}
  - name: pass
    container: {image: alpine, args: ["echo ok"]}
"""


async def test_dag_target_runs_only_needed_tasks() -> None:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(TARGETS))
        wf = await ctl.wait(key, timeout=5)
    nodes = by_name(wf)
    assert wf["status"]["phase"] == "Succeeded"
    assert "tg.B" in nodes and "tg.C" not in nodes


PARALLEL = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: par}
spec:
  entrypoint: main
  parallelism: WFP
  templates:
  - name: main
    parallelism: TP
    steps:
    - - name: s
        template: slow
        withSequence: {count: "4"}
  - name: slow
    container: {image: alpine, args: ["block"]}
"""


async def _parallel(wfp: str, tp: str, expected: int) -> None:
    from tests.support.waiting import wait_for

    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(PARALLEL.replace("WFP", wfp).replace("TP", tp)))
        await wait_for(lambda: len(ex.started) == expected, what=f"{expected} started")
        counts = ctl.counts(key)
        assert counts.get("Running") == expected
        assert len(ex.started) == expected
        while len(ex.runs) < 4:
            before = len(ex.runs)
            ex.release()
            await wait_for(lambda b=before: len(ex.runs) > b, what="progress")
            # never more than the limit at once
            assert len(ex.started) - len(ex.runs) <= expected
        wf = await ctl.wait(key, timeout=5)
    assert wf["status"]["phase"] == "Succeeded"


async def test_workflow_parallelism() -> None:
    await _parallel("2", "0", 2)


async def test_template_parallelism() -> None:
    await _parallel("10", "1", 1)
