"""How a node's pod ended, read from the pod's status (pure, no I/O).

:func:`pod_outcome` turns a watched Pod into the node's :class:`~..engine.ports.TaskResult`
once its ``main`` container terminated (or the pod failed without it): exit code and
reason from ``status.containerStatuses``, outputs from the launcher's report in the
termination message (:mod:`.launcher`). Argo's messages are kept: ``Error (exit code 1)``,
``OOMKilled (exit code 137)``, ``Pod was active on the node longer than the specified
deadline``. When the report spilled values, :attr:`PodOutcome.spilled` says so and
:func:`with_log` completes the outcome from the ``main`` container's log.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from ..argo.labels import NODE_ID_ANNOTATION
from ..argo.types import Phase
from ..engine.ports import TaskResult
from .launcher import LauncherReport, ReportError, parse_report, spilled_document

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = ["DEADLINE_MESSAGE", "PodOutcome", "pod_outcome", "with_log"]

DEADLINE_MESSAGE: Final = "Pod was active on the node longer than the specified deadline"
LAUNCHER_INIT: Final = "init"
_STUCK: Final = frozenset({"InvalidImageName", "CreateContainerConfigError", "ErrImageNeverPull", "CreateContainerError"})
"""Waiting reasons that do not pass by waiting: the node errors instead of pending until its deadline."""
_EMPTY_BYTES: Final[Mapping[str, bytes]] = MappingProxyType({})
TEXT_ARTIFACT_MAX: Final = 256 * 1024
"""Text artifacts up to this size travel in the node's record, as the engine keeps them; larger ones as files."""


@dataclass(frozen=True)
class PodOutcome:
    """A finished node: its result, the artifact contents the launcher reported, and what it spilled."""

    result: TaskResult
    artifacts: Mapping[str, bytes] = field(default_factory=lambda: _EMPTY_BYTES)
    """Output artifact name -> content (the executor stores them and sets ``result.artifacts``)."""
    directories: Mapping[str, bytes] = field(default_factory=lambda: _EMPTY_BYTES)
    """Output artifacts that are directories: name -> file list (the executor unpacks them)."""
    spilled: tuple[str, ...] = ()
    """Values not in the termination message: read ``main``'s log and call :func:`with_log`."""
    report: LauncherReport | None = None


def pod_outcome(pod: Mapping[str, Any], *, now: float) -> PodOutcome | None:
    """The outcome of the node run by *pod*, or ``None`` while it is still running or pending."""
    status = pod.get("status") or {}
    meta = pod.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    started = _time(status.get("startTime"), now)
    main = _status_of(status.get("containerStatuses"), "main")
    terminated = ((main or {}).get("state") or {}).get("terminated")

    def done(phase: str, message: str, exit_code: int | None = None, **extra: Any) -> PodOutcome:
        finished = _time((terminated or {}).get("finishedAt"), now)
        result = TaskResult(
            phase=phase, exit_code=exit_code, message=message, result=extra.pop("result", None),
            parameters=extra.pop("parameters", {}), log_path=None, started_at=started, finished_at=finished,
            node_id=str(annotations.get(NODE_ID_ANNOTATION) or ""),
        )
        return PodOutcome(result, **extra)

    if status.get("reason") == "DeadlineExceeded":
        code = terminated.get("exitCode") if terminated else None
        return done(Phase.FAILED, DEADLINE_MESSAGE, code if isinstance(code, int) else None)
    for init in status.get("initContainerStatuses") or []:
        state = (init.get("state") or {}) if isinstance(init, dict) else {}
        ended = state.get("terminated")
        if ended and ended.get("exitCode", 0) != 0:
            what = _reason(ended)
            if init.get("name") == LAUNCHER_INIT:
                said = str(ended.get("message") or "").strip()
                said = f": {said.splitlines()[-1][:500]}" if said else ""
                return done(Phase.ERROR, f"the launcher could not be installed in the pod (or the input artifacts placed): {what}{said}")
            return done(Phase.FAILED, f"init container {init.get('name')!r} failed: {what}", ended.get("exitCode"))
        stuck = _stuck(state)
        if stuck:
            return done(Phase.ERROR, f"init container {init.get('name')!r}: {stuck}")
    if terminated is None:
        stuck = _stuck((main or {}).get("state") or {})
        if stuck:
            return done(Phase.ERROR, stuck)
        if status.get("phase") == "Failed":
            why = status.get("message") or status.get("reason") or "the pod failed before its main container ran"
            return done(Phase.ERROR, str(why))
        if status.get("phase") == "Succeeded":
            return done(Phase.ERROR, "the pod ended without a status for its main container")
        return None
    return _from_main(terminated, done)


