"""An edited spec of a running workflow, applied by its own worker to what has not run yet.

The controller asks ``workflow.preOperate`` about the edit first (:meth:`.controller.Controller.edit`);
the admitted spec then arrives here as the ``respec`` command, between two passes. As Argo's
operator re-reads a running Workflow's spec on every reconciliation, the new spec replaces
the old one for everything decided from now on: templates (and ``templateDefaults``) of nodes
not created yet, ``spec.arguments`` as ``workflow.parameters.*`` of those nodes,
``parallelism``, ``activeDeadlineSeconds`` (counted from the workflow's start, as before),
``podGC``, ``retryStrategy``, ``podSpecPatch`` ... Nodes that exist keep what they were
created with, and none runs again. ``suspend`` and ``shutdown`` are the controller's own
operations and are left to them.

A refused edit changes nothing of the run: the workflow goes on with the spec it had, and
its status carries a ``SpecError`` condition with the reason until an edit is applied.
Either way the given annotations (which generation was operated on) are stored with the
workflow, so a restarted controller does not ask again.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..argo.durations import parse_duration
from .model import ERROR, FAILED, SUCCEEDED

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from ..argo.types import JSON
    from .persister import Persister
    from .timers import Timers
    from .workflow_scope import WorkflowScope

__all__ = ["CONTROLLER_FIELDS", "KEEPS_TEMPLATE_SPEC", "RESPEC", "SPEC_ERROR", "EditHost", "EditOutcome", "apply_edit", "deadline_passed", "edit_args"]

RESPEC = "respec"
"""The command that applies an admitted spec edit."""
SPEC_ERROR = "SpecError"
"""The ``status.conditions`` type (Argo's) that says why an edit was refused."""
CONTROLLER_FIELDS = ("suspend", "shutdown")
"""Spec fields the controller's own operations change (suspend/resume, stop/terminate)."""
KEEPS_TEMPLATE_SPEC = "a workflow running a WorkflowTemplate (workflowTemplateRef) keeps the spec it started with"
"""Why an edit of such a workflow applies only ``suspend`` and ``shutdown`` (as Argo's stored workflow spec)."""
_DONE = frozenset({SUCCEEDED, FAILED, ERROR})


@dataclass(frozen=True)
class EditOutcome:
    """How an edit of a running workflow's spec went."""

    applied: bool
    """Whether the new spec now governs what has not run yet."""
    message: str = ""
    """Why it was not applied (a plugin's rejection naming the plugin, an invalid spec, the workflow ended)."""
    warnings: tuple[str, ...] = ()
    """The plugins' warnings about the edit."""


class EditHost(Protocol):
    """What an edit changes of its run."""

    wf: JSON
    spec: JSON
    status: JSON
    persister: Persister
    scope: WorkflowScope
    timers: Timers

    @property
    def phase(self) -> str: ...

    def deadline_due(self) -> None: ...


def apply_edit(
    run: EditHost,
    *,
    spec: JSON | None,
    rejection: str = "",
    stored_templates: Mapping[str, JSON] | None = None,
    marks: Mapping[str, str] | None = None,
    clock_now: Callable[[], float] | None = None,
) -> bool:
    """Apply *spec* to *run* (``None``: keep the old spec; with a *rejection*, say why).

    *marks* are annotations stored with the workflow either way. Returns whether the spec
    was applied (``False`` too when the workflow has already ended)."""
    if marks:
        annotations = run.wf.setdefault("metadata", {}).setdefault("annotations", {})
        annotations.update(marks)
        run.persister.workflow_dirty = True
    if run.phase in _DONE:
        return False
    conditions = [c for c in run.status.get("conditions") or [] if isinstance(c, dict) and c.get("type") != SPEC_ERROR]
    if spec is None:  # refused, or nothing of it to apply
        if rejection:
            conditions.append({"type": SPEC_ERROR, "status": "True", "message": f"spec edit refused: {rejection}"})
            run.status["conditions"] = conditions
            run.persister.workflow_dirty = True
        return False
    if conditions:
        run.status["conditions"] = conditions
    else:
        run.status.pop("conditions", None)
    before = run.spec.get("activeDeadlineSeconds")
    kept = {name: run.spec[name] for name in CONTROLLER_FIELDS if name in run.spec}
    new = {k: copy.deepcopy(v) for k, v in spec.items() if k not in CONTROLLER_FIELDS}
    run.spec.clear()  # in place: the resolver, the frames and the record all hold this dict
    run.spec.update(new)
    run.spec.update(kept)
    if stored_templates:
        run.status["storedTemplates"] = {**(run.status.get("storedTemplates") or {}), **stored_templates}
    run.scope.rebind_parameters()
    deadline = run.spec.get("activeDeadlineSeconds")
    if deadline != before and deadline not in (None, "") and clock_now is not None:
        began = float(run.status.get("x-startedAt", clock_now()))
        run.timers.call_at(began + parse_duration(deadline, what="activeDeadlineSeconds"), run.deadline_due)
    run.persister.workflow_dirty = True
    return True


def deadline_passed(spec: Mapping[str, Any], status: Mapping[str, Any], now: float) -> bool:
    """Whether the workflow's ``activeDeadlineSeconds`` (as *spec* says now) has passed at *now*."""
    deadline = spec.get("activeDeadlineSeconds")
    if deadline in (None, ""):
        return False
    began = float(status.get("x-startedAt", now))
    return now >= began + parse_duration(deadline, what="activeDeadlineSeconds") - 1e-3


def edit_args(
    spec: JSON | None, *, rejection: str = "", stored_templates: Mapping[str, JSON] | None = None, marks: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The arguments of a ``respec`` command."""
    return {"spec": spec, "rejection": rejection, "stored_templates": stored_templates, "marks": marks}
