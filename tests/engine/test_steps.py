"""Steps templates: node tree, naming, ordering, parameters and outputs (Argo semantics)."""

from __future__ import annotations

import json

from hookbus.controller.argo.names import node_id
from tests.support.engine import ScriptedExecutor, by_name, children_names, load, make_controller

STEPS = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: st}
spec:
  entrypoint: main
  arguments: {parameters: [{name: who, value: world}]}
  templates:
  - name: main
    steps:
    - - name: hello1
        template: say
        arguments: {parameters: [{name: msg, value: "hello1 {{workflow.parameters.who}}"}]}
    - - name: hello2a
        template: say
        arguments: {parameters: [{name: msg, value: "{{steps.hello1.outputs.result}} 2a"}]}
      - name: hello2b
        template: gen
  - name: say
    inputs: {parameters: [{name: msg}]}
    container: {image: alpine, command: [sh, -c], args: ["echo {{inputs.parameters.msg}}"]}
  - name: gen
    script:
      image: python
      source: "write /tmp/p v-{{workflow.name}}; echo out"
    outputs:
      parameters:
      - name: p
        globalName: gp
        valueFrom: {path: /tmp/p}
"""


async def test_steps_tree_ids_and_links() -> None:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(STEPS))
        wf = await ctl.wait(key, timeout=5)
    status = wf["status"]
    nodes = by_name(wf)
    assert status["phase"] == "Succeeded"
    # Argo: root id is the workflow name, others <wf>-<fnv32a(name)>
    root = nodes["st"]
    assert root["id"] == "st" and root["type"] == "Steps" and root["templateName"] == "main"
    assert nodes["st[0].hello1"]["id"] == node_id("st", "st[0].hello1")
    assert nodes["st[0]"]["type"] == "StepGroup" and nodes["st[0]"]["displayName"] == "[0]"
    assert nodes["st[0]"]["boundaryID"] == "st"
    assert nodes["st[0].hello1"]["boundaryID"] == "st"
    assert nodes["st[0].hello1"]["displayName"] == "hello1"
    assert nodes["st[0].hello1"]["type"] == "Pod"
    # root -> [0] -> hello1 -> [1] -> hello2a, hello2b
    assert children_names(wf, "st") == ["st[0]"]
    assert children_names(wf, "st[0]") == ["st[0].hello1"]
    assert children_names(wf, "st[0].hello1") == ["st[1]"]
    assert sorted(children_names(wf, "st[1]")) == ["st[1].hello2a", "st[1].hello2b"]
    # outbound nodes of the steps node: the last group's pods
    assert sorted(root["outboundNodes"]) == sorted(
        [nodes["st[1].hello2a"]["id"], nodes["st[1].hello2b"]["id"]]
    )
    assert nodes["st[1].hello2a"]["outputs"]["result"] == "hello1 world 2a"
    assert nodes["st[1].hello2a"]["inputs"]["parameters"] == [{"name": "msg", "value": "hello1 world 2a"}]
    assert status["progress"] == "3/3"
    assert root["progress"] == "3/3"
    assert nodes["st[0].hello1"]["progress"] == "1/1"
    # global output parameter
    assert status["outputs"]["parameters"] == [{"name": "gp", "value": "v-st"}]
    assert nodes["st[1].hello2b"]["outputs"]["exitCode"] == "0"
    for node in status["nodes"].values():
        assert node["startedAt"] and node["finishedAt"]


LOOPS = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: loops}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: gen
        template: gen
    - - name: items
        template: say
        arguments: {parameters: [{name: msg, value: "{{item}}"}]}
        withItems: [a, b]
      - name: maps
        template: say
        arguments: {parameters: [{name: msg, value: "{{item.os}}-{{item.v}}"}]}
        withItems: [{os: debian, v: 9}]
      - name: seq
        template: say
        arguments: {parameters: [{name: msg, value: "n{{item}}"}]}
        withSequence: {start: "2", end: "3"}
      - name: param
        template: say
        arguments: {parameters: [{name: msg, value: "{{item}}"}]}
        withParam: "{{steps.gen.outputs.result}}"
      - name: empty
        template: say
        arguments: {parameters: [{name: msg, value: "{{item}}"}]}
        withParam: "[]"
    - - name: agg
        template: say
        arguments: {parameters: [{name: msg, value: "{{steps.items.outputs.result}}"}]}
  - name: gen
    script: {image: python, source: "echo '[\\"x\\", \\"y\\"]'"}
  - name: say
    inputs: {parameters: [{name: msg}]}
    container: {image: alpine, args: ["echo {{inputs.parameters.msg}}"]}
"""


