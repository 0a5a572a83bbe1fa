"""containerSet on the local executor: containers by their dependencies, retried in place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hookbus.controller.engine.controller import Controller
from hookbus.controller.engine.memory_store import MemoryStore
from hookbus.controller.engine.settings import ControllerSettings
from hookbus.controller.executors.registry import make_executor
from tests.support.engine import by_name, load

if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

GRAPH = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: graph}
spec:
  entrypoint: main
  templates:
  - name: main
    volumes: [{name: work, emptyDir: {}}]
    containerSet:
      volumeMounts: [{name: work, mountPath: /workdir}]
      containers:
      - name: a
        image: alpine
        command: [sh, -c]
        args: ["echo a >> /workdir/order"]
      - name: b
        image: alpine
        command: [sh, -c]
        # b only finishes once c has started: they must run side by side
        args: ["for i in $(seq 200); do [ -f /workdir/c ] && echo b >> /workdir/order && exit 0; sleep 0.05; done; exit 7"]
        dependencies: [a]
      - name: c
        image: alpine
        command: [sh, -c]
        args: ["touch /workdir/c"]
        dependencies: [a]
      - name: main
        image: alpine
        command: [sh, -c]
        args: ["cat /workdir/order | tr '\\\\n' ' '"]
        dependencies: [b, c]
"""

RETRIED = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: NAME}
spec:
  entrypoint: main
  templates:
  - name: main
    volumes: [{name: work, emptyDir: {}}]
    containerSet:
      volumeMounts: [{name: work, mountPath: /workdir}]
      retryStrategy: {retries: RETRIES, duration: 10ms}
      containers:
      - name: flaky
        image: alpine
        command: [sh, -c]
        args: ["if [ -f /workdir/tried ]; then echo again; else touch /workdir/tried; exit 3; fi"]
      - name: main
        image: alpine
        command: [sh, -c]
        args: ["echo done"]
        dependencies: [flaky]
"""


async def _run(tmp_path: Path, manifest: str) -> dict[str, Any]:
    settings = ControllerSettings(executor="local", state_dir=tmp_path / "state")
    executor = lambda: make_executor(settings.executor, state_dir=settings.state_dir)  # noqa: E731
    async with Controller(settings, store=MemoryStore(), executor=executor) as ctl:
        return await ctl.wait(await ctl.submit(load(manifest)), timeout=60)


async def test_container_set_runs_its_containers_by_their_dependencies(tmp_path: Path) -> None:
    wf = await _run(tmp_path, GRAPH)
    node = by_name(wf)["graph"]
    assert wf["status"]["phase"] == "Succeeded", node.get("message")
    assert node["outputs"]["result"].split() == ["a", "b"]


async def test_container_set_retries_a_failed_container_in_place(tmp_path: Path) -> None:
    wf = await _run(tmp_path, RETRIED.replace("NAME", "twice").replace("RETRIES", "2"))
    node = by_name(wf)["twice"]
    assert wf["status"]["phase"] == "Succeeded", node.get("message")
    assert node["type"] == "Pod" and node["outputs"]["result"] == "done"


async def test_container_set_retries_count_every_run_as_argo(tmp_path: Path) -> None:
    wf = await _run(tmp_path, RETRIED.replace("NAME", "once").replace("RETRIES", "1"))
    node = by_name(wf)["once"]
    assert wf["status"]["phase"] == "Failed"
    assert node["phase"] == "Failed"
    assert node["message"] == "flaky: Error (exit code 3)"
