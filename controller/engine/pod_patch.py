"""``podSpecPatch``: a leaf's pod patched as Argo patches it, for the fields that matter locally.

Argo (``workflowpod.go``, ``processPodSpecPatch``; ``util.ApplyPodSpecPatch``) takes the
workflow's ``spec.podSpecPatch`` and then the template's, each a JSON or YAML string with
the workflow's variables substituted, and strategically merges them onto the pod spec.
Here the patch's ``containers`` (merged by ``name``: ``main`` is the template's
container or script, other names its sidecars) and ``initContainers`` are merged onto
the template the same way, so ``env``, ``resources``, ``args`` ... of the patch reach the
executor's processes and what ``pod.preCreate`` sees. Pod-level fields (``nodeSelector``,
``tolerations`` ...) have no meaning for a local process and are not applied;
``hookbus lint`` warns about them (:data:`~..argo.lint_unsupported.POD_PATCH_APPLIED`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import yaml

from ..argo.manifest import strategic_merge
from ..argo.substitute import substitute
from .templates import TemplateError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..argo.types import JSON

__all__ = ["apply_pod_spec_patch", "pod_spec_patches"]


def apply_pod_spec_patch(tmpl: JSON, spec: Mapping[str, Any], scope: Mapping[str, Any]) -> JSON:
    """*tmpl* (a substituted leaf template) with the workflow's and its own
    ``podSpecPatch`` applied; raises :class:`TemplateError` with Argo's message for a
    patch that is not a YAML/JSON map."""
    patches = [p for p in (spec.get("podSpecPatch"), tmpl.get("podSpecPatch")) if p]
    if not patches:
        return tmpl
    out = dict(tmpl)
    for raw in patches:
        text = substitute(raw, scope, strict=False) if isinstance(raw, str) else raw
        patch = _parse(text)
        _merge_containers(out, patch.get("containers"))
        inits = patch.get("initContainers")
        if isinstance(inits, list):
            out["initContainers"] = strategic_merge(list(out.get("initContainers") or []), inits, field_name="initContainers")
    return out


def pod_spec_patches(tmpl: JSON, spec: Mapping[str, Any], scope: Mapping[str, Any]) -> tuple[JSON, ...]:
    """The workflow's then *tmpl*'s ``podSpecPatch``, substituted with *scope* and parsed, for
    an executor that builds the whole pod; :class:`TemplateError` as :func:`apply_pod_spec_patch`."""
    raws = [p for p in (spec.get("podSpecPatch"), tmpl.get("podSpecPatch")) if p]
    return tuple(_parse(substitute(raw, scope, strict=False) if isinstance(raw, str) else raw) for raw in raws)


def _parse(text: Any) -> JSON:
    if isinstance(text, dict):
        return text
    try:
        patch = yaml.safe_load(str(text)) if str(text).strip() else {}
    except yaml.YAMLError as exc:
        raise TemplateError(f"Failed to convert the PodSpecPatch yaml to json: {exc}") from None
    if not isinstance(patch, dict):
        shown = json.dumps(str(text))[:200]
        raise TemplateError(f"invalid podSpecPatch {shown}: not a PodSpec (expected a map)")
    return patch


def _merge_containers(tmpl: JSON, containers: Any) -> None:
    if not isinstance(containers, list):
        return
    main_key = "script" if tmpl.get("script") is not None else "container"
    for patch in containers:
        if not isinstance(patch, dict):
            raise TemplateError("invalid podSpecPatch: containers must be a list of maps")
        name = str(patch.get("name") or "main")
        if name == "main" and tmpl.get(main_key) is not None:
            tmpl[main_key] = strategic_merge(tmpl[main_key], {k: v for k, v in patch.items() if k != "name"})
        else:
            tmpl["sidecars"] = strategic_merge(list(tmpl.get("sidecars") or []), [patch], field_name="sidecars")
