"""The argosay stand-in, run as a real process the way nodes run it.

Expected outputs and exit codes are those of ``/argosay`` in ``argoproj/argosay:v2``: a
``/bin/sh`` (dash) script under ``set -eu`` over coreutils and grep.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from hookbus.controller.executors import argosay

SCRIPT = Path(argosay.__file__)


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-IS", str(SCRIPT), *args], capture_output=True, text=True, timeout=30, check=False, cwd=cwd
    )


def test_no_arguments_and_echo_print_hello_argo_on_stdout() -> None:
    for args in ((), ("",), ("echo",)):
        done = run(*args)
        assert (done.returncode, done.stdout, done.stderr) == (0, "hello argo\n", ""), args


def test_echo_prints_its_text_on_stdout_as_dash_does() -> None:
    assert run("echo", "hi there").stdout == "hi there\n"
    assert run("echo", r"a\tb\nc").stdout == "a\tb\nc\n"  # dash's echo reads escapes
    assert run("echo", r"stop\chere").stdout == "stop"  # \c ends the output, newline included
    assert run("echo", "-n").stdout == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", b"plain\n"),
        (r"x\0101y", b"xAy\n"),
        (r"x\101y", b"xAy\n"),
        (r"x\18y", b"x\x018y\n"),
        (r"x\400y", b"x\x00y\n"),
        (r"x\ey", b"x\x1by\n"),
        (r"x\qy", b"x\\qy\n"),
        (r"x\\y", b"x\\y\n"),
        ("x\\", b"x\\\n"),
        ("-nn", b"-nn\n"),
        ("-e", b"-e\n"),
        (r"a\cb", b"a"),
    ],
)
def test_echo_bytes(text: str, expected: bytes) -> None:
    assert argosay.echo_bytes(text) == expected


def test_echo_to_file_creates_the_directory_and_ends_with_a_newline(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "out.txt"
    done = run("echo", "content", str(target))
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert target.read_text() == "content\n"
    relative = run("echo", "here", "out.txt", cwd=tmp_path)
    assert relative.returncode == 0
    assert (tmp_path / "out.txt").read_text() == "here\n"


def test_echo_with_more_arguments_does_nothing() -> None:
    done = run("echo", "a", "b", "c")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_echo_to_a_file_that_cannot_be_written_fails(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    blocked = run("echo", "x", str(tmp_path / "file" / "sub"))  # mkdir -p fails: exit code 1
    assert blocked.returncode == 1
    assert blocked.stderr.startswith(f"mkdir: cannot create directory '{tmp_path / 'file'}'")
    directory = run("echo", "x", str(tmp_path))  # the shell's redirection fails: exit code 2
    assert directory.returncode == 2
    assert f"cannot create {tmp_path}: Is a directory" in directory.stderr


def test_cat_copies_one_file_to_stdout(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("one\n")
    (tmp_path / "y").write_text("two")
    assert run("cat", str(tmp_path / "y")).stdout == "two"
    assert run("cat", str(tmp_path / "x"), str(tmp_path / "y")).stdout == "one\n"  # only "$2" is read


def test_cat_errors_are_cats(tmp_path: Path) -> None:
    missing = run("cat", str(tmp_path / "missing"))
    assert (missing.returncode, missing.stderr) == (1, f"cat: {tmp_path / 'missing'}: No such file or directory\n")
    directory = run("cat", str(tmp_path))
    assert (directory.returncode, directory.stderr) == (1, f"cat: {tmp_path}: Is a directory\n")


def test_a_missing_argument_ends_the_script_as_set_u_does() -> None:
    for args, number in ((("cat",), 2), (("sleep",), 2), (("assert_contains",), 3), (("assert_contains", "f"), 3)):
        done = run(*args)
        assert (done.returncode, done.stdout) == (2, ""), args
        assert done.stderr == f"/argosay: {number}: parameter not set\n", args


def test_exit_codes_follow_the_shells_exit() -> None:
    assert run("exit", "5").returncode == 5
    assert run("exit").returncode == 0
    assert run("exit", "").returncode == 0
    assert run("exit", "0").returncode == 0
    assert run("exit", "300").returncode == 300 % 256
    for bad in ("abc", "-1", "1.5", "99999999999999999999"):
        done = run("exit", bad)
        assert (done.returncode, done.stderr) == (2, f"/argosay: exit: Illegal number: {bad}\n"), bad


def test_assert_contains_is_grep_f(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("hello world\nsecond line\nlast, no newline")
    found = run("assert_contains", str(path), "lo wo")
    assert (found.returncode, found.stdout) == (0, "hello world\n")
    assert run("assert_contains", str(path), "line").stdout == "second line\nlast, no newline\n"
    assert run("assert_contains", str(path), "no newline").stdout == "last, no newline\n"
    assert run("assert_contains", str(path), "l.o").returncode == 1  # fixed strings: "." is a dot
    none = run("assert_contains", str(path), "bye")
    assert (none.returncode, none.stdout, none.stderr) == (1, "", "")
    missing = run("assert_contains", str(tmp_path / "nope"), "x")
    assert (missing.returncode, missing.stderr) == (2, f"grep: {tmp_path / 'nope'}: No such file or directory\n")


def test_sleep_takes_seconds_without_a_unit() -> None:
    started = time.monotonic()
    assert run("sleep", "1").returncode == 0
    assert time.monotonic() - started >= 1.0
    started = time.monotonic()
    assert run("sleep", "0.3s").returncode == 0
    assert time.monotonic() - started >= 0.3


def test_sleep_refuses_what_coreutils_refuses() -> None:
    for text in ("500ms", "1x", "", "1S"):
        done = run("sleep", text)
        assert done.returncode == 1, text
        assert done.stderr == f"sleep: invalid time interval '{text}'\nTry 'sleep --help' for more information.\n"
    negative = run("sleep", "-1")
    assert (negative.returncode, negative.stderr.splitlines()[0]) == (1, "sleep: invalid option -- '1'")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5", 5.0),
        ("1.5", 1.5),
        (".5", 0.5),
        ("2s", 2.0),
        ("2m", 120.0),
        ("1.5h", 5400.0),
        ("1d", 86400.0),
        ("1e2", 100.0),
        ("0x10", 16.0),
        (" 3", 3.0),
        ("+3", 3.0),
        ("inf", float("inf")),
    ],
)
def test_sleep_seconds(text: str, seconds: float) -> None:
    assert argosay.sleep_seconds(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "500ms", "1m30s", "-1", "nan", "5 ", "1S", "1_0", "\u0663"])
def test_sleep_seconds_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        argosay.sleep_seconds(text)


def test_sh_runs_a_script_file(tmp_path: Path) -> None:
    script = tmp_path / "s.sh"
    script.write_text("echo from script\nexit 4\n")
    done = run("sh", str(script))
    assert (done.returncode, done.stdout) == (4, "from script\n")


def test_unknown_commands_exit_1_silently() -> None:
    for command in ("garbage", "--help", "ECHO"):
        done = run(command)
        assert (done.returncode, done.stdout, done.stderr) == (1, "", ""), command
