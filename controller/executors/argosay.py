"""A stand-in for Argo's ``argosay`` test image, for the local executor.

The local executor installs this file (standard library only) as an ``argosay``
command on the PATH of node processes, so manifests that use the
``argoproj/argosay`` images run without the image. Behaviour follows argosay
v2 (the image's entrypoint, a small Go program):

    argosay                          same as ``argosay echo``
    argosay echo                     prints ``hello argo``
    argosay echo TEXT                prints TEXT and a newline
    argosay echo TEXT FILE           writes TEXT (no newline) to FILE, creating its directory
    argosay cat [FILE...]            copies each FILE to stdout
    argosay sleep DURATION           sleeps for a Go duration (``1s``, ``500ms``, ``1m30s``)
    argosay exit [CODE]              exits with CODE (0 when left out)
    argosay assert_contains FILE S   fails unless FILE contains S

Like the Go program, ``echo`` prints to stderr (Go's builtin ``println``), and an
error ends the process as a Go panic does: a ``panic:`` line on stderr, exit code 2.
"""

from __future__ import annotations

import os
import re
import sys
import time

USAGE = (
    "usage: argosay [assert_contains file string|cat [file...]|echo [string] [file]"
    "|sleep duration|exit [code]]"
)
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


class _Exit(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(f"exit code {code}")
        self.code = code


def parse_duration(text: str) -> float:
    """Seconds in a Go duration string (``1h2m3.5s``, ``-1s`` is invalid here)."""
    if text == "0":
        return 0.0
    pos, total = 0, 0.0
    while pos < len(text):
        match = _PART.match(text, pos)
        if match is None:
            raise ValueError(f'time: invalid duration "{text}"')
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not text:
        raise ValueError(f'time: invalid duration "{text}"')
    return total


def _echo(args: list[str]) -> None:
    if len(args) == 0:
        sys.stderr.write("hello argo\n")
    elif len(args) == 1:
        sys.stderr.write(args[0] + "\n")
    elif len(args) == 2:
        text, path = args
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        raise ValueError("usage: argosay echo [string] [file]")


def _cat(args: list[str]) -> None:
    out = sys.stdout.buffer
    for path in args:
        with open(path, "rb") as fh:
            while chunk := fh.read(65536):
                out.write(chunk)
    out.flush()


def _sleep(args: list[str]) -> None:
    if len(args) != 1:
        raise ValueError("usage: argosay sleep duration")
    time.sleep(parse_duration(args[0]))


def _exit(args: list[str]) -> None:
    if len(args) == 1:
        code = int(args[0])
        if code != 0:
            raise _Exit(code)


def _assert_contains(args: list[str]) -> None:
    if len(args) != 2:
        raise ValueError("usage: assert_contains data string")
    path, needle = args
    with open(path, encoding="utf-8", errors="replace") as fh:
        data = fh.read()
    if needle not in data:
        raise ValueError(f'expected "{path}" to contain "{needle}", but was "{data}"')


COMMANDS = {
    "assert_contains": _assert_contains,
    "cat": _cat,
    "echo": _echo,
    "exit": _exit,
    "sleep": _sleep,
}


def main(argv: list[str] | None = None) -> int:
    """Run one argosay command; returns the process exit code."""
    args = list(sys.argv[1:] if argv is None else argv) or ["echo"]
    command = COMMANDS.get(args[0])
    try:
        if command is None:
            raise ValueError(USAGE)
        command(args[1:])
    except _Exit as exc:
        return exc.code
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"panic: {exc}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
