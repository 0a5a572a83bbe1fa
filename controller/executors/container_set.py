"""Running a ``containerSet``'s containers by their dependencies, each retried in place.

An executor hands :func:`run_container_set` the set's processes and a way to run one of
them; the containers start as soon as the containers they depend on succeeded (those
without dependencies at once, side by side). A container that fails runs again after the
set's retry delay, up to its number of attempts; a container whose dependency failed
does not run. The set succeeds when every container did.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Protocol, TypeVar

from .base import SUCCEEDED

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from ..engine.ports import ContainerSetSpec, ProcessSpec

__all__ = ["run_container_set", "set_processes"]


class Outcome(Protocol):
    """How one run of a container ended."""

    @property
    def phase(self) -> str: ...

    @property
    def exit_code(self) -> int | None: ...

    @property
    def message(self) -> str: ...


OutcomeT = TypeVar("OutcomeT", bound=Outcome)


def set_processes(
    spec: ContainerSetSpec, init: Sequence[ProcessSpec], main: ProcessSpec
) -> tuple[tuple[ProcessSpec, ...], tuple[ProcessSpec, ...]]:
    """Split a node's processes: (the init processes that run first, the set's containers)."""
    first = len(init) - (len(spec.dependencies) - 1)
    return tuple(init[:first]), (*init[first:], main)


async def run_container_set(
    spec: ContainerSetSpec,
    containers: Sequence[ProcessSpec],
    run_one: Callable[[ProcessSpec, bool], Awaitable[OutcomeT]],
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> tuple[OutcomeT | None, tuple[str, OutcomeT] | None]:
    """Run the set; returns the main (last) container's outcome (``None`` if it did not
    run) and the first failed container in the template's order with its outcome
    (``None`` when every container succeeded). *run_one* gets the process and whether
    its standard output is the node's result."""
    main = containers[-1]
    ran: dict[str, OutcomeT] = {}

    async def one(process: ProcessSpec) -> bool:
        for dependency in spec.dependencies.get(process.name, ()):
            waited = tasks.get(dependency)
            if waited is not None and not await waited:
                return False
        for attempt in range(spec.attempts):
            outcome = ran[process.name] = await run_one(process, process is main)
            if outcome.phase == SUCCEEDED:
                return True
            if attempt + 1 < spec.attempts and spec.retry_delay > 0:
                await sleep(spec.retry_delay)
        return False

    tasks: dict[str, asyncio.Task[bool]] = {}
    for process in containers:
        tasks[process.name] = asyncio.ensure_future(one(process))
    try:
        await asyncio.gather(*tasks.values())
    finally:
        for task in tasks.values():
            task.cancel()
    failed = next(((p.name, ran[p.name]) for p in containers if p.name in ran and ran[p.name].phase != SUCCEEDED), None)
    return ran.get(main.name), failed
