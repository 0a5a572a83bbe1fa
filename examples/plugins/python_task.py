"""Take over nodes and run them outside any pod: here a Python callable, reported back asynchronously.

    hookbus plugin run examples/plugins/python_task.py

Nodes whose template is annotated ``task.hookbus.io/callable: <name>`` are taken over:
the plugin answers ``take_over()`` at once, runs the callable in the background, and
reports the node's end with :func:`hookbus.bus.complete_node`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hookbus.bus import Plugin, complete_node, take_over

plugin = Plugin("python-task", version="1.0.0", description="runs annotated nodes as Python callables")
ANNOTATION = "task.hookbus.io/callable"


def word_count(text: str = "") -> dict[str, Any]:
    return {"parameters": [{"name": "words", "value": str(len(text.split()))}], "result": str(len(text.split()))}


CALLABLES = {"word-count": word_count}
_running: set[asyncio.Task[None]] = set()


@plugin.node_pre_execute(expression=f"'{ANNOTATION}' in item['template'].get('metadata', {{}}).get('annotations', {{}})")
async def start(node: dict[str, Any], template: dict[str, Any], workflow: dict[str, Any], plugin: Plugin, **kwargs: Any) -> dict[str, Any]:
    name = template["metadata"]["annotations"][ANNOTATION]
    declared = (node.get("inputs") or template.get("inputs") or {}).get("parameters") or []
    params = {p["name"]: p.get("value", "") for p in declared}
    meta = workflow["metadata"]

    async def run() -> None:
        await asyncio.sleep(0)  # the reply goes out first; then the work starts
        try:
            outputs = CALLABLES[name](**params)
        except Exception as exc:
            await complete_node(plugin.connection, workflow=meta["name"], namespace=meta.get("namespace", "default"), node_id=node["id"], phase="Failed", message=str(exc))
            return
        await complete_node(plugin.connection, workflow=meta["name"], namespace=meta.get("namespace", "default"), node_id=node["id"], phase="Succeeded", outputs=outputs)

    task = asyncio.create_task(run())
    _running.add(task)
    task.add_done_callback(_running.discard)
    return take_over(message=f"running {name} in plugin python-task")
