from __future__ import annotations

from tests.support.engine import ScriptedExecutor, by_name, load, make_controller

HELLO = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: hello}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: a
        template: say
        arguments: {parameters: [{name: msg, value: one}]}
    - - name: b
        template: say
        arguments: {parameters: [{name: msg, value: "{{steps.a.outputs.result}}-two"}]}
  - name: say
    inputs: {parameters: [{name: msg}]}
    container: {image: alpine, command: [sh, -c], args: ["echo {{inputs.parameters.msg}}"]}
"""


async def test_steps_smoke() -> None:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(HELLO))
        wf = await ctl.wait(key, timeout=5)
    nodes = by_name(wf)
    assert wf["status"]["phase"] == "Succeeded", wf["status"]
    assert nodes["hello[1].b"]["outputs"]["result"] == "one-two"
