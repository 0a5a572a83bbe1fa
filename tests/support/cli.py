"""A tiny stand-in for the engine's Controller, with the same method names.

It only stores Workflow objects and lets a test move their phase; it is used
to test the control API and the CLI client over a real NATS server without
the engine.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping
    from pathlib import Path


@dataclass(frozen=True)
class Key:
    """Same fields as hookbus.controller.adapters.store.WorkflowKey."""

    namespace: str
    name: str


class ManifestError(ValueError):
    """Shaped like hookbus.controller.argo.errors.ManifestError (``.errors``)."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("invalid workflow:\n" + "\n".join(errors))


class FakeController:
    """Keeps workflows in a dict; ``set_phase`` moves one and wakes its watchers."""

    def __init__(self, log_dir: Path) -> None:
        self.workflows: dict[Key, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.snapshots = 0
        """How many full snapshots (``get``) were taken."""
        self.log_dir = log_dir
        self._changed = asyncio.Condition()
        self._counter = itertools.count(1)

    async def submit(
        self,
        workflow: dict[str, Any],
        *,
        parameters: Mapping[str, str] | None = None,
        bundle: Any = None,
    ) -> Key:
        metadata = workflow.setdefault("metadata", {})
        if not workflow.get("spec", {}).get("entrypoint"):
            raise ManifestError(["spec.entrypoint: is required"])
        name = (
            metadata.get("name")
            or f"{metadata.get('generateName', 'wf-')}{next(self._counter):05d}"
        )
        key = Key(metadata.get("namespace") or "default", name)
        metadata["name"] = name
        metadata["namespace"] = key.namespace
        metadata["creationTimestamp"] = "2024-01-01T00:00:00Z"
        spec = workflow.setdefault("spec", {})
        if parameters:
            spec["arguments"] = {
                "parameters": [{"name": k, "value": v} for k, v in parameters.items()]
            }
        workflow["status"] = {
            "phase": "Running",
            "startedAt": "2024-01-01T00:00:00Z",
            "progress": "0/1",
            "nodes": {
                name: {
                    "id": name,
                    "name": name,
                    "displayName": name,
                    "type": "Pod",
                    "templateName": spec["entrypoint"],
                    "phase": "Running",
                    "startedAt": "2024-01-01T00:00:00Z",
                },
            },
        }
        self.workflows[key] = workflow
        self.calls.append(("submit", name))
        return key

    def get(self, key: Key) -> dict[str, Any]:
        self.snapshots += 1
        try:
            return self.workflows[key]
        except KeyError:
            raise KeyError(f"workflow {key.namespace}/{key.name} not found") from None

    def exists(self, key: Key) -> bool:
        return key in self.workflows

    async def read(self, key: Key) -> dict[str, Any]:
        return self.get(key)

    def node(self, key: Key, wanted: str) -> dict[str, Any] | None:
        nodes = self.get(key)["status"]["nodes"]
        return nodes.get(wanted) or next((n for n in nodes.values() if n.get("name") == wanted), None)

    def list(self, namespace: str | None = None) -> list[dict[str, Any]]:
        return [
            w for k, w in self.workflows.items() if namespace is None or k.namespace == namespace
        ]

    async def watch(self, key: Key) -> AsyncIterator[dict[str, Any]]:
        while True:
            yield self.get(key)
            async with self._changed:
                await self._changed.wait()

    async def set_phase(self, key: Key, phase: str) -> None:
        workflow = self.get(key)
        status = dict(workflow["status"])
        nodes = {k: {**n, "phase": phase} for k, n in status["nodes"].items()}
        status.update(phase=phase, nodes=nodes)
        if phase in ("Succeeded", "Failed", "Error"):
            status.update(finishedAt="2024-01-01T00:00:07Z", progress="1/1")
            for node in nodes.values():
                node["finishedAt"] = "2024-01-01T00:00:07Z"
        self.workflows[key] = {**workflow, "status": status}
        async with self._changed:
            self._changed.notify_all()

    async def suspend(self, key: Key) -> None:
        self.calls.append(("suspend", key.name))

    async def resume(self, key: Key) -> None:
        if self.get(key)["status"]["phase"] != "Running":
            raise RuntimeError(f"workflow {key.name} is not suspended")
        self.calls.append(("resume", key.name))

    async def stop_workflow(self, key: Key, message: str = "") -> None:
        self.calls.append(("stop", f"{key.name}:{message}"))

    async def terminate(self, key: Key) -> None:
        self.calls.append(("terminate", key.name))
        await self.set_phase(key, "Failed")

    async def retry(self, key: Key) -> None:
        self.calls.append(("retry", key.name))

    async def delete(self, key: Key) -> None:
        self.calls.append(("delete", key.name))
        del self.workflows[key]

    def log_path(self, key: Key, node_id: str) -> Path | None:
        path = self.log_dir / f"{node_id}.log"
        return path if path.exists() else None

    def secret_values(self, key: Key) -> set[str]:
        return set()
