"""Which template a step, task or hook runs, and the memoization cache of leaf results."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..argo.durations import parse_duration
from ..argo.manifest import strategic_merge
from ..argo.substitute import substitute
from .model import SUCCEEDED, Node
from .scope import format_value
from .templates import TemplateError, stored_template_key

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..argo.types import JSON
    from .scheduler import ExecCtx

Memo = dict[tuple[str, str], tuple["JSON", float]]
"""Memoized outputs by (cache name, key), with the time they were stored (shared by a controller's workflows)."""


class TemplateResolver:
    """Finds templates in the workflow, its stored WorkflowTemplates and ``inline``,
    with ``spec.templateDefaults`` merged in (once per template)."""

    def __init__(self, spec: JSON, status: JSON) -> None:
        self.spec = spec
        self.status = status
        self._defaulted: dict[int, JSON] = {}
        self._keep: list[JSON] = []  # templates whose id() keys _defaulted stay alive

    def resolve(self, step: Mapping[str, Any], ctx: ExecCtx) -> tuple[JSON, str, ExecCtx]:
        """The template a step/task/hook uses (with ``spec.templateDefaults``), its name, its context."""
        tmpl, name, tctx = self._resolve(step, ctx)
        defaults = self.spec.get("templateDefaults")
        if not defaults:
            return tmpl, name, tctx
        merged = self._defaulted.get(id(tmpl))
        if merged is None:
            merged = strategic_merge(copy.deepcopy(defaults), tmpl)
            self._defaulted[id(tmpl)] = merged
            self._keep.append(tmpl)
        return merged, name, tctx

    def _resolve(self, step: Mapping[str, Any], ctx: ExecCtx) -> tuple[JSON, str, ExecCtx]:
        if step.get("inline") is not None:
            return dict(step["inline"]), "", ctx
        stored = self.status.get("storedTemplates") or {}
        ref = step.get("templateRef")
        if ref:
            key = stored_template_key(ref)
            if key not in stored:
                raise TemplateError(f"templateRef {ref.get('name')}/{ref.get('template')} not found")
            owner = key.rsplit("/", 1)[0]
            return stored[key], str(ref.get("template")), replace(ctx, owner=owner)
        name = str(step.get("template") or "")
        if ctx.owner:
            key = f"{ctx.owner}/{name}"
            if key in stored:
                return stored[key], name, ctx
        for tmpl in self.spec.get("templates") or []:
            if tmpl.get("name") == name:
                return tmpl, name, ctx
        raise TemplateError(f'template "{name}" not found')


def memo_lookup(memo: Memo, node: Node, tmpl: Mapping[str, Any], scope: Mapping[str, Any], now: float) -> JSON | None:
    """The memoized outputs for *node* if the cache holds a fresh entry (``None``: run it).

    Records the lookup on the node (``memoizationStatus``) whenever the template memoizes."""
    spec = tmpl.get("memoize")
    if not spec:
        return None
    key = format_value(substitute(spec.get("key", ""), scope, strict=False))
    cache = str(((spec.get("cache") or {}).get("configMap") or {}).get("name", "default"))
    entry = memo.get((cache, key))
    max_age = spec.get("maxAge")
    fresh = entry is not None and (not max_age or now - entry[1] <= parse_duration(max_age, what="memoize.maxAge"))
    node.extra = {**(node.extra or {}), "memoizationStatus": {"hit": bool(fresh), "key": key, "cacheName": cache}}
    return dict(entry[0]) if fresh and entry is not None else None


def memo_store(memo: Memo, node: Node, now: float) -> None:
    """Remember a Succeeded memoizing node's outputs."""
    status = (node.extra or {}).get("memoizationStatus")
    if status and node.phase == SUCCEEDED:
        memo[(status["cacheName"], status["key"])] = (dict(node.outputs or {}), now)
