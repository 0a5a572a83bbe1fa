"""Filters and projection, evaluated in the controller before anything is sent.

A plugin is never called for items it does not care about, and only receives
the fields it declared. Workflow-level filters (namespace, labels) are decided
once per call; item-level ones (template, type, image, expression) per item,
with the cheap checks first.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from simpleeval import EvalWithCompoundTypes

from .errors import ConfigError

if TYPE_CHECKING:
    from .manifest import Filters

ItemPredicate = Callable[[Mapping[str, Any]], bool]


class FilterError(ConfigError):
    """A filter expression is invalid or failed on an item."""


def workflow_matches(filters: Filters, meta: Mapping[str, Any]) -> bool:
    """Whether the workflow (its ``metadata``) passes the namespace and label filters."""
    if filters.namespaces and meta.get("namespace", "default") not in filters.namespaces:
        return False
    if filters.labels:
        labels = meta.get("labels") or {}
        return all(labels.get(k) == v for k, v in filters.labels.items())
    return True


def _template(item: Mapping[str, Any]) -> Mapping[str, Any]:
    template = item.get("template")
    return template if isinstance(template, Mapping) else {}


def _template_name(item: Mapping[str, Any]) -> str | None:
    name = _template(item).get("name")
    if name is None:
        node = item.get("node")
        if isinstance(node, Mapping):
            name = node.get("templateName")
    return name if isinstance(name, str) else None


TEMPLATE_KINDS = ("container", "script", "resource", "suspend", "steps", "dag", "containerSet", "http", "plugin", "data")


def template_type(template: Mapping[str, Any]) -> str | None:
    """The kind of an Argo template: the one of :data:`TEMPLATE_KINDS` it has."""
    for kind in TEMPLATE_KINDS:
        if kind in template:
            return kind
    return None


def images(item: Mapping[str, Any]) -> list[str]:
    """Every image an item names: its template's containers, or its pod's containers."""
    found: list[str] = []
    template = _template(item)
    sources: list[Any] = [template[k] for k in ("container", "script") if isinstance(template.get(k), Mapping)]
    for key in ("initContainers", "sidecars"):
        sources.extend(template.get(key) or [])
    container_set = template.get("containerSet")
    if isinstance(container_set, Mapping):
        sources.extend(container_set.get("containers") or [])
    pod = item.get("pod")
    if isinstance(pod, Mapping):
        spec = pod.get("spec") or {}
        sources.extend(spec.get("initContainers") or [])
        sources.extend(spec.get("containers") or [])
    workflow = item.get("workflow")
    if isinstance(workflow, Mapping):
        for tmpl in (workflow.get("spec") or {}).get("templates") or []:
            found.extend(images({"template": tmpl}))
    found.extend(
        source["image"]
        for source in sources
        if isinstance(source, Mapping) and isinstance(source.get("image"), str)
    )
    return found


def compile_item_filter(filters: Filters) -> ItemPredicate | None:
    """A predicate over items for the item-level filters, or ``None`` when every item matches."""
    checks: list[ItemPredicate] = []
    if filters.templates:
        names = frozenset(filters.templates)
        checks.append(lambda item: _template_name(item) in names)
    if filters.template_types:
        kinds = frozenset(filters.template_types)
        checks.append(lambda item: template_type(_template(item)) in kinds)
    if filters.images:
        pattern = re.compile("|".join(fnmatch.translate(p) for p in filters.images))
        checks.append(lambda item: any(pattern.match(image) for image in images(item)))
    if filters.expression:
        checks.append(compile_expression(filters.expression))
    if not checks:
        return None
    if len(checks) == 1:
        return checks[0]
    return lambda item: all(check(item) for check in checks)


def compile_expression(expression: str) -> ItemPredicate:
    """A predicate from a Python-syntax expression over ``item`` (and ``workflow`` when present).

    Evaluated with simpleeval: no attribute access to internals, no imports, no calls
    beyond a few safe functions. A syntax error is a :class:`FilterError` at once;
    an error on one item counts as "does not match" for that item.
    """
    evaluator = EvalWithCompoundTypes(functions={"len": len, "str": str, "int": int, "any": any, "all": all})
    try:
        parsed = evaluator.parse(expression)
    except SyntaxError as exc:
        raise FilterError(f"filter expression {expression!r} is invalid: {exc.msg}") from None

    def predicate(item: Mapping[str, Any]) -> bool:
        evaluator.names = {"item": item, "workflow": item.get("workflow")}
        try:
            return bool(evaluator.eval(expression, previously_parsed=parsed))
        except Exception:
            return False

    return predicate


def project(item: Mapping[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    """Only the dotted *fields* of *item* (plus its ``id``), nested as in the item."""
    return projector(tuple(fields))(item)


@functools.lru_cache(maxsize=256)
def projector(fields: tuple[str, ...]) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """:func:`project` for these *fields*, with the paths split once (a call projects
    thousands of items the same way). A field that is missing, or that runs into a
    value that is not a map, is left out."""
    split = [tuple(path.split(".")) for path in fields]
    paths = tuple((parts, parts[:-1], parts[-1]) for parts in split)

    def project_item(item: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "id" in item:
            out["id"] = item["id"]
        for parts, parents, last in paths:
            value: Any = item
            try:
                for part in parts:
                    value = value[part]
            except (KeyError, TypeError, IndexError):
                continue  # missing, or not a map on the way (a string, a list, None)
            target = out
            for part in parents:
                inner = target.get(part)
                if inner is None:
                    inner = target[part] = {}
                target = inner
            target[last] = value
        return out

    return project_item
