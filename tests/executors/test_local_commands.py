"""Which program a node runs, and Argo's outcome when there is none: ``argoproj/argosay`` images
and commands that cannot be found, with and without node isolation."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import pytest

from hookbus.controller.executors.images import ExecutableNotFound
from hookbus.controller.executors.local import LocalExecutor
from tests.support.executors import proc, read, sh, task

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

V2 = "argoproj/argosay:v2"
NOT_FOUND = 'failed to find name in PATH: exec: "invalid": executable file not found in $PATH'


@pytest.fixture(params=[None, False], ids=["detected", "plain"])
async def executor(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[LocalExecutor]:
    """The executor as detected (isolated when the host allows it), and one without isolation."""
    chosen = LocalExecutor(tmp_path / "executor-state", isolate=request.param)
    await chosen.prepare()
    yield chosen
    await chosen.close()


def on_host(path: str) -> bool:
    """Whether the host has a file (or a dangling link) at *path*."""
    return os.path.lexists(path)


def needs_isolation(executor: LocalExecutor) -> None:
    if not executor.isolated:
        pytest.skip(f"node isolation is not available here: {executor.isolation_note}")


# -- argoproj/argosay:v2 ------------------------------------------------------------------


async def test_v2_entrypoint_prints_on_stdout(executor: LocalExecutor) -> None:
    result = await executor.run(task(proc([], ["echo", "hi"], image=V2)))
    assert (result.phase, result.exit_code, result.result) == ("Succeeded", 0, "hi")
    greeting = await executor.run(task(proc([], [], image=V2), node_id="wf-2"))
    assert (greeting.phase, greeting.result) == ("Succeeded", "hello argo")


async def test_v2_has_argosay_at_slash_for_shell_commands(executor: LocalExecutor) -> None:
    result = await executor.run(task(sh("echo x; /argosay; /argosay echo done", image=V2)))
    assert (result.phase, result.exit_code) == ("Succeeded", 0), result.message
    assert result.result == "x\nhello argo\ndone"


async def test_v2_script_source_can_run_argosay(executor: LocalExecutor) -> None:
    result = await executor.run(task(proc(["sh"], image=V2, source="/argosay echo from-script\n/argosay exit 3\n")))
    assert (result.phase, result.exit_code, result.result) == ("Failed", 3, "from-script")


async def test_v2_untagged_and_by_registry_is_v2(executor: LocalExecutor) -> None:
    for index, image in enumerate(("argoproj/argosay", "docker.io/argoproj/argosay:v2")):
        result = await executor.run(task(sh("/argosay echo ok", image=image), node_id=f"wf-{index}"))
        assert (result.phase, result.result) == ("Succeeded", "ok"), image


async def test_v2_sleep_without_unit_is_seconds(executor: LocalExecutor) -> None:
    started = time.monotonic()
    result = await executor.run(task(proc([], ["sleep", "1"], image=V2)))
    assert (result.phase, result.exit_code) == ("Succeeded", 0), result.message
    assert time.monotonic() - started >= 1.0
    cut = await executor.run(task(proc([], ["sleep", "5"], image=V2), node_id="wf-2", timeout=0.5))
    assert cut.phase == "Failed"
    assert cut.message == "Pod was active on the node longer than the specified deadline"


async def test_v2_failures_keep_the_scripts_exit_codes(executor: LocalExecutor) -> None:
    missing = await executor.run(task(proc([], ["cat", "/no/such/file"], image=V2)))
    assert (missing.phase, missing.exit_code, missing.message) == ("Failed", 1, "Error (exit code 1)")
    assert missing.log_path is not None
    assert "cat: /no/such/file: No such file or directory" in read(missing.log_path)
    unknown = await executor.run(task(proc([], ["garbage"], image=V2), node_id="wf-2"))
    assert (unknown.phase, unknown.exit_code) == ("Failed", 1)


async def test_v2_argosay_file_is_in_an_isolated_nodes_view(local: LocalExecutor) -> None:
    needs_isolation(local)
    result = await local.run(task(sh("test -x /argosay && echo present", image=V2)))
    assert (result.phase, result.result) == ("Succeeded", "present"), result.message
    other = await local.run(task(sh("test -e /argosay || echo absent", image="alpine:3.23"), node_id="wf-2"))
    assert (other.phase, other.result) == ("Succeeded", "absent"), other.message


async def test_without_isolation_the_host_gets_no_argosay_file(plain: LocalExecutor) -> None:
    before = on_host("/argosay")
    result = await plain.run(task(sh("/argosay echo ok", image=V2)))
    assert (result.phase, result.result) == ("Succeeded", "ok"), result.message
    assert on_host("/argosay") == before


async def test_v1_is_ubuntu_with_cowsay_and_has_no_slash_argosay(executor: LocalExecutor) -> None:
    result = await executor.run(task(sh("/argosay echo hi", image="argoproj/argosay:v1")))
    assert (result.phase, result.exit_code) == ("Failed", 127)


# -- commands that cannot be found ------------------------------------------------------


async def test_unknown_command_is_failed_with_argos_message(executor: LocalExecutor) -> None:
    result = await executor.run(task(proc(["invalid"], image=V2)))
    assert result.phase == "Failed"
    assert result.exit_code == 64
    assert result.message.startswith(f"Error (exit code 64): {NOT_FOUND}")
    assert "executable file not found" in result.message  # what Argo's e2e test matches
    assert result.message.endswith(f"command 'invalid' is not available on this host (it is part of image {V2})")
    assert result.log_path is not None
    assert read(result.log_path) == NOT_FOUND + "\n"  # Argo's executor prints it to the container log


async def test_missing_absolute_path_reports_go_stat_error(executor: LocalExecutor) -> None:
    result = await executor.run(task(proc(["/nonexistent/hookbus-tool"], ["x"])))
    assert (result.phase, result.exit_code) == ("Failed", 64)
    assert result.message.startswith(
        "Error (exit code 64): failed to find name in PATH: "
        'exec: "/nonexistent/hookbus-tool": stat /nonexistent/hookbus-tool: no such file or directory'
    )


async def test_an_absolute_image_path_runs_the_hosts_program_of_that_name(executor: LocalExecutor) -> None:
    result = await executor.run(task(proc(["/nonexistent/bin/sh"], ["-c", "echo via-host"])))
    assert (result.phase, result.result) == ("Succeeded", "via-host"), result.message


async def test_a_file_that_is_not_executable_is_permission_denied(plain: LocalExecutor, tmp_path: Path) -> None:
    data = tmp_path / "data.txt"
    data.write_text("not a program")
    data.chmod(0o644)
    result = await plain.run(task(proc([str(data)])))
    assert (result.phase, result.exit_code) == ("Failed", 64)
    assert result.message == (
        f'Error (exit code 64): failed to find name in PATH: exec: "{data}": permission denied'
    )
    folder = await plain.run(task(proc([str(tmp_path)]), node_id="wf-2"))
    assert folder.message == f'Error (exit code 64): failed to find name in PATH: exec: "{tmp_path}": is a directory'


async def test_relative_paths_are_looked_up_in_the_working_directory(plain: LocalExecutor, tmp_path: Path) -> None:
    tool = tmp_path / "run.sh"
    tool.write_text("#!/bin/sh\necho relative\n")
    tool.chmod(0o755)
    result = await plain.run(task(proc(["./run.sh"], working_dir=str(tmp_path))))
    assert (result.phase, result.result) == ("Succeeded", "relative"), result.message
    missing = await plain.run(task(proc(["./absent.sh"], working_dir=str(tmp_path)), node_id="wf-2"))
    assert (missing.phase, missing.exit_code) == ("Failed", 64)
    assert 'exec: "./absent.sh": stat ./absent.sh: no such file or directory' in missing.message


async def test_an_isolated_node_finds_programs_placed_in_its_view(local: LocalExecutor, tmp_path: Path) -> None:
    needs_isolation(local)
    tool = tmp_path / "tool"
    tool.write_text("#!/bin/sh\necho placed\n")
    tool.chmod(0o755)
    result = await local.run(task(proc(["/opt/hookbus-test/tool"]), inputs={"/opt/hookbus-test/tool": str(tool)}))
    assert (result.phase, result.result) == ("Succeeded", "placed"), result.message


async def test_init_container_that_cannot_be_found_fails_the_node(executor: LocalExecutor) -> None:
    result = await executor.run(task(sh("echo main"), init=[proc(["invalid"], name="setup", image=V2)]))
    assert (result.phase, result.exit_code) == ("Failed", 64)
    assert result.message.startswith(f"init container 'setup' failed: Error (exit code 64): {NOT_FOUND}")


async def test_a_shell_that_cannot_find_a_command_is_still_exit_code_127(executor: LocalExecutor) -> None:
    result = await executor.run(task(sh("invalid-hookbus-command", image=V2)))
    assert (result.phase, result.exit_code) == ("Failed", 127)
    assert result.message.startswith("Error (exit code 127): command 'invalid-hookbus-command' is not available")


def test_not_found_error_quotes_the_command_as_go_does() -> None:
    assert str(ExecutableNotFound('say "hi"', "executable file not found in $PATH")) == (
        'failed to find name in PATH: exec: "say \\"hi\\"": executable file not found in $PATH'
    )


async def test_sidecar_that_cannot_be_found_fails_the_node_and_stops_the_others(executor: LocalExecutor) -> None:
    started = time.monotonic()
    result = await executor.run(
        task(
            sh("echo main"),
            sidecars=[sh("sleep 30", name="first"), proc(["invalid"], name="web", image="nginx:1.13")],
        )
    )
    assert (result.phase, result.exit_code) == ("Failed", None)
    assert result.message == (
        f"sidecar 'web': Error (exit code 64): {NOT_FOUND}; "
        "command 'invalid' is not available on this host (it is part of image nginx:1.13)"
    )
    assert time.monotonic() - started < 20
    assert not executor._live  # the sidecar already started was killed, not left running



async def test_node_logs_are_readable_by_the_controller_user_only(executor: LocalExecutor) -> None:
    import stat

    result = await executor.run(task(sh("echo secret-value")))
    assert result.log_path is not None
    assert "secret-value" in read(result.log_path)
    assert stat.S_IMODE(os.stat(result.log_path).st_mode) == 0o600
