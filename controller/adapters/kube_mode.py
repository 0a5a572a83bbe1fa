"""Kubernetes mode as one part of the process: connection, lease, Workflow source, status writer.

:class:`KubeMode` is what the composition root builds when
``settings.kubernetes.enabled``: :meth:`~KubeMode.connect` reaches the API server,
:meth:`~KubeMode.lead` waits for the lease (one active controller per instance id),
:meth:`~KubeMode.wrap` puts the status writer around the engine's event sink,
:meth:`~KubeMode.pod_executor` builds the Kubernetes executor (a Pod per node, see
:mod:`.kube_pods`) when the process runs templates as pods, and :meth:`~KubeMode.start`
watches Workflows and templates once the controller runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from typing import TYPE_CHECKING

import structlog

from ..kube.config import CONTROLLER, connect, user_agent
from ..kube.errors import KubeError
from ..kube.leader import Leadership, LeaseTimes
from .kube_pods import KubePods
from .kube_resources import KubeCluster
from .kube_source import KubeWorkflowSource, workflow_key
from .kube_status import KubeStatusWriter

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from ..argo.manifest import Bundle
    from ..engine.controller import Controller
    from ..engine.ports import EventSink
    from ..executors.kube import KubernetesExecutor
    from ..kube.client import KubeClient
    from ..kube.settings import KubernetesSettings
    from .plugin_hooks import PluginHooks

log = structlog.get_logger(__name__)


class KubeMode:
    """Workflows from the cluster and their status back on it, per *settings*."""

    def __init__(self, settings: KubernetesSettings, *, templates: Bundle | None = None) -> None:
        self.settings = settings
        self.templates = templates
        self.client: KubeClient | None = None
        self.leadership: Leadership | None = None
        self.source: KubeWorkflowSource | None = None
        self.writer: KubeStatusWriter | None = None
        self._lost_watch: asyncio.Task[None] | None = None
        self.pods: KubePods | None = None
        """The Kubernetes executor and its plan; ``None`` when templates run another way."""

    async def connect(self) -> KubeClient:
        s = self.settings
        self.client = await connect(server=s.server, kubeconfig=s.kubeconfig, context=s.context, agent=user_agent(CONTROLLER))
        return self.client

    async def lead(self, fail: Callable[[str], None]) -> None:
        """With the lease on: return once this process leads; *fail* is called if it stops leading."""
        lease = self.settings.lease
        if not lease.enabled:
            return
        assert self.client is not None
        identity = lease.identity or f"{socket.gethostname()}-{os.getpid()}"
        leadership = self.leadership = Leadership(
            self.client,
            name=self.settings.lease_name,
            namespace=self.settings.lease_namespace(),
            identity=identity,
            times=LeaseTimes(lease.duration, lease.renew_deadline, lease.retry, lease.margin),
        )
        leadership.start()
        log.info("waiting for the lease", lease=leadership.name, namespace=leadership.namespace, identity=identity)
        if not await leadership.wait():
            raise KubeError(0, "Lease", f"could not lead through the lease {leadership.namespace}/{leadership.name}")

        async def watch() -> None:
            await leadership.lost.wait()
            fail(f"lost the lease {leadership.namespace}/{leadership.name}")

        self._lost_watch = asyncio.create_task(watch(), name="hookbus-lease-lost")

    def cluster(self) -> KubeCluster:
        """The cluster ``resource`` templates act on (after :meth:`connect`)."""
        assert self.client is not None
        return KubeCluster(self.client, self.settings.instance_id)

    def wrap(self, events: EventSink | None) -> KubeStatusWriter:
        """The engine's sink: the status writer around *events*."""
        self.writer = KubeStatusWriter(events, max_bytes=self.settings.max_status_bytes)
        return self.writer

    def pod_executor(self, hooks: PluginHooks | None, artifact_dir: Path | None = None) -> KubernetesExecutor:
        """The Kubernetes executor on this mode's API client (after :meth:`connect`);
        ``pod.preCreate`` plugins called through *hooks* see its real pods."""
        assert self.client is not None
        pods = self.pods = KubePods(self.settings, self.client, artifact_dir=artifact_dir)
        if self.writer is not None:
            self.writer.on_phase.append(pods.workflow_ended)
            self.writer.status_extras.append(pods.claims.status)  # status.persistentVolumeClaims
            pods.claims.mark = self.writer.mark
        if hooks is not None:
            hooks.pods = pods
        return pods.executor

    def bind(self, controller: Controller) -> None:
        """Pods look their workflow (uid, resolved spec) up in *controller* (before it starts)."""
        if self.pods is not None:
            self.pods.bind(controller.get, lambda key: self.source.object_for(key) if self.source is not None else None, controller.fail)

    async def start(self, controller: Controller) -> None:
        """Watch templates and Workflows; the controller follows them (and operates on their
        edits with its own hook points); status is written back."""
        assert self.client is not None
        source = self.source = KubeWorkflowSource(
            self.client,
            controller,
            namespace=self.settings.namespace,
            instance_id=self.settings.instance_id,
            templates=self.templates,
        )
        if self.pods is not None:
            source.on_deleted.append(self.pods.deleted)
            source.on_edited.append(self.pods.forget)  # pods built from now on read the edited spec
        leadership = self.leadership
        if leadership is not None:  # a fenced leader acts no more, even before the process ends
            source.may_act = lambda: leadership.leading
        if self.writer is not None:
            source.on_edited.append(self.writer.mark)  # a refused edit's condition, an applied one's spec
            self.writer.may_write = source.may_act
            self.writer.bind(self.client, controller.read, source.object_for)
        await source.start(self.settings.sync_timeout)
        for stored in controller.list():
            key = workflow_key(stored)
            obj = source.object_for(key)
            if obj is not None and self.writer is not None:
                self.writer.mark(key)  # status of workflows that ran on while no one wrote it
            if obj is not None and self.pods is not None:  # claims an earlier controller left behind
                self.pods.claims_left(key, str((stored.get("status") or {}).get("phase") or ""), obj)

    async def close_pods(self) -> None:
        """Close the Kubernetes executor (pending pod collections first)."""
        if self.pods is not None:
            await self.pods.close()

    async def stop_watching(self) -> None:
        """Stop the Workflow source and write the last status."""
        if self.pods is not None:
            self.pods.executor.detach()  # the controller stops next: its pods run on
        if self.source is not None:
            await self.source.stop()
        if self.writer is not None:
            await self.writer.close()

    async def close(self) -> None:
        """Give up the lease and close the connection."""
        lost_watch, self._lost_watch = self._lost_watch, None
        if lost_watch is not None:
            lost_watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await lost_watch
        if self.leadership is not None:
            await self.leadership.stop()
        if self.client is not None:
            await self.client.close()

