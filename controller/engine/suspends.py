"""Suspend nodes: waiting for a duration, a ``resume``, or a shutdown."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..argo.durations import parse_duration
from ..argo.errors import ArgoError
from ..argo.substitute import substitute
from .model import ERROR, FAILED, SUCCEEDED, Node
from .scheduler import ExecCtx
from .scope import format_value

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..argo.types import JSON
    from .scheduler import Scheduler


class Suspends:
    """The suspend nodes of one run that are waiting, with their templates."""

    def __init__(self, run: Scheduler, nodes: Mapping[str, Node]) -> None:
        self.run = run
        self.nodes = nodes
        self._waiting: dict[str, JSON] = {}

    def suspend(self, node: Node, tmpl: Mapping[str, Any], scope: Mapping[str, Any]) -> None:
        """Start waiting in *node* (until its ``suspend.duration`` passes, if it has one)."""
        run = self.run
        if not run.accepting(ExecCtx("", on_exit=False)):
            run.finish(node, FAILED, run.shutdown_message())
            return
        self._waiting[node.id] = dict(tmpl)
        duration = (tmpl.get("suspend") or {}).get("duration")
        if duration not in (None, ""):
            try:
                seconds = parse_duration(substitute(duration, scope, strict=False), what="suspend.duration")
            except (ArgoError, ValueError) as exc:
                run.finish(node, ERROR, str(exc))
                return
            start = node.started_at or run.clock.now()
            run.call_at(start + seconds, lambda: self.resume(node.id, expired=True))

    def resume(self, node_id: str, *, expired: bool = False) -> None:
        """End the wait of *node_id*: Succeeded, with its output parameters' defaults.

        When the wait ended because its ``duration`` passed (*expired*), an output
        parameter to be ``supplied`` that has no ``default`` errors the node, as Argo's.
        """
        tmpl = self._waiting.pop(node_id, None)
        node = self.nodes.get(node_id)
        if tmpl is None or node is None or node.fulfilled:
            return
        params = []
        for decl in (tmpl.get("outputs") or {}).get("parameters") or []:
            value_from = decl.get("valueFrom") or {}
            if "default" in value_from:
                params.append({"name": decl["name"], "value": format_value(value_from["default"])})
            elif expired and value_from.get("supplied") is not None:
                message = f"raw output parameter '{decl['name']}' has not been set and does not have a default value"
                self.run.finish(node, ERROR, message)
                return
        self.run.finish(node, SUCCEEDED, outputs={"parameters": params} if params else None)

    def resume_all(self) -> None:
        """Resume every waiting node, or none: as Argo's ``ResumeWorkflow``, a resume is
        refused (:class:`ValueError`) while a waiting node has an output parameter to be
        ``supplied`` that has no ``default``."""
        for tmpl in self._waiting.values():
            for decl in (tmpl.get("outputs") or {}).get("parameters") or []:
                value_from = decl.get("valueFrom") or {}
                if value_from.get("supplied") is not None and "default" not in value_from:
                    raise ValueError(f"raw output parameter '{decl['name']}' has not been set and does not have a default value")
        for node_id in list(self._waiting):
            self.resume(node_id)

    def fail_all(self, message: str) -> None:
        """Fail every waiting node (a stop, terminate or deadline)."""
        for node_id in list(self._waiting):
            self._waiting.pop(node_id)
            self.run.finish(self.nodes[node_id], FAILED, message)
