"""The controller's side of supervised nodes: spawn, adopt, watch, cancel.

:class:`SupervisedLocalExecutor` is the local executor whose nodes run under
supervisors. Its :class:`Supervision` starts each node as a :mod:`.supervisor` process in a session of
its own and learns how it ended from the node directory's records, so a node survives
the controller: a restarted controller adopts the nodes it finds (:meth:`attach`, and
:meth:`start` of a node whose directory already holds this attempt) instead of running
them again. While it lives, the controller holds ``controller.lock`` of the state
directory (shared), which tells supervisors a controller is there (their orphan bound).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import shutil
import signal
import sys
import time
from typing import TYPE_CHECKING, Any, Final

import structlog

from . import supervisor_records as records
from .base import ERROR, TaskResult, TaskSpec
from .local import CLOSED_MESSAGE, LocalExecutor
from .supervisor_records import NodeState

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

log = structlog.get_logger(__name__)

DEFAULT_ORPHAN_TIMEOUT: Final = 3600.0
"""Seconds a supervised node runs on without any controller before its supervisor stops it."""
SUPERVISOR_MODULE: Final = "hookbus.controller.executors.supervisor"
POLL_INTERVAL: Final = 0.2
"""Seconds between looks at an adopted node's lock when its supervisor cannot be watched by pidfd."""
STOP_GRACE: Final = 10.0
"""Seconds a cancelled supervisor gets to kill its node and record it before it is killed."""

_Ident = tuple[str, str, str]


class SupervisedLocalExecutor(LocalExecutor):
    """The local executor with every node under a supervisor process that outlives the
    controller (:mod:`.supervisor`): a restarted controller adopts the nodes still
    running or ended while it was away (:meth:`attach`, and :meth:`start` of an attempt
    already claimed) and never starts an attempt of a node twice. A supervisor left
    without a controller for *orphan_timeout* seconds stops its node.

    *state_dir* must outlive the controller; the other options are
    :class:`~.local.LocalExecutor`'s.
    """

    def __init__(self, state_dir: Path | str | None, *, orphan_timeout: float = DEFAULT_ORPHAN_TIMEOUT, **options: Any) -> None:
        if state_dir is None:
            raise ValueError("supervised nodes need a state directory that outlives the controller")
        if not 0 < orphan_timeout < float("inf"):
            raise ValueError(f"orphan_timeout must be a positive number of seconds, got {orphan_timeout}")
        super().__init__(state_dir, **options)
        self.orphan_timeout = orphan_timeout
        self._supervision = Supervision(self.state_dir, node_dir=self._node_dir_path, config=self._config, deliver=self._deliver)
        self._detached = False

    def _config(self) -> dict[str, Any]:
        return {**self.supervisor_config(), "orphan_timeout": self.orphan_timeout}

    async def prepare(self) -> None:
        """Prepare as the local executor does, and hold the state directory (see :class:`Supervision`)."""
        await super().prepare()
        self._supervision.hold_state_dir()

    async def start(self, task: TaskSpec) -> None:
        """Start *task* under its supervisor, or adopt the one this attempt has; its result goes to the sink."""
        if self._closed:
            self._deliver(task, self._result(ERROR, None, CLOSED_MESSAGE, None, {}, None, time.time()))
            return
        await self.prepare()
        await self._supervision.start(task)

    async def attach(self, task: TaskSpec) -> bool:
        """Adopt *task*'s node after a restart: True when its supervisor still runs it or
        recorded how it ended (not when it was cancelled)."""
        await self.prepare()
        return await self._supervision.attach(task)

    async def cancel(self, task: TaskSpec) -> None:
        """Stop *task*'s node (its supervisor kills its process groups); return once it is gone.
        After :meth:`detach` the node is left to its supervisor."""
        if self._detached:
            return
        await self._supervision.cancel(task)

    def detach(self) -> None:
        """The controller is shutting down: from now on :meth:`cancel` leaves nodes running
        under their supervisors, so the next controller on this state directory adopts them
        (a graceful stop keeps them, as a crash does)."""
        self._detached = True

    async def close(self) -> None:
        """Stop watching nodes and let go of the state directory; the supervisors go on
        (a restarted controller adopts them). Idempotent."""
        if not self._closed:
            await self._supervision.close()
        await super().close()


