"""Warn (never reject) when a workflow's image has no tag or uses ``:latest``.

    hookbus plugin run examples/plugins/tag_advisor.py

An image without a tag means ``:latest``, and ``:latest`` moves: the same workflow may
run different code tomorrow. The plugin lets such workflows run but answers with a
warning per image, which ``hookbus submit`` prints (``Warning: tag-advisor: ...``) and
``hookbus get`` shows under ``Warnings:``. Images pinned by digest (``@sha256:...``)
are fine.
"""

from __future__ import annotations

from typing import Any

from hookbus.bus import Plugin, allow

plugin = Plugin(
    "tag-advisor", version="1.0.0", description="warns about untagged and :latest images"
)


def images_of(template: dict[str, Any]) -> list[str]:
    """Every image a template runs: main container or script, init containers, sidecars, container sets."""
    containers = [template.get("container"), template.get("script")]
    containers += template.get("initContainers") or []
    containers += template.get("sidecars") or []
    containers += (template.get("containerSet") or {}).get("containers") or []
    return [c["image"] for c in containers if isinstance(c, dict) and c.get("image")]


def tag_of(image: str) -> str | None:
    """The tag of *image* (``None`` if it has none); a digest counts as a tag."""
    if "@" in image:
        return image.rsplit("@", 1)[1]
    last = image.rsplit("/", 1)[-1]  # a registry's ':port' is not a tag
    return last.rsplit(":", 1)[1] if ":" in last else None


def advice(image: str) -> str | None:
    """What is wrong with *image*'s tag, or ``None`` when it is pinned."""
    tag = tag_of(image)
    if tag is None:
        return f"image {image!r} has no tag, so it means ':latest'; pin a version"
    if tag == "latest":
        return f"image {image!r} uses ':latest', which changes under you; pin a version"
    return None


@plugin.workflow_pre_operate(mutating=False, timeout=2.0, failure_policy="Ignore")
def check(workflow: dict[str, Any], **kwargs: Any) -> dict[str, Any] | None:
    warnings = []
    for template in workflow.get("spec", {}).get("templates", []):
        for image in images_of(template):
            said = advice(image)
            if said:
                warnings.append(f"template {template.get('name')!r}: {said}")
    return allow(warnings=warnings) if warnings else None
