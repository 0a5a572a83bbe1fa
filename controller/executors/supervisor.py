"""A node's supervisor: one process per node that runs it and outlives the controller.

``python -m hookbus.controller.executors.supervisor NODE_DIR [--ready-fd N] [--detach]``
runs the node described by ``NODE_DIR/task.json`` with the local executor's own
:meth:`run` (init containers, sidecars, main, outputs). With ``--detach`` it forks
into a session of its own and the caller's child exits at once, so the supervisor is
nobody's child and the death of the controller (``kill -9`` included) does not end it.
It writes one byte to ``--ready-fd`` once it claimed the node (or found another
supervisor owning it). Its records, in the node's
directory (see :func:`inspect`):

- ``task.json``: what to run, written by the controller before it spawns the
  supervisor (0600: it holds the node's environment).
- ``supervisor.lock``: locked (``flock``) by the supervisor for as long as it lives;
  whoever finds it unlocked knows no supervisor runs the node.
- ``supervisor.json``: the claim, written once the lock is held and before the node
  starts: the supervisor's pid and the node's attempt. A claim without a done record
  and without a live supervisor means the supervisor died mid-run; the node is never
  started a second time for the same attempt.
- ``done.json``: how the node ended (a ``TaskResult``), written atomically (temporary
  file, then rename) before the supervisor exits.

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
import json
import os
import signal
import sys
import time
from dataclasses import fields
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ..engine.ports import ProcessSpec, TaskResult, TaskSpec, WorkflowKey
from .base import ERROR

if TYPE_CHECKING:
    from collections.abc import Mapping

TASK_FILE: Final = "task.json"
LOCK_FILE: Final = "supervisor.lock"
CLAIM_FILE: Final = "supervisor.json"
DONE_FILE: Final = "done.json"
LOG_FILE: Final = "supervisor.log"
CONTROLLER_LOCK: Final = "controller.lock"
"""In the executor's state directory: held (shared) by every live controller using it."""
ORPHAN_CHECK_INTERVAL: Final = 5.0
"""Seconds between the supervisor's checks for a live controller (shorter when the bound is)."""
ORPHAN_MESSAGE: Final = "no controller was attached to the node for {seconds:g} s; its supervisor stopped it"
LOST_MESSAGE: Final = "the node's supervisor ended before recording how the node ended"
CANCELLED_MESSAGE: Final = "the node was stopped"


class NodeState(Enum):
    """What a node directory says about one attempt of a node (:func:`inspect`)."""

    NONE = "none"
    """No supervisor ever claimed this attempt: it may be started."""
    RUNNING = "running"
    """A supervisor is alive (starting, or running the node)."""
    DONE = "done"
    """The node ended; ``done.json`` holds how."""
    LOST = "lost"
    """Claimed, but its supervisor is gone without a done record."""
    OTHER = "other"
    """The directory holds another attempt of the node."""


# --------------------------------------------------------------------------- records


def write_json(path: Path, value: Any) -> None:
    """Write *value* to *path* atomically (temporary file, fsync, rename), readable by the owner only."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(value, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object at *path*; ``None`` when it is missing or unreadable."""
    try:
        value = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def lock_held(path: Path) -> bool:
    """Whether some process holds the ``flock`` on *path* (a missing file is not held)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # closing releases a lock taken here
    return False


def inspect(node_dir: Path, attempt: str) -> NodeState:
    """What *node_dir* holds for *attempt* of its node."""
    done = read_json(node_dir / DONE_FILE)
    if done is not None:
        return NodeState.DONE if done.get("attempt") == attempt else NodeState.OTHER
    claim = read_json(node_dir / CLAIM_FILE)
    if lock_held(node_dir / LOCK_FILE):
        return NodeState.RUNNING if claim is None or claim.get("attempt") == attempt else NodeState.OTHER
    done = read_json(node_dir / DONE_FILE)  # it may have ended between the two looks
    if done is not None:
        return NodeState.DONE if done.get("attempt") == attempt else NodeState.OTHER
    if claim is not None:
        return NodeState.LOST if claim.get("attempt") == attempt else NodeState.OTHER
    order = read_json(node_dir / TASK_FILE)
    if order is not None and order.get("attempt") != attempt:
        return NodeState.OTHER
    return NodeState.NONE


def read_done(node_dir: Path, attempt: str) -> tuple[TaskResult, bool] | None:
    """The result *node_dir* records for *attempt* and whether the node was cancelled."""
    done = read_json(node_dir / DONE_FILE)
    if done is None or done.get("attempt") != attempt:
        return None
    try:
        return result_from_json(done["result"]), bool(done.get("cancelled"))
    except (KeyError, TypeError, ValueError):
        now = time.time()
        return TaskResult(ERROR, None, f"unreadable outcome record {node_dir / DONE_FILE}", None, {}, None, now, now), False


def claimed_pid(node_dir: Path) -> int | None:
    """The pid of the supervisor that claimed the node (``None``: not claimed)."""
    claim = read_json(node_dir / CLAIM_FILE)
    pid = claim.get("pid") if claim else None
    return pid if isinstance(pid, int) and pid > 0 else None


def _process(value: Mapping[str, Any]) -> ProcessSpec:
    return ProcessSpec(
        name=value["name"],
        image=value["image"],
        command=tuple(value["command"]),
        args=tuple(value["args"]),
        env=dict(value["env"]),
        working_dir=value["working_dir"],
        source=value["source"],
    )


def _plain(value: Any) -> Any:
    if isinstance(value, ProcessSpec):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(ProcessSpec)}
    if isinstance(value, WorkflowKey):
        return [value.namespace, value.name]
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "items"):
        return {str(k): v for k, v in value.items()}
    return value


def task_to_json(task: TaskSpec) -> dict[str, Any]:
    """*task* as plain JSON data (:func:`task_from_json` reads it back)."""
    return {f.name: _plain(getattr(task, f.name)) for f in fields(TaskSpec)}


def task_from_json(value: Mapping[str, Any]) -> TaskSpec:
    """The :class:`TaskSpec` that :func:`task_to_json` wrote."""
    data = dict(value)
    data["main"] = _process(data["main"])
    data["sidecars"] = tuple(_process(p) for p in data["sidecars"])
    data["init"] = tuple(_process(p) for p in data["init"])
    key = data.get("workflow_key")
    data["workflow_key"] = WorkflowKey(key[0], key[1]) if key else None
    known = {f.name for f in fields(TaskSpec)}
    return TaskSpec(**{k: v for k, v in data.items() if k in known})


def result_to_json(result: TaskResult) -> dict[str, Any]:
    """*result* as plain JSON data (:func:`result_from_json` reads it back)."""
    return {f.name: _plain(getattr(result, f.name)) for f in fields(TaskResult)}


def result_from_json(value: Mapping[str, Any]) -> TaskResult:
    """The :class:`TaskResult` that :func:`result_to_json` wrote."""
    data = dict(value)
    key = data.get("key")
    data["key"] = WorkflowKey(key[0], key[1]) if key else None
    known = {f.name for f in fields(TaskResult)}
    return TaskResult(**{k: v for k, v in data.items() if k in known})


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
    from .local import LocalExecutor  # the executor that runs nodes in this process

    config: Mapping[str, Any] = order["executor"]
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