class Supervision:
    """Supervised nodes of one executor.

    *node_dir* maps a task to its directory; *config* is what the supervisor's executor
    needs (made once the executor is prepared); *deliver* hands a node's result on.
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        node_dir: Callable[[TaskSpec], Path],
        config: Callable[[], Mapping[str, Any]],
        deliver: Callable[[TaskSpec, TaskResult], None],
    ) -> None:
        self.state_dir = state_dir
        self._node_dir = node_dir
        self._config = config
        self._deliver = deliver
        self._watchers: dict[_Ident, asyncio.Task[None]] = {}
        self._starting: dict[_Ident, asyncio.Future[None]] = {}
        """Supervisors spawned here that have not claimed their node yet: done once they did
        (or found it owned, or exited)."""
        self._pipes: set[int] = set()
        self._launchers: set[asyncio.Task[int]] = set()
        self._lock_fd: int | None = None

    def hold_state_dir(self) -> None:
        """Take the shared ``controller.lock`` (kept until :meth:`close`)."""
        if self._lock_fd is not None:
            return
        fd = os.open(self.state_dir / records.CONTROLLER_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_SH)
        self._lock_fd = fd

    async def start(self, task: TaskSpec) -> None:
        """Start *task* under a supervisor, or adopt the one this attempt already has."""
        node_dir = self._node_dir(task)
        state = records.inspect(node_dir, task.attempt) if node_dir.exists() else NodeState.NONE
        bound = log.bind(workflow=f"{task.namespace}/{task.workflow}", node=task.node_id)
        if state in (NodeState.RUNNING, NodeState.DONE):
            bound.info("node already started by its supervisor; adopting it", state=state.value)
            self._watch(task, node_dir)
            return
        if state is NodeState.LOST:
            self._lost(task)
            return
        if state is NodeState.OTHER:
            await self._stop_supervisor(node_dir)
            shutil.rmtree(node_dir, ignore_errors=True)  # an earlier attempt of this node
        elif not (node_dir / records.TASK_FILE).exists():
            shutil.rmtree(node_dir, ignore_errors=True)  # never given to a supervisor: leftovers only
        node_dir.mkdir(parents=True, exist_ok=True)
        order = {"attempt": task.attempt, "executor": dict(self._config()), "task": records.task_to_json(task)}
        # not synced: it must survive the controller, not the machine (the claim and the
        # outcome, written by the supervisor, are)
        records.write_json(node_dir / records.TASK_FILE, order, sync=False)
        await self._spawn_and_watch(task, node_dir)

    async def _spawn_and_watch(self, task: TaskSpec, node_dir: Path) -> None:
        try:
            claimed = await self._spawn(node_dir)
        except OSError as exc:
            now = time.time()
            self._deliver(task, TaskResult(ERROR, None, f"cannot start the node's supervisor: {exc.strerror or exc}", None, {}, None, now, now))
            return
        ident = (task.namespace, task.workflow, task.node_id)
        self._starting[ident] = claimed
        claimed.add_done_callback(lambda _: self._starting.pop(ident, None) if self._starting.get(ident) is claimed else None)
        self._watch(task, node_dir, claimed)

    async def _spawn(self, node_dir: Path) -> asyncio.Future[None]:
        """Start a supervisor for *node_dir* (detached: not this process's child); the
        future is done once it claimed the node (or found it owned, or exited).

        Returns without waiting for it: a supervisor that is not there yet is found by the
        next controller through ``task.json`` (see :meth:`attach`), and two supervisors of
        one attempt run it once."""
        read_end, write_end = os.pipe()
        try:
            with (node_dir / records.LOG_FILE).open("ab") as log_file:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-P",  # not the working directory's modules
                    "-m",
                    SUPERVISOR_MODULE,
                    str(node_dir),
                    "--ready-fd",
                    str(write_end),
                    "--detach",
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=log_file,
                    pass_fds=(write_end,),
                    start_new_session=True,
                )
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        # the launcher exits as soon as the supervisor is forked: collect it
        launcher = asyncio.create_task(proc.wait(), name="hookbus-supervisor-launcher")
        self._launchers.add(launcher)
        launcher.add_done_callback(self._launchers.discard)
        loop = asyncio.get_running_loop()
        claimed: asyncio.Future[None] = loop.create_future()
        os.set_blocking(read_end, False)
        self._pipes.add(read_end)

        def readable() -> None:  # a byte, or EOF
            self._close_pipe(read_end)
            _settle(claimed)

        loop.add_reader(read_end, readable)
        return claimed

    def _close_pipe(self, fd: int) -> None:
        if fd in self._pipes:
            self._pipes.discard(fd)
            asyncio.get_running_loop().remove_reader(fd)
            os.close(fd)

    def _watch(self, task: TaskSpec, node_dir: Path, claimed: asyncio.Future[None] | None = None) -> None:
        ident = (task.namespace, task.workflow, task.node_id)
        self._watchers[ident] = asyncio.create_task(self._await_end(task, node_dir, claimed), name=f"hookbus-supervised-{task.node_id}")

    async def _await_end(self, task: TaskSpec, node_dir: Path, claimed: asyncio.Future[None] | None) -> None:
        if claimed is not None:
            await asyncio.shield(claimed)
        await _unlocked(node_dir)  # whichever supervisor runs the node (one spawned earlier included)
        self._watchers.pop((task.namespace, task.workflow, task.node_id), None)
        done = records.read_done(node_dir, task.attempt)
        if done is None:
            self._lost(task)
            return
        result, cancelled = done
        if not cancelled:
            self._deliver(task, result)

    def _lost(self, task: TaskSpec) -> None:
        now = time.time()
        self._deliver(task, TaskResult(ERROR, None, records.LOST_MESSAGE, None, {}, None, now, now))

    async def attach(self, task: TaskSpec) -> bool:
        """Adopt *task*'s node if its supervisor lives or recorded how it ended (not
        cancelled); one whose supervisor died mid-run is reported ``Error`` saying so."""
        node_dir = self._node_dir(task)
        state = records.inspect(node_dir, task.attempt) if node_dir.exists() else NodeState.NONE
        if state is NodeState.LOST:
            self._lost(task)
            return True
        if state is NodeState.NONE and records.same_attempt(node_dir / records.TASK_FILE, task.attempt):
            # handed to a supervisor that has not claimed it (yet, or it never started):
            # start one; it runs the node unless the first one does
            await self._spawn_and_watch(task, node_dir)
            return True
        if state is NodeState.DONE:
            done = records.read_done(node_dir, task.attempt)
            if done is None or done[1]:
                return False
        elif state is not NodeState.RUNNING:
            return False
        self._watch(task, node_dir)
        return True

    async def cancel(self, task: TaskSpec) -> None:
        """Stop *task*'s supervisor (it kills the node's processes); return once it is gone."""
        ident = (task.namespace, task.workflow, task.node_id)
        watcher = self._watchers.pop(ident, None)
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        claimed = self._starting.pop(ident, None)
        if claimed is not None:
            await asyncio.shield(claimed)  # a supervisor still starting: stop it once it runs
        await self._stop_supervisor(self._node_dir(task))

    async def _stop_supervisor(self, node_dir: Path) -> None:
        lock = node_dir / records.LOCK_FILE
        if not records.lock_held(lock):
            return
        pid = records.claimed_pid(node_dir)
        if pid is None:
            await _unlocked(node_dir)  # a supervisor starting up: it finds the node's fate, then exits
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(_unlocked(node_dir), STOP_GRACE)
        except TimeoutError:
            log.warning("node supervisor did not stop in time; killing it", pid=pid, node_dir=node_dir.name)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            await _unlocked(node_dir)

    async def close(self) -> None:
        """Stop watching (supervisors go on: a restarted controller adopts them) and let go
        of the state directory. Idempotent."""
        for fd in list(self._pipes):
            self._close_pipe(fd)
        for claimed in self._starting.values():
            _settle(claimed)
        self._starting.clear()
        watchers = list(self._watchers.values())
        self._watchers.clear()
        for watcher in watchers:
            watcher.cancel()
        if watchers:
            await asyncio.wait(watchers)
        if self._launchers:
            await asyncio.wait(list(self._launchers))
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


async def _unlocked(node_dir: Path) -> None:
    """Return once no supervisor holds *node_dir*'s lock."""
    lock = node_dir / records.LOCK_FILE
    pid = records.claimed_pid(node_dir)
    pidfd: int | None = None
    if pid is not None:
        with contextlib.suppress(OSError, AttributeError):
            pidfd = os.pidfd_open(pid)
    try:
        if pidfd is not None and records.lock_held(lock):
            # the lock is held, so the claimed pid is the live supervisor's: wait for its exit
            loop = asyncio.get_running_loop()
            ended: asyncio.Future[None] = loop.create_future()
            loop.add_reader(pidfd, _settle, ended)
            try:
                await ended
            finally:
                loop.remove_reader(pidfd)
        while True:  # without pidfd (or for a supervisor that is only starting): look now and then
            if not records.lock_held(lock):
                return
            await asyncio.sleep(POLL_INTERVAL)
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
