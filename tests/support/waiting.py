"""Waiting in tests: poll a condition with a deadline; stop a process and wait until it has."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable


async def wait_for(
    predicate: Callable[[], bool | Awaitable[bool]],
    timeout: float = 10.0,
    interval: float = 0.01,
    what: str = "condition",
) -> None:
    """Poll *predicate* until it is true; fail the test after *timeout* seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result: Any = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


async def freeze(pid: int) -> None:
    """SIGSTOP *pid* and wait until every thread of it has stopped.

    The signal takes effect asynchronously: a thread busy on another core can still
    handle what reaches it in the meantime, so a test that relies on the process taking
    nothing waits for the stop to be complete.
    """
    os.kill(pid, signal.SIGSTOP)
    await wait_for(lambda: _stopped(pid), timeout=10, interval=0.001, what=f"process {pid} to stop")


def _stopped(pid: int) -> bool:
    """Whether every thread of *pid* is stopped (where there is no /proc to tell, assume so)."""
    if not Path("/proc/self").exists():
        return True
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except FileNotFoundError:
        return False  # gone: not stopped, and it will not be
    states = []
    for task in tasks:
        try:
            states.append(Path(task, "stat").read_text().rsplit(")", 1)[1].split()[0])
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue  # a thread that exited
    return bool(states) and all(state in ("T", "t") for state in states)
