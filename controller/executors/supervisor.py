"""A node's supervisor: one process per node that runs it and outlives the controller.

``python -m hookbus.controller.executors.supervisor NODE_DIR [--ready-fd N] [--detach]``
runs the node described by ``NODE_DIR/task.json`` with the local executor's own
:meth:`run` (init containers, sidecars, main, outputs). With ``--detach`` it forks
into a session of its own and the caller's child exits at once, so the supervisor is
nobody's child and the death of the controller (``kill -9`` included) does not end it.
It writes one byte to ``--ready-fd`` once it claimed the node (or found another
supervisor owning it). Its records are described in
:mod:`.supervisor_records`.

A second supervisor spawned for the same node and attempt (the controller died between
spawning one and storing the node) waits for the lock, finds the claim or the done
record and exits without running anything, as Kubernetes answers 409 for a pod that
exists.

Orphan bound: while it runs the node, the supervisor checks every few seconds whether a
controller holds the state directory's ``controller.lock``. When none has for
``orphan_timeout`` seconds in a row, it stops the node (its process groups are killed)
and records it ``Error`` (:data:`ORPHAN_MESSAGE`). SIGTERM stops the node at once and
records it as cancelled (the controller's ``cancel``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from .base import ERROR, TaskResult
from .local import LocalExecutor
from .supervisor_records import (
    CANCELLED_MESSAGE,
    CLAIM_FILE,
    CONTROLLER_LOCK,
    DONE_FILE,
    LOCK_FILE,
    LOST_MESSAGE,
    ORPHAN_CHECK_INTERVAL,
    ORPHAN_MESSAGE,
    TASK_FILE,
    lock_held,
    read_json,
    result_to_json,
    task_from_json,
    write_json,
)

if TYPE_CHECKING:
    from collections.abc import Mapping


# --------------------------------------------------------------------------- the process


class _Stop:
    """Why the supervisor stops its node early (``None``: it does not)."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.cancelled = False
        self.node: asyncio.Task[TaskResult] | None = None

    def stop(self, reason: str, *, cancelled: bool) -> None:
        if self.reason is None:
            self.reason, self.cancelled = reason, cancelled
        if self.node is not None:
            self.node.cancel()


def _signal_ready(fd: int | None) -> None:
    if fd is None:
        return
    with contextlib.suppress(OSError):
        os.write(fd, b"1")
    with contextlib.suppress(OSError):
        os.close(fd)


def main(argv: list[str] | None = None) -> int:
    """Run one node under supervision (see the module docstring); the exit code is 0
    unless the node directory is unusable."""
    parser = argparse.ArgumentParser(prog="python -m hookbus.controller.executors.supervisor")
    parser.add_argument("node_dir", type=Path)
    parser.add_argument("--ready-fd", type=int, default=None)
    parser.add_argument("--detach", action="store_true", help="fork: the supervisor is not the caller's child")
    args = parser.parse_args(argv)
    node_dir: Path = args.node_dir
    ready: int | None = args.ready_fd
    if args.detach:
        if os.fork() > 0:
            os._exit(0)  # the caller's child ends now; the supervisor goes on in a session of its own
        os.setsid()
    stop = _Stop()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: stop.stop(CANCELLED_MESSAGE, cancelled=True))
    try:
        lock = os.open(node_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        sys.stderr.write(f"hookbus supervisor: cannot open {node_dir / LOCK_FILE}: {exc.strerror or exc}\n")
        return 1
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        _signal_ready(ready)  # another supervisor owns the node: the controller need not wait
        ready = None
        fcntl.flock(lock, fcntl.LOCK_EX)
    order = read_json(node_dir / TASK_FILE)
    if order is None:
        sys.stderr.write(f"hookbus supervisor: no readable {TASK_FILE} in {node_dir}\n")
        _signal_ready(ready)
        return 1
    attempt = str(order.get("attempt", ""))
    done = read_json(node_dir / DONE_FILE)
    claim = read_json(node_dir / CLAIM_FILE)
    if done is not None and done.get("attempt") == attempt:
        _signal_ready(ready)
        return 0
    if claim is not None and claim.get("attempt") == attempt:
        now = time.time()
        lost = TaskResult(ERROR, None, LOST_MESSAGE, None, {}, None, now, now)
        write_json(node_dir / DONE_FILE, {"attempt": attempt, "result": result_to_json(lost), "cancelled": False})
        _signal_ready(ready)
        return 0
    write_json(node_dir / CLAIM_FILE, {"pid": os.getpid(), "attempt": attempt, "started": time.time()})
    _signal_ready(ready)
    started = time.time()
    try:
        result = asyncio.run(_supervise(order, stop))
    except Exception as exc:  # the executor broke: the node's outcome is still recorded
        now = time.time()
        result = TaskResult(ERROR, None, f"executor error: {exc}", None, {}, None, started, now)
    write_json(node_dir / DONE_FILE, {"attempt": attempt, "result": result_to_json(result), "cancelled": stop.cancelled})
    return 0


async def _supervise(order: Mapping[str, Any], stop: _Stop) -> TaskResult:
    config: Mapping[str, Any] = order["executor"]  # SupervisedLocalExecutor._config
    task = task_from_json(order["task"])
    executor = LocalExecutor.for_supervisor(config)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, lambda: stop.stop(CANCELLED_MESSAGE, cancelled=True))
    started = time.time()
    if stop.cancelled:  # SIGTERM came before the loop ran
        return TaskResult(ERROR, None, CANCELLED_MESSAGE, None, {}, None, started, time.time())
    stop.node = node = asyncio.create_task(executor.run(task), name=f"hookbus-node-{task.node_id}")
    watchdog = asyncio.create_task(_watch_controller(Path(config["state_dir"]), float(config["orphan_timeout"]), stop))
    try:
        return await node
    except asyncio.CancelledError:
        if stop.reason is None:
            raise
        return TaskResult(ERROR, None, stop.reason, None, {}, None, started, time.time())
    finally:
        watchdog.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watchdog
        await executor.close()


async def _watch_controller(state_dir: Path, timeout: float, stop: _Stop) -> None:
    """Stop the node once no controller held the state directory for *timeout* seconds."""
    interval = max(0.05, min(ORPHAN_CHECK_INTERVAL, timeout / 4))
    lock = state_dir / CONTROLLER_LOCK
    alone_since: float | None = None
    while True:
        await asyncio.sleep(interval)
        now = time.monotonic()
        if lock_held(lock):
            alone_since = None
            continue
        if alone_since is None:
            alone_since = now
        if now - alone_since >= timeout:
            stop.stop(ORPHAN_MESSAGE.format(seconds=timeout), cancelled=False)
            return


if __name__ == "__main__":
    sys.exit(main())
