"""The launcher's contract on the controller's side: its command line and its report.

Every workload pod runs its ``main`` container behind ``hookbus-launcher`` (source in
``launcher/hookbus-launcher.c``, shipped in the controller image). An init container
copies it into an ``emptyDir`` mounted at :data:`LAUNCHER_DIR`; ``main`` then runs
``/var/run/hookbus/launcher [--result] [--output NAME=PATH]... [--artifact NAME=PATH]...
-- <command>``. When the command ends the launcher writes one JSON document, at most
4 KiB, to the container's termination message, which Kubernetes delivers in
``status.containerStatuses[].state.terminated.message``:

.. code-block:: json

    {"hookbus": 1, "exitCode": 0, "signal": 9, "error": "...", "result": "...",
     "parameters": {"name": "value"}, "artifacts": {"name": "<base64>"},
     "directories": {"name": "<base64 file list>"},
     "problems": {"artifacts.name": "reason"}, "spilled": ["result", "parameters.x"]}

An output artifact whose path is a directory is reported under ``directories`` as a file
list (:mod:`.filelist`).

Values that do not fit are left out and named in ``spilled``; the launcher then writes the
whole document as the last line of the container's log, after :data:`SPILL_MARK` (read
with ``pods/log``, which the controller may already read), and to
``/var/run/hookbus/outputs.json`` in the pod. :func:`parse_report` reads a termination
message, :func:`spilled_document` finds the whole document in a log.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = [
    "LAUNCHER_DIR",
    "LAUNCHER_PATH",
    "NOT_FOUND_EXIT_CODE",
    "SPILL_MARK",
    "LauncherReport",
    "ReportError",
    "launcher_argv",
    "parse_report",
    "spilled_document",
]

LAUNCHER_DIR: Final = "/var/run/hookbus"
"""Where the launcher's ``emptyDir`` is mounted in every container of a workload pod."""
LAUNCHER_PATH: Final = f"{LAUNCHER_DIR}/launcher"
"""The launcher binary inside a workload pod."""
SPILL_MARK: Final = "##hookbus-outputs## "
"""The prefix of the log line holding the whole report when values were spilled."""
NOT_FOUND_EXIT_CODE: Final = 64
"""The launcher's exit code when the command cannot be found or executed (as Argo's executor)."""
PROTOCOL: Final = 1

_EMPTY_STR: Final[Mapping[str, str]] = MappingProxyType({})
_EMPTY_BYTES: Final[Mapping[str, bytes]] = MappingProxyType({})


class ReportError(ValueError):
    """A termination message is not a launcher report (the container did not run the launcher,
    or something else wrote the message). The text says what was wrong."""


@dataclass(frozen=True)
class LauncherReport:
    """What the launcher reported about one run of the command."""

    exit_code: int
    signal: int | None = None
    error: str = ""
    """Why the command could not run (Argo's wording), empty when it ran."""
    result: str | None = None
    parameters: Mapping[str, str] = field(default_factory=lambda: _EMPTY_STR)
    artifacts: Mapping[str, bytes] = field(default_factory=lambda: _EMPTY_BYTES)
    directories: Mapping[str, bytes] = field(default_factory=lambda: _EMPTY_BYTES)
    """Output artifacts that are directories: name -> file list (:mod:`.filelist`)."""
    problems: Mapping[str, str] = field(default_factory=lambda: _EMPTY_STR)
    """``parameters.x``/``artifacts.y`` -> why the file could not be read (a missing file is no problem)."""
    spilled: tuple[str, ...] = ()
    """Values left out of the termination message (``result``, ``parameters.x``, ``artifacts.y``)."""

    def with_spilled(self, whole: LauncherReport) -> LauncherReport:
        """This report completed with the values of *whole* (the spilled document)."""
        return LauncherReport(
            exit_code=self.exit_code,
            signal=self.signal,
            error=self.error,
            result=whole.result if self.result is None else self.result,
            parameters={**whole.parameters, **self.parameters},
            artifacts={**whole.artifacts, **self.artifacts},
            directories={**whole.directories, **self.directories},
            problems={**whole.problems, **self.problems},
        )


def launcher_argv(
    command: Iterable[str],
    *,
    result: bool = True,
    parameters: Mapping[str, str] | None = None,
    artifacts: Mapping[str, str] | None = None,
) -> list[str]:
    """``main``'s command line: the launcher, its options, ``--``, then *command* unchanged."""
    argv = [LAUNCHER_PATH]
    if result:
        argv.append("--result")
    for name, path in (parameters or {}).items():
        argv += ["--output", f"{name}={path}"]
    for name, path in (artifacts or {}).items():
        argv += ["--artifact", f"{name}={path}"]
    return [*argv, "--", *command]


def parse_report(message: str) -> LauncherReport:
    """The report in a termination message; :class:`ReportError` naming what is wrong otherwise."""
    try:
        doc = json.loads(message)
    except json.JSONDecodeError as exc:
        raise ReportError(f"the termination message is not JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(doc, dict) or doc.get("hookbus") != PROTOCOL:
        raise ReportError(f"the termination message is not a hookbus launcher report of protocol version {PROTOCOL}")
    exit_code = doc.get("exitCode")
    if not isinstance(exit_code, int) or isinstance(exit_code, bool):
        raise ReportError("the launcher report has no integer exitCode")
    artifacts = _decoded(doc, "artifacts", "artifact")
    directories = _decoded(doc, "directories", "directory")
    sig = doc.get("signal")
    result = doc.get("result")
    spilled = doc.get("spilled") or []
    return LauncherReport(
        exit_code=exit_code,
        signal=sig if isinstance(sig, int) and not isinstance(sig, bool) else None,
        error=str(doc.get("error") or ""),
        result=result if isinstance(result, str) else None,
        parameters=_strings(doc, "parameters"),
        artifacts=artifacts,
        directories=directories,
        problems=_strings(doc, "problems"),
        spilled=tuple(str(s) for s in spilled) if isinstance(spilled, list) else (),
    )


def spilled_document(log: str) -> LauncherReport | None:
    """The whole report from the last :data:`SPILL_MARK` line of a container's log, if any."""
    at = log.rfind("\n" + SPILL_MARK)
    if at < 0:
        if not log.startswith(SPILL_MARK):
            return None
        start = len(SPILL_MARK)
    else:
        start = at + 1 + len(SPILL_MARK)
    end = log.find("\n", start)
    return parse_report(log[start : end if end >= 0 else len(log)])


def _decoded(doc: Mapping[str, object], key: str, what: str) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for name, value in _strings(doc, key).items():
        try:
            out[name] = base64.b64decode(value, validate=True)
        except binascii.Error:
            raise ReportError(f"the launcher report's {what} {name!r} is not base64") from None
    return out


def _strings(doc: Mapping[str, object], key: str) -> dict[str, str]:
    value = doc.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ReportError(f"the launcher report's {key} is not a map of strings")
    return {str(k): v for k, v in value.items()}
