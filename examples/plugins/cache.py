"""An external cache for node results: a hit skips the node, a miss runs it and stores its outputs.

    HOOKBUS_CACHE_DIR=/var/cache/hookbus hookbus plugin run examples/plugins/cache.py

The cache key is the template and its resolved inputs, so the same step with the same
inputs is run once. Only nodes whose template carries the label/annotation-free marker
``metadata.annotations["cache.hookbus.io/enabled"] == "true"`` take part.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from hookbus.bus import Plugin, short_circuit

plugin = Plugin("cache", version="1.0.0", description="skips nodes whose outputs are cached")
ENABLED = "item['template'].get('metadata', {}).get('annotations', {}).get('cache.hookbus.io/enabled') == 'true'"


def cache_dir() -> Path:
    path = Path(os.environ.get("HOOKBUS_CACHE_DIR", ".hookbus-cache"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def key(template: dict[str, Any]) -> str:
    relevant = {k: template.get(k) for k in ("name", "container", "script", "inputs")}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()


@plugin.node_pre_execute(expression=ENABLED, blocking=True)
def lookup(template: dict[str, Any], **kwargs: Any) -> dict[str, Any] | None:
    entry = cache_dir() / key(template)
    if entry.exists():
        return short_circuit("Succeeded", outputs=json.loads(entry.read_text()), message="cache hit")
    return None


@plugin.node_post_execute(expression=ENABLED, blocking=True)
def store(node: dict[str, Any], template: dict[str, Any], **kwargs: Any) -> None:
    if node.get("phase") == "Succeeded":
        (cache_dir() / key(template)).write_text(json.dumps(node.get("outputs") or {}))
