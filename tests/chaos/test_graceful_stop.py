"""A graceful stop (SIGTERM) of ``hookbus server --state-dir`` leaves running steps to
their supervisors; the next server on the same state directory adopts them.

The step appends a line to a marker file, waits for a file the test writes while no
server runs, then writes that it finished: so the step is shown to outlive the server,
and its one line shows it ran once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hookbus.bus.control import ControlClient
from tests.chaos.test_kill9 import Server, _connect
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from pathlib import Path

FINAL = ("Succeeded", "Failed", "Error")


def _workflow(markers: Path) -> dict[str, Any]:
    script = "echo run >> /markers/runs; while [ ! -e /markers/go ]; do sleep 0.05; done; echo done > /markers/finished"
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "outlives"},
        "spec": {
            "entrypoint": "main",
            "volumes": [{"name": "markers", "hostPath": {"path": str(markers), "type": "Directory"}}],
            "templates": [
                {
                    "name": "main",
                    "retryStrategy": {"limit": 2, "retryPolicy": "Always"},  # a lost step would run again
                    "container": {
                        "image": "alpine",
                        "command": ["sh", "-c", script],
                        "volumeMounts": [{"name": "markers", "mountPath": "/markers"}],
                    },
                },
            ],
        },
    }


async def _workflow_state(url: str) -> dict[str, Any]:
    nc = await _connect(url)
    try:
        return await ControlClient(nc, timeout=10).get("outlives")
    finally:
        await nc.close()


async def test_a_graceful_stop_leaves_the_running_step_to_the_next_server(tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    markers.chmod(0o777)  # sandboxed steps write as an unprivileged uid
    server = Server(tmp_path / "state", tmp_path / "url", markers)
    url = await server.start()
    try:
        nc = await _connect(url)
        try:
            await ControlClient(nc, timeout=10).submit(_workflow(markers))
        finally:
            await nc.close()
        await wait_for(lambda: (markers / "runs").exists(), timeout=30, what="the step to run")

        await server.stop()  # SIGTERM: a graceful stop
        assert server.proc is not None and server.proc.returncode == 0
        (markers / "go").touch()
        # No server runs now: the step ends under its supervisor alone.
        await wait_for(lambda: (markers / "finished").exists(), timeout=30, what="the step to finish with no server")

        url = await server.start()

        async def ended() -> bool:
            return str((await _workflow_state(url)).get("status", {}).get("phase")) in FINAL

        await wait_for(ended, timeout=60, what="the workflow to end after the restart")
        wf = await _workflow_state(url)
    finally:
        await server.stop()
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
    nodes = list(wf["status"]["nodes"].values())
    lost = [n for n in nodes if n.get("message") == "pod deleted"]
    assert not lost, "the step was lost at the stop"
    assert (markers / "runs").read_text() == "run\n", "the step ran once"
