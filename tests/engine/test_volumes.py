"""Volumes and directory artifacts in local mode, with the semantics Argo/Kubernetes document.

- ``emptyDir``: created empty for each pod, shared by the pod's containers, gone with it.
- ``volumeClaimTemplates``: one PVC per workflow, so every step of the workflow sees it.
- ``persistentVolumeClaim``: an existing claim; a pod that names a missing claim cannot run.
- ``configMap`` volumes: one file per key (``items`` choose keys and file names).
- Output artifacts may be directories; an input artifact's ``subPath`` picks a path inside one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from hookbus.controller.argo.manifest import Bundle
from hookbus.controller.engine.controller import Controller
from hookbus.controller.engine.memory_store import MemoryStore
from hookbus.controller.engine.settings import ControllerSettings
from hookbus.controller.engine.templates import TemplateError
from hookbus.controller.engine.volumes import (
    claim_dir,
    node_mounts,
    release_workflow_volumes,
    workflow_claim_dir,
)
from hookbus.controller.executors.local import LocalExecutor
from tests.support.engine import by_name, load

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path


def _no_config_maps(name: str) -> dict[str, Any] | None:
    return None


def _mounts(tmpl: dict[str, Any], spec: dict[str, Any], root: Path, **kw: Any) -> dict[str, str]:
    return node_mounts(
        tmpl, spec, root=root, namespace="ns", workflow="wf", node_id="n1",
        config_map=kw.get("config_map", _no_config_maps), allowed_host_paths=kw.get("allowed", ()),
    )


# --------------------------------------------------------------------------- node_mounts (no processes)


def test_empty_dir_is_fresh_per_node(tmp_path: Path) -> None:
    tmpl = {"container": {"volumeMounts": [{"name": "work", "mountPath": "/mnt/vol"}]}}
    spec = {"volumes": [{"name": "work", "emptyDir": {}}]}
    assert _mounts(tmpl, spec, tmp_path) == {"/mnt/vol": ""}


def test_empty_dir_mounted_twice_is_one_directory(tmp_path: Path) -> None:
    tmpl = {
        "container": {"volumeMounts": [{"name": "work", "mountPath": "/a"}]},
        "sidecars": [{"name": "s", "volumeMounts": [{"name": "work", "mountPath": "/b"}]}],
    }
    mounts = _mounts(tmpl, {"volumes": [{"name": "work", "emptyDir": {}}]}, tmp_path)
    assert mounts["/a"] and mounts["/a"] == mounts["/b"]


def test_claim_template_is_shared_by_the_workflow_and_template_volumes_win(tmp_path: Path) -> None:
    spec = {"volumeClaimTemplates": [{"metadata": {"name": "workdir"}, "spec": {}}]}
    tmpl = {"container": {"volumeMounts": [{"name": "workdir", "mountPath": "/mnt/vol", "subPath": "sub"}]}}
    first = _mounts(tmpl, spec, tmp_path)
    second = node_mounts(tmpl, spec, root=tmp_path, namespace="ns", workflow="wf", node_id="n2", config_map=_no_config_maps)
    assert first == second == {"/mnt/vol": str(workflow_claim_dir(tmp_path, "ns", "wf", "workdir") / "sub")}
    other_wf = node_mounts(tmpl, spec, root=tmp_path, namespace="ns", workflow="wf2", node_id="n1", config_map=_no_config_maps)
    assert other_wf != first
    own = {**tmpl, "volumes": [{"name": "workdir", "emptyDir": {}}]}
    assert _mounts(own, spec, tmp_path) == {"/mnt/vol": str(tmp_path / ".hookbus-volumes/ns/wf/.nodes/n1/emptydir/workdir/sub")}


def test_missing_claim_or_volume_or_secret_is_an_error(tmp_path: Path) -> None:
    tmpl = {"container": {"volumeMounts": [{"name": "workdir", "mountPath": "/mnt/vol"}]}}
    with pytest.raises(TemplateError, match='persistentVolumeClaim "my-existing-volume" not found'):
        _mounts(tmpl, {"volumes": [{"name": "workdir", "persistentVolumeClaim": {"claimName": "my-existing-volume"}}]}, tmp_path)
    with pytest.raises(TemplateError, match="no volume named 'workdir'"):
        _mounts(tmpl, {}, tmp_path)
    with pytest.raises(TemplateError, match='secret "creds" not found'):
        _mounts(tmpl, {"volumes": [{"name": "workdir", "secret": {"secretName": "creds"}}]}, tmp_path)
    assert _mounts(tmpl, {"volumes": [{"name": "workdir", "secret": {"secretName": "creds", "optional": True}}]}, tmp_path) == {"/mnt/vol": ""}
    with pytest.raises(TemplateError, match="nfs volumes are not available"):
        _mounts(tmpl, {"volumes": [{"name": "workdir", "nfs": {"server": "x", "path": "/"}}]}, tmp_path)


def test_existing_claim_and_host_path(tmp_path: Path) -> None:
    claim = claim_dir(tmp_path, "ns", "my-existing-volume")
    claim.mkdir(parents=True)
    tmpl = {"container": {"volumeMounts": [{"name": "workdir", "mountPath": "/mnt/vol"}]}}
    spec = {"volumes": [{"name": "workdir", "persistentVolumeClaim": {"claimName": "my-existing-volume"}}]}
    assert _mounts(tmpl, spec, tmp_path) == {"/mnt/vol": str(claim)}
    host = tmp_path / "host"
    state = tmp_path / "state"  # host paths are allowed outside the state directory only
    with pytest.raises(TemplateError, match="does not exist"):
        _mounts(tmpl, {"volumes": [{"name": "workdir", "hostPath": {"path": str(host), "type": "Directory"}}]}, state, allowed=(str(tmp_path),))
    host.mkdir()
    assert _mounts(tmpl, {"volumes": [{"name": "workdir", "hostPath": {"path": str(host)}}]}, state, allowed=(str(tmp_path),)) == {"/mnt/vol": str(host)}


def test_host_paths_are_refused_unless_the_operator_allows_them(tmp_path: Path) -> None:
    tmpl = {"container": {"volumeMounts": [{"name": "root", "mountPath": "/host"}]}}
    host = tmp_path / "data"
    host.mkdir()
    state = tmp_path / "state"
    spec = {"volumes": [{"name": "root", "hostPath": {"path": "/"}}]}
    with pytest.raises(TemplateError, match=r"hostPath / is refused: the controller allows no host paths \(--allow-host-path\)"):
        _mounts(tmpl, spec, state)
    with pytest.raises(TemplateError, match="hostPath / is refused: it reaches the controller's state directory"):
        _mounts(tmpl, spec, state, allowed=("/",))
    elsewhere = {"volumes": [{"name": "root", "hostPath": {"path": "/etc"}}]}
    with pytest.raises(TemplateError, match="is not below an allowed host path"):
        _mounts(tmpl, elsewhere, state, allowed=(str(host),))
    inside = {"volumes": [{"name": "root", "hostPath": {"path": str(host / "sub")}}]}
    assert _mounts(tmpl, inside, state, allowed=(str(host),)) == {"/host": str(host / "sub")}
    escape = {"volumes": [{"name": "root", "hostPath": {"path": str(host / ".." / "state")}}]}
    with pytest.raises(TemplateError, match="state directory"):
        _mounts(tmpl, escape, state, allowed=(str(tmp_path),))


def test_claim_gc_follows_the_strategy(tmp_path: Path) -> None:
    claim = workflow_claim_dir(tmp_path, "ns", "wf", "workdir")
    claim.mkdir(parents=True)
    keep = {"volumeClaimGC": {"strategy": "OnWorkflowSuccess"}}
    release_workflow_volumes(keep, root=tmp_path, namespace="ns", workflow="wf", phase="Failed")
    assert claim.is_dir()
    release_workflow_volumes(keep, root=tmp_path, namespace="ns", workflow="wf", phase="Succeeded")
    assert not claim.exists()
    claim.mkdir(parents=True)
    release_workflow_volumes({}, root=tmp_path, namespace="ns", workflow="wf", phase="Error")
    assert not claim.exists()


def test_config_map_volume_writes_one_file_per_key(tmp_path: Path) -> None:
    maps = {"settings": {"data": {"a.conf": "x=1", "b": "two"}}}
    tmpl = {"container": {"volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg"}, {"name": "one", "mountPath": "/etc/one"}]}}
    spec = {
        "volumes": [
            {"name": "cfg", "configMap": {"name": "settings"}},
            {"name": "one", "configMap": {"name": "settings", "items": [{"key": "b", "path": "dir/renamed"}]}},
        ]
    }
    mounts = _mounts(tmpl, spec, tmp_path, config_map=maps.get)
    assert sorted(p.name for p in (tmp_path / mounts["/etc/cfg"]).iterdir()) == ["a.conf", "b"]
    assert (tmp_path / mounts["/etc/cfg"] / "a.conf").read_text() == "x=1"
    assert [p.name for p in (tmp_path / mounts["/etc/one"]).rglob("*") if p.is_file()] == ["renamed"]
    with pytest.raises(TemplateError, match='configMap "settings" has no key for other'):
        _mounts(tmpl, {"volumes": [*spec["volumes"][:1], {"name": "one", "configMap": {"name": "settings", "items": [{"key": "zz", "path": "other"}]}}]}, tmp_path, config_map=maps.get)


# --------------------------------------------------------------------------- end to end (real processes)


@pytest.fixture
async def isolated(tmp_path: Path) -> AsyncIterator[LocalExecutor]:
    executor = LocalExecutor(tmp_path / "state")
    await executor.prepare()
    try:
        if not executor.isolated:
            pytest.skip(f"node isolation is not available here: {executor.isolation_note}")
        yield executor
    finally:
        await executor.close()


async def _run(executor: LocalExecutor, text: str, bundle: Bundle | None = None) -> dict[str, Any]:
    settings = ControllerSettings(executor="local", state_dir=executor.state_dir)
    async with Controller(settings, store=MemoryStore(), executor=executor) as ctl:
        key = await ctl.submit(load(text), bundle=bundle)
        return await ctl.wait(key, timeout=60)


VOLUMES = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: vols}
spec:
  entrypoint: main
  volumeClaimTemplates:
  - metadata: {name: shared}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
  volumes:
  - {name: scratch, emptyDir: {}}
  - {name: cfg, configMap: {name: settings}}
  templates:
  - name: main
    steps:
    - - {name: write, template: write}
    - - {name: read, template: read}
  - name: write
    initContainers:
    - name: prep
      image: alpine
      command: [sh, -c, "echo from-init > /scratch/f"]
      volumeMounts: [{name: scratch, mountPath: /scratch}]
    container:
      image: alpine
      command: [sh, -c]
      args: ["grep -q ' /scratch ' /proc/mounts && cat /scratch/f > /shared/msg && cat /etc/cfg/greeting >> /shared/msg"]
      volumeMounts:
      - {name: scratch, mountPath: /scratch}
      - {name: shared, mountPath: /shared}
      - {name: cfg, mountPath: /etc/cfg}
    outputs:
      parameters:
      - name: from-volume
        valueFrom: {path: /scratch/f}
  - name: read
    container:
      image: alpine
      command: [sh, -c]
      args: ["cat /shared/msg; echo; ls /scratch | wc -l"]
      volumeMounts:
      - {name: scratch, mountPath: /scratch}
      - {name: shared, mountPath: /shared}
"""


