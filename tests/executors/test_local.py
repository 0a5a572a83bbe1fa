"""The local executor against real host processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

import pytest

from hookbus.controller.executors.base import RESULT_MAX_BYTES, Executor
from hookbus.controller.executors.local import DEADLINE_MESSAGE, LocalExecutor
from tests.support.executors import exists, proc, read, sh, task
from tests.support.waiting import wait_for


def needs_isolation(executor: LocalExecutor) -> None:
    if not executor.isolated:
        pytest.skip(f"node isolation is not available here: {executor.isolation_note}")


async def test_is_an_executor(local: LocalExecutor) -> None:
    assert isinstance(local, Executor)
    assert local.name == "local"
    assert local.isolated is not None
    assert local.isolation_note


async def test_stdout_becomes_result_with_one_trailing_newline_removed(local: LocalExecutor) -> None:
    result = await local.run(task(sh("printf 'line1\\nline2\\n\\n'; echo oops >&2")))
    assert result.phase == "Succeeded"
    assert result.exit_code == 0
    assert result.message == ""
    assert result.result == "line1\nline2\n"  # only one newline is trimmed, stderr is not in it
    assert result.log_path is not None
    logged = read(result.log_path)
    assert "line1" in logged and "oops" in logged
    assert result.started_at <= result.finished_at


async def test_non_zero_exit_fails_with_argos_message(local: LocalExecutor) -> None:
    result = await local.run(task(sh("echo partial; exit 3")))
    assert result.phase == "Failed"
    assert result.exit_code == 3
    assert result.message == "Error (exit code 3)"
    assert result.result == "partial"


async def test_killed_by_a_signal_reports_128_plus_signal(local: LocalExecutor) -> None:
    result = await local.run(task(sh("kill -9 $$")))
    assert result.phase == "Failed"
    assert result.exit_code == 128 + signal.SIGKILL


async def test_result_keeps_the_last_256_kb(local: LocalExecutor) -> None:
    result = await local.run(task(sh("head -c 300000 /dev/zero | tr '\\0' a; printf END")))
    assert result.result is not None
    assert len(result.result) == RESULT_MAX_BYTES
    assert result.result.endswith("aEND")


async def test_script_source_is_a_file_appended_to_command_and_args(local: LocalExecutor) -> None:
    script = "import sys\nprint('args', sys.argv[1:-1])\nprint('script', sys.argv[-1] != '')\n"
    result = await local.run(task(proc(["python3"], ["-u"], image="python:alpine3.23", source=script)))
    assert result.phase == "Succeeded", result.message
    # python3 -u <script>: the script file comes after the container args
    assert result.result == "args []\nscript True"


async def test_python_is_provided_even_where_only_python3_exists(local: LocalExecutor) -> None:
    result = await local.run(task(proc(["python"], image="python:alpine3.23", source="print(6 * 7)")))
    assert result.phase == "Succeeded", result.message
    assert result.result == "42"


async def test_env_and_working_dir(local: LocalExecutor, tmp_path: Path) -> None:
    # A host directory every user may enter: a sandboxed node is not the host's root.
    base = Path(tempfile.mkdtemp(prefix="hookbus-wd-"))
    try:
        os.chmod(base, 0o755)
        work = base / "wd"
        work.mkdir()
        result = await local.run(task(sh('echo "$GREETING"; pwd', env={"GREETING": "hi there"}, working_dir=str(work))))
        assert result.phase == "Succeeded", result.message
        assert result.result == f"hi there\n{work}"
    finally:
        shutil.rmtree(base, ignore_errors=True)


async def test_output_parameters_are_read_after_exit_and_missing_ones_absent(local: LocalExecutor) -> None:
    result = await local.run(
        task(
            sh("printf 'value a' > /tmp/hookbus-a.txt; mkdir -p /tmp/sub; echo b > /tmp/sub/b.txt"),
            outputs={"a": "/tmp/hookbus-a.txt", "b": "/tmp/sub/b.txt", "never": "/tmp/never-written.txt"},
        )
    )
    assert result.phase == "Succeeded", result.message
    assert result.parameters == {"a": "value a", "b": "b\n"}


async def test_concurrent_nodes_see_their_own_tmp(local: LocalExecutor) -> None:
    needs_isolation(local)
    path = "/tmp/x.txt"
    host_before = exists(path)

    def writer(value: str, node_id: str) -> object:
        # write, wait until the other node has written too, then read back
        script = f"echo {value} > {path}; sleep 0.3; cat {path}"
        return task(sh(script), node_id=node_id, outputs={"x": path})

    first, second = await asyncio.gather(local.run(writer("one", "wf-1")), local.run(writer("two", "wf-2")))  # type: ignore[arg-type]
    assert (first.result, first.parameters) == ("one", {"x": "one\n"})
    assert (second.result, second.parameters) == ("two", {"x": "two\n"})
    assert exists(path) == host_before  # nothing leaked onto the host


async def test_isolated_nodes_may_write_anywhere(local: LocalExecutor) -> None:
    needs_isolation(local)
    result = await local.run(
        task(sh("echo top > /result.txt; mkdir -p /mnt/out; echo part > /mnt/out/part.json"), outputs={"r": "/result.txt", "p": "/mnt/out/part.json"})
    )
    assert result.phase == "Succeeded", result.message
    assert result.parameters == {"r": "top\n", "p": "part\n"}
    assert not exists("/result.txt")


async def test_without_isolation_it_says_so(plain: LocalExecutor, tmp_path: Path) -> None:
    out = tmp_path / "shared.txt"
    result = await plain.run(task(sh(f"echo shared > {out}"), outputs={"o": str(out)}))
    assert plain.isolated is False
    assert "turned off" in plain.isolation_note
    assert result.parameters == {"o": "shared\n"}
    assert out.read_text() == "shared\n"  # the host path itself


async def test_isolation_required_but_impossible_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("hookbus.controller.executors.isolation.missing_requirements", lambda: "no namespaces in this test")
    executor = LocalExecutor(tmp_path / "s", isolate=True)
    try:
        result = await executor.run(task(sh("echo hi")))
    finally:
        await executor.close()
    assert executor.isolated is False
    assert result.phase == "Error"
    assert "no namespaces in this test" in result.message


async def test_auto_isolation_falls_back_with_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("hookbus.controller.executors.isolation.missing_requirements", lambda: "no namespaces in this test")
    executor = LocalExecutor(tmp_path / "s")
    try:
        result = await executor.run(task(sh("echo hi")))
    finally:
        await executor.close()
    assert executor.isolated is False
    assert executor.isolation_note == "no namespaces in this test"
    assert (result.phase, result.result) == ("Succeeded", "hi")


async def test_missing_command_names_it_and_its_image(local: LocalExecutor) -> None:
    result = await local.run(task(proc(["cowsay"], ["hello"], image="docker/whalesay")))
    assert result.phase == "Failed"  # as Argo: its executor cannot find the command and exits 64
    assert result.exit_code == 64
    assert result.message == (
        'Error (exit code 64): failed to find name in PATH: exec: "cowsay": executable file not found in $PATH; '
        "command 'cowsay' is not available on this host (it is part of image docker/whalesay)"
    )


async def test_missing_command_inside_a_shell_is_named(local: LocalExecutor) -> None:
    result = await local.run(task(sh("cowsay hello", image="argoproj/argosay:v1")))
    assert result.phase == "Failed"
    assert result.exit_code == 127
    assert result.message == (
        "Error (exit code 127): command 'cowsay' is not available on this host (it is part of image argoproj/argosay:v1)"
    )


async def test_unknown_image_without_command_is_an_error_naming_the_image(local: LocalExecutor) -> None:
    result = await local.run(task(proc([], ["--flag"], image="example.com/team/tool:1.2")))
    assert result.phase == "Error"
    assert "example.com/team/tool:1.2" in result.message
    assert "command" in result.message


async def test_known_image_entrypoint_runs_argosay(local: LocalExecutor) -> None:
    result = await local.run(
        task(proc([], ["echo", "hello world", "/tmp/hello_world.txt"], image="argoproj/argosay:v2"), outputs={"m": "/tmp/hello_world.txt"})
    )
    assert result.phase == "Succeeded", result.message
    assert result.parameters == {"m": "hello world\n"}  # v2's echo ends the file with a newline


async def test_argosay_exit_code_and_absolute_entrypoint_path(local: LocalExecutor) -> None:
    result = await local.run(task(proc(["/argosay"], ["exit", "7"], image="argoproj/argosay:v2")))
    assert (result.phase, result.exit_code) == ("Failed", 7)


async def test_busybox_args_without_command_run_as_the_command(local: LocalExecutor) -> None:
    result = await local.run(task(proc([], ["echo", "from args"], image="busybox")))
    assert (result.phase, result.result) == ("Succeeded", "from args")


async def test_deadline_fails_the_node_and_kills_the_group(plain: LocalExecutor, tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    started = time.monotonic()
    result = await plain.run(task(sh(f"sleep 60 & echo $! > {pid_file}; wait"), timeout=0.5))
    assert time.monotonic() - started < 10
    assert result.phase == "Failed"
    assert result.message == DEADLINE_MESSAGE
    child = int(pid_file.read_text())
    await wait_for(lambda: not _alive(child), timeout=5, what="the background child to be killed")


async def test_cancelling_run_kills_the_process_group(plain: LocalExecutor, tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    running = asyncio.create_task(plain.run(task(sh(f"sleep 60 & echo $! > {pid_file}; wait"))))
    await wait_for(lambda: pid_file.exists() and pid_file.read_text().strip() != "", timeout=10, what="the node to start")
    child = int(pid_file.read_text())
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    await wait_for(lambda: not _alive(child), timeout=5, what="the background child to be killed")


async def test_init_containers_run_first_in_order(local: LocalExecutor, tmp_path: Path) -> None:
    trace = "/tmp/hookbus-trace.txt" if local.isolated else str(tmp_path / "trace.txt")
    result = await local.run(
        task(
            sh(f"echo main >> {trace}; cat {trace}"),
            init=[sh(f"echo init-1 >> {trace}", name="init-1"), sh(f"echo init-2 >> {trace}", name="init-2")],
        )
    )
    assert result.phase == "Succeeded", result.message
    assert result.result == "init-1\ninit-2\nmain"


async def test_failing_init_container_fails_the_node_and_main_never_runs(plain: LocalExecutor, tmp_path: Path) -> None:
    marker = tmp_path / "main-ran"
    result = await plain.run(task(sh(f"touch {marker}"), init=[sh("exit 4", name="setup")]))
    assert result.phase == "Failed"
    assert result.exit_code == 4
    assert "setup" in result.message and "Error (exit code 4)" in result.message
    assert not marker.exists()


async def test_sidecars_start_before_main_and_get_sigterm_after(plain: LocalExecutor, tmp_path: Path) -> None:
    ready = tmp_path / "sidecar-ready"
    got_term = tmp_path / "sidecar-term"
    sidecar = sh(
        f"trap 'echo term > {got_term}; exit 0' TERM; touch {ready}; while :; do sleep 0.05; done",
        name="helper",
    )
    # main waits (bounded) for the sidecar to be up, as a pod's main would poll a service
    main = sh(f"for i in $(seq 100); do [ -e {ready} ] && echo up && exit 0; sleep 0.05; done; exit 9")
    started = time.monotonic()
    result = await plain.run(task(main, sidecars=[sidecar]))
    assert result.phase == "Succeeded", result.message
    assert result.result == "up"
    assert got_term.read_text() == "term\n"
    assert time.monotonic() - started < plain.kill_grace


async def test_stubborn_sidecar_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    executor = LocalExecutor(tmp_path / "s", isolate=False, kill_grace=0.3)
    try:
        started = time.monotonic()
        result = await executor.run(task(sh("sleep 0.1"), sidecars=[sh("trap '' TERM; while :; do sleep 0.05; done", name="stubborn")]))
    finally:
        await executor.close()
    assert result.phase == "Succeeded"
    assert time.monotonic() - started < 5


async def test_many_nodes_at_once(local: LocalExecutor) -> None:
    results = await asyncio.gather(*(local.run(task(sh(f"echo {i}"), node_id=f"wf-{i}")) for i in range(20)))
    assert [r.result for r in results] == [str(i) for i in range(20)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); it is dead for our purpose
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


async def test_input_files_are_placed_and_output_artifacts_found(local: LocalExecutor, tmp_path: Path) -> None:
    source = tmp_path / "message.txt"
    source.write_text("passed along")
    folder = tmp_path / "tree"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "leaf.txt").write_text("leaf")
    base = "/tmp" if local.isolated else str(tmp_path / "node")
    spec = task(
        sh(f"cat {base}/in/message.txt; cat {base}/in/tree/sub/leaf.txt >&2; mkdir -p {base}/out; echo made > {base}/out/file.txt"),
        inputs={f"{base}/in/message.txt": str(source), f"{base}/in/tree": str(folder)},
        artifacts={"file": f"{base}/out/file.txt", "dir": f"{base}/out", "missing": f"{base}/nothing"},
    )
    result = await local.run(spec)
    assert result.phase == "Succeeded", result.message
    assert result.result == "passed along"
    assert sorted(result.artifacts) == ["dir", "file"]
    assert read(result.artifacts["file"]) == "made\n"
    assert read(f"{result.artifacts['dir']}/file.txt") == "made\n"
    assert str(local.host_path(spec, f"{base}/out/file.txt")) == result.artifacts["file"]


async def test_missing_input_source_is_an_error(local: LocalExecutor, tmp_path: Path) -> None:
    result = await local.run(task(sh("true"), inputs={"/tmp/in.txt": str(tmp_path / "absent")}))
    assert result.phase == "Error"
    assert "/tmp/in.txt" in result.message


async def test_cancelling_at_any_moment_leaves_no_process_behind(plain: LocalExecutor, tmp_path: Path) -> None:
    children: list[int] = []
    for i in range(12):
        pid_file = tmp_path / f"child-{i}.pid"
        running = asyncio.create_task(plain.run(task(sh(f"sleep 60 & echo $! > {pid_file}; wait"), node_id=f"wf-{i}")))
        await asyncio.sleep(i * 0.004)  # from "not started yet" to "well under way"
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        if pid_file.exists() and pid_file.read_text().strip():
            children.append(int(pid_file.read_text()))
    await wait_for(lambda: not any(_alive(pid) for pid in children), timeout=5, what="every background child to be killed")


async def test_script_file_can_be_run_by_sh_c(local: LocalExecutor) -> None:
    # Argo's scripts-bash example: command [sh, -c] runs the staged script path as a program
    result = await local.run(task(proc(["sh", "-c"], source="echo from script\n")))
    assert (result.phase, result.result) == ("Succeeded", "from script"), result.message


async def test_volume_mounts_are_real_mounts_shared_by_the_nodes_containers(local: LocalExecutor, tmp_path: Path) -> None:
    needs_isolation(local)
    shared = tmp_path / "pvc"
    result = await local.run(
        task(
            sh("grep -q ' /mnt/vol ' /proc/mounts && echo mounted; cat /mnt/vol/from-init; echo main > /mnt/claim/from-main"),
            init=[sh("echo init > /mnt/vol/from-init", name="init")],
            mounts={"/mnt/vol": "", "/mnt/claim": str(shared)},
        )
    )
    assert result.phase == "Succeeded", result.message
    assert result.result == "mounted\ninit"
    assert read(shared / "from-main") == "main\n"  # a host directory given by the engine (a PVC) keeps the data
    other = await local.run(task(sh("ls /mnt/vol; cat /mnt/claim/from-main"), node_id="wf-2", mounts={"/mnt/vol": "", "/mnt/claim": str(shared)}))
    assert (other.phase, other.result) == ("Succeeded", "main")  # emptyDir is fresh per node, the claim is shared


async def test_a_template_path_replaces_the_nodes_path_but_not_the_set_up(local: LocalExecutor) -> None:
    result = await local.run(task(proc(["/bin/sh", "-c"], ['echo "$PATH"; [ -z "${HOOKBUS_NODE_PATH+set}" ] && echo 0 || echo 1'], env={"PATH": "/opt/tool/bin"})))
    assert result.phase == "Succeeded", result.message
    path, leaked = (result.result or "").split("\n")
    assert path.endswith(":/opt/tool/bin")  # the helper directory, then the template's PATH
    assert leaked == "0"  # no set-up variable reaches the node
