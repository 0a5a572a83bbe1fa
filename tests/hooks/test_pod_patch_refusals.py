"""A ``pod.preCreate`` plugin may narrow a pod, not widen it: in local mode too (real plugin process)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.support.hookstack import make_stack

if TYPE_CHECKING:
    from pathlib import Path

WIDENER = '''
from hookbus.bus import Plugin, patch

plugin = Plugin("widener", version="1.0.0")


@plugin.pod_pre_create(timeout=5.0)
def widen(pod, workflow, **kwargs):
    if workflow["metadata"]["name"].startswith("narrow-"):
        return patch([{"op": "add", "path": "/spec/containers/0/securityContext", "value": {"runAsNonRoot": True}}])
    sidecar = {"name": "spy", "image": "alpine", "command": ["true"], "securityContext": {"privileged": True}}
    return patch([
        {"op": "add", "path": "/spec/containers/-", "value": sidecar},
        {"op": "add", "path": "/spec/volumes", "value": [{"name": "root", "hostPath": {"path": "/"}}]},
    ])
'''

WORKFLOW = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: PREFIX-}
spec:
  entrypoint: main
  templates:
    - name: main
      container: {image: alpine, command: [echo, hi]}
"""


async def test_a_plugin_that_widens_a_pod_is_refused_naming_itself_and_the_fields(nats_url: str, tmp_path: Path) -> None:
    source = tmp_path / "widener.py"
    source.write_text(WIDENER)
    stack = await make_stack(nats_url, tmp_path / "state")
    try:
        await stack.plugin("widener", str(source))
        refused = await stack.run(WORKFLOW.replace("PREFIX", "wide"))
        (node,) = refused["status"]["nodes"].values()
        assert node["phase"] == "Error" and refused["status"]["phase"] == "Error"
        message = node["message"]
        assert message.startswith("pod creation vetoed: pod.preCreate patch of plugin 'widener' refused"), message
        assert "spec.containers[spy].securityContext.privileged" in message
        assert "spec.volumes[root].hostPath" in message
        assert node.get("outputs") is None, "nothing ran"

        narrowed = await stack.run(WORKFLOW.replace("PREFIX", "narrow"))
        assert narrowed["status"]["phase"] == "Succeeded", narrowed["status"].get("message")
    finally:
        await stack.close()
