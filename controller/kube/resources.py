"""The Kubernetes resources hookbus reads and writes, and the URL paths that name them."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

ARGO_GROUP = "argoproj.io"
ARGO_VERSION = "v1alpha1"


@dataclass(frozen=True)
class Resource:
    """One resource type of the API: ``group/version/plural`` and whether it lives in namespaces."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        """``apiVersion`` of its objects (``v1`` for the core group)."""
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        """The URL path of the collection (in *namespace*, or across all of them when ``None``)
        or, with *name*, of one object."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{quote(name, safe='')}"
        return base

    def __str__(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


WORKFLOWS = Resource(ARGO_GROUP, ARGO_VERSION, "workflows", "Workflow")
WORKFLOW_TEMPLATES = Resource(ARGO_GROUP, ARGO_VERSION, "workflowtemplates", "WorkflowTemplate")
CLUSTER_WORKFLOW_TEMPLATES = Resource(
    ARGO_GROUP, ARGO_VERSION, "clusterworkflowtemplates", "ClusterWorkflowTemplate", namespaced=False
)
CONFIG_MAPS = Resource("", "v1", "configmaps", "ConfigMap")
PODS = Resource("", "v1", "pods", "Pod")
PERSISTENT_VOLUME_CLAIMS = Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim")
LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease")

ALL = (WORKFLOWS, WORKFLOW_TEMPLATES, CLUSTER_WORKFLOW_TEMPLATES, CONFIG_MAPS, PODS, PERSISTENT_VOLUME_CLAIMS, LEASES)
"""Every resource hookbus touches."""
