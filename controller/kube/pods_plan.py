"""The Kubernetes executor's plan: pods built by :mod:`.pods`, ends read by :mod:`.pods_status`.

``KubePodPlan`` is what ``hookbus.controller.executors.kube.KubernetesExecutor`` is given:
the executor makes the API calls, the plan decides what the pods are. Workflows are looked
up by key (``workflows``), for the Workflow's uid (the pods' owner), its spec (volumes,
pod-level fields, ``podGC``) and the node's template; a workflow it does not know (one
submitted over the control API, not as a custom resource) gets pods without an owner.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..argo.labels import INSTANCE_LABEL, WORKFLOW_LABEL
from ..argo.names import pod_name
from .filelist import unpack
from .pods import PodSettings, WorkflowRef, build_pod
from .pods_inputs import ARTIFACTS_VOLUME, input_config_map, plan_inputs
from .pods_status import PodOutcome, pod_outcome, with_log

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

    from ..engine.ports import TaskSpec, WorkflowKey

__all__ = ["KubePodPlan", "pod_gc_strategy"]


def pod_gc_strategy(spec: Mapping[str, Any]) -> str:
    """The workflow's ``podGC.strategy`` (empty: pods are kept, Argo's default)."""
    return str((spec.get("podGC") or {}).get("strategy") or "")


class KubePodPlan:
    """Pods as Argo builds them, for one controller (its settings and instance id)."""

    def __init__(self, settings: PodSettings, workflows: Callable[[WorkflowKey], WorkflowRef | None] | None = None) -> None:
        self.settings = settings
        self.workflows = workflows or (lambda _key: None)
        instance = settings.instance_id
        self.selector = f"{WORKFLOW_LABEL},{INSTANCE_LABEL}={instance}" if instance else f"{WORKFLOW_LABEL},!{INSTANCE_LABEL}"
        """Pods of workflows, of this controller's instance id only (or of none, without one)."""

    def _ref(self, task: TaskSpec) -> WorkflowRef:
        return self.workflows(task.key) or WorkflowRef(task.workflow, task.namespace, uid="")

    def name(self, task: TaskSpec) -> str:
        return pod_name(task.workflow, task.node_name, task.template_name)

    def _template(self, task: TaskSpec, ref: WorkflowRef) -> Mapping[str, Any] | None:
        templates = ref.spec.get("templates") or []
        return next((t for t in templates if isinstance(t, dict) and t.get("name") == task.template_name), None)

    def manifest(self, task: TaskSpec) -> dict[str, Any]:
        ref = self._ref(task)
        template = self._template(task, ref)
        return build_pod(task, ref, self.settings, template=template, inputs=plan_inputs(task, template))

    def inputs(self, task: TaskSpec, pod: Mapping[str, Any]) -> dict[str, Any] | None:
        """The ConfigMap holding the input artifacts of *task*'s *pod* (``None``: it has none).

        Reads the artifacts kept on the host; ``ValueError`` naming an artifact that does not
        fit (:attr:`PodSettings.input_limit`) or cannot be read."""
        found = plan_inputs(task, self._template(task, self._ref(task)))
        return input_config_map(pod, found, limit=self.settings.input_limit) if found else None

    def unpack(self, data: bytes, where: Path) -> None:
        """Create the directory artifact *data* (a file list) at *where*; ``ValueError`` when it is not one."""
        unpack(data, where)

    def inputs_of(self, pod: Mapping[str, Any]) -> str | None:
        """The name of the ConfigMap *pod* takes its input artifacts from, if any."""
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            if isinstance(volume, dict) and volume.get("name") == ARTIFACTS_VOLUME:
                return str((volume.get("configMap") or {}).get("name") or "") or None
        return None

    def finished(self, pod: Mapping[str, Any], now: float) -> PodOutcome | None:
        return pod_outcome(pod, now=now)

    def complete(self, finished: Any, log: str) -> Any:
        return with_log(finished, log) if isinstance(finished, PodOutcome) else finished

    def delete_when_done(self, task: TaskSpec, phase: str) -> bool:
        strategy = pod_gc_strategy(self._ref(task).spec)
        return strategy == "OnPodCompletion" or (strategy == "OnPodSuccess" and phase == "Succeeded")

    def collect_when_workflow_ends(self, spec: Mapping[str, Any], phase: str) -> bool:
        """Whether the workflow's pods go now that it ended in *phase* (``KubernetesExecutor.collect``)."""
        strategy = pod_gc_strategy(spec)
        return strategy == "OnWorkflowCompletion" or (strategy == "OnWorkflowSuccess" and phase == "Succeeded")
