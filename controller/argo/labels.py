"""The label and annotation names Argo puts on Workflows and their Pods, spelled once."""

from __future__ import annotations

from typing import Final

INSTANCE_LABEL: Final = "workflows.argoproj.io/controller-instanceid"
"""Which controller owns an object (Argo's instance id)."""
WORKFLOW_LABEL: Final = "workflows.argoproj.io/workflow"
"""On a pod: the name of its Workflow."""
COMPLETED_LABEL: Final = "workflows.argoproj.io/completed"
"""``"true"`` once a pod's (or a Workflow's) work ended, ``"false"`` before."""
PHASE_LABEL: Final = "workflows.argoproj.io/phase"
"""On a Workflow: its phase."""
NODE_NAME_ANNOTATION: Final = "workflows.argoproj.io/node-name"
NODE_ID_ANNOTATION: Final = "workflows.argoproj.io/node-id"
DEFAULT_CONTAINER_ANNOTATION: Final = "kubectl.kubernetes.io/default-container"
"""The container ``kubectl logs`` shows without ``-c`` (``main``)."""
