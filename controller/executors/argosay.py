"""A stand-in for ``/argosay`` of Argo's ``argoproj/argosay:v2`` test image, for the local executor.

The local executor installs this file (standard library only) as the ``argosay``
helper command of node processes, and as ``/argosay`` for the images that have it
(see :mod:`.images`), so manifests using the image run without it. In the image
``/argosay`` is a ``/bin/sh`` script (dash, ``set -eu``) over coreutils and grep;
this program behaves as that script does, output, files and exit codes included:

    argosay                          prints ``hello argo`` (also for an empty first argument)
    argosay echo                     prints ``hello argo``
    argosay echo TEXT                prints TEXT and a newline, as dash's ``echo``
                                     (``\\n``, ``\\t``, ``\\0NNN``, ``\\c`` ... are read; TEXT ``-n`` prints nothing)
    argosay echo TEXT FILE           creates FILE's directory, writes TEXT and a newline to FILE
    argosay echo A B C ...           does nothing (exit code 0)
    argosay cat FILE                 copies FILE to stdout (further arguments are ignored)
    argosay sleep N[s|m|h|d]         sleeps N seconds (or minutes, hours, days), as coreutils ``sleep``
    argosay exit [CODE]              exits with CODE modulo 256 (0 when left out)
    argosay assert_contains FILE S   prints FILE's lines containing S (``grep -F``); exit code 1 when none does
    argosay sh [FILE]                runs FILE with ``sh`` (``sh 0`` when left out)
    argosay anything-else            exits with code 1, printing nothing

Output goes to stdout (it becomes ``outputs.result``). A missing argument ends the
script as ``set -u`` does (exit code 2, ``parameter not set``); errors of the tools
it runs keep their wording and exit codes (``cat``: 1, ``grep``: 2, ``sleep``: 1).
The image's script waits 0.1 s after ``echo TEXT FILE``; this program does not.
"""

from __future__ import annotations

import os
import re
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

PROGRAM = "/argosay"
"""The script's name in its messages (its path in the image)."""
GREETING = b"hello argo\n"

_ECHO_ESCAPES = {
    ord("a"): 7,
    ord("b"): 8,
    ord("e"): 27,
    ord("f"): 12,
    ord("n"): 10,
    ord("r"): 13,
    ord("t"): 9,
    ord("v"): 11,
    ord("\\"): 92,
}
_SLEEP_ARG = re.compile(
    r"[ \t\n\v\f\r]*"
    r"([+-]?(?:0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?\d+)?"
    r"|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
    r"|(?i:infinity|inf|nan)))"
    r"([smhd]?)",
    re.ASCII,
)
_SLEEP_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_INT_MAX = 2**63 - 1


class _Stop(Exception):
    """Ends the script with an exit code, after printing *message* (if any) to stderr."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message or f"exit code {code}")
        self.code = code
        self.message = message


def _param(params: list[str], number: int) -> str:
    """Positional parameter ``$number``; unset is fatal, as under ``set -u``."""
    if number > len(params):
        raise _Stop(2, f"{PROGRAM}: {number}: parameter not set")
    return params[number - 1]


def _bytes(text: str) -> bytes:
    return os.fsencode(text)


def _reason(exc: OSError) -> str:
    return os.strerror(exc.errno) if exc.errno else str(exc)


def _write(data: bytes) -> None:
    out = sys.stdout.buffer
    out.write(data)
    out.flush()


def echo_bytes(text: str) -> bytes:
    """What dash's builtin ``echo "$text"`` prints: escapes read, newline added (``\\c`` stops it)."""
    if text == "-n":
        return b""
    data = _bytes(text)
    out = bytearray()
    i, size = 0, len(data)
    while i < size:
        char = data[i]
        if char != 0x5C or i + 1 >= size:  # not a backslash, or a trailing one
            out.append(char)
            i += 1
            continue
        code = data[i + 1]
        if code in _ECHO_ESCAPES:
            out.append(_ECHO_ESCAPES[code])
            i += 2
        elif code == ord("c"):
            return bytes(out)
        elif 0x30 <= code <= 0x37:  # \0NNN, or \NNN starting with 1-7: three octal digits at most
            j = i + 2 if code == 0x30 else i + 1
            value = count = 0
            while count < 3 and j < size and 0x30 <= data[j] <= 0x37:
                value = value * 8 + data[j] - 0x30
                j += 1
                count += 1
            out.append(value & 0xFF)
            i = j
        else:
            out.append(char)  # unknown escape: the backslash stays
            i += 1
    out.append(0x0A)
    return bytes(out)


def _dirname(path: str) -> str:
    """POSIX ``dirname``: trailing slashes do not count."""
    stripped = path.rstrip("/")
    if not stripped:
        return "/" if path else "."
    head = stripped.rpartition("/")[0]
    if not head and stripped.startswith("/"):
        return "/"
    return head.rstrip("/") or ("/" if head else ".")


