"""Key-only artifacts as an object store reads keys (Argo's S3 driver semantics).

A directory uploaded under ``k`` is the objects ``k/<file>``; reading a key that is a
prefix of several objects downloads them all into a directory.
"""

from __future__ import annotations

from pathlib import Path

from hookbus.controller.engine.controller import Controller
from hookbus.controller.engine.key_artifacts import lookup
from hookbus.controller.engine.memory_store import MemoryStore
from hookbus.controller.engine.settings import ControllerSettings
from hookbus.controller.engine.templates import StoredArtifact
from hookbus.controller.executors.registry import make_executor
from tests.support.engine import by_name, load


def test_exact_key_file_inside_a_directory_and_prefix(tmp_path: Path) -> None:
    parts = tmp_path / "parts"
    (parts / "sub").mkdir(parents=True)
    (parts / "0.json").write_text("zero")
    (parts / "sub" / "1.json").write_text("one")
    repo: dict[str, str | StoredArtifact] = {"wf/parts/": StoredArtifact(str(parts)), "wf/results/0": "a", "wf/results/1": "b"}
    assert lookup(repo, "wf/results/0", None) == "a"
    assert lookup(repo, "wf/parts/0.json", None) == StoredArtifact(str(parts / "0.json"))
    assert lookup(repo, "wf/parts/sub/1.json", None) == StoredArtifact(str(parts / "sub" / "1.json"))
    assert lookup(repo, "wf/parts/none.json", None) is None
    assert lookup(repo, "wf/results", None) is None  # no scratch folder: prefixes not served
    found = lookup(repo, "wf/results", tmp_path / "scratch")
    assert isinstance(found, StoredArtifact)
    assert sorted((p.name, p.read_text()) for p in Path(found.path).iterdir()) == [("0", "a"), ("1", "b")]
    assert lookup(repo, "wf/res", tmp_path / "scratch") is None  # a prefix is a whole path segment


MAP_REDUCE = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: mr}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - {name: split, template: split}
      - name: map
        template: map
        depends: split
        withItems: ["1", "2"]
        arguments:
          parameters: [{name: n, value: "{{item}}"}]
          artifacts: [{name: part, s3: {key: "{{workflow.name}}/parts/{{item}}.txt"}}]
      - {name: reduce, template: reduce, depends: map}
  - name: split
    container:
      image: alpine
      command: [sh, -c, "mkdir -p /out && echo 10 > /out/1.txt && echo 20 > /out/2.txt"]
    outputs:
      artifacts: [{name: parts, path: /out, archive: {none: {}}, s3: {key: "{{workflow.name}}/parts"}}]
  - name: map
    inputs:
      parameters: [{name: n}]
      artifacts: [{name: part, path: /in/part.txt}]
    container:
      image: alpine
      command: [sh, -c, "mkdir -p /out && echo $(( $(cat /in/part.txt) + 1 )) > /out/r"]
    outputs:
      artifacts: [{name: r, path: /out/r, s3: {key: "{{workflow.name}}/results/{{inputs.parameters.n}}"}}]
  - name: reduce
    inputs:
      artifacts: [{name: all, path: /in, s3: {key: "{{workflow.name}}/results"}}]
    container:
      image: alpine
      command: [sh, -c, "cd /in && for f in $(ls | sort); do echo $f=$(cat $f); done"]
"""


async def test_map_reduce_over_keys(tmp_path: Path) -> None:
    settings = ControllerSettings(executor="local", state_dir=tmp_path / "state")
    async with Controller(settings, store=MemoryStore(), executor=lambda: make_executor(settings.executor, state_dir=settings.state_dir)) as ctl:
        key = await ctl.submit(load(MAP_REDUCE))
        wf = await ctl.wait(key, timeout=60)
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
    assert by_name(wf)["mr.reduce"]["outputs"]["result"] == "1=11\n2=21"
