"""Reject workflows that use an image outside an allow-list.

    HOOKBUS_ALLOWED_IMAGES="alpine:*,busybox,python:3.*" hookbus plugin run examples/plugins/image_allowlist.py

Patterns are shell-style (``fnmatch``). The message names the template and the
image, so the user knows what to change.
"""

from __future__ import annotations

import os
from fnmatch import fnmatch
from typing import Any

from hookbus.bus import Plugin, reject

DEFAULT = "alpine:*,busybox,busybox:*,python:*,argoproj/argosay:*"

plugin = Plugin("image-allowlist", version="1.0.0", description="rejects images outside the allow-list")


def allowed_patterns() -> list[str]:
    return [p.strip() for p in os.environ.get("HOOKBUS_ALLOWED_IMAGES", DEFAULT).split(",") if p.strip()]


def images_of(template: dict[str, Any]) -> list[str]:
    containers = [template.get("container"), template.get("script")]
    containers += template.get("initContainers") or []
    containers += template.get("sidecars") or []
    containers += (template.get("containerSet") or {}).get("containers") or []
    return [c["image"] for c in containers if isinstance(c, dict) and c.get("image")]


@plugin.workflow_pre_operate(mutating=False, timeout=2.0, failure_policy="Fail")
def check(workflow: dict[str, Any], **kwargs: Any) -> dict[str, Any] | None:
    patterns = allowed_patterns()
    for template in workflow.get("spec", {}).get("templates", []):
        for image in images_of(template):
            if not any(fnmatch(image, pattern) for pattern in patterns):
                return reject(
                    f"template {template.get('name')!r} uses image {image!r}, "
                    f"which is not on the allow-list ({', '.join(patterns)})"
                )
    return None