def _echo(params: list[str]) -> int:
    count = len(params)
    if count == 1:
        _write(GREETING)
    elif count == 2:
        _write(echo_bytes(params[1]))
    elif count == 3:
        text, path = params[1], params[2]
        folder = _dirname(path)
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            raise _Stop(1, f"mkdir: cannot create directory '{folder}': {_reason(exc)}") from None
        try:
            with open(path, "wb") as fh:
                fh.write(echo_bytes(text))
        except OSError as exc:
            reason = "Directory nonexistent" if isinstance(exc, FileNotFoundError) else _reason(exc)
            raise _Stop(2, f"{PROGRAM}: cannot create {path}: {reason}") from None
    return 0


def _cat(params: list[str]) -> int:
    path = _param(params, 2)
    out = sys.stdout.buffer
    try:
        with open(path if path != "-" else sys.stdin.fileno(), "rb", closefd=path != "-") as fh:
            while chunk := fh.read(65536):
                out.write(chunk)
    except OSError as exc:
        out.flush()
        raise _Stop(1, f"cat: {path}: {_reason(exc)}") from None
    out.flush()
    return 0


def _assert_contains(params: list[str]) -> int:
    needle = _param(params, 3)
    path = _param(params, 2)
    patterns = _bytes(needle).split(b"\n")
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise _Stop(2, f"grep: {path}: {_reason(exc)}") from None
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    matched = [line + b"\n" for line in lines if any(p in line for p in patterns)]
    _write(b"".join(matched))
    return 0 if matched else 1


def sleep_seconds(text: str) -> float:
    """Seconds in a coreutils ``sleep`` argument (``5``, ``1.5``, ``2m``, ``1e3``, ``inf``, ``1d``).

    Raises ``ValueError`` for anything ``sleep`` refuses (``500ms``, ``-1``, ``1x``, ``""``).
    """
    match = _SLEEP_ARG.fullmatch(text)
    if match is None:
        raise ValueError(text)
    number, unit = match.groups()
    lowered = number.lower().lstrip("+-")
    seconds = float.fromhex(number) if lowered.startswith("0x") else float(number)
    if not seconds >= 0:  # negative, or NaN
        raise ValueError(text)
    return seconds * _SLEEP_UNITS[unit]


def _sleep_problem(text: str) -> str | None:
    """What coreutils ``sleep`` says about its one argument *text*, or ``None`` if it takes it."""
    if text == "--":
        return None  # the end of options, and no interval: nothing to wait for
    if text.startswith("--"):
        return f"unrecognized option '{text}'"
    if text.startswith("-") and text != "-":  # an option to getopt, even ``-1``
        return f"invalid option -- '{text[1]}'"
    try:
        sleep_seconds(text)
    except ValueError:
        return f"invalid time interval '{text}'"
    return None


def _sleep(params: list[str]) -> int:
    text = _param(params, 2)
    problem = _sleep_problem(text)
    if problem is not None:
        raise _Stop(1, f"sleep: {problem}\nTry 'sleep --help' for more information.")
    remaining = sleep_seconds(text) if text != "--" else 0.0
    deadline = time.monotonic() + remaining if remaining != float("inf") else None
    while deadline is None or remaining > 0:
        time.sleep(min(remaining, 86400.0))
        if deadline is not None:
            remaining = deadline - time.monotonic()
    return 0


def _exit(params: list[str]) -> int:
    text = params[1] if len(params) > 1 and params[1] else "0"
    if not (text.isascii() and text.isdigit()) or int(text) > _INT_MAX:
        raise _Stop(2, f"{PROGRAM}: exit: Illegal number: {text}")
    return int(text) & 0xFF


def _sh(params: list[str]) -> int:
    script = params[1] if len(params) > 1 and params[1] else "0"
    sys.stdout.flush()
    try:
        os.execvp("sh", ["sh", script])
    except OSError as exc:
        raise _Stop(127, f"{PROGRAM}: sh: {_reason(exc)}") from None


def _greet(_params: list[str]) -> int:
    _write(GREETING)
    return 0


COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "": _greet,
    "assert_contains": _assert_contains,
    "cat": _cat,
    "echo": _echo,
    "exit": _exit,
    "sh": _sh,
    "sleep": _sleep,
}


def main(argv: list[str] | None = None) -> int:
    """Run ``/argosay`` with *argv* (the process arguments by default); returns the exit code."""
    params = list(sys.argv[1:] if argv is None else argv)
    command = COMMANDS.get(params[0] if params else "")
    if command is None:
        return 1
    try:
        return command(params)
    except _Stop as stop:
        if stop.message:
            sys.stderr.write(stop.message + "\n")
            sys.stderr.flush()
        return stop.code
    except BrokenPipeError:
        return 141  # stdout closed early: the shell's tools die of SIGPIPE (128 + 13)


if __name__ == "__main__":
    sys.exit(main())
