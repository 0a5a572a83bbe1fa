"""The simulate executor: annotation-driven outcomes, no processes."""

from __future__ import annotations

import asyncio
import time

import pytest

from hookbus.controller.executors.base import Executor
from hookbus.controller.executors.simulate import SimulateExecutor
from tests.support.executors import proc, task


def sim(annotations: dict[str, str] | None = None, timeout: float | None = None) -> object:
    return task(proc(["never-run"]), annotations=annotations, outputs={"p": "/tmp/p"}, timeout=timeout)


async def test_succeeds_at_once_by_default() -> None:
    executor = SimulateExecutor()
    assert isinstance(executor, Executor)
    result = await executor.run(sim())  # type: ignore[arg-type]
    assert (result.phase, result.exit_code, result.message, result.result) == ("Succeeded", 0, "", "")
    assert result.parameters == {}  # declared outputs without an annotation were "never written"
    assert result.log_path is None
    assert executor.runs == 1


async def test_unrelated_annotations_take_the_fast_path() -> None:
    result = await SimulateExecutor().run(sim({"example.com/owner": "me"}))  # type: ignore[arg-type]
    assert result.phase == "Succeeded"


async def test_exit_code_fails_the_node_with_argos_message() -> None:
    result = await SimulateExecutor().run(sim({"hookbus.io/simulate-exit-code": "3"}))  # type: ignore[arg-type]
    assert (result.phase, result.exit_code, result.message) == ("Failed", 3, "Error (exit code 3)")


async def test_phase_failed_without_code_exits_1() -> None:
    result = await SimulateExecutor().run(sim({"hookbus.io/simulate-phase": "Failed"}))  # type: ignore[arg-type]
    assert (result.phase, result.exit_code, result.message) == ("Failed", 1, "Error (exit code 1)")


async def test_error_phase_and_custom_message() -> None:
    result = await SimulateExecutor().run(
        sim({"hookbus.io/simulate-phase": "Error", "hookbus.io/simulate-message": "node lost"})  # type: ignore[arg-type]
    )
    assert (result.phase, result.exit_code, result.message) == ("Error", None, "node lost")


async def test_outputs_and_result_come_from_annotations() -> None:
    result = await SimulateExecutor().run(
        sim(  # type: ignore[arg-type]
            {
                "hookbus.io/simulate-result": "stdout text",
                "hookbus.io/simulate-output.p": "42",
                "hookbus.io/simulate-output.other": "x",
            }
        )
    )
    assert result.phase == "Succeeded"
    assert result.result == "stdout text"
    assert result.parameters == {"p": "42", "other": "x"}


@pytest.mark.parametrize("duration", ["0.2", "200ms"])
async def test_duration_takes_that_long(duration: str) -> None:
    started = time.monotonic()
    result = await SimulateExecutor().run(sim({"hookbus.io/simulate-duration": duration}))  # type: ignore[arg-type]
    elapsed = time.monotonic() - started
    assert result.phase == "Succeeded"
    assert 0.19 <= elapsed < 2
    assert result.finished_at - result.started_at >= 0.19


async def test_duration_beyond_the_deadline_fails_at_the_deadline() -> None:
    started = time.monotonic()
    result = await SimulateExecutor().run(sim({"hookbus.io/simulate-duration": "30s"}, timeout=0.1))  # type: ignore[arg-type]
    assert time.monotonic() - started < 5
    assert result.phase == "Failed"
    assert "deadline" in result.message


async def test_a_long_run_can_be_cancelled() -> None:
    running = asyncio.create_task(SimulateExecutor().run(sim({"hookbus.io/simulate-duration": "1h"})))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running


@pytest.mark.parametrize(
    ("annotation", "value"),
    [
        ("hookbus.io/simulate-exit-code", "three"),
        ("hookbus.io/simulate-phase", "Done"),
        ("hookbus.io/simulate-duration", "soon"),
    ],
)
async def test_bad_annotation_is_an_error_naming_it(annotation: str, value: str) -> None:
    result = await SimulateExecutor().run(sim({annotation: value}))  # type: ignore[arg-type]
    assert result.phase == "Error"
    assert annotation in result.message and value in result.message
