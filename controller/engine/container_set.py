"""A ``containerSet`` template as the executor runs it: its dependency graph and retries.

Follows Argo's ``ContainerSetTemplate`` and its executor (``cmd/argoexec/commands/emissary.go``):
a container starts once the containers it depends on succeeded, and a container that
fails runs again in place, after ``retryStrategy.duration``, up to ``retryStrategy.retries``
runs in all (Argo's executor runs a container ``retries`` times, not ``retries + 1``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..argo.durations import parse_duration
from ..argo.errors import ArgoError
from .scope import format_value
from .tasks import ContainerSetSpec
from .templates import TemplateError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["container_set_spec"]


def container_set_spec(tmpl: Mapping[str, Any]) -> ContainerSetSpec | None:
    """The graph and retries of *tmpl*'s ``containerSet`` (``None``: it has none).

    Raises :class:`TemplateError` naming the field for retries or a duration that cannot be used."""
    container_set = tmpl.get("containerSet")
    if not container_set:
        return None
    dependencies = {
        str(c.get("name") or "main"): tuple(str(d) for d in c.get("dependencies") or [])
        for c in container_set.get("containers") or []
    }
    strategy = container_set.get("retryStrategy") or {}
    attempts, delay = 1, 0.0
    if strategy.get("retries") not in (None, ""):
        text = format_value(strategy["retries"]).strip()
        try:
            attempts = max(1, int(text))
        except ValueError:
            raise TemplateError(f"containerSet.retryStrategy.retries: {text!r} is not a whole number") from None
    if strategy.get("duration"):
        try:
            delay = parse_duration(strategy["duration"], what="containerSet.retryStrategy.duration")
        except (ArgoError, ValueError) as exc:
            raise TemplateError(str(exc)) from None
        if delay < 0:
            raise TemplateError(f"containerSet.retryStrategy.duration has to be positive, current duration: {strategy['duration']}")
    return ContainerSetSpec(dependencies, attempts, delay)
