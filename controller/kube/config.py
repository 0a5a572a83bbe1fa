"""Connecting to the API server: in-cluster service account, a kubeconfig, or a plain URL."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .client import KubeClient
from .errors import KubeError

if TYPE_CHECKING:
    from pathlib import Path

IN_CLUSTER_ENV = "KUBERNETES_SERVICE_HOST"


async def connect(
    *, server: str = "", kubeconfig: str | Path | None = None, context: str | None = None
) -> KubeClient:
    """A :class:`KubeClient` for *server* (a URL, no credentials: a test API server), else
    the *kubeconfig* file (and *context*), else the pod's service account when running in a
    cluster, else ``$KUBECONFIG`` or ``~/.kube/config``. Raises :class:`KubeError` (status 0)
    naming what was missing."""
    from kubernetes_asyncio import client, config

    configuration = client.Configuration()
    if server:
        configuration.host = server.rstrip("/")
    elif kubeconfig is None and os.environ.get(IN_CLUSTER_ENV):
        try:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except config.ConfigException as exc:
            raise KubeError(0, "Config", f"in-cluster configuration: {exc}") from exc
    else:
        try:
            await config.load_kube_config(
                # $KUBECONFIG read now: kubernetes_asyncio reads it once, when first imported
                config_file=str(kubeconfig) if kubeconfig else os.environ.get("KUBECONFIG") or None,
                context=context,
                client_configuration=configuration,
            )
        except (config.ConfigException, OSError, TypeError) as exc:
            where = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
            raise KubeError(0, "Config", f"kubeconfig {where}: {exc}") from exc
    return KubeClient(client.ApiClient(configuration))