async def test_loops_in_steps() -> None:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(LOOPS))
        wf = await ctl.wait(key, timeout=5)
    nodes = by_name(wf)
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
    # expanded steps are direct children of the step group, named name(i:item)
    group = children_names(wf, "loops[1]")
    assert "loops[1].items(0:a)" in group and "loops[1].items(1:b)" in group
    assert nodes["loops[1].maps(0:os:debian,v:9)"]["outputs"]["result"] == "debian-9"
    assert nodes["loops[1].seq(0:2)"]["outputs"]["result"] == "n2"
    assert nodes["loops[1].seq(1:3)"]["outputs"]["result"] == "n3"
    assert nodes["loops[1].param(1:y)"]["outputs"]["result"] == "y"
    assert nodes["loops[1].items(1:b)"]["displayName"] == "items(1:b)"
    # empty withParam: a Skipped node
    assert nodes["loops[1].empty"]["phase"] == "Skipped"
    assert nodes["loops[1].empty"]["type"] == "Skipped"
    assert nodes["loops[1].empty"]["message"] == "Skipped, empty params"
    # aggregated result of an expanded step is a JSON list
    assert json.loads(nodes["loops[2].agg"]["inputs"]["parameters"][0]["value"]) == ["a", "b"]


WHEN = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: cond}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: flip
        template: flip
    - - name: heads
        template: say
        when: "{{steps.flip.outputs.result}} == heads"
      - name: tails
        template: say
        when: "{{steps.flip.outputs.result}} == tails"
  - name: flip
    script: {image: python, source: echo heads}
  - name: say
    container: {image: alpine, args: ["echo hi"]}
"""


async def test_when_skips() -> None:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(WHEN))
        wf = await ctl.wait(key, timeout=5)
    nodes = by_name(wf)
    assert wf["status"]["phase"] == "Succeeded"
    assert nodes["cond[1].heads"]["phase"] == "Succeeded"
    tails = nodes["cond[1].tails"]
    assert tails["phase"] == "Skipped" and tails["type"] == "Skipped"
    assert tails["message"] == "when 'heads == tails' evaluated false"
    assert "cond[1].tails" not in ex.runs


FAIL = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: fail}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: ok
        template: ok
      - name: bad
        template: bad
    - - name: never
        template: ok
  - name: ok
    container: {image: alpine, args: ["echo ok"]}
  - name: bad
    container: {image: alpine, args: ["exit 1"]}
"""


async def test_failed_step_fails_group_and_workflow() -> None:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(FAIL))
        wf = await ctl.wait(key, timeout=5)
    nodes = by_name(wf)
    bad_id = nodes["fail[0].bad"]["id"]
    assert nodes["fail[0].bad"]["phase"] == "Failed"
    assert nodes["fail[0]"]["phase"] == "Failed"
    assert nodes["fail[0]"]["message"] == f"child '{bad_id}' failed"
    assert nodes["fail"]["phase"] == "Failed"
    assert wf["status"]["phase"] == "Failed"
    assert wf["status"]["message"] == f"child '{bad_id}' failed"
    assert "fail[1]" not in nodes and "fail[1].never" not in ex.runs
    assert wf["status"]["progress"] == "1/2"


CONTINUE = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: cont}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: bad
        template: bad
        continueOn: {failed: true}
    - - name: after
        template: ok
        arguments: {parameters: [{name: s, value: "{{steps.bad.status}}"}]}
  - name: ok
    inputs: {parameters: [{name: s}]}
    container: {image: alpine, args: ["echo {{inputs.parameters.s}}"]}
  - name: bad
    container: {image: alpine, args: ["exit 3"]}
"""


async def test_continue_on_failed() -> None:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(CONTINUE))
        wf = await ctl.wait(key, timeout=5)
    nodes = by_name(wf)
    assert nodes["cont[0].bad"]["phase"] == "Failed"
    assert nodes["cont[0].bad"]["outputs"]["exitCode"] == "3"
    assert nodes["cont[0]"]["phase"] == "Succeeded"
    assert nodes["cont[1].after"]["outputs"]["result"] == "Failed"
    assert wf["status"]["phase"] == "Succeeded"


NESTED = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: nest}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: inner
        template: inner
    - - name: use
        template: echo
        arguments: {parameters: [{name: m, value: "{{steps.inner.outputs.parameters.out}}"}]}
  - name: inner
    outputs:
      parameters:
      - name: out
        valueFrom: {parameter: "{{steps.leaf.outputs.result}}"}
    steps:
    - - name: leaf
        template: echo
        arguments: {parameters: [{name: m, value: deep}]}
  - name: echo
    inputs: {parameters: [{name: m}]}
    container: {image: alpine, args: ["echo {{inputs.parameters.m}}"]}
"""