def _from_main(terminated: Mapping[str, Any], done: Callable[..., PodOutcome]) -> PodOutcome:
    code = terminated.get("exitCode")
    code = code if isinstance(code, int) and not isinstance(code, bool) else None
    report: LauncherReport | None
    try:
        report = parse_report(str(terminated.get("message") or ""))
    except ReportError:
        report = None  # killed before the launcher reported (OOMKilled), or main does not run it
    if code == 0:
        phase, message = Phase.SUCCEEDED, ""
    else:
        phase, message = Phase.FAILED, _reason(terminated)
        if report is not None and report.error:
            message = f"{message}: {report.error}"
    if report is None:
        return done(phase, message, code)
    problems = [f"output {key}: {why}" for key, why in sorted(report.problems.items())]
    if problems and phase == Phase.SUCCEEDED:
        phase, message = Phase.ERROR, "; ".join(problems)
    parameters, artifacts = _split_artifacts(report)
    return done(
        phase, message, code, result=report.result, parameters=parameters,
        artifacts=artifacts, directories=report.directories, spilled=report.spilled, report=report,
    )


def _split_artifacts(report: LauncherReport) -> tuple[dict[str, str], dict[str, bytes]]:
    """The parameters as the engine reads them (small text artifacts as ``artifact:<name>``), and
    the binary or larger artifacts the executor keeps as files."""
    parameters = dict(report.parameters)
    binary: dict[str, bytes] = {}
    for name, data in report.artifacts.items():
        if len(data) > TEXT_ARTIFACT_MAX:  # too large for the node's record: kept as a file
            binary[name] = data
            continue
        try:
            parameters[f"artifact:{name}"] = data.decode("utf-8")
        except UnicodeDecodeError:
            binary[name] = data
    return parameters, binary


def with_log(outcome: PodOutcome, log: str) -> PodOutcome:
    """*outcome* completed with the spilled values found in ``main``'s *log*.

    When the log holds no report (rotated away, say) the outcome stays as it was: spilled
    parameters are then missing, which the engine treats as Argo treats a missing output.
    """
    if not outcome.spilled or outcome.report is None:
        return outcome
    try:
        whole = spilled_document(log)
    except ReportError:
        whole = None
    if whole is None:
        return outcome
    report = outcome.report.with_spilled(whole)
    parameters, artifacts = _split_artifacts(report)
    result = replace(outcome.result, result=report.result, parameters=parameters)
    return PodOutcome(result, artifacts, report.directories, (), report)


def _status_of(statuses: object, name: str) -> Mapping[str, Any] | None:
    if not isinstance(statuses, list):
        return None
    return next((s for s in statuses if isinstance(s, dict) and s.get("name") == name), None)


def _reason(terminated: Mapping[str, Any]) -> str:
    """Argo's text for a terminated container: ``<reason> (exit code N)``."""
    return f"{terminated.get('reason') or 'Error'} (exit code {terminated.get('exitCode')})"


def _stuck(state: Mapping[str, Any]) -> str | None:
    waiting = state.get("waiting") or {}
    reason = waiting.get("reason")
    if reason in _STUCK:
        return f"{reason}: {waiting.get('message') or ''}".rstrip(": ")
    return None


def _time(value: object, fallback: float) -> float:
    if not isinstance(value, str) or not value:
        return fallback
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return fallback
