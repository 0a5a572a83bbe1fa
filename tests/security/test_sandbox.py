"""The local executor's sandbox, seen from inside a step and from the host.

A step must not be the host's root, must not see the controller's processes or state
directory, runs as its ``securityContext`` says (or is refused), and is killed over its
memory limit with Argo's ``OOMKilled`` message.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hookbus.controller.executors.base import ProcessSpec, TaskSpec
from hookbus.controller.executors.local import LocalExecutor
from hookbus.controller.executors.sandbox import OOM_MESSAGE, UID_BASE
from tests.support.executors import proc, sh, task
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping
    from typing import Any


@pytest.fixture
async def sandboxed(tmp_path: Path) -> AsyncIterator[LocalExecutor]:
    executor = LocalExecutor(tmp_path / "state")
    await executor.prepare()
    try:
        if not executor.sandbox.enabled:
            pytest.skip(f"the sandbox is not available here: {executor.sandbox.note}")
        yield executor
    finally:
        await executor.close()


def secured(script: str, security: Mapping[str, Any] | None = None, resources: Mapping[str, Any] | None = None, **kw: Any) -> TaskSpec:
    base = sh(script)
    main = ProcessSpec(base.name, base.image, base.command, base.args, dict(base.env), security_context=security, resources=resources)
    return task(main, **kw)


def host_processes_with(marker: str) -> list[int]:
    """Host pids whose command line holds *marker*."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            if marker.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                found.append(int(entry))
    return found


def status(pid: int, field: str) -> list[str]:
    """A field of the host's ``/proc/<pid>/status`` (``[]`` once the process is gone)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return line.split()[1:]
    return []


def node_processes(marker: str) -> dict[int, int]:
    """Host pid -> host uid of the processes inside a node's PID namespace whose command line holds *marker*."""
    found = {}
    for pid in host_processes_with(marker):
        nspid, uid = status(pid, "NSpid"), status(pid, "Uid")
        if len(nspid) > 1 and uid:
            found[pid] = int(uid[0])
    return found


async def test_a_step_is_root_inside_but_not_on_the_host(sandboxed: LocalExecutor) -> None:
    marker = "hookbus-sandbox-uid-marker"
    running = asyncio.create_task(sandboxed.run(task(sh(f"id -u > /tmp/inside; sleep 30; : {marker}"))))
    try:
        inside = sandboxed.host_path(task(sh("")), "/tmp/inside")
        await wait_for(lambda: inside.exists() and inside.read_text() == "0\n", timeout=20, what="the step to start")
        processes = node_processes(marker)
        assert len(processes) >= 2  # the node's init and the step's shell
        assert set(processes.values()) == {UID_BASE}  # the node's root is uid 100000 on the host, never 0
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


async def test_the_controllers_processes_and_state_are_out_of_reach(sandboxed: LocalExecutor) -> None:
    me = os.getpid()
    state = sandboxed.state_dir
    result = await sandboxed.run(
        task(
            sh(
                f"test -e /proc/{me}/environ && echo sees-controller; "
                "ls /proc | grep -c '^[0-9]'; "
                f"ls -A {state} | wc -l; "
                f"echo x > {state}/planted 2>/dev/null || echo cannot-write; "
                "cat /proc/1/cmdline | tr '\\0' ' ' | grep -c sandbox_exec; "
                "hostname; grep NoNewPrivs /proc/self/status; grep CapBnd /proc/self/status"
            )
        )
    )
    assert result.phase == "Succeeded", result.message
    lines = (result.result or "").splitlines()
    assert "sees-controller" not in lines
    assert int(lines[0]) < 10  # only the node's own processes
    assert lines[1] == "0"  # the state directory is empty in the node's view
    assert lines[2] == "cannot-write"
    assert not (state / "planted").exists()
    assert lines[4] == "wf-1"  # a UTS namespace of its own: the pod's name
    assert lines[5].split() == ["NoNewPrivs:", "1"]
    bounding = int(lines[6].split()[1], 16)
    assert bounding & (1 << 21) == 0  # no CAP_SYS_ADMIN, even inside


