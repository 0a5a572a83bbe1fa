"""Settings of Kubernetes mode (``hookbus server --kubernetes``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from .instance import DEFAULT_INSTANCE_ID
from .pods import PodSettings

if TYPE_CHECKING:
    from collections.abc import Mapping


@dataclass(frozen=True)
class LeaseSettings:
    """One active controller per instance id (a ``Lease``)."""

    enabled: bool = True
    """Run for the lease before acting; off: act at once (one replica only)."""
    name: str = ""
    """Lease name; empty: ``hookbus-controller`` plus ``-<instance id>`` when the id is set."""
    namespace: str = ""
    """Namespace of the Lease; empty: the watched namespace, else the pod's, else ``default``."""
    identity: str = ""
    """This candidate's name; empty: the host name and process id."""
    duration: float = 15.0
    """Seconds a lease holds without renewal."""
    renew_deadline: float = 10.0
    """Seconds the leader keeps trying to renew."""
    retry: float = 2.0
    """Seconds between attempts."""
    margin: float = 2.0
    """Self-fencing: stop once the last renewal is older than ``duration - margin`` seconds."""


@dataclass(frozen=True)
class KubernetesSettings:
    """Workflows from the cluster and status back on them."""

    enabled: bool = False
    """Watch Workflow objects and write their status (``--kubernetes``, ``HOOKBUS_KUBERNETES=1``)."""
    namespace: str | None = None
    """Namespace watched; ``None``: every namespace (``--all-namespaces``)."""
    instance_id: str = DEFAULT_INSTANCE_ID
    """Objects labelled ``workflows.argoproj.io/controller-instanceid=<id>`` are this
    controller's; empty: the unlabelled ones (as an Argo controller without an id)."""
    server: str = ""
    """API server URL used without credentials (a test server); empty: the kubeconfig or
    the in-cluster service account."""
    kubeconfig: Path | None = None
    """kubeconfig file; ``None``: in cluster the service account, else ``$KUBECONFIG`` or ``~/.kube/config``."""
    context: str | None = None
    """kubeconfig context; ``None``: its current one."""
    max_status_bytes: int = 1_000_000
    """Largest status written with its node map; above it the nodes stay in JetStream only."""
    sync_timeout: float = 30.0
    """Seconds the first list of Workflows and templates may take before the start fails."""
    lease: LeaseSettings = field(default_factory=LeaseSettings)
    """Leader election."""
    launcher_image: str = PodSettings.launcher_image
    """The hookbus image whose launcher goes in front of every pod's ``main``
    (``HOOKBUS_LAUNCHER_IMAGE``)."""
    pod_service_account: str = ""
    """Service account of pods whose workflow and template name none; empty: the namespace's
    default (``HOOKBUS_POD_SERVICE_ACCOUNT``; ``hookbus-workload`` in ``deploy/``)."""
    images_file: Path | None = None
    """The ``images`` index (entrypoint and CMD of images whose templates set no ``command``):
    the index itself, a map with an ``images`` key, or a ConfigMap (``HOOKBUS_IMAGES_FILE``)."""

    @property
    def lease_name(self) -> str:
        if self.lease.name:
            return self.lease.name
        return f"hookbus-controller-{self.instance_id}" if self.instance_id else "hookbus-controller"

    def lease_namespace(self) -> str:
        if self.lease.namespace:
            return self.lease.namespace
        if self.namespace:
            return self.namespace
        own = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
        try:
            return own.read_text().strip() or "default"
        except OSError:
            return os.environ.get("POD_NAMESPACE") or "default"


def kubernetes_from_env(env: Mapping[str, str], base: KubernetesSettings) -> KubernetesSettings:
    """``HOOKBUS_KUBERNETES`` (1/true), ``HOOKBUS_INSTANCE_ID``, ``HOOKBUS_KUBERNETES_SERVER``,
    ``HOOKBUS_NAMESPACE`` (the namespace watched; ``deploy/`` sets the controller's own),
    ``HOOKBUS_LAUNCHER_IMAGE``, ``HOOKBUS_POD_SERVICE_ACCOUNT`` and ``HOOKBUS_IMAGES_FILE``
    over *base*; ``-n``/``--all-namespaces`` on the command line go over these."""
    settings = base
    if (value := env.get("HOOKBUS_KUBERNETES")) is not None:
        settings = replace(settings, enabled=value.strip().lower() in ("1", "true", "yes", "on"))
    if (value := env.get("HOOKBUS_INSTANCE_ID")) is not None:
        settings = replace(settings, instance_id=value.strip())
    if value := env.get("HOOKBUS_KUBERNETES_SERVER"):
        settings = replace(settings, server=value.strip())
    if value := env.get("HOOKBUS_NAMESPACE"):
        settings = replace(settings, namespace=value.strip())
    if value := env.get("HOOKBUS_LAUNCHER_IMAGE"):
        settings = replace(settings, launcher_image=value.strip())
    if (value := env.get("HOOKBUS_POD_SERVICE_ACCOUNT")) is not None:
        settings = replace(settings, pod_service_account=value.strip())
    if value := env.get("HOOKBUS_IMAGES_FILE"):
        settings = replace(settings, images_file=Path(value.strip()))
    return settings
