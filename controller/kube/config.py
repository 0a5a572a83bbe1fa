"""Connecting to the API server: in-cluster service account, a kubeconfig, or a plain URL,
with the process named in the ``User-Agent`` of its requests."""

from __future__ import annotations

import functools
import os
from importlib import metadata
from typing import TYPE_CHECKING

from .client import KubeClient
from .errors import KubeError

if TYPE_CHECKING:
    from pathlib import Path

IN_CLUSTER_ENV = "KUBERNETES_SERVICE_HOST"
CONTROLLER = "hookbus-controller"
"""The controller's product name in its requests' ``User-Agent``."""
CLI = "hookbus-cli"
"""The CLI's product name (``hookbus ... --kubernetes``)."""


@functools.cache
def _version() -> str:
    try:
        return metadata.version("hookbus")
    except metadata.PackageNotFoundError:
        return "0"


def user_agent(product: str) -> str:
    """``<product>/<hookbus version>``: how a process names itself to the API server (audit
    logs, and the tests' request log, tell the controller's requests from the CLI's by it)."""
    return f"{product}/{_version()}"


async def connect(
    *, server: str = "", kubeconfig: str | Path | None = None, context: str | None = None, agent: str = ""
) -> KubeClient:
    """A :class:`KubeClient` for *server* (a URL, no credentials: a test API server), else
    the *kubeconfig* file (and *context*), else the pod's service account when running in a
    cluster, else ``$KUBECONFIG`` or ``~/.kube/config``; its requests' ``User-Agent`` is
    *agent* (:func:`user_agent`; empty: the client library's). Raises :class:`KubeError`
    (status 0) naming what was missing."""
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
    api = client.ApiClient(configuration)
    if agent:
        api.user_agent = agent
    return KubeClient(api)
