"""The records a node's supervisor keeps in the node's directory, and how to read them.

See :mod:`.supervisor` for the process. In the node's directory:

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
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from dataclasses import fields
from enum import Enum
from typing import TYPE_CHECKING, Any, Final

from ..engine.ports import ContainerSetSpec, ProcessSpec, TaskResult, TaskSpec, WorkflowKey
from .base import ERROR

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

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


def write_json(path: Path, value: Any, *, sync: bool = True) -> None:
    """Write *value* to *path* atomically (temporary file, then rename), readable by the
    owner only; *sync*: on disk (fsync) before the rename, to survive the machine."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(value, fh)
        if sync:
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


def same_attempt(path: Path, attempt: str) -> bool:
    """Whether the record at *path* is about *attempt*."""
    record = read_json(path)
    return record is not None and record.get("attempt") == attempt


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
        container=dict(value.get("container") or {}),
        security_context=value.get("security_context"),
        resources=value.get("resources"),
        secret_env=dict(value.get("secret_env") or {}),
    )


def _plain(value: Any) -> Any:
    if isinstance(value, ProcessSpec):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(ProcessSpec)}
    if isinstance(value, ContainerSetSpec):
        return {
            "dependencies": {name: list(deps) for name, deps in value.dependencies.items()},
            "attempts": value.attempts,
            "retry_delay": value.retry_delay,
        }
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
    container_set = data.get("container_set")
    if container_set is not None:
        data["container_set"] = ContainerSetSpec(
            dependencies={name: tuple(deps) for name, deps in container_set["dependencies"].items()},
            attempts=container_set["attempts"],
            retry_delay=container_set["retry_delay"],
        )
    data["pod_spec_patch"] = tuple(data.get("pod_spec_patch") or ())
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


