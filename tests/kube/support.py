"""What the Kubernetes-mode tests share: manifests and a controller following a test API server."""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from hookbus.controller.adapters.kube_source import KubeWorkflowSource
from hookbus.controller.adapters.kube_status import KubeStatusWriter
from hookbus.controller.argo.labels import INSTANCE_LABEL
from hookbus.controller.engine.controller import Controller
from hookbus.controller.engine.hooks import Admission, NoOpinionHooks
from hookbus.controller.engine.memory_store import MemoryStore
from hookbus.controller.engine.settings import ControllerSettings
from hookbus.controller.executors.registry import make_executor
from hookbus.controller.kube.settings import KubernetesSettings, LeaseSettings
from hookbus.controller.settings import ExecutorSettings, HookbusSettings, StoreSettings

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence
    from pathlib import Path

    from hookbus.controller.argo.types import JSON
    from hookbus.controller.kube.client import KubeClient

Obj = dict[str, Any]

HELLO: Obj = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"name": "hello", "labels": {INSTANCE_LABEL: "hookbus"}},
    "spec": {"entrypoint": "main", "templates": [{"name": "main", "container": {"image": "busybox", "command": ["true"]}}]},
}

WAITING: Obj = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"name": "waiting", "labels": {INSTANCE_LABEL: "hookbus"}},
    "spec": {
        "entrypoint": "main",
        "templates": [
            {"name": "main", "steps": [[{"name": "wait", "template": "gate"}], [{"name": "after", "template": "work"}]]},
            {"name": "gate", "suspend": {}},
            {"name": "work", "container": {"image": "busybox", "command": ["true"]}},
        ],
    },
}


def manifest(base: Obj, name: str | None = None, *, instance: str | None = "hookbus") -> Obj:
    """A copy of *base*, renamed, labelled for *instance* (``None``: no instance label)."""
    obj = copy.deepcopy(base)
    meta = obj["metadata"]
    if name is not None:
        meta["name"] = name
    labels = meta.setdefault("labels", {})
    labels.pop(INSTANCE_LABEL, None)
    if instance is not None:
        labels[INSTANCE_LABEL] = instance
    return obj


class RecordingHooks(NoOpinionHooks):
    """No opinion on anything; ``workflow.preOperate`` calls recorded, rejections on demand."""

    def __init__(self) -> None:
        self.pre_operate: list[Obj] = []
        self.reject = ""

    async def workflow_pre_operate(self, workflows: Sequence[JSON]) -> list[Admission]:
        self.pre_operate.extend(copy.deepcopy(dict(w)) for w in workflows)
        if self.reject:
            return [Admission(allowed=False, message=self.reject) for _ in workflows]
        return [Admission() for _ in workflows]


@dataclass
class Rig:
    controller: Controller
    source: KubeWorkflowSource
    writer: KubeStatusWriter
    hooks: RecordingHooks


@contextlib.asynccontextmanager
async def following(kube: KubeClient, tmp_path: Path, *, instance_id: str = "hookbus", namespace: str | None = "default") -> AsyncIterator[Rig]:
    """A controller (memory store, simulated executor) following *kube*'s Workflows, status written back."""
    hooks = RecordingHooks()
    writer = KubeStatusWriter(None)
    executor = make_executor("simulate", state_dir=tmp_path / "executor")
    controller = Controller(ControllerSettings(executor="simulate", state_dir=tmp_path), store=MemoryStore(), executor=executor, hooks=hooks, events=writer)
    await controller.start()
    source = KubeWorkflowSource(kube, controller, namespace=namespace, instance_id=instance_id)
    writer.bind(kube, controller.read, source.object_for)
    source.on_edited.append(writer.mark)
    await source.start(timeout=10)
    try:
        yield Rig(controller, source, writer, hooks)
    finally:
        await source.stop()
        await writer.close()
        await controller.stop()
        await executor.close()


def app_settings(server: str, tmp_path: Path, *, instance_id: str = "hookbus", lease: bool = False, namespace: str | None = "default") -> HookbusSettings:
    """Settings of a whole process in Kubernetes mode against the test API server *server*."""
    base = HookbusSettings(executor=ExecutorSettings(kind="simulate"), state_dir=tmp_path, store=StoreSettings())
    kube = KubernetesSettings(
        enabled=True,
        server=server,
        instance_id=instance_id,
        namespace=namespace,
        lease=LeaseSettings(enabled=lease, duration=3, renew_deadline=2, retry=1, margin=0.5),
    )
    return replace(base, kubernetes=kube, plugins=False)
