"""The operations a workflow's queue carries besides results: suspend, resume, stop, terminate, complete, error."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from .model import ERROR, FAILED, SUCCEEDED

if TYPE_CHECKING:
    from ..argo.types import JSON
    from .messages import Command
    from .model import Node
    from .persister import Persister
    from .suspends import Suspends

__all__ = ["apply_command"]

DONE = frozenset({SUCCEEDED, FAILED, ERROR})


class CommandHost(Protocol):
    """What a command changes of its run."""

    spec: JSON
    shutdown: str | None
    persister: Persister
    suspends: Suspends
    nodes: dict[str, Node]

    @property
    def phase(self) -> str: ...

    def finish(self, node: Node, phase: str, message: str = "", outputs: JSON | None = None) -> None: ...

    def fail_active(self, message: str, *, include_exit: bool = False) -> None: ...

    def crash(self, message: str) -> None: ...


def apply_command(run: CommandHost, cmd: Command) -> Any:
    """Carry out *cmd* on *run* (its result answers the caller); an unknown one raises ``ValueError``."""
    if cmd.op == "suspend":
        run.spec["suspend"] = True
        run.persister.workflow_dirty = True
    elif cmd.op == "resume":
        run.suspends.resume_all()  # first: a refused resume changes nothing
        run.spec.pop("suspend", None)
        run.persister.workflow_dirty = True
    elif cmd.op in ("stop", "terminate"):
        if run.phase in DONE:
            return None
        run.shutdown = "Stop" if cmd.op == "stop" else "Terminate"
        run.spec["shutdown"] = run.shutdown
        run.persister.workflow_dirty = True
        given = str(cmd.args.get("message") or "")
        run.fail_active(given or f"Stopped with strategy '{run.shutdown}'", include_exit=run.shutdown == "Terminate")
    elif cmd.op == "error":  # the workflow cannot go on (its claims were refused): Error, nothing more runs
        if run.phase not in DONE:
            run.crash(str(cmd.args.get("message") or "error"))
    elif cmd.op == "complete":
        node = run.nodes[str(cmd.args["node_id"])]
        if not node.fulfilled:
            run.finish(node, str(cmd.args["phase"]), str(cmd.args.get("message", "")), cmd.args.get("outputs"))
    else:
        raise ValueError(f"unknown command {cmd.op!r}")
    return None
