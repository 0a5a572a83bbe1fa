"""The launcher run as a host process in a minimal environment: no shell, no Python on PATH.

The launcher and a small static test program (``tool``) are compiled into a temporary
directory, which is the only entry of ``PATH``; the environment holds nothing else but
the launcher's own variables, as in an image with neither a shell nor Python.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from hookbus.controller.kube.filelist import MAGIC, pack, unpack
from hookbus.controller.kube.launcher import (
    NOT_FOUND_EXIT_CODE,
    SPILL_MARK,
    LauncherReport,
    parse_report,
    spilled_document,
)

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "launcher" / "hookbus-launcher.c"

TOOL = r"""
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static void seven(int sig) { (void)sig; _exit(7); }
int main(int argc, char **argv) {
    const char *op = argc > 1 ? argv[1] : "";
    if (!strcmp(op, "exit")) return atoi(argv[2]);
    if (!strcmp(op, "print")) { for (int i = 2; i < argc; i++) printf("%s%s", i > 2 ? " " : "", argv[i]); printf("\n"); return 0; }
    if (!strcmp(op, "stderr")) { fprintf(stderr, "%s\n", argv[2]); return 0; }
    if (!strcmp(op, "bytes")) { long n = atol(argv[2]); for (long i = 0; i < n; i++) putchar(argv[3][i % strlen(argv[3])]); return 0; }
    if (!strcmp(op, "write")) { FILE *f = fopen(argv[2], "w"); fputs(argv[3], f); fclose(f); return 0; }
    if (!strcmp(op, "fill")) { FILE *f = fopen(argv[2], "w"); long n = atol(argv[3]); for (long i = 0; i < n; i++) fputc('x', f); fclose(f); return 0; }
    if (!strcmp(op, "raise")) { raise(atoi(argv[2])); return 0; }
    if (!strcmp(op, "wait")) { printf("ready\n"); fflush(stdout); for (;;) pause(); }
    if (!strcmp(op, "trap")) { signal(SIGTERM, seven); signal(SIGINT, seven); printf("ready\n"); fflush(stdout); for (;;) pause(); }
    if (!strcmp(op, "env")) { printf("%s\n", getenv("PATH") ? getenv("PATH") : "-"); return 0; }
    return 99;
}
"""


@pytest.fixture(scope="module")
def bin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with the launcher and the test program, both static, and nothing else."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.fail("a C compiler (gcc) is needed to build the launcher")
    where = tmp_path_factory.mktemp("bin")
    subprocess.run([cc, "-static", "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(where / "launcher"), str(SOURCE)], check=True)
    (where / "tool.c").write_text(TOOL)
    subprocess.run([cc, "-static", "-O2", "-o", str(where / "tool"), str(where / "tool.c")], check=True)
    (where / "tool.c").unlink()
    (where / "not-executable").write_text("data")
    (where / "not-executable").chmod(0o644)
    return where


class Run:
    def __init__(self, proc: subprocess.CompletedProcess[bytes], log: Path) -> None:
        self.code = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.message = log.read_text() if log.exists() else ""

    @property
    def report(self) -> LauncherReport:
        return parse_report(self.message)


Runner = Callable[..., Run]


@pytest.fixture
def run(bin_dir: Path, tmp_path: Path) -> Runner:
    def go(*argv: str, limit: int | None = None, cwd: Path | None = None) -> Run:
        log = tmp_path / "termination-log"
        env = {"PATH": str(bin_dir), "HOOKBUS_TERMINATION_LOG": str(log), "HOOKBUS_SPILL_DIR": str(tmp_path)}
        if limit is not None:
            env["HOOKBUS_MESSAGE_LIMIT"] = str(limit)
        proc = subprocess.run([str(bin_dir / "launcher"), *argv], env=env, capture_output=True, timeout=30, cwd=cwd or tmp_path)
        return Run(proc, log)

    return go


def test_the_environment_has_neither_a_shell_nor_python(bin_dir: Path, run: Runner) -> None:
    assert sorted(p.name for p in bin_dir.iterdir()) == ["launcher", "not-executable", "tool"]
    done = run("--", "tool", "env")
    assert done.stdout == f"{bin_dir}\n".encode()
    assert run("--", "sh", "-c", "true").code == NOT_FOUND_EXIT_CODE
    assert run("--", "python3", "-c", "1").code == NOT_FOUND_EXIT_CODE


@pytest.mark.parametrize("code", [0, 1, 3, 127, 255])
def test_exit_code_is_the_commands(run: Runner, code: int) -> None:
    done = run("--", "tool", "exit", str(code))
    assert done.code == code
    assert done.report == LauncherReport(exit_code=code)


def test_stdout_passes_through_and_is_the_result_without_one_trailing_newline(run: Runner) -> None:
    done = run("--result", "--", "tool", "print", "hello", "wörld", '"quoted"\ttab')
    assert done.code == 0
    assert done.stdout == 'hello wörld "quoted"\ttab\n'.encode()
    assert done.report.result == 'hello wörld "quoted"\ttab'


def test_stderr_passes_through_and_is_not_the_result(run: Runner) -> None:
    done = run("--result", "--", "tool", "stderr", "oops")
    assert done.stderr == b"oops\n"
    assert done.report.result == ""


def test_without_result_stdout_is_not_reported(run: Runner) -> None:
    done = run("--", "tool", "print", "x")
    assert done.stdout == b"x\n"
    assert done.report.result is None


def test_invalid_utf8_in_stdout_becomes_replacement_characters(run: Runner) -> None:
    done = run("--result", "--", "tool", "bytes", "3", "a\udcff")  # the byte 0xff (surrogateescape)
    assert done.report.result == "a\ufffda"


def test_result_keeps_the_last_256_kib_of_stdout(run: Runner) -> None:
    done = run("--result", "--", "tool", "bytes", str(300 * 1024), "0123456789", limit=1024 * 1024)
    assert len(done.stdout) == 300 * 1024
    assert done.report.result is not None
    assert len(done.report.result) == 256 * 1024
    assert done.report.result == done.stdout[-256 * 1024 :].decode()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL, signal.SIGSEGV])
def test_a_signal_ending_the_command_is_128_plus_its_number(run: Runner, sig: signal.Signals) -> None:
    done = run("--", "tool", "raise", str(int(sig)))
    assert done.code == 128 + sig
    assert done.report.exit_code == 128 + sig
    assert done.report.signal == sig


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signals_are_forwarded_to_the_command(bin_dir: Path, tmp_path: Path, sig: signal.Signals) -> None:
    log = tmp_path / "log"
    env = {"PATH": str(bin_dir), "HOOKBUS_TERMINATION_LOG": str(log)}
    for op, expected in (("trap", 7), ("wait", 128 + sig)):
        proc = subprocess.Popen([str(bin_dir / "launcher"), "--result", "--", "tool", op], env=env, stdout=subprocess.PIPE)
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"  # the command is running and handles signals
        proc.send_signal(sig)
        assert proc.wait(timeout=10) == expected
        proc.stdout.close()
        assert parse_report(log.read_text()).exit_code == expected


def test_output_parameters_and_artifacts_are_read_from_their_paths(run: Runner, tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    (tmp_path / "folder").mkdir()
    done = run(
        "--output", f"answer={out}",
        "--output", f"absent={tmp_path / 'never-written'}",
        "--artifact", f"file={out}",
        "--artifact", f"folder={tmp_path / 'folder'}",
        "--output", f"folder={tmp_path / 'folder'}",
        "--", "tool", "write", str(out), "forty-two\n",
    )
    assert done.code == 0
    report = done.report
    assert report.parameters == {"answer": "forty-two\n"}
    assert report.artifacts == {"file": b"forty-two\n"}
    assert report.problems == {"parameters.folder": f"{tmp_path / 'folder'}: is a directory"}
    assert set(report.directories) == {"folder"}


def test_outputs_are_read_when_the_command_fails(run: Runner, tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    out.write_text("before")
    done = run("--output", f"p={out}", "--", "tool", "exit", "2")
    assert done.code == 2
    assert done.report.parameters == {"p": "before"}


def test_oversize_values_spill_to_the_log_and_a_file(run: Runner, tmp_path: Path) -> None:
    big = tmp_path / "big"
    small = tmp_path / "small"
    small.write_text("tiny")
    done = run(
        "--result", "--output", f"big={big}", "--output", f"small={small}",
        "--", "tool", "fill", str(big), "10000",
    )
    assert done.code == 0
    assert len(done.message.encode()) <= 4096
    report = done.report
    assert report.spilled == ("parameters.big",)
    assert report.parameters == {"small": "tiny"}
    assert report.result == ""
    whole = spilled_document(done.stderr.decode())
    assert whole is not None
    assert whole.parameters == {"big": "x" * 10000, "small": "tiny"}
    assert json.loads((tmp_path / "outputs.json").read_text())["parameters"]["big"] == "x" * 10000
    merged = report.with_spilled(whole)
    assert merged.parameters == {"big": "x" * 10000, "small": "tiny"}
    assert merged.spilled == ()
    assert done.stderr.decode().rstrip("\n").splitlines()[-1].startswith(SPILL_MARK)


def test_a_large_result_spills_and_keeps_the_message_under_the_limit(run: Runner) -> None:
    done = run("--result", "--", "tool", "bytes", "5000", "ab")
    assert len(done.message.encode()) <= 4096
    assert done.report.spilled == ("result",)
    assert done.report.result is None
    whole = spilled_document(done.stderr.decode())
    assert whole is not None and whole.result == "ab" * 2500


def test_a_missing_command_ends_as_argo_reports_it(run: Runner) -> None:
    done = run("--result", "--", "no-such-program", "x")
    assert done.code == NOT_FOUND_EXIT_CODE
    expected = 'failed to find name in PATH: exec: "no-such-program": executable file not found in $PATH'
    assert done.report.error == expected
    assert done.stderr.decode() == expected + "\n"
    assert done.report.result is None


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ("/no/such/file", "stat /no/such/file: no such file or directory"),
        ("./not-executable", "permission denied"),
        ("/", "is a directory"),
    ],
)
def test_a_command_path_that_cannot_run_names_the_reason(run: Runner, bin_dir: Path, command: str, reason: str) -> None:
    done = run("--", command, cwd=bin_dir)
    assert done.code == NOT_FOUND_EXIT_CODE
    assert done.report.error == f"failed to find name in PATH: exec: {json.dumps(command)}: {reason}"


def test_a_command_path_runs_without_lookup(run: Runner, bin_dir: Path) -> None:
    assert run("--", str(bin_dir / "tool"), "exit", "5").code == 5
    assert run("--", "./tool", "exit", "6", cwd=bin_dir).code == 6


def test_bad_options_are_named(run: Runner) -> None:
    done = run("--bogus", "--", "tool", "exit", "0")
    assert done.code == 2
    assert b"unknown or incomplete option --bogus" in done.stderr
    assert b"expected NAME=PATH" in run("--output", "nopath", "--", "tool").stderr
    assert b"no command after --" in run("--result").stderr


def test_install_copies_the_launcher_and_stages_a_script(bin_dir: Path, tmp_path: Path) -> None:
    dest = tmp_path / "copied"
    script = tmp_path / "script"
    env = {"HOOKBUS_SCRIPT": "print('hi')\n"}
    proc = subprocess.run([str(bin_dir / "launcher"), "install", str(dest), "--script", str(script)], env=env, capture_output=True)
    assert proc.returncode == 0, proc.stderr
    assert dest.read_bytes() == (bin_dir / "launcher").read_bytes()
    assert os.access(dest, os.X_OK)
    assert script.read_text() == "print('hi')\n"
    copied = subprocess.run([str(dest), "--", str(bin_dir / "tool"), "exit", "4"], env={"HOOKBUS_TERMINATION_LOG": str(tmp_path / "t")})
    assert copied.returncode == 4


def test_install_without_the_script_source_says_so(bin_dir: Path, tmp_path: Path) -> None:
    proc = subprocess.run([str(bin_dir / "launcher"), "install", str(tmp_path / "l"), "--script", str(tmp_path / "s")], env={}, capture_output=True)
    assert proc.returncode == 1
    assert b"HOOKBUS_SCRIPT is not set" in proc.stderr


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ("plain text", "not JSON"),
        ('{"exitCode": 0}', "protocol version 1"),
        ('{"hookbus": 1}', "integer exitCode"),
        ('{"hookbus": 1, "exitCode": 0, "parameters": {"a": 1}}', "parameters is not a map of strings"),
        ('{"hookbus": 1, "exitCode": 0, "artifacts": {"a": "!!"}}', "artifact 'a' is not base64"),
    ],
)
def test_a_message_that_is_no_report_is_named(message: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_report(message)


def test_artifacts_decode_from_base64() -> None:
    text = json.dumps({"hookbus": 1, "exitCode": 0, "artifacts": {"a": base64.b64encode(b"\x00\x01").decode()}})
    assert parse_report(text).artifacts == {"a": b"\x00\x01"}
    assert spilled_document("no marker here\n") is None


def test_under_env_i_with_only_the_test_directory_on_path(bin_dir: Path, tmp_path: Path) -> None:
    env_program = shutil.which("env")
    assert env_program is not None
    log = tmp_path / "log"
    done = subprocess.run(
        [env_program, "-i", f"PATH={bin_dir}", f"HOOKBUS_TERMINATION_LOG={log}", str(bin_dir / "launcher"), "--result", "--", "tool", "print", "ok"],
        capture_output=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"ok\n"
    assert parse_report(log.read_text()) == LauncherReport(exit_code=0, result="ok")


# ------------------------------------------------------------ directories and input artifacts


def test_a_directory_artifact_is_reported_as_a_file_list(run: Runner, tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    (folder / "sub" / "deeper").mkdir(parents=True)
    (folder / "a.txt").write_text("alpha\n")
    (folder / "sub" / "run.sh").write_bytes(b"\x00binary\xff")
    (folder / "sub" / "run.sh").chmod(0o750)
    (folder / "link").symlink_to("a.txt")
    done = run("--artifact", f"tree={folder}", "--", "tool", "exit", "0")
    assert done.code == 0
    assert done.report.artifacts == {}
    assert done.report.problems == {}
    copy = tmp_path / "copy"
    unpack(done.report.directories["tree"], copy)
    assert (copy / "a.txt").read_text() == "alpha\n"
    assert (copy / "sub" / "run.sh").read_bytes() == b"\x00binary\xff"
    assert (copy / "sub" / "run.sh").stat().st_mode & 0o777 == 0o750
    assert (copy / "sub" / "deeper").is_dir()
    assert os.readlink(copy / "link") == "a.txt"


def test_a_directory_larger_than_a_value_is_a_problem(run: Runner, tmp_path: Path) -> None:
    folder = tmp_path / "big"
    folder.mkdir()
    (folder / "f").write_bytes(b"x" * (1024 * 1024 + 1))
    done = run("--artifact", f"big={folder}", "--", "tool", "exit", "0")
    assert done.report.directories == {}
    assert done.report.problems == {"artifacts.big": f"{folder} is larger than 1048576 bytes"}


def _install(bin_dir: Path, tmp_path: Path, *options: str) -> subprocess.CompletedProcess[bytes]:
    """``install`` as the pod's init container runs it: no shell, no Python, an empty environment."""
    return subprocess.run([str(bin_dir / "launcher"), "install", str(tmp_path / "launcher"), *options], env={}, capture_output=True, timeout=30)


