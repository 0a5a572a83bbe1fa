"""Hold nodes until an external system says go: here, until a marker file exists.

    HOOKBUS_GATE_DIR=/tmp/gates hookbus plugin run examples/plugins/gate.py

A node whose template has the annotation ``gate.hookbus.io/wait-for: <name>`` does not
start until ``$HOOKBUS_GATE_DIR/<name>`` exists (for example: "the metadata of the
previous step was logged"); until then the plugin answers ``hold(2)`` and is asked again.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hookbus.bus import Plugin, hold

plugin = Plugin("gate", version="1.0.0", description="holds nodes until a marker exists")
ANNOTATION = "gate.hookbus.io/wait-for"


@plugin.node_pre_execute(expression=f"'{ANNOTATION}' in item['template'].get('metadata', {{}}).get('annotations', {{}})")
def check(template: dict[str, Any], **kwargs: Any) -> dict[str, Any] | None:
    marker = template["metadata"]["annotations"][ANNOTATION]
    if (Path(os.environ.get("HOOKBUS_GATE_DIR", ".gates")) / marker).exists():
        return None  # go
    return hold(float(os.environ.get("HOOKBUS_GATE_POLL", "2")), message=f"waiting for {marker!r}")