async def test_volumes_end_to_end(isolated: LocalExecutor) -> None:
    bundle = Bundle(config_maps={("", "settings"): {"kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"greeting": "hello"}}})
    wf = await _run(isolated, VOLUMES, bundle)
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
    # the init container's emptyDir file reached main, the ConfigMap value is the file verbatim
    # (no newline added); the PVC carried it to the next step, whose own emptyDir started empty
    assert by_name(wf)["vols[1].read"]["outputs"]["result"] == "from-init\nhello\n0"
    # an output parameter is read from the volume mounted over its path
    assert by_name(wf)["vols[0].write"]["outputs"]["parameters"] == [{"name": "from-volume", "value": "from-init"}]
    # volumeClaimGC's default (OnWorkflowCompletion) deleted the workflow's claim
    assert not workflow_claim_dir(isolated.state_dir, "default", "vols", "shared").exists()


EXISTING = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: existing-}
spec:
  entrypoint: main
  volumes:
  - name: workdir
    persistentVolumeClaim: {claimName: my-existing-volume}
  templates:
  - name: main
    container:
      image: alpine
      command: [sh, -c, "echo run >> /mnt/vol/log; wc -l < /mnt/vol/log"]
      volumeMounts: [{name: workdir, mountPath: /mnt/vol}]
"""


async def test_existing_claim_outlives_workflows_and_a_missing_one_errors(isolated: LocalExecutor) -> None:
    missing = await _run(isolated, EXISTING)
    assert missing["status"]["phase"] == "Error"
    assert 'persistentVolumeClaim "my-existing-volume" not found' in str(missing["status"].get("message"))
    claim_dir(isolated.state_dir, "default", "my-existing-volume").mkdir(parents=True)
    results = []
    for _ in range(2):
        wf = await _run(isolated, EXISTING)
        assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
        results.append(next(n for n in wf["status"]["nodes"].values() if n["type"] == "Pod")["outputs"]["result"])
    assert results == ["1", "2"]


DIRECTORY = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: dirs}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: gen, template: gen}
    - - name: whole
        template: show
        arguments: {artifacts: [{name: in, from: "{{steps.gen.outputs.artifacts.out}}"}]}
      - name: one
        template: show
        arguments: {artifacts: [{name: in, from: "{{steps.gen.outputs.artifacts.out}}", subPath: sub/b.txt}]}
      - name: folder
        template: show
        arguments: {artifacts: [{name: in, from: "{{steps.gen.outputs.artifacts.out}}", subPath: sub}]}
  - name: gen
    container:
      image: alpine
      command: [sh, -c, "mkdir -p /out/sub && echo A > /out/a.txt && echo B > /out/sub/b.txt"]
    outputs:
      artifacts:
      - {name: out, path: /out, archive: {none: {}}}
  - name: show
    inputs:
      artifacts: [{name: in, path: /in}]
    container:
      image: alpine
      command: [sh, -c, "if [ -d /in ]; then (cd /in && find . -type f | sort); else cat /in; fi"]
"""


async def test_directory_artifact_and_sub_path(isolated: LocalExecutor) -> None:
    wf = await _run(isolated, DIRECTORY)
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
    nodes = by_name(wf)
    assert nodes["dirs[1].whole"]["outputs"]["result"] == "./a.txt\n./sub/b.txt"
    assert nodes["dirs[1].one"]["outputs"]["result"] == "B"
    assert nodes["dirs[1].folder"]["outputs"]["result"] == "./b.txt"
    # the status shows the artifact as Argo does, without the host copy's location
    assert nodes["dirs[0].gen"]["outputs"]["artifacts"] == [{"name": "out", "path": "/out"}]
    assert "x-hookbus-path" not in str(wf)


async def test_sub_path_not_in_the_artifact_errors(isolated: LocalExecutor) -> None:
    wf = await _run(isolated, DIRECTORY.replace("subPath: sub/b.txt", "subPath: nope.txt"))
    assert wf["status"]["phase"] != "Succeeded"
    assert "subPath 'nope.txt' is not in the artifact" in str(by_name(wf)["dirs[1].one"].get("message"))