def test_install_places_input_files_and_directories(bin_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "source"
    (source / "nested").mkdir(parents=True)
    (source / "nested" / "data.bin").write_bytes(bytes(range(256)))
    (source / "readme").write_text("hello\n")
    (source / "nested").chmod(0o555)  # read-only: filled before its mode is set
    (source / "to-readme").symlink_to("readme")
    config_map = tmp_path / "config-map"  # the ConfigMap volume: one file per key
    config_map.mkdir()
    (config_map / "a0").write_bytes(b"#!/bin/true\nraw")
    (config_map / "a1").write_bytes(pack(source, limit=10**6))
    (config_map / "a2").write_text("plain")
    inputs = tmp_path / "inputs"  # the emptyDir
    inputs.mkdir()
    done = _install(
        bin_dir, tmp_path,
        "--input-file", f"755:{config_map / 'a0'}:{inputs / 'a0'}",
        "--input-dir", f":{config_map / 'a1'}:{inputs / 'a1'}",
        "--input-file", f":{config_map / 'a2'}:{inputs / 'a2'}",
    )
    assert done.returncode == 0, done.stderr
    assert (inputs / "a0").read_bytes() == b"#!/bin/true\nraw"
    assert (inputs / "a0").stat().st_mode & 0o777 == 0o755
    assert (inputs / "a2").stat().st_mode & 0o777 == 0o644
    assert (inputs / "a1" / "nested" / "data.bin").read_bytes() == bytes(range(256))
    assert (inputs / "a1" / "nested").stat().st_mode & 0o777 == 0o555
    assert (inputs / "a1" / "readme").read_text() == "hello\n"
    assert os.readlink(inputs / "a1" / "to-readme") == "readme"
    assert (tmp_path / "launcher").exists()


@pytest.mark.parametrize(
    ("option", "content", "code", "message"),
    [
        ("--input-dir", b"not a list", 1, b"not a file list"),
        ("--input-dir", MAGIC + b"f 644 1 9\n../escapex", 1, b"not relative"),
        ("--input-dir", MAGIC + b"f 644 10 1\nx", 1, b"cut short"),
        ("--input-file", None, 1, b"cannot read"),
    ],
)
def test_install_refuses_what_it_cannot_place(bin_dir: Path, tmp_path: Path, option: str, content: bytes | None, code: int, message: bytes) -> None:
    source = tmp_path / "a0"
    if content is not None:
        source.write_bytes(content)
    done = _install(bin_dir, tmp_path, option, f":{source}:{tmp_path / 'out'}")
    assert done.returncode == code
    assert message in done.stderr
    assert not (tmp_path / "escape").exists()


def test_install_input_options_need_mode_source_and_destination(bin_dir: Path, tmp_path: Path) -> None:
    done = _install(bin_dir, tmp_path, "--input-file", "nonsense")
    assert done.returncode == 2
    assert b"expected MODE:SRC:DST" in done.stderr
    done = _install(bin_dir, tmp_path, "--input-file", "9:a:b")
    assert done.returncode == 2
