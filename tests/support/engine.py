"""Test helpers for the engine: a scripted executor and a controller factory."""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from hookbus.controller.engine.controller import Controller
from hookbus.controller.engine.memory_store import MemoryStore
from hookbus.controller.engine.settings import ControllerSettings
from hookbus.controller.executors.base import TaskExecutor, TaskResult, TaskSpec

if TYPE_CHECKING:
    from hookbus.controller.engine.clock import Clock


@dataclass
class ScriptedExecutor(TaskExecutor):
    """An Executor test double that interprets a tiny shell-like language, no processes.

    The main container's ``args`` (or ``source``) is read as ``;``-separated commands:
    ``echo TEXT`` (appends to stdout), ``write PATH VALUE`` (an output file),
    ``exit N``, ``block`` (wait until :meth:`release`). A ``plan`` maps a node's
    template name to a list of exit codes used by successive runs (retries).
    """

    plan: dict[str, list[int]] = field(default_factory=dict)
    runs: list[str] = field(default_factory=list)
    name: str = "scripted"
    _gates: dict[str, asyncio.Event] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)
    blocking: bool = True

    def __post_init__(self) -> None:
        TaskExecutor.__init__(self)

    def release(self, node_name_suffix: str = "") -> None:
        for key, gate in self._gates.items():
            if key.endswith(node_name_suffix):
                gate.set()

    async def run(self, task: TaskSpec) -> TaskResult:
        self.started.append(task.node_name)
        script = task.main.source or " ".join(task.main.args)
        out: list[str] = []
        files: dict[str, str] = {}
        code = 0
        for part in script.replace("\n", ";").split(";"):
            words = shlex.split(part)
            if not words:
                continue
            if words[0] == "echo":
                out.append(" ".join(words[1:]))
            elif words[0] == "write":
                files[words[1]] = " ".join(words[2:])
            elif words[0] == "exit":
                code = int(words[1])
            elif words[0] == "block" and self.blocking:
                gate = self._gates.setdefault(task.node_name, asyncio.Event())
                await gate.wait()
        codes = self.plan.get(task.template_name)
        if codes:
            code = codes.pop(0)
        self.runs.append(task.node_name)
        params = {name: files[path] for name, path in task.output_parameters.items() if path in files}
        phase = "Succeeded" if code == 0 else "Failed"
        message = "" if code == 0 else f"Error (exit code {code})"
        return TaskResult(phase, code, message, "\n".join(out), params, None, 0.0, 0.0)


def load(text: str) -> dict[str, Any]:
    doc = yaml.safe_load(text)
    assert isinstance(doc, dict)
    return doc


def make_controller(
    executor: Any, *, store: Any = None, clock: Clock | None = None, **settings: Any
) -> Controller:
    return Controller(
        ControllerSettings(executor="scripted", **settings),
        store=store if store is not None else MemoryStore(),
        executor=executor,
        clock=clock,
    )


def by_name(wf: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Nodes keyed by name."""
    return {n["name"]: n for n in wf["status"]["nodes"].values()}


def children_names(wf: dict[str, Any], name: str) -> list[str]:
    nodes = wf["status"]["nodes"]
    node = by_name(wf)[name]
    return [nodes[c]["name"] for c in node.get("children", [])]


Predicate = Callable[[], bool]
