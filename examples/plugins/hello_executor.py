"""Execute Argo ``plugin:`` templates, the way Argo's example executor plugins do.

    hookbus plugin run examples/plugins/hello_executor.py

Argo runs an executor plugin as an HTTP server in the workflow's agent pod and POSTs
``{workflow: {metadata}, template}`` to ``/api/v1/template.execute``; the plugin replies
``{node: {phase, message, outputs}, requeue}``, or ``{}`` when the template is not its own.
Here the same contract arrives over NATS as the ``template.execute`` hook. Template keys:

- ``plugin: {hello: {}}`` (Argo's docs example): Succeeded with ``Hello template!`` and an
  output parameter ``foo=bar``;
- ``plugin: {workflowLevelHello: {}}`` (Argo's ``workflow-level-executor-plugin.yaml``):
  Succeeded with ``Hello from a workflow-level executor plugin!``;
- ``plugin: {greet: {name: N}}``: Succeeded with the output parameter
  ``greeting=Hello, N!``, for a next step to read (``examples/plugin-template.yaml``);
- ``plugin: {countdown: {calls: N, requeue: S}}``: Running (ask again in ``S`` seconds,
  default 1) for the first ``N - 1`` calls, then Succeeded with the number of calls as
  output parameter ``calls``: a long-running external job polled with ``requeue``.

Calls carry the node id, stable across requeues and controller restarts, so the countdown
is counted per node.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hookbus.bus import Plugin, node_result

plugin = Plugin("hello-executor", version="1.0.0", description="executes Argo's example plugin: templates")

_calls: Counter[str] = Counter()


@plugin.template_execute(templates=["hello", "workflowLevelHello", "greet", "countdown"], timeout=5.0)
def execute(node: dict[str, Any], template: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    spec = template.get("plugin") or {}
    if "hello" in spec:
        return node_result(
            "Succeeded", message="Hello template!", outputs={"parameters": [{"name": "foo", "value": "bar"}]}
        )
    if "workflowLevelHello" in spec:
        return node_result("Succeeded", message="Hello from a workflow-level executor plugin!")
    if "greet" in spec:
        name = str((spec["greet"] or {}).get("name") or "world")
        greeting = f"Hello, {name}!"
        return node_result(
            "Succeeded", message=greeting, outputs={"parameters": [{"name": "greeting", "value": greeting}]}
        )
    if "countdown" in spec:
        options = spec["countdown"] or {}
        _calls[node["id"]] += 1
        calls = _calls[node["id"]]
        if calls < int(options.get("calls", 2)):
            return node_result("Running", message=f"call {calls}: not done yet", requeue=float(options.get("requeue", 1)))
        return node_result(
            "Succeeded", message=f"done after {calls} calls", outputs={"parameters": [{"name": "calls", "value": str(calls)}]}
        )
    return {}  # not mine: the next plugin is asked
