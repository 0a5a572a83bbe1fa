"""Chaos: ``kill -9`` of ``hookbus server --state-dir`` at random moments while steps run.

Several workflows of short local steps, each step appending a line to a marker file of
its own (named by workflow and step, so a retry of the step appends to the same file).
The server is killed at a random moment, N rounds, and started again on the same state
directory each time; then every workflow must have Succeeded, no step may have run
twice (one line per marker, although every step's ``retryStrategy`` retries lost nodes)
and every node's final phase must be in the ``HOOKBUS_EVENTS`` stream.

``HOOKBUS_CHAOS_ROUNDS`` and ``HOOKBUS_CHAOS_SEED`` change the rounds (default 4) and the
random moments; the figures are printed (``pytest -s``).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nats
import pytest

from hookbus.bus.auth import find_note, load_credentials
from hookbus.bus.control import ControlClient
from hookbus.bus.events import replay
from hookbus.controller.executors import supervisor_records as supervisor
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from nats.aio.client import Client

HOOKBUS = str(Path(sys.executable).parent / "hookbus")
ROUNDS = int(os.environ.get("HOOKBUS_CHAOS_ROUNDS", "4"))
SEED = int(os.environ.get("HOOKBUS_CHAOS_SEED", str(random.randrange(1 << 30))))
WORKFLOWS = 4
EXTRA = os.environ.get("HOOKBUS_CHAOS_SERVER_ARGS", "").split()
FINAL = ("Succeeded", "Failed", "Error")


def _workflow(name: str, markers: Path) -> dict[str, Any]:
    def step(step_name: str) -> dict[str, Any]:
        return {"name": step_name, "template": "work", "arguments": {"parameters": [{"name": "marker", "value": f"{name}-{step_name}"}]}}

    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {
            "entrypoint": "main",
            "volumes": [{"name": "markers", "hostPath": {"path": str(markers), "type": "Directory"}}],
            "templates": [
                {"name": "main", "steps": [[step("a")], [step("b"), step("c")], [step("d")]]},
                {
                    "name": "work",
                    "inputs": {"parameters": [{"name": "marker"}]},
                    # a lost node would be run again: any duplicate shows in its marker
                    "retryStrategy": {"limit": 3, "retryPolicy": "Always"},
                    "container": {
                        "image": "alpine",
                        "command": ["sh", "-c", "echo run >> /markers/{{inputs.parameters.marker}}; sleep 0.5"],
                        "volumeMounts": [{"name": "markers", "mountPath": "/markers"}],
                    },
                },
            ],
        },
    }


class Server:
    """``hookbus server --state-dir`` in a subprocess, started again after each kill."""

    def __init__(self, state: Path, url_file: Path, markers: Path) -> None:
        self.state = state
        self.markers = markers
        self.url_file = url_file
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""

    async def start(self) -> str:
        self.url_file.unlink(missing_ok=True)
        self.proc = await asyncio.create_subprocess_exec(
            HOOKBUS, "server", "--state-dir", str(self.state), "--url-file", str(self.url_file), "--orphan-timeout", "60",
            "--allow-host-path", str(self.markers), *EXTRA,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        await wait_for(lambda: self.url_file.exists() and self.url_file.read_text().strip() != "", timeout=30, what="the server URL")
        self.url = self.url_file.read_text().strip()
        return self.url

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), 20)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


async def _connect(url: str) -> Client:
    """A client of the server at *url* as its ``user`` identity, found as the CLI finds it."""
    note = find_note(url)
    assert note is not None, f"no note of the server at {url}"
    credentials = load_credentials(note.auth_dir / "user.json")
    return await nats.connect(
        url, user=credentials.user, password=credentials.password,
        inbox_prefix=credentials.inbox_prefix, max_reconnect_attempts=0,
    )


async def _phases(url: str, names: list[str]) -> dict[str, dict[str, Any]]:
    nc = await _connect(url)
    try:
        client = ControlClient(nc, timeout=10)
        return {name: await client.get(name) for name in names}
    finally:
        await nc.close()


async def _events(url: str) -> set[tuple[str, str, str]]:
    """(workflow, node id or "", phase) of every node and workflow event in the stream."""
    nc = await _connect(url)
    found: set[tuple[str, str, str]] = set()
    try:
        async with replay(nc.jetstream()) as reader:
            async for event in reader:
                data = event.data if isinstance(event.data, dict) else {}
                kind = event.type.rsplit(".", 2)[-2]
                if kind == "node":
                    found.add((data.get("workflow", ""), str(data.get("node", {}).get("id") or data.get("id") or ""), str(data.get("phase", ""))))
                elif kind == "workflow":
                    found.add((data.get("workflow", ""), "", str(data.get("phase", ""))))
    finally:
        await nc.close()
    return found


def _kill_leftover_supervisors(state: Path) -> None:
    for claim in state.rglob(supervisor.CLAIM_FILE):
        pid = supervisor.claimed_pid(claim.parent)
        if pid is not None and supervisor.lock_held(claim.parent / supervisor.LOCK_FILE):
            os.killpg(pid, signal.SIGKILL)


@pytest.mark.timeout(110)
async def test_kill_9_at_random_moments_never_runs_a_step_twice_nor_fails_nor_loses_events(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    state, url_file, markers = tmp_path / "state", tmp_path / "url", tmp_path / "markers"
    markers.mkdir()
    markers.chmod(0o777)  # sandboxed steps write here as an unprivileged host uid
    names = [f"chaos-{i}" for i in range(WORKFLOWS)]
    server = Server(state, url_file, markers)
    kills = 0
    try:
        url = await server.start()
        nc = await _connect(url)
        try:
            for name in names:
                await ControlClient(nc, timeout=30).submit(_workflow(name, markers))
        finally:
            await nc.close()
        for _ in range(ROUNDS):
            await asyncio.sleep(rng.uniform(0.05, 1.5))
            await server.kill()
            kills += 1
            url = await server.start()

        async def all_finished() -> bool:
            try:
                workflows = await _phases(url, names)
            except Exception:
                return False
            return all(w["status"].get("phase") in FINAL for w in workflows.values())

        await wait_for(all_finished, timeout=60, interval=0.3, what="every workflow to finish")
        workflows = await _phases(url, names)

        finals = {(name, "", w["status"]["phase"]) for name, w in workflows.items()}
        seen = await _events(url)
        deadline = asyncio.get_running_loop().time() + 20
        while not finals <= seen and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.3)  # the last events may still be on their way
            seen = await _events(url)
    finally:
        await server.stop()
        _kill_leftover_supervisors(state)

    runs = {path.name: path.read_text().count("run") for path in markers.iterdir()}
    duplicates = {name: count for name, count in runs.items() if count > 1}
    failed = {name: w["status"].get("phase") for name, w in workflows.items() if w["status"].get("phase") != "Succeeded"}
    lost = sorted(
        (name, node["displayName"], node["phase"])
        for name, w in workflows.items()
        for node in w["status"]["nodes"].values()
        if node["phase"] in FINAL and (name, node["id"], node["phase"]) not in seen
    ) + sorted(final for final in finals if final not in seen)
    print(f"\nchaos seed={SEED}: kill -9 rounds {kills} / duplicates {len(duplicates)} / failed {len(failed)} / events lost {len(lost)}")
    assert len(runs) == WORKFLOWS * 4, sorted(runs)
    assert duplicates == {}, f"steps ran more than once (seed {SEED})"
    assert failed == {}, f"workflows did not succeed (seed {SEED}): " + str(
        {n: workflows[n]["status"].get("message") for n in failed}
    )
    assert lost == [], f"final node events missing from the stream (seed {SEED})"
