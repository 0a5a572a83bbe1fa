"""``hookbus run -o yaml`` shows each node's ``nodeFlag`` as Argo's ``argo get -o yaml`` does."""

from __future__ import annotations

from typing import TYPE_CHECKING

import yaml

from tests.cli.test_e2e import hookbus

if TYPE_CHECKING:
    from pathlib import Path

FLAGGED = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: flagged}
spec:
  entrypoint: main
  onExit: bye
  templates:
  - name: main
    retryStrategy: {limit: 1}
    container: {image: busybox, command: [sh, -c, "exit 1"]}
  - name: bye
    container: {image: busybox, command: [echo, bye]}
"""


async def test_run_yaml_output_shows_node_flags(tmp_path: Path) -> None:
    manifest = tmp_path / "flagged.yaml"
    manifest.write_text(FLAGGED)
    code, out, err = await hookbus("run", str(manifest), "-o", "yaml", "--state-dir", str(tmp_path / "state"))
    assert code == 1, err
    nodes = {n["name"]: n for n in yaml.safe_load(out)["status"]["nodes"].values()}
    assert nodes["flagged"]["type"] == "Retry" and "nodeFlag" not in nodes["flagged"]
    assert nodes["flagged(0)"]["nodeFlag"] == {"retried": True}
    assert nodes["flagged(1)"]["nodeFlag"] == {"retried": True}
    assert nodes["flagged.onExit"]["nodeFlag"] == {"hooked": True}
