"""One active controller per instance id: a Kubernetes ``Lease``, with self-fencing.

:class:`Leadership` runs kubernetes_asyncio's leader election on a ``Lease`` (create, then
renew by PUT conditional on its ``resourceVersion``). That election checks its renew
deadline only between API calls and on the wall clock, so a call that hangs keeps an old
leader "leading" after another may have taken over. :class:`Leadership` therefore fences
itself: it remembers, on the monotonic clock, when each renewal was acknowledged, and
once the last one is older than the lease duration minus a margin it counts as lost
(:attr:`Leadership.lost` is set, :attr:`Leadership.leading` is False), whatever the
election still believes.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    from collections.abc import Callable

    from .client import KubeClient

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class LeaseTimes:
    """The lease's timing, in seconds (Argo: 15 / 10 / 5)."""

    duration: float = 15.0
    """How long a lease holds without renewal; another candidate takes it after that."""
    renew_deadline: float = 10.0
    """How long the leader keeps trying to renew before it gives up."""
    retry: float = 2.0
    """Between two attempts (to take or to renew)."""
    margin: float = 2.0
    """Self-fencing: stop acting once the last renewal is older than ``duration - margin``."""

    def check(self) -> None:
        """Raise ValueError unless the times are ones the election accepts."""
        if min(self.duration, self.renew_deadline, self.retry) < 1:
            raise ValueError("lease times must be at least 1 second")
        if not self.duration > self.renew_deadline > 1.2 * self.retry:
            raise ValueError("lease times need duration > renew deadline > 1.2 x retry period")
        if not 0 <= self.margin < self.duration:
            raise ValueError("the fencing margin must be between 0 and the lease duration")


class Leadership:
    """Candidate *identity* for the Lease *name* in *namespace*."""

    def __init__(
        self,
        client: KubeClient,
        *,
        name: str,
        namespace: str,
        identity: str,
        times: LeaseTimes | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.name = name
        self.namespace = namespace
        self.identity = identity
        self.times = times or LeaseTimes()
        self.times.check()
        self.clock = clock
        self.acquired = asyncio.Event()
        """Set once this candidate leads."""
        self.lost = asyncio.Event()
        """Set when leadership ended (renewals failed or fenced): stop acting."""
        self.last_renewal: float | None = None
        """Monotonic time of the last acknowledged create or renewal of the lease."""
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def leading(self) -> bool:
        """Whether this candidate may act now (checked on the monotonic clock)."""
        if not self.acquired.is_set() or self.lost.is_set() or self.last_renewal is None:
            return False
        return self.clock() - self.last_renewal < self.times.duration - self.times.margin

    def start(self) -> None:
        """Run for leadership in the background."""
        if self._tasks:
            return
        from kubernetes_asyncio.leaderelection import electionconfig, leaderelection
        from kubernetes_asyncio.leaderelection.resourcelock.leaselock import LeaseLock

        leadership = self

        class FencedLock(LeaseLock):
            """The Lease lock, noting when each write of the lease was acknowledged."""

            async def create(self, name: str, namespace: str, election_record: Any) -> bool:
                return leadership._noted(await super().create(name, namespace, election_record))

            async def update(self, name: str, namespace: str, updated_record: Any) -> bool:
                return leadership._noted(await super().update(name, namespace, updated_record))

        lock = FencedLock(self.name, self.namespace, self.identity, self.client.api)
        config = electionconfig.Config(
            lock,
            lease_duration=math.ceil(self.times.duration),  # the Lease holds whole seconds
            renew_deadline=self.times.renew_deadline,
            retry_period=self.times.retry,
            onstarted_leading=self._started,
            onstopped_leading=self._stopped,
        )
        election = leaderelection.LeaderElection(config)
        self._tasks = [
            asyncio.create_task(self._elect(election), name="hookbus-lease-election"),
            asyncio.create_task(self._fence(), name="hookbus-lease-fence"),
        ]

    def _noted(self, ok: bool) -> bool:
        if ok:
            self.last_renewal = self.clock()
        return ok

    async def _elect(self, election: Any) -> None:
        try:
            await election.run()
        except Exception as exc:
            log.error("leader election failed", lease=self.name, error=f"{type(exc).__name__}: {exc}")
            self._lose(f"leader election failed: {exc}")
        finally:
            if self.acquired.is_set():
                self._lose("the lease could not be renewed")

    async def _started(self) -> None:
        log.info("leading", lease=self.name, namespace=self.namespace, identity=self.identity)
        self.acquired.set()

    async def _stopped(self) -> None:
        self._lose("the lease could not be renewed")

    def _lose(self, why: str) -> None:
        if not self.lost.is_set():
            log.error("leadership lost; stopping", lease=self.name, reason=why)
            self.lost.set()

    async def _fence(self) -> None:
        """Set :attr:`lost` once the last renewal is older than the lease minus the margin."""
        await self.acquired.wait()
        while not self.lost.is_set():
            if not self.leading:
                self._lose("no renewal acknowledged within the lease duration minus the margin")
                return
            await asyncio.sleep(min(self.times.retry / 2, 0.5))

    async def wait(self) -> bool:
        """Wait until this candidate leads (True) or has lost (False)."""
        acquired = asyncio.ensure_future(self.acquired.wait())
        lost = asyncio.ensure_future(self.lost.wait())
        try:
            await asyncio.wait({acquired, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (acquired, lost):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        return self.leading

    async def stop(self) -> None:
        """Stop running for (or holding) the lease; another candidate takes it after it expires."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