async def test_run_as_user_and_group_are_honoured(sandboxed: LocalExecutor) -> None:
    result = await sandboxed.run(
        secured("id -u; id -g; echo x > /tmp/mine; touch /etc/passwd 2>/dev/null || echo read-only-for-me", {"runAsUser": 1000, "runAsGroup": 3000, "runAsNonRoot": True})
    )
    assert result.phase == "Succeeded", result.message
    assert (result.result or "").splitlines() == ["1000", "3000", "read-only-for-me"]
    written = sandboxed.host_path(task(sh("")), "/tmp/mine")
    assert (written.stat().st_uid, written.stat().st_gid) == (UID_BASE + 1000, UID_BASE + 3000)


async def test_what_cannot_be_honoured_is_refused(sandboxed: LocalExecutor) -> None:
    cases = {
        "container 'main': securityContext: container has runAsNonRoot and image will run as root": {"runAsNonRoot": True},
        "container 'main': securityContext: container's runAsUser breaks non-root policy": {"runAsUser": 0, "runAsNonRoot": True},
        "securityContext.privileged is refused": {"privileged": True},
        "securityContext.runAsUser 70000 cannot be honoured": {"runAsUser": 70000},
        "capabilities.add SYS_ADMIN is refused": {"capabilities": {"add": ["SYS_ADMIN"]}},
        "seccompProfile RuntimeDefault cannot be honoured": {"seccompProfile": {"type": "RuntimeDefault"}},
    }
    for message, security in cases.items():
        result = await sandboxed.run(secured("echo ran", security))
        assert (result.phase, result.result) == ("Error", None), security
        assert message in result.message


async def test_the_pods_security_context_applies_under_the_containers(sandboxed: LocalExecutor) -> None:
    spec = secured("id -u; id -g", {"runAsGroup": 7})
    pod = TaskSpec(**{**{f: getattr(spec, f) for f in spec.__dataclass_fields__}, "pod_security_context": {"runAsUser": 42, "runAsGroup": 5}})
    result = await sandboxed.run(pod)
    assert (result.phase, result.result) == ("Succeeded", "42\n7")


async def test_read_only_root_filesystem(sandboxed: LocalExecutor) -> None:
    result = await sandboxed.run(secured("echo x > /tmp/f 2>/dev/null || echo refused", {"readOnlyRootFilesystem": True}))
    assert (result.phase, result.result) == ("Succeeded", "refused")


async def test_a_step_over_its_memory_limit_is_oom_killed(sandboxed: LocalExecutor) -> None:
    if sandboxed.sandbox.limits_note is not None:
        pytest.skip(f"cgroup limits are not available here: {sandboxed.sandbox.limits_note}")
    greedy = "python3 -c 'b = bytearray(200 * 1024 * 1024); print(len(b))'"
    result = await sandboxed.run(secured(greedy, resources={"limits": {"memory": "16Mi"}}))
    assert (result.phase, result.exit_code, result.message) == ("Failed", 137, OOM_MESSAGE)
    roomy = await sandboxed.run(secured("python3 -c 'b = bytearray(8 * 1024 * 1024); print(len(b))'", resources={"limits": {"memory": "256Mi", "cpu": "500m"}}, node_id="wf-2"))
    assert (roomy.phase, roomy.result) == ("Succeeded", str(8 * 1024 * 1024))


async def test_a_malformed_limit_is_refused(sandboxed: LocalExecutor) -> None:
    result = await sandboxed.run(secured("echo ran", resources={"limits": {"memory": "lots"}}))
    assert result.phase == "Error"
    assert result.message == "container 'main': resources.limits.memory: 'lots' is not a quantity (e.g. 64Mi, 1G, 500m)"


