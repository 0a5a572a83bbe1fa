"""End to end with the local executor: real processes, outputs from files and stdout."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hookbus.controller.engine.controller import Controller
from hookbus.controller.engine.memory_store import MemoryStore
from hookbus.controller.engine.settings import ControllerSettings
from hookbus.controller.executors.registry import make_executor
from tests.support.engine import by_name, load

if TYPE_CHECKING:
    from pathlib import Path

OUTPUTS = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: out-}
spec:
  entrypoint: main
  arguments: {parameters: [{name: greeting, value: hi}]}
  templates:
  - name: main
    dag:
      tasks:
      - name: gen
        template: gen
        arguments: {parameters: [{name: g, value: "{{workflow.parameters.greeting}}"}]}
      - name: gen2
        template: gen
        arguments: {parameters: [{name: g, value: other}]}
      - name: show
        dependencies: [gen, gen2]
        template: show
        arguments:
          parameters:
          - {name: p, value: "{{tasks.gen.outputs.parameters.msg}}"}
          - {name: r, value: "{{tasks.gen.outputs.result}}"}
          - {name: q, value: "{{tasks.gen2.outputs.parameters.msg}}"}
  - name: gen
    inputs: {parameters: [{name: g}]}
    script:
      image: python:alpine3.6
      command: [sh]
      source: |
        echo -n "{{inputs.parameters.g}} from file" > /tmp/hello_world.txt
        echo "{{inputs.parameters.g}} on stdout"
    outputs:
      parameters:
      - name: msg
        valueFrom: {path: /tmp/hello_world.txt}
  - name: show
    inputs: {parameters: [{name: p}, {name: r}, {name: q}]}
    container:
      image: alpine
      command: [sh, -c]
      args: ["echo '{{inputs.parameters.p}}|{{inputs.parameters.r}}|{{inputs.parameters.q}}'"]
"""


async def test_local_dag_outputs(tmp_path: Path) -> None:
    settings = ControllerSettings(executor="local", state_dir=tmp_path / "state")
    async with Controller(settings, store=MemoryStore(), executor=lambda: make_executor(settings.executor, state_dir=settings.state_dir)) as ctl:
        key = await ctl.submit(load(OUTPUTS))
        assert key.name.startswith("out-") and len(key.name) == len("out-") + 5
        wf = await ctl.wait(key, timeout=60)
        nodes = by_name(wf)
        show = nodes[f"{key.name}.show"]
        assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
        # each node had its own /tmp: gen and gen2 did not see each other's file
        assert show["outputs"]["result"] == "hi from file|hi on stdout|other from file"
        assert show["outputs"]["exitCode"] == "0"
        log = ctl.log_path(key, show["id"])
        assert log is not None and log.exists()


FAILING = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: exitcodes}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: fails
        template: fails
        continueOn: {failed: true}
    - - name: code
        template: echo
        arguments: {parameters: [{name: c, value: "{{steps.fails.exitCode}}"}]}
  - name: fails
    retryStrategy: {limit: 1}
    container: {image: alpine, command: [sh, -c], args: ["exit 3"]}
  - name: echo
    inputs: {parameters: [{name: c}]}
    container: {image: alpine, command: [echo], args: ["code={{inputs.parameters.c}}"]}
"""


async def test_local_exit_codes_and_retries(tmp_path: Path) -> None:
    settings = ControllerSettings(executor="local", state_dir=tmp_path / "state")
    async with Controller(settings, store=MemoryStore(), executor=lambda: make_executor(settings.executor, state_dir=settings.state_dir)) as ctl:
        key = await ctl.submit(load(FAILING))
        wf = await ctl.wait(key, timeout=60)
    nodes = by_name(wf)
    assert nodes["exitcodes[0].fails"]["type"] == "Retry"
    assert nodes["exitcodes[0].fails"]["phase"] == "Failed"
    assert nodes["exitcodes[0].fails(1)"]["outputs"]["exitCode"] == "3"
    assert nodes["exitcodes[1].code"]["outputs"]["result"] == "code=3"
    assert wf["status"]["phase"] == "Succeeded"


ARTIFACTS = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: arts}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: gen
        template: gen
    - - name: use
        template: use
        arguments:
          artifacts:
          - name: msg
            from: "{{steps.gen.outputs.artifacts.out}}"
      - name: raw
        template: raw
      - name: glob
        template: glob
  - name: gen
    container: {image: busybox, command: [sh, -c], args: ["printf 'line one\\nline two' > /tmp/out.txt"]}
    outputs:
      artifacts:
      - {name: out, path: /tmp/out.txt, globalName: g}
  - name: use
    inputs: {artifacts: [{name: msg, path: /tmp/in/msg.txt}]}
    container: {image: busybox, command: [sh, -c], args: ["cat {{inputs.artifacts.msg.path}}"]}
  - name: raw
    inputs:
      artifacts:
      - name: f
        path: /tmp/raw.txt
        raw: {data: "raw data"}
    container: {image: busybox, command: [cat, /tmp/raw.txt]}
  - name: glob
    inputs: {artifacts: [{name: a, path: /tmp/g.txt, from: "{{workflow.outputs.artifacts.g}}"}]}
    container: {image: busybox, command: [cat, /tmp/g.txt]}
"""


async def test_local_text_artifacts(tmp_path: Path) -> None:
    settings = ControllerSettings(executor="local", state_dir=tmp_path / "state")
    async with Controller(settings, store=MemoryStore(), executor=lambda: make_executor(settings.executor, state_dir=settings.state_dir)) as ctl:
        key = await ctl.submit(load(ARTIFACTS))
        wf = await ctl.wait(key, timeout=60)
    nodes = by_name(wf)
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
    assert nodes["arts[1].use"]["outputs"]["result"] == "line one\nline two"
    assert nodes["arts[1].raw"]["outputs"]["result"] == "raw data"
    assert nodes["arts[1].glob"]["outputs"]["result"] == "line one\nline two"
    # status shows artifacts like Argo (name, path), never their contents
    assert nodes["arts[0].gen"]["outputs"]["artifacts"] == [
        {"name": "out", "path": "/tmp/out.txt", "globalName": "g"}
    ]
    assert "x-hookbus-data" not in str(wf)


KEYED = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: keyed}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - {name: put, template: put}
      - {name: get, depends: put, template: get}
  - name: put
    container:
      image: busybox
      command: [sh, -c]
      args: ['mkdir -p "$(dirname {{outputs.artifacts.f.path}})" && echo stored > {{outputs.artifacts.f.path}}']
    outputs:
      artifacts:
      - {name: f, path: /mnt/out/file, s3: {key: my-key}}
  - name: get
    inputs:
      artifacts:
      - {name: f, path: /tmp/file, s3: {key: my-key}}
    container: {image: busybox, command: [cat, /tmp/file]}
"""


async def test_local_key_only_artifacts_and_output_path_placeholders(tmp_path: Path) -> None:
    settings = ControllerSettings(executor="local", state_dir=tmp_path / "state")
    async with Controller(settings, store=MemoryStore(), executor=lambda: make_executor(settings.executor, state_dir=settings.state_dir)) as ctl:
        key = await ctl.submit(load(KEYED))
        wf = await ctl.wait(key, timeout=60)
    nodes = by_name(wf)
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
    assert nodes["keyed.get"]["outputs"]["result"] == "stored"
    assert nodes["keyed.put"]["outputs"]["artifacts"][0]["s3"] == {"key": "my-key"}
