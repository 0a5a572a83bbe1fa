"""What ``hookbus lint --target kubernetes`` adds to ``argo lint``'s checks.

Errors name what Kubernetes mode cannot run (the node would end in ``Error``): resource
templates with an unknown action or merge strategy, ``manifestFrom``, kubectl flags other
than ``--ignore-not-found``, a condition that does not parse, a manifest that is not one
object (or, for a json patch, a list of operations), a ``jqFilter`` beyond paths, a service
account name that is not one. What a template may act on is left to the API server: it acts
as the workflow's service account. Warnings
name what behaves differently there: ``http`` templates aimed at loopback or link-local
addresses (refused unless the controller allows them; the controller sends them from its
own pod). The local-mode warnings about ``resource`` templates and pod-level
``podSpecPatch`` fields do not apply to this target (pods get them) and are left out.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from ..argo.lint import lint_warnings
from ..engine.hooks import WorkflowInfo
from ..engine.resource_paths import jq_filter, parse_condition
from ..engine.resource_template import parse_call, service_account

__all__ = ["kubernetes_errors", "kubernetes_warnings"]

_LOCAL_ONLY_WARNINGS = ("resource", "podSpecPatch")
"""Fields whose lint warnings are about local mode only."""
_ANYONE = WorkflowInfo(namespace="default", name="lint", uid="", labels={}, annotations={})


def _templates(doc: Any) -> list[tuple[int, dict[str, Any]]]:
    spec = doc.get("spec") if isinstance(doc, dict) else None
    if isinstance(spec, dict) and doc.get("kind") == "CronWorkflow":
        spec = spec.get("workflowSpec")
    templates = spec.get("templates") if isinstance(spec, dict) else None
    if not isinstance(templates, list):
        return []
    return [(i, t) for i, t in enumerate(templates) if isinstance(t, dict)]


def _templated(value: Any) -> bool:
    return "{{" in str(value)


def _resource_errors(path: str, resource: dict[str, Any], outputs: Any) -> list[str]:
    errors: list[str] = []
    if not _templated(resource.get("action")) and not _templated(resource.get("manifest")):
        try:
            call = parse_call(resource, _ANYONE)
        except ValueError as exc:
            errors.append(f"{path}: {exc}")
        else:
            unknown = [f for f in call.flags if f.startswith("-") and f not in ("--ignore-not-found", "--ignore-not-found=true")]
            if unknown:
                errors.append(f"{path}.flags: not supported in Kubernetes mode: {' '.join(unknown)}")
    for field in ("successCondition", "failureCondition"):
        condition = resource.get(field)
        if condition and not _templated(condition):
            try:
                parse_condition(str(condition))
            except ValueError as exc:
                errors.append(f"{path}.{field}: {exc}")
    params = outputs.get("parameters") if isinstance(outputs, dict) else None
    for index, param in enumerate(params if isinstance(params, list) else []):
        source = param.get("valueFrom") if isinstance(param, dict) else None
        jq = source.get("jqFilter") if isinstance(source, dict) else None
        if jq and not _templated(jq):
            try:
                jq_filter({}, str(jq))
            except ValueError as exc:
                errors.append(f"{path.rsplit('.', 1)[0]}.outputs.parameters[{index}].valueFrom.jqFilter: {exc}")
    return errors


def kubernetes_errors(doc: Any) -> list[str]:
    """``PATH: MESSAGE`` for each template Kubernetes mode cannot run."""
    errors: list[str] = []
    spec = doc.get("spec") if isinstance(doc, dict) else None
    for index, tmpl in _templates(doc):
        resource = tmpl.get("resource")
        if isinstance(resource, dict):
            errors += _resource_errors(f"spec.templates[{index}].resource", resource, tmpl.get("outputs"))
            try:
                service_account(tmpl, spec if isinstance(spec, dict) else {})
            except ValueError as exc:
                if not _templated(exc):
                    errors.append(f"spec.templates[{index}]: resource templates act as a service account: {exc}")
    return errors


def _refused_host(url: str) -> str | None:
    """Why an ``http`` template's *url* is refused by default (``None``: it is not, or unknown)."""
    if _templated(url):
        return None
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return None
    if host == "localhost" or host.endswith(".localhost"):
        return "a loopback name"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address (cloud metadata included)"
    if address.is_unspecified or address.is_multicast:
        return "an unspecified or multicast address"
    return None


def kubernetes_warnings(doc: Any) -> list[str]:
    """The lint warnings that hold in Kubernetes mode, then what behaves differently there."""
    warnings = [str(w) for w in lint_warnings(doc) if w.path.rsplit(".", 1)[-1] not in _LOCAL_ONLY_WARNINGS]
    for index, tmpl in _templates(doc):
        http = tmpl.get("http")
        if isinstance(http, dict) and http.get("url"):
            why = _refused_host(str(http["url"]))
            if why:
                warnings.append(
                    f"spec.templates[{index}].http.url: {http['url']!r} is {why}: refused unless the controller "
                    "allows it (--http-allow), and sent from the controller's pod, not the workflow's"
                )
    return warnings
