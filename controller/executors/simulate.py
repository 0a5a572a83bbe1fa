"""The simulate executor: no process at all, for dry runs, tests and benchmarks.

A node succeeds at once with exit code 0, empty ``result`` and no output
parameters, unless its annotations (``metadata.annotations`` of the template,
as the engine passes them in ``TaskSpec.annotations``) say otherwise:

``hookbus.io/simulate-phase``
    ``Succeeded``, ``Failed`` or ``Error``. Default: ``Failed`` when the exit
    code is non-zero, else ``Succeeded``.
``hookbus.io/simulate-exit-code``
    An integer. Default ``0`` (``1`` when the phase is ``Failed``). A failure's
    message is Argo's ``Error (exit code N)``.
``hookbus.io/simulate-message``
    The node's message (overrides the default one).
``hookbus.io/simulate-duration``
    How long the node "runs": seconds (``2.5``) or a Go duration (``1m30s``,
    ``250ms``). The wait is an ``asyncio.sleep`` and can be cancelled. A node
    ``timeout`` shorter than this ends it ``Failed`` at the deadline, as a real
    node would.
``hookbus.io/simulate-result``
    The node's ``outputs.result`` (stdout).
``hookbus.io/simulate-output.<name>``
    The value of output parameter ``<name>``. Parameters the template declares
    but no annotation sets are absent, as if the file was never written.

An annotation with a bad value ends the node ``Error`` with a message naming it.
Nodes without annotations cost a few microseconds (see
``benchmarks/executor_bench.py``).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Final

from ..argo.durations import parse_duration
from .base import ERROR, FAILED, PHASES, SUCCEEDED, TaskExecutor, TaskResult

if TYPE_CHECKING:
    from .base import TaskSpec

PREFIX: Final = "hookbus.io/simulate-"
PHASE: Final = PREFIX + "phase"
EXIT_CODE: Final = PREFIX + "exit-code"
MESSAGE: Final = PREFIX + "message"
DURATION: Final = PREFIX + "duration"
RESULT: Final = PREFIX + "result"
OUTPUT: Final = PREFIX + "output."
DEADLINE_MESSAGE: Final = "Pod was active on the node longer than the specified deadline"

_NO_PARAMETERS: Final[dict[str, str]] = {}


class SimulateExecutor(TaskExecutor):
    """Pretends to run nodes; outcomes come from ``hookbus.io/simulate-*`` annotations.

    Each node is a coroutine of the controller's process (see :class:`~.base.TaskExecutor`):
    nothing of it survives a restart, so :meth:`attach` finds nothing."""

    name = "simulate"

    def __init__(self) -> None:
        super().__init__()
        self.runs = 0
        """How many nodes were run (for tests and benchmarks)."""

    async def run(self, task: TaskSpec) -> TaskResult:
        """Finish *task* as its annotations say (at once and successfully by default)."""
        self.runs += 1
        now = time.time()
        annotations = task.annotations
        if not annotations or not any(key.startswith(PREFIX) for key in annotations):
            return TaskResult(SUCCEEDED, 0, "", "", _NO_PARAMETERS, None, now, now, key=task.key, node_id=task.node_id)
        return await self._run_annotated(task, now)

    async def _run_annotated(self, task: TaskSpec, started: float) -> TaskResult:
        annotations = task.annotations
        try:
            exit_code = _exit_code(annotations.get(EXIT_CODE))
            phase = annotations.get(PHASE)
            if phase is None:
                phase = FAILED if exit_code else SUCCEEDED
            elif phase not in PHASES:
                raise ValueError(f"{PHASE} is {phase!r}; use one of {', '.join(sorted(PHASES))}")
            if phase == FAILED and not exit_code and EXIT_CODE not in annotations:
                exit_code = 1
            duration = _duration(annotations.get(DURATION))
        except ValueError as exc:
            return TaskResult(ERROR, None, str(exc), None, _NO_PARAMETERS, None, started, time.time())
        if duration > 0:
            if task.timeout is not None and task.timeout < duration:
                await asyncio.sleep(task.timeout)
                return TaskResult(FAILED, None, DEADLINE_MESSAGE, None, _NO_PARAMETERS, None, started, time.time())
            await asyncio.sleep(duration)
        if phase == SUCCEEDED:
            message = ""
        elif phase == FAILED:
            message = f"Error (exit code {exit_code})"
        else:
            message = "simulated error"
        message = annotations.get(MESSAGE, message)
        parameters = {key[len(OUTPUT) :]: value for key, value in annotations.items() if key.startswith(OUTPUT)}
        result = annotations.get(RESULT, "")
        code: int | None = None if phase == ERROR and EXIT_CODE not in annotations else exit_code
        return TaskResult(phase, code, message, result, parameters, None, started, time.time(), key=task.key, node_id=task.node_id)



def _exit_code(text: str | None) -> int:
    if text is None:
        return 0
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{EXIT_CODE} is {text!r}, not an integer") from None


def _duration(text: str | None) -> float:
    if text is None:
        return 0.0
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return parse_duration(text)
    except ValueError:
        raise ValueError(f"{DURATION} is {text!r}: use seconds (2.5) or a Go duration (1m30s)") from None
