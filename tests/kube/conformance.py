"""Argo's examples in Kubernetes mode: a controller whose nodes are Pods, run on this host.

``python -m tests.conformance.runner --executor kubernetes`` uses :func:`kube_app`: the test
API server, a controller in Kubernetes mode with the Kubernetes executor, and a kubelet that
runs every pod's ``main`` on this host behind the real launcher
(:class:`tests.kube.podrun.HostRule`), with the stand-ins local mode has for Argo's test
images (``argosay``, ``/argosay``, ``python``). So a pod's exit code, ``outputs.result`` and
output parameters are what the launcher reported from a real process. The stand-in also
does what a kubelet does around ``main``: the launcher's ``init`` (script, input artifacts
from the node's ConfigMap), volumes as host directories bind-mounted in each container's
mount namespace, user init containers and sidecars with a ``command``. Each container has a
``/tmp`` of its own and writes elsewhere outside its volumes into a root view thrown away
when it ends (:attr:`tests.kube.podrun.HostRule.root_view`), so a run leaves no files
on the host. Images' own files and entrypoints are not stood in for, and examples needing
them do not pass.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from tests.kube.podrun import HostRule, build_launcher, write_shims
from tests.support.kubeapi import serve
from tests.support.kubelet import Kubelet, Outcome

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from hookbus.controller.app import Hookbus
    from hookbus.controller.settings import HookbusSettings

ROOT = Path(__file__).resolve().parents[2]


async def run_pods(api: Any, rule: HostRule) -> None:
    """Start every new pod, run its ``main`` (concurrently), and end its containers as it ended."""
    kubelet = Kubelet(api)
    seen: set[tuple[str, str]] = set()
    running: set[asyncio.Task[None]] = set()

    async def one(key: tuple[str, str], pod: dict[str, Any]) -> None:
        kubelet.start(*key)
        try:
            outcome = await rule.run(pod)
        except Exception as exc:  # a pod the host cannot run: the container fails
            outcome = Outcome(128, str(exc), "")
        if api.get("pods", *key) is None:
            return
        for c in pod["spec"].get("containers") or []:
            if api.get("pods", *key) is not None:
                kubelet.finish(*key, Outcome(outcome.exit_code, outcome.log, outcome.message, str(c["name"])))

    try:
        while True:
            changed = api.changed
            for (plural, namespace, name), pod in list(api.store.items()):
                if plural != "pods" or (namespace, name) in seen:
                    continue
                seen.add((namespace, name))
                task = asyncio.create_task(one((namespace, name), pod))
                running.add(task)
                task.add_done_callback(running.discard)
            await changed.wait()
    finally:
        for task in list(running):
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)


@contextlib.asynccontextmanager
async def kube_app(settings: HookbusSettings, workdir: Path) -> AsyncIterator[Hookbus]:
    """*settings* in Kubernetes mode against a test API server, pods run on this host."""
    from dataclasses import replace

    from hookbus.controller.app import Hookbus
    from hookbus.controller.kube.settings import KubernetesSettings, LeaseSettings
    from hookbus.controller.settings import ExecutorSettings

    images = workdir / "images.yaml"
    configmap = yaml.safe_load((ROOT / "deploy" / "base" / "configmap.yaml").read_text())
    images.write_text(configmap["data"]["images.yaml"])  # as mounted at HOOKBUS_IMAGES_FILE
    shims, files = write_shims(workdir / "shims")
    rule = HostRule(build_launcher(workdir), workdir / "pods", shims=shims, files=files, private_tmp=True)
    async with serve() as api:
        rule.api = api  # configMap and secret volumes (the nodes' input artifacts) come from it
        kube = KubernetesSettings(
            enabled=True, server=str(api.url), namespace="default", lease=LeaseSettings(enabled=False), images_file=images
        )
        settings = replace(settings, kubernetes=kube, executor=ExecutorSettings(kind="kubernetes"))
        kubelet = asyncio.create_task(run_pods(api, rule))
        try:
            async with Hookbus(settings) as app:
                yield app
        finally:
            kubelet.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await kubelet
