"""kill -9 of a running ``hookbus server`` mid-workflow, then a restart on the same state dir."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

from tests.support.waiting import wait_for

HOOKBUS = str(Path(sys.executable).parent / "hookbus")

WORKFLOW = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: crashy}
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - {name: first, template: quick}
        - - {name: long, template: slow}
        - - {name: last, template: quick}
    - name: quick
      container: {image: alpine, command: [echo, hi]}
    - name: slow
      retryStrategy: {limit: 2, retryPolicy: Always}
      metadata: {annotations: {hookbus.io/simulate-duration: "3"}}
      container: {image: alpine, command: [echo, slow]}
"""


def _url(path: Path) -> str:
    return path.read_text().strip() if path.exists() else ""


async def _server(state: Path, url_file: Path) -> tuple[asyncio.subprocess.Process, str]:
    await asyncio.to_thread(url_file.unlink, missing_ok=True)
    proc = await asyncio.create_subprocess_exec(
        HOOKBUS, "server", "--state-dir", str(state), "--executor", "simulate", "--url-file", str(url_file),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    await wait_for(lambda: _url(url_file) != "", timeout=30, what="the server URL")
    return proc, _url(url_file)


async def _get(url: str) -> dict:  # type: ignore[type-arg]
    proc = await asyncio.create_subprocess_exec(
        HOOKBUS, "get", "crashy", "-o", "json", "--nats-url", url, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    out, _ = await proc.communicate()
    return json.loads(out) if proc.returncode == 0 else {}


def _nodes(workflow: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    return {n["displayName"]: n for n in workflow.get("status", {}).get("nodes", {}).values()}


async def test_kill_9_mid_workflow_resumes_and_nothing_that_succeeded_runs_again(tmp_path: Path) -> None:
    state, url_file, manifest = tmp_path / "state", tmp_path / "url", tmp_path / "wf.yaml"
    manifest.write_text(WORKFLOW)
    server, url = await _server(state, url_file)
    try:
        submit = await asyncio.create_subprocess_exec(HOOKBUS, "submit", str(manifest), "--nats-url", url, stdout=asyncio.subprocess.DEVNULL)
        assert await submit.wait() == 0
        before: dict = {}  # type: ignore[type-arg]

        async def long_running() -> bool:
            nonlocal before
            before = await _get(url)
            nodes = _nodes(before)
            return nodes.get("first", {}).get("phase") == "Succeeded" and nodes.get("long(0)", {}).get("phase") == "Running"

        await wait_for(long_running, timeout=30, what="the long step to be running")
        server.send_signal(signal.SIGKILL)
        await server.wait()

        server, url = await _server(state, url_file)

        async def finished() -> bool:
            return (await _get(url)).get("status", {}).get("phase") in ("Succeeded", "Failed", "Error")

        await wait_for(finished, timeout=60, what="the workflow to finish after the restart")
        after = await _get(url)
    finally:
        if server.returncode is None:
            server.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(server.wait(), 20)
            except TimeoutError:
                server.kill()
                await server.wait()
    assert after["status"]["phase"] == "Succeeded", after["status"].get("message")
    nodes, old = _nodes(after), _nodes(before)
    # The step that had Succeeded was not run again: same node, same times.
    assert nodes["first"]["id"] == old["first"]["id"]
    assert (nodes["first"]["startedAt"], nodes["first"]["finishedAt"]) == (old["first"]["startedAt"], old["first"]["finishedAt"])
    # The attempt that was running when the controller died is an Error ("pod deleted"), then retried.
    assert nodes["long(0)"]["phase"] == "Error" and "pod deleted" in nodes["long(0)"]["message"]
    assert nodes["long(1)"]["phase"] == "Succeeded"
    assert nodes["last"]["phase"] == "Succeeded"