async def test_without_the_sandbox_what_needs_it_is_refused(tmp_path: Path) -> None:
    executor = LocalExecutor(tmp_path / "state", sandbox=False)
    try:
        result = await executor.run(secured("id -u", {"runAsUser": 1000}))
        if os.geteuid() == 1000:
            assert result.phase == "Succeeded"
        else:
            assert result.phase == "Error"
            assert result.message.startswith("container 'main': securityContext.runAsUser 1000 cannot be honoured without the sandbox")
            assert "the sandbox is turned off in the executor settings" in result.message
        if os.geteuid() == 0:
            nonroot = await executor.run(secured("id -u", {"runAsNonRoot": True}, node_id="wf-2"))
            assert nonroot.phase == "Error" and "runAsNonRoot cannot be honoured without the sandbox" in nonroot.message
        plain = await executor.run(task(sh("id -u"), node_id="wf-3"))
        assert (plain.phase, plain.result) == ("Succeeded", str(os.geteuid()))
    finally:
        await executor.close()


async def test_a_required_sandbox_that_is_off_fails_nodes(tmp_path: Path) -> None:
    executor = LocalExecutor(tmp_path / "state", isolate=False, sandbox=True)
    try:
        result = await executor.run(task(sh("echo ran")))
        assert result.phase == "Error"
        assert result.message.startswith("the sandbox is required but impossible: nodes do not run isolated")
    finally:
        await executor.close()


async def test_a_root_step_cannot_chroot_its_way_out(sandboxed: LocalExecutor) -> None:
    # The classic escape of a chroot: chroot into a sub-directory, climb, chroot again. The
    # node's view is the root of its mount namespace, so there is nothing above it.
    escape = (
        "import os; os.mkdir('/esc'); os.chroot('/esc'); "
        "[os.chdir('..') for _ in range(64)]; os.chroot('.'); "
        "print('esc' in os.listdir('/'), os.path.exists('/old_root/proc/1'))"
    )
    result = await sandboxed.run(task(proc(["python3", "-c", escape])))
    assert (result.phase, result.result) == ("Succeeded", "True False"), result.message  # still the node's own root


async def test_no_network_when_the_operator_says_none(tmp_path: Path) -> None:
    executor = LocalExecutor(tmp_path / "state", network="none")
    try:
        await executor.prepare()
        if not executor.sandbox.enabled:
            pytest.skip(f"the sandbox is not available here: {executor.sandbox.note}")
        script = "cat /proc/net/dev | tail -n +3 | awk '{print $1}'; python3 -c 'import socket; s = socket.socket(); s.bind((\"127.0.0.1\", 0)); s.listen(); socket.create_connection(s.getsockname()); print(\"loopback\")'"
        result = await executor.run(task(sh(script)))
        assert (result.phase, result.result) == ("Succeeded", "lo:\nloopback"), result.message
    finally:
        await executor.close()


HOST_ROOT = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: host-root}
spec:
  entrypoint: main
  volumes: [{name: host, hostPath: {path: PATH}}]
  templates:
  - name: main
    container:
      image: alpine
      command: [sh, -c, 'ls /host | head -3; echo written > /host/planted']
      volumeMounts: [{name: host, mountPath: /host}]
"""


async def test_host_paths_need_the_operators_permission(sandboxed: LocalExecutor, tmp_path: Path) -> None:
    from hookbus.controller.engine.controller import Controller
    from hookbus.controller.engine.memory_store import MemoryStore
    from hookbus.controller.engine.settings import ControllerSettings
    from tests.support.engine import by_name, load

    async def run(path: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        settings = ControllerSettings(executor="local", state_dir=sandboxed.state_dir, allowed_host_paths=allowed)
        async with Controller(settings, store=MemoryStore(), executor=sandboxed) as ctl:
            key = await ctl.submit(load(HOST_ROOT.replace("PATH", path)))
            return by_name(await ctl.wait(key, timeout=60))["host-root"]

    refused = await run("/", ())
    assert (refused["phase"], refused["message"]) == (
        "Error", "volume 'host': hostPath / is refused: the controller allows no host paths (--allow-host-path)"
    )
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "given").write_text("x")
    os.chmod(shared, 0o755)
    allowed = await run(str(shared), (str(shared),))
    # mounted, readable; but the node's root is not the host's: the operator's directory stays the operator's
    assert allowed["phase"] == "Failed" and allowed["outputs"]["result"].startswith("given")
    assert not (shared / "planted").exists()
