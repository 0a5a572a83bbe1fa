"""The argosay stand-in, run as a real process the way nodes run it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from hookbus.controller.executors import argosay

SCRIPT = Path(argosay.__file__)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-IS", str(SCRIPT), *args], capture_output=True, text=True, timeout=30, check=False)


def test_echo_defaults_and_prints_to_stderr_like_gos_println() -> None:
    assert (run().stderr, run().stdout) == ("hello argo\n", "")
    assert run("echo").stderr == "hello argo\n"
    assert run("echo", "hi there").stderr == "hi there\n"


def test_echo_to_file_creates_the_directory_and_adds_no_newline(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "out.txt"
    done = run("echo", "content", str(target))
    assert done.returncode == 0
    assert target.read_text() == "content"


def test_cat_copies_files_to_stdout(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("one\n")
    (tmp_path / "y").write_text("two")
    assert run("cat", str(tmp_path / "x"), str(tmp_path / "y")).stdout == "one\ntwo"


def test_exit_codes() -> None:
    assert run("exit", "5").returncode == 5
    assert run("exit").returncode == 0
    assert run("exit", "0").returncode == 0


def test_errors_panic_with_exit_code_2(tmp_path: Path) -> None:
    for args in (("garbage",), ("cat", str(tmp_path / "missing")), ("echo", "a", "b", "c"), ("sleep",)):
        done = run(*args)
        assert done.returncode == 2, args
        assert done.stderr.startswith("panic: "), args


def test_assert_contains(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("hello world")
    assert run("assert_contains", str(path), "lo wo").returncode == 0
    failed = run("assert_contains", str(path), "bye")
    assert failed.returncode == 2
    assert "to contain" in failed.stderr


def test_sleep_takes_a_go_duration() -> None:
    started = time.monotonic()
    assert run("sleep", "300ms").returncode == 0
    assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize(("text", "seconds"), [("1s", 1.0), ("1m30s", 90.0), ("250ms", 0.25), ("1h", 3600.0), ("0", 0.0), ("1.5s", 1.5)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert argosay.parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "1", "s", "1d", "-1s"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        argosay.parse_duration(text)
