"""Input artifacts in a node's pod: the ConfigMap, the launcher's init options, the mounts.

The tasks are made as the engine makes them (its artifact writers for content it holds,
``input_files`` for artifacts kept on the host), so a change of what the engine hands the
executor shows here.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from hookbus.controller.argo.names import pod_name
from hookbus.controller.engine.pods import process_spec
from hookbus.controller.engine.templates import ARTIFACT_KEY, artifact_writers
from hookbus.controller.kube.filelist import FileListError, is_file_list, pack, unpack
from hookbus.controller.kube.pods import PodSettings, WorkflowRef
from hookbus.controller.kube.pods_inputs import ARTIFACTS_DIR, INPUTS_DIR, InputTooLarge
from hookbus.controller.kube.pods_plan import KubePodPlan
from hookbus.controller.kube.pods_view import user_pod
from tests.kube.test_pods import K8S, task_of

UID = "6f1c2a52-8d5e-4d8e-9a57-0c1f5e0e6f01"
TEMPLATE: dict[str, Any] = {
    "name": "consume",
    "inputs": {
        "artifacts": [
            {"name": "message", "path": "/tmp/message"},
            {"name": "tool", "path": "/usr/local/bin/tool", "mode": 0o755},
            {"name": "tree", "path": "/workspace/tree"},
        ]
    },
    "container": {"image": "alpine:3.20", "command": ["sh", "-c", "cat /tmp/message"]},
}


def plan_for(tmpl: dict[str, Any], **settings: Any) -> KubePodPlan:
    spec = {"entrypoint": tmpl["name"], "templates": [tmpl]}
    return KubePodPlan(PodSettings(**settings), lambda key: WorkflowRef(key.name, key.namespace, UID, spec))


def consume_task(tmp_path: Path, tmpl: dict[str, Any] = TEMPLATE) -> Any:
    wf = {"metadata": {"name": "wf"}, "spec": {"templates": [tmpl]}}
    tool = tmp_path / "tool.bin"
    tool.write_bytes(b"\x7fELF\x00binary")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "b.txt").write_text("bee\n")
    inputs = {"artifacts": [{"name": "message", "path": "/tmp/message", ARTIFACT_KEY: "hello from raw"}]}
    task = task_of(wf, tmpl)
    writers = tuple(process_spec(p) for p in artifact_writers(inputs))
    return replace(task, init=(*writers, *task.init), input_files={"/usr/local/bin/tool": str(tool), "/workspace/tree": str(tree)})


def test_input_artifacts_are_one_config_map_init_options_and_subpath_mounts(tmp_path: Path) -> None:
    plan = plan_for(TEMPLATE, instance_id="blue")
    task = consume_task(tmp_path)
    pod = plan.manifest(task)
    kubernetes_validate.validate(pod, K8S, strict=True)
    name = pod_name("wf", "wf.consume", "consume")

    init = pod["spec"]["initContainers"]
    assert [c["name"] for c in init] == ["init"], "the engine's writer processes are not containers"
    assert init[0]["command"][3:] == [
        "--input-file", f":{ARTIFACTS_DIR}/a0:{INPUTS_DIR}/a0",
        "--input-file", f"755:{ARTIFACTS_DIR}/a1:{INPUTS_DIR}/a1",
        "--input-dir", f":{ARTIFACTS_DIR}/a2:{INPUTS_DIR}/a2",
    ]
    assert {"name": "hookbus-inputs", "mountPath": INPUTS_DIR} in init[0]["volumeMounts"]
    assert {"name": "hookbus-artifacts", "mountPath": ARTIFACTS_DIR, "readOnly": True} in init[0]["volumeMounts"]
    main = pod["spec"]["containers"][0]
    assert [m for m in main["volumeMounts"] if m["name"] == "hookbus-inputs"] == [
        {"name": "hookbus-inputs", "mountPath": "/tmp/message", "subPath": "a0"},
        {"name": "hookbus-inputs", "mountPath": "/usr/local/bin/tool", "subPath": "a1"},
        {"name": "hookbus-inputs", "mountPath": "/workspace/tree", "subPath": "a2"},
    ]
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["hookbus-inputs"] == {"name": "hookbus-inputs", "emptyDir": {}}
    assert volumes["hookbus-artifacts"] == {"name": "hookbus-artifacts", "configMap": {"name": name}}
    assert plan.inputs_of(pod) == name

    config_map = plan.inputs(task, pod)
    assert config_map is not None
    kubernetes_validate.validate(config_map, K8S, strict=True)
    meta = config_map["metadata"]
    assert meta["name"] == name and meta["namespace"] == "argo"
    assert meta["labels"] == {
        "workflows.argoproj.io/workflow": "wf",
        "workflows.argoproj.io/controller-instanceid": "blue",
    }
    assert meta["annotations"]["workflows.argoproj.io/node-id"] == task.node_id
    assert meta["ownerReferences"] == pod["metadata"]["ownerReferences"]
    data = {k: base64.b64decode(v) for k, v in config_map["binaryData"].items()}
    assert data["a0"] == b"hello from raw"
    assert data["a1"] == b"\x7fELF\x00binary"
    assert is_file_list(data["a2"])
    unpack(data["a2"], tmp_path / "copy")
    assert (tmp_path / "copy" / "sub" / "b.txt").read_text() == "bee\n"


def test_a_pod_without_input_artifacts_has_no_config_map(tmp_path: Path) -> None:
    tmpl = {"name": "plain", "container": {"image": "alpine:3.20", "command": ["true"]}}
    plan = plan_for(tmpl)
    task = task_of({"metadata": {"name": "wf"}, "spec": {"templates": [tmpl]}}, tmpl)
    pod = plan.manifest(task)
    assert plan.inputs(task, pod) is None
    assert plan.inputs_of(pod) is None
    assert {v["name"] for v in pod["spec"]["volumes"]} == {"hookbus-launcher"}


def test_input_artifacts_larger_than_the_limit_are_an_error_naming_the_artifact(tmp_path: Path) -> None:
    plan = plan_for(TEMPLATE, input_limit=64)
    task = consume_task(tmp_path)
    (tmp_path / "tree" / "big").write_bytes(b"x" * 100)
    pod = plan.manifest(task)
    with pytest.raises(InputTooLarge, match=r"input artifact 'tree' \(/workspace/tree\) does not fit .* limited to 64 bytes"):
        plan.inputs(task, pod)
    (tmp_path / "tree" / "big").unlink()
    (tmp_path / "tool.bin").write_bytes(b"x" * 100)
    with pytest.raises(InputTooLarge, match=r"input artifact 'tool' \(/usr/local/bin/tool\) .* 64 bytes in all .*; it is 100 bytes"):
        plan.inputs(task, pod)


def test_a_missing_host_file_is_named(tmp_path: Path) -> None:
    plan = plan_for(TEMPLATE)
    task = replace(consume_task(tmp_path), input_files={"/usr/local/bin/tool": str(tmp_path / "gone")})
    with pytest.raises(ValueError, match=r"input artifact 'tool' \(/usr/local/bin/tool\): cannot read .*gone"):
        plan.inputs(task, plan.manifest(task))


def test_the_containers_of_a_container_set_mount_the_inputs_too(tmp_path: Path) -> None:
    tmpl = {
        "name": "set",
        "inputs": {"artifacts": [{"name": "message", "path": "/tmp/message"}]},
        "containerSet": {"containers": [
            {"name": "a", "image": "alpine:3.20", "command": ["cat", "/tmp/message"]},
            {"name": "main", "image": "alpine:3.20", "command": ["cat", "/tmp/message"], "dependencies": ["a"]},
        ]},
    }
    task = consume_task(tmp_path, tmpl)
    task = replace(task, input_files={})
    pod = plan_for(tmpl).manifest(task)
    mount = {"name": "hookbus-inputs", "mountPath": "/tmp/message", "subPath": "a0"}
    assert mount in pod["spec"]["initContainers"][1]["volumeMounts"]
    assert mount in pod["spec"]["containers"][0]["volumeMounts"]


def test_a_plugin_sees_the_inputs_in_the_pod_but_reads_back_none_of_them(tmp_path: Path) -> None:
    pod = plan_for(TEMPLATE).manifest(consume_task(tmp_path))
    back = user_pod(pod)
    assert back["spec"]["initContainers"] == []
    assert "volumeMounts" not in back["spec"]["containers"][0]
    assert back["spec"]["volumes"] == []


def test_file_lists_round_trip_and_refuse_escapes(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f").write_bytes(b"\x00\x01")
    (src / "d" / "f").chmod(0o600)
    (src / "l").symlink_to("d/f")
    (src / "d").chmod(0o500)
    data = pack(src, limit=10_000)
    unpack(data, tmp_path / "out")
    assert (tmp_path / "out" / "d" / "f").read_bytes() == b"\x00\x01"
    assert (tmp_path / "out" / "d" / "f").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "out" / "d").stat().st_mode & 0o777 == 0o500
    assert (tmp_path / "out" / "l").readlink() == Path("d/f")
    with pytest.raises(FileListError, match="larger than 10 bytes"):
        pack(src, limit=10)
    with pytest.raises(FileListError, match="not a relative path"):
        unpack(b"hookbus-files 1\nf 644 1 9\n../escapex", tmp_path / "evil")
    with pytest.raises(FileListError, match="cut short"):
        unpack(b"hookbus-files 1\nf 644 9 1\nx", tmp_path / "short")
    (src / "d").chmod(0o700)