async def test_nested_steps_boundaries_and_outputs() -> None:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(NESTED))
        wf = await ctl.wait(key, timeout=5)
    nodes = by_name(wf)
    inner = nodes["nest[0].inner"]
    assert inner["type"] == "Steps" and inner["boundaryID"] == "nest"
    assert nodes["nest[0].inner[0]"]["boundaryID"] == inner["id"]
    assert nodes["nest[0].inner[0].leaf"]["boundaryID"] == inner["id"]
    assert inner["outputs"]["parameters"] == [{"name": "out", "value": "deep"}]
    assert nodes["nest[1].use"]["outputs"]["result"] == "deep"
    # the next group hangs off the inner steps' outbound node (the leaf pod)
    assert children_names(wf, "nest[0].inner[0].leaf") == ["nest[1]"]
    assert inner["outboundNodes"] == [nodes["nest[0].inner[0].leaf"]["id"]]


MISSING_INPUT = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: miss}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: a
        template: t
  - name: t
    inputs: {parameters: [{name: x}, {name: y, default: dflt}]}
    container: {image: alpine, args: ["echo {{inputs.parameters.x}}"]}
"""


async def test_missing_input_is_an_error() -> None:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(MISSING_INPUT))
        wf = await ctl.wait(key, timeout=5)
    nodes = by_name(wf)
    assert nodes["miss[0].a"]["phase"] == "Error"
    assert "inputs.parameters.x was not supplied" in nodes["miss[0].a"]["message"]
    assert wf["status"]["phase"] == "Failed"
    assert ex.runs == []


INLINE = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: inl}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - name: a
        inline:
          container: {image: alpine, args: ["echo inline"]}
      - name: b
        depends: a
        inline:
          inputs: {parameters: [{name: x, value: "{{tasks.a.outputs.result}}"}]}
          steps:
          - - name: s
              inline:
                container: {image: alpine, args: ["echo nested"]}
"""


async def test_inline_templates() -> None:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(INLINE))
        wf = await ctl.wait(key, timeout=5)
    nodes = by_name(wf)
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
    assert nodes["inl.a"]["outputs"]["result"] == "inline"
    assert nodes["inl.b"]["type"] == "Steps"
    assert nodes["inl.b[0].s"]["outputs"]["result"] == "nested"


OUTPUT_FILES = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: outf}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: dflt, template: dflt}
    - - {name: missing, template: missing}
  - name: dflt
    container: {image: alpine, args: ["echo nothing written"]}
    outputs:
      parameters:
      - name: p
        valueFrom: {path: /tmp/none.txt, default: fallback}
  - name: missing
    container: {image: alpine, args: ["echo nothing written"]}
    outputs:
      parameters:
      - name: p
        valueFrom: {path: /tmp/none.txt}
"""


async def test_output_parameter_default_and_missing_file() -> None:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(OUTPUT_FILES))
        wf = await ctl.wait(key, timeout=5)
    nodes = by_name(wf)
    assert nodes["outf[0].dflt"]["outputs"]["parameters"] == [{"name": "p", "value": "fallback"}]
    missing = nodes["outf[1].missing"]
    assert missing["phase"] == "Error"
    assert "/tmp/none.txt" in missing["message"]
    assert wf["status"]["phase"] == "Failed"


SKIPPED_PARAM = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: skp}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: gen
        template: say
        when: "a == b"
    - - name: fan
        template: say
        withParam: "{{steps.gen.outputs.result}}"
        when: "{{steps.gen.status}} == Succeeded"
  - name: say
    container: {image: alpine, args: ["echo hi"]}
"""


async def test_unexpandable_loop_with_false_when_is_skipped() -> None:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(SKIPPED_PARAM))
        wf = await ctl.wait(key, timeout=5)
    nodes = by_name(wf)
    assert nodes["skp[0].gen"]["phase"] == "Skipped"
    fan = nodes["skp[1].fan"]
    assert fan["phase"] == "Skipped"
    assert fan["message"] == "when 'Skipped == Succeeded' evaluated false"
    assert wf["status"]["phase"] == "Succeeded"
