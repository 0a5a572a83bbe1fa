"""Argo ``resource`` templates: one action on a Kubernetes object, run by the controller itself.

The node's ``resource`` field names the action (``create``, ``apply``, ``patch``,
``delete``, ``get``) and the ``manifest`` (templated YAML or JSON). The controller hands
it to its :class:`~.ports.Cluster` (Kubernetes mode only; without one the node ends
``Error`` saying so), then, unless the action was ``delete``, waits for
``successCondition``/``failureCondition`` (:mod:`.resource_paths`) by reading the object
every :attr:`~.settings.ControllerSettings.resource_poll_seconds`, and reads
``outputs.parameters[].valueFrom.jsonPath``/``jqFilter`` from the object.

The action is done as a service account of the workflow's namespace (:func:`service_account`),
the one Argo's resource pod would run under; the cluster acts with that account's rights.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import TYPE_CHECKING, Any

from ..argo.errors import ArgoError
from ..argo.manifest import load_documents
from ..argo.types import Phase
from .resource_call import ClusterError, ResourceCall
from .resource_paths import jq_filter, json_path, matches, parse_condition
from .tasks import TaskResult

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..argo.types import JSON
    from .hooks import WorkflowInfo
    from .ports import Cluster

ACTIONS = ("create", "apply", "patch", "delete", "get")
MERGE_STRATEGIES = ("strategic", "merge", "json")
MAX_MANIFEST = 1024 * 1024
"""Largest manifest accepted (bytes of its text): the API server's own object limit."""
NO_CLUSTER = "resource templates need Kubernetes mode (hookbus server --kubernetes): this controller has no cluster"
DEFAULT_ACCOUNT = "default"
_ACCOUNT_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def service_account(template: Mapping[str, Any], spec: Mapping[str, Any]) -> str:
    """The service account a resource template acts as, chosen as Argo chooses the account
    whose token its resource pod uses: ``executor.serviceAccountName`` of the template, else of
    the workflow (*spec*); else the template's ``serviceAccountName``, else the workflow's;
    else the namespace's ``default``. ``ValueError`` when the name is not a valid one."""
    name = ""
    for where in (template.get("executor"), spec.get("executor"), template, spec):
        if isinstance(where, dict) and where.get("serviceAccountName"):
            name = str(where["serviceAccountName"])
            break
    name = name or DEFAULT_ACCOUNT
    if len(name) > 253 or not _ACCOUNT_NAME.fullmatch(name):
        raise ValueError(f"serviceAccountName {name!r} is not a valid service account name")
    return name


def parse_call(spec: Mapping[str, Any], workflow: WorkflowInfo, account: str = DEFAULT_ACCOUNT) -> ResourceCall:
    """*spec* (a substituted ``resource`` field) as a call; ``ValueError`` names what is wrong."""
    action = str(spec.get("action") or "")
    if action not in ACTIONS:
        raise ValueError(f"resource action {action!r} is not one of {', '.join(ACTIONS)}")
    strategy = str(spec.get("mergeStrategy") or "strategic")
    if strategy not in MERGE_STRATEGIES:
        raise ValueError(f"resource mergeStrategy {strategy!r} is not one of {', '.join(MERGE_STRATEGIES)}")
    if spec.get("manifestFrom"):
        raise ValueError("resource manifestFrom is not supported; put the manifest in 'manifest'")
    text = spec.get("manifest")
    json_patch = strategy == "json" and action == "patch"
    if isinstance(text, str):
        if len(text.encode()) > MAX_MANIFEST:
            raise ValueError(f"resource manifest larger than {MAX_MANIFEST} bytes")
        try:  # YAML as Kubernetes reads it, alias bombs refused; a list comes back as its items
            docs: Any = load_documents(text, name="resource manifest")
        except ArgoError as exc:
            raise ValueError(str(exc).splitlines()[0]) from None
        manifest = docs if json_patch or len(docs) != 1 else docs[0]
    else:
        manifest = text
    if json_patch:
        if not isinstance(manifest, list) or not all(isinstance(op, dict) for op in manifest):
            raise ValueError("resource manifest of a json patch must be a list of operations")
    elif not isinstance(manifest, dict):
        raise ValueError("resource manifest must be one object (apiVersion, kind, metadata ...)")
    flags = tuple(str(f) for f in spec.get("flags") or [])
    return ResourceCall(action, manifest, strategy, flags, workflow, bool(spec.get("setOwnerReference")), account)


def _outputs(obj: JSON, outputs: Mapping[str, Any]) -> dict[str, str]:
    values: dict[str, str] = {}
    for param in outputs.get("parameters") or []:
        source = param.get("valueFrom") or {}
        if source.get("jsonPath"):
            values[str(param["name"])] = json_path(obj, str(source["jsonPath"]))
        elif source.get("jqFilter"):
            values[str(param["name"])] = jq_filter(obj, str(source["jqFilter"]))
    return values


async def run_resource(
    template: Mapping[str, Any],
    cluster: Cluster | None,
    workflow: WorkflowInfo,
    poll: float,
    workflow_spec: Mapping[str, Any] | None = None,
) -> TaskResult:
    """Run *template*'s ``resource`` action as its service account (:func:`service_account`,
    from the template and *workflow_spec*); Succeeded once its conditions hold (at once without
    them), Failed when ``failureCondition`` holds, Error when the action or a read fails."""
    started = time.time()

    def end(phase: Phase, message: str, params: Mapping[str, str] | None = None) -> TaskResult:
        return TaskResult(phase.value, None, message, None, params or {}, None, started, time.time())

    if cluster is None:
        return end(Phase.ERROR, NO_CLUSTER)
    spec = template.get("resource") or {}
    try:
        call = parse_call(spec, workflow, service_account(template, workflow_spec or {}))
        success = parse_condition(str(spec["successCondition"])) if spec.get("successCondition") else ()
        failure = parse_condition(str(spec["failureCondition"])) if spec.get("failureCondition") else ()
    except ValueError as exc:
        return end(Phase.ERROR, str(exc))
    try:
        obj = await cluster.resource(call)
        if obj is None:  # deleted, or not there to delete
            return end(Phase.SUCCEEDED, "")
        while success or failure:
            failed = next((r for r in failure if matches(r, obj)), None)
            if failed is not None:
                return end(Phase.FAILED, f"failure condition '{failed}' evaluated true")
            if all(matches(r, obj) for r in success):
                break
            await asyncio.sleep(poll)
            obj = await cluster.read(call, obj)
        params = _outputs(obj, template.get("outputs") or {})
    except ClusterError as exc:
        return end(Phase.ERROR, str(exc))
    except ValueError as exc:
        return end(Phase.ERROR, f"outputs: {exc}")
    return end(Phase.SUCCEEDED, "", params)
