"""The Pod a node becomes: Argo's layout, the launcher in front of main, and valid manifests.

Every pod built for the repository's examples (and Argo's examples, when the conformance
folder is present; ``HOOKBUS_ARGO_EXAMPLES`` names another one) passes
``kubernetes-validate --strict`` for Kubernetes 1.33.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from hookbus.controller.argo.names import node_id, pod_name
from hookbus.controller.engine.pods import process_spec
from hookbus.controller.engine.ports import TaskSpec
from hookbus.controller.engine.templates import (
    output_artifact_paths,
    output_paths,
    pod_dict,
    template_kind,
)
from hookbus.controller.executors.images import KNOWN_IMAGES
from hookbus.controller.kube.claims import claim_manifests, claims_to_delete
from hookbus.controller.kube.launcher import LAUNCHER_PATH
from hookbus.controller.kube.pods import (
    SCRIPT_PATH,
    PodBuildError,
    PodSettings,
    WorkflowRef,
    build_pod,
    merge_patch,
)
from hookbus.controller.kube.pods_images import (
    ImageConfigError,
    ImageEntry,
    lint_images,
    parse_images,
)
from tests.conformance import runner

ROOT = Path(__file__).resolve().parents[2]
K8S = "1.33.0"
ARGO_EXAMPLES = Path(os.environ.get("HOOKBUS_ARGO_EXAMPLES") or runner.DEFAULT_EXAMPLES)
KNOWN = {name: ImageEntry(d.entrypoint, d.cmd) for name, d in KNOWN_IMAGES.items()}
SETTINGS = PodSettings(launcher_image="registry.example/hookbus:1.0", images=KNOWN)


def task_of(wf: dict[str, Any], tmpl: dict[str, Any], node_name: str | None = None) -> TaskSpec:
    """The task the engine would hand the executor for a leaf of *tmpl* (placeholders left as they are)."""
    name = wf["metadata"].get("name") or wf["metadata"].get("generateName", "wf-").rstrip("-") or "wf"
    node_name = node_name or f"{name}.{tmpl['name']}"
    pod = pod_dict(tmpl, wf)
    return TaskSpec(
        namespace="argo",
        workflow=name,
        node_id=node_id(name, node_name),
        node_name=node_name,
        template_name=str(tmpl["name"]),
        main=process_spec(pod["main"]),
        sidecars=tuple(process_spec(p) for p in pod["sidecars"]),
        init=tuple(process_spec(p) for p in pod["init"]),
        output_parameters=output_paths(tmpl),
        labels=pod["labels"],
        annotations=pod["annotations"],
        output_artifacts=output_artifact_paths(tmpl),
    )


def ref_of(wf: dict[str, Any]) -> WorkflowRef:
    name = wf["metadata"].get("name") or wf["metadata"].get("generateName", "wf-").rstrip("-") or "wf"
    return WorkflowRef(name=name, namespace="argo", uid="6f1c2a52-8d5e-4d8e-9a57-0c1f5e0e6f01", spec=wf.get("spec") or {})


def pods_of(wf: dict[str, Any], settings: PodSettings = SETTINGS) -> list[dict[str, Any]]:
    spec = wf.get("spec") or {}
    out = []
    for tmpl in spec.get("templates") or []:
        if template_kind(tmpl) in ("container", "script", "containerSet"):
            out.append(build_pod(task_of(wf, tmpl), ref_of(wf), settings, template=tmpl, deadline=spec.get("activeDeadlineSeconds")))
    return out


def workflows_in(folder: Path) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(folder.rglob("*.yaml")):
        try:
            docs = list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError:
            continue
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind") in ("Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate"):
                found.append((str(path.relative_to(folder)), doc))
    return found


def hello() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "examples" / "hello-world.yaml").read_text())  # type: ignore[no-any-return]


# ----------------------------------------------------------------- validity


@pytest.mark.parametrize("example", sorted(p.name for p in (ROOT / "examples").glob("*.yaml")))
def test_every_pod_of_the_examples_is_a_valid_pod(example: str) -> None:
    built = 0
    for _, wf in workflows_in(ROOT / "examples"):
        if _ != example:
            continue
        for pod in pods_of(wf):
            kubernetes_validate.validate(pod, K8S, strict=True)
            built += 1
    assert built or example == "plugin-template.yaml"


@pytest.mark.skipif(not ARGO_EXAMPLES.is_dir(), reason=f"no Argo examples at {ARGO_EXAMPLES}")
def test_every_pod_of_argos_examples_is_a_valid_pod_or_names_its_template() -> None:
    built = 0
    problems = []
    for where, wf in workflows_in(ARGO_EXAMPLES):
        for tmpl in (wf.get("spec") or {}).get("templates") or []:
            if template_kind(tmpl) not in ("container", "script", "containerSet"):
                continue
            try:
                pod = build_pod(task_of(wf, tmpl), ref_of(wf), SETTINGS, template=tmpl)
            except PodBuildError as exc:
                assert repr(tmpl["name"]) in str(exc) or "volume" in str(exc), str(exc)
                continue
            try:
                kubernetes_validate.validate(pod, K8S, strict=True)
            except kubernetes_validate.ValidationError as exc:
                problems.append(f"{where} {tmpl['name']}: {exc.message}")
            built += 1
    assert built > 100
    assert problems == []


# ------------------------------------------------------------ hello-world pod


def test_hello_world_pod_is_laid_out_as_argo_lays_it_out() -> None:
    wf = hello()
    wf["metadata"]["name"] = "hello-world-x7k2p"
    tmpl = wf["spec"]["templates"][0]
    task = task_of(wf, tmpl, node_name="hello-world-x7k2p")
    pod = build_pod(task, ref_of(wf), PodSettings(instance_id="blue"), template=tmpl)
    meta = pod["metadata"]
    assert meta["name"] == pod_name("hello-world-x7k2p", "hello-world-x7k2p", "hello") == "hello-world-x7k2p"
    assert meta["namespace"] == "argo"
    assert meta["labels"] == {
        "workflows.argoproj.io/workflow": "hello-world-x7k2p",
        "workflows.argoproj.io/completed": "false",
        "workflows.argoproj.io/controller-instanceid": "blue",
    }
    assert meta["annotations"] == {
        "workflows.argoproj.io/node-name": "hello-world-x7k2p",
        "workflows.argoproj.io/node-id": "hello-world-x7k2p",
        "kubectl.kubernetes.io/default-container": "main",
    }
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "name": "hello-world-x7k2p",
            "uid": "6f1c2a52-8d5e-4d8e-9a57-0c1f5e0e6f01",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never"
    assert "activeDeadlineSeconds" not in spec
    (init,) = spec["initContainers"]
    assert init["name"] == "init"
    assert init["image"] == PodSettings().launcher_image
    assert init["command"] == ["/usr/local/bin/hookbus-launcher", "install", "/var/run/hookbus/launcher"]
    (main,) = spec["containers"]
    assert main["name"] == "main"
    assert main["image"] == "busybox"
    assert main["command"] == [LAUNCHER_PATH, "--result", "--", "echo"]
    assert main["args"] == ["{{inputs.parameters.greeting}}"]  # the user's args, unchanged
    assert main["volumeMounts"] == [{"name": "hookbus-launcher", "mountPath": "/var/run/hookbus"}]
    assert spec["volumes"] == [{"name": "hookbus-launcher", "emptyDir": {}}]
    kubernetes_validate.validate(pod, K8S, strict=True)


def test_a_non_root_node_gets_argos_v2_pod_name_and_its_node_id() -> None:
    wf = hello()
    wf["metadata"]["name"] = "hw"
    tmpl = wf["spec"]["templates"][0]
    pod = build_pod(task_of(wf, tmpl, node_name="hw[0].hello"), ref_of(wf), PodSettings(), template=tmpl)
    assert pod["metadata"]["name"] == pod_name("hw", "hw[0].hello", "hello")
    assert pod["metadata"]["name"].startswith("hw-hello-")
    assert pod["metadata"]["annotations"]["workflows.argoproj.io/node-id"] == node_id("hw", "hw[0].hello")
    assert "workflows.argoproj.io/controller-instanceid" not in pod["metadata"]["labels"]


# --------------------------------------------------------------- layout details


def wf_with(tmpl: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "wf"}, "spec": {"entrypoint": tmpl["name"], "templates": [tmpl], **spec}}


def build(tmpl: dict[str, Any], settings: PodSettings = SETTINGS, deadline: int | None = None, **spec: Any) -> dict[str, Any]:
    wf = wf_with(tmpl, **spec)
    pod = build_pod(task_of(wf, tmpl), ref_of(wf), settings, template=tmpl, deadline=deadline)
    kubernetes_validate.validate(pod, K8S, strict=True)
    return pod


def test_a_script_is_staged_as_argo_stages_it() -> None:
    pod = build({"name": "s", "script": {"image": "python:3.12", "command": ["python"], "source": "print('hi')\n"}})
    init = pod["spec"]["initContainers"][0]
    assert init["command"][-2:] == ["--script", SCRIPT_PATH]
    assert init["env"] == [{"name": "HOOKBUS_SCRIPT", "value": "print('hi')\n"}]
    main = pod["spec"]["containers"][0]
    assert main["command"] == [LAUNCHER_PATH, "--result", "--", "python"]
    assert main["args"] == ["/argo/staging/script"]
    assert {"name": "argo-staging", "mountPath": "/argo/staging"} in main["volumeMounts"]
    assert {"name": "argo-staging", "emptyDir": {}} in pod["spec"]["volumes"]
    assert "source" not in main


def test_outputs_become_launcher_options() -> None:
    pod = build(
        {
            "name": "o",
            "container": {"image": "alpine", "command": ["sh", "-c", "echo 1 > /tmp/a"]},
            "outputs": {
                "parameters": [{"name": "a", "valueFrom": {"path": "/tmp/a"}}],
                "artifacts": [{"name": "f", "path": "/tmp/f"}],
            },
        }
    )
    assert pod["spec"]["containers"][0]["command"] == [
        LAUNCHER_PATH, "--result", "--output", "a=/tmp/a", "--artifact", "f=/tmp/f",
        "--", "sh", "-c", "echo 1 > /tmp/a",
    ]


def test_env_keeps_value_from_and_takes_values_from_the_task() -> None:
    tmpl = {
        "name": "e",
        "container": {
            "image": "alpine",
            "command": ["env"],
            "env": [
                {"name": "A", "value": "1"},
                {"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
            ],
            "resources": {"limits": {"memory": "64Mi"}},
            "securityContext": {"runAsNonRoot": True},
        },
    }
    wf = wf_with(tmpl)
    task = task_of(wf, tmpl)
    from dataclasses import replace

    patched = replace(task, main=replace(task.main, env={**task.main.env, "PLUGIN": "x"}))
    pod = build_pod(patched, ref_of(wf), SETTINGS, template=tmpl)
    main = pod["spec"]["containers"][0]
    assert main["env"] == [
        {"name": "A", "value": "1"},
        {"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
        {"name": "PLUGIN", "value": "x"},
    ]
    assert main["resources"] == {"limits": {"memory": "64Mi"}}
    assert main["securityContext"] == {"runAsNonRoot": True}


def test_a_plugins_pod_patch_is_in_the_pod() -> None:
    from dataclasses import replace

    from hookbus.controller.engine.pods import apply_pod, pod_of

    tmpl = {"name": "p", "container": {"image": "alpine", "command": ["true"]}}
    wf = wf_with(tmpl)
    task = task_of(wf, tmpl)
    seen = pod_of(task, tmpl)
    seen["labels"]["team"] = "data"
    seen["annotations"]["cost-center"] = "42"
    seen["sidecars"].append({"name": "proxy", "image": "envoy:1", "command": ["envoy"], "args": [], "env": {"MODE": "edge"}})
    seen["main"]["env"]["INJECTED"] = "yes"
    patched = apply_pod(task, seen)
    patched = replace(patched)
    pod = build_pod(patched, ref_of(wf), SETTINGS, template=tmpl)
    kubernetes_validate.validate(pod, K8S, strict=True)
    assert pod["metadata"]["labels"]["team"] == "data"
    assert pod["metadata"]["annotations"]["cost-center"] == "42"
    assert [c["name"] for c in pod["spec"]["containers"]] == ["main", "proxy"]
    assert pod["spec"]["containers"][1]["env"] == [{"name": "MODE", "value": "edge"}]
    assert {"name": "INJECTED", "value": "yes"} in pod["spec"]["containers"][0]["env"]


def test_a_plugins_json_patch_of_the_pod_view_is_in_the_created_pod() -> None:
    """The path of a ``pod.preCreate`` patch: the pod the plugin sees, its JSON patch, and
    the pod built from the patched node (labels, annotations, a sidecar, env, resources)."""
    import jsonpatch

    from hookbus.controller.adapters.plugin_hooks import from_kubernetes_pod, to_kubernetes_pod
    from hookbus.controller.engine.hooks import WorkflowInfo
    from hookbus.controller.engine.pods import apply_pod, pod_of

    tmpl = {"name": "p", "container": {"image": "alpine", "command": ["true"], "resources": {"limits": {"memory": "1Gi"}}}}
    wf = wf_with(tmpl)
    task = task_of(wf, tmpl)
    view = pod_of(task, tmpl)
    seen = to_kubernetes_pod(view, WorkflowInfo(namespace="argo", name="wf", uid="u"))
    ops = [
        {"op": "add", "path": "/metadata/labels/team", "value": "data"},
        {"op": "add", "path": "/metadata/annotations/policy", "value": "checked"},
        {"op": "add", "path": "/spec/containers/-", "value": {"name": "proxy", "image": "envoy:1", "command": ["envoy"]}},
        {"op": "add", "path": "/spec/containers/0/env", "value": [{"name": "INJECTED", "value": "yes"}]},
        {"op": "replace", "path": "/spec/containers/0/resources", "value": {"limits": {"memory": "2Gi", "cpu": "1"}}},
    ]
    patched = apply_pod(task, from_kubernetes_pod(jsonpatch.apply_patch(seen, ops), view))
    pod = build_pod(patched, ref_of(wf), SETTINGS, template=tmpl)
    kubernetes_validate.validate(pod, K8S, strict=True)
    assert pod["metadata"]["labels"]["team"] == "data"
    assert pod["metadata"]["annotations"]["policy"] == "checked"
    main, proxy = pod["spec"]["containers"]
    assert main["resources"] == {"limits": {"memory": "2Gi", "cpu": "1"}}
    assert main["env"] == [{"name": "INJECTED", "value": "yes"}]
    assert main["command"][-2:] == ["--", "true"]
    assert (proxy["name"], proxy["command"]) == ("proxy", ["envoy"])
    # A second look (the pod shown again after the patch) shows the patched fields.
    assert pod_of(patched, tmpl)["main"]["resources"] == {"limits": {"memory": "2Gi", "cpu": "1"}}


def test_init_containers_sidecars_and_pod_fields() -> None:
    tmpl = {
        "name": "full",
        "serviceAccountName": "runner",
        "nodeSelector": {"disk": "ssd"},
        "tolerations": [{"key": "k", "operator": "Exists"}],
        "initContainers": [{"name": "prep", "image": "alpine", "command": ["true"]}],
        "sidecars": [{"name": "db", "image": "postgres:16", "mirrorVolumeMounts": True}],
        "container": {"image": "alpine", "command": ["true"], "volumeMounts": [{"name": "work", "mountPath": "/workdir"}]},
        "volumes": [{"name": "work", "emptyDir": {}}],
    }
    pod = build(tmpl, securityContext={"runAsUser": 1000}, podPriorityClassName="high")
    spec = pod["spec"]
    assert spec["serviceAccountName"] == "runner"
    assert spec["nodeSelector"] == {"disk": "ssd"}
    assert spec["securityContext"] == {"runAsUser": 1000}
    assert spec["priorityClassName"] == "high"
    assert [c["name"] for c in spec["initContainers"]] == ["init", "prep"]
    db = spec["containers"][1]
    assert db["name"] == "db"
    assert "mirrorVolumeMounts" not in db
    assert {"name": "work", "mountPath": "/workdir"} in db["volumeMounts"]


def test_a_container_sets_containers_run_in_order_with_their_fields() -> None:
    tmpl = {
        "name": "cs",
        "containerSet": {
            "volumeMounts": [{"name": "work", "mountPath": "/workdir"}],
            "containers": [
                {"name": "a", "image": "alpine", "command": ["touch", "/workdir/a"], "resources": {"limits": {"cpu": "1"}}},
                {"name": "b", "image": "alpine", "command": ["ls", "/workdir"], "dependencies": ["a"]},
            ],
        },
        "volumes": [{"name": "work", "emptyDir": {}}],
    }
    spec = build(tmpl)["spec"]
    init_a = spec["initContainers"][1]
    assert (init_a["name"], init_a["resources"]) == ("a", {"limits": {"cpu": "1"}})
    assert {"name": "work", "mountPath": "/workdir"} in init_a["volumeMounts"]
    main = spec["containers"][0]
    assert main["command"][-2:] == ["ls", "/workdir"]
    assert "dependencies" not in main
    assert {"name": "work", "mountPath": "/workdir"} in main["volumeMounts"]


def test_workflow_service_account_and_default() -> None:
    tmpl = {"name": "t", "container": {"image": "alpine", "command": ["true"]}}
    assert build(tmpl, serviceAccountName="wf-sa")["spec"]["serviceAccountName"] == "wf-sa"
    assert build(tmpl, PodSettings(service_account="hookbus-workload"))["spec"]["serviceAccountName"] == "hookbus-workload"
    assert "serviceAccountName" not in build(tmpl)["spec"]


def test_volumes_of_every_kind() -> None:
    tmpl = {
        "name": "v",
        "container": {
            "image": "alpine",
            "command": ["ls"],
            "volumeMounts": [
                {"name": "cfg", "mountPath": "/cfg"},
                {"name": "sec", "mountPath": "/sec"},
                {"name": "host", "mountPath": "/host"},
                {"name": "old", "mountPath": "/old"},
                {"name": "workdir", "mountPath": "/w"},
            ],
        },
    }
    pod = build(
        tmpl,
        volumes=[
            {"name": "cfg", "configMap": {"name": "settings"}},
            {"name": "sec", "secret": {"secretName": "creds"}},
            {"name": "host", "hostPath": {"path": "/var/log", "type": "Directory"}},
            {"name": "old", "persistentVolumeClaim": {"claimName": "existing"}},
            {"name": "unused", "emptyDir": {}},
        ],
        volumeClaimTemplates=[
            {"metadata": {"name": "workdir"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
        ],
    )
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert set(volumes) == {"hookbus-launcher", "cfg", "sec", "host", "old", "workdir"}
    assert volumes["workdir"] == {"name": "workdir", "persistentVolumeClaim": {"claimName": "wf-workdir"}}
    assert volumes["old"]["persistentVolumeClaim"] == {"claimName": "existing"}


def test_claims_are_created_owned_by_the_workflow_and_deleted_per_volume_claim_gc() -> None:
    spec = {"volumeClaimTemplates": [{"metadata": {"name": "workdir"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}
    ref = WorkflowRef("wf", "argo", "uid-1", spec)
    (claim,) = claim_manifests(ref)
    kubernetes_validate.validate(claim, K8S, strict=True)
    assert claim["metadata"]["name"] == "wf-workdir"
    assert claim["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert claims_to_delete(ref, "Failed") == ["wf-workdir"]
    on_success = WorkflowRef("wf", "argo", "uid-1", {**spec, "volumeClaimGC": {"strategy": "OnWorkflowSuccess"}})
    assert claims_to_delete(on_success, "Failed") == []
    assert claims_to_delete(on_success, "Succeeded") == ["wf-workdir"]


def test_a_mount_of_an_unknown_volume_is_named() -> None:
    tmpl = {"name": "m", "container": {"image": "alpine", "command": ["ls"], "volumeMounts": [{"name": "nope", "mountPath": "/x"}]}}
    with pytest.raises(PodBuildError, match="mounts volume 'nope'"):
        build(tmpl)


def test_deadline_is_the_smaller_of_template_and_workflow() -> None:
    tmpl = {"name": "d", "activeDeadlineSeconds": 30, "container": {"image": "alpine", "command": ["true"]}}
    assert build(tmpl)["spec"]["activeDeadlineSeconds"] == 30
    assert build(tmpl, deadline=10)["spec"]["activeDeadlineSeconds"] == 10
    assert build(tmpl, deadline=100)["spec"]["activeDeadlineSeconds"] == 30
    assert build({**tmpl, "activeDeadlineSeconds": None}, deadline=0)["spec"]["activeDeadlineSeconds"] == 1
    assert "activeDeadlineSeconds" not in build({**tmpl, "activeDeadlineSeconds": "{{inputs.parameters.t}}"})["spec"]
    with pytest.raises(PodBuildError, match="template 'd': activeDeadlineSeconds 'x'"):
        build({**tmpl, "activeDeadlineSeconds": "x"})


def test_pod_spec_patch_is_applied_last_workflow_then_template() -> None:
    tmpl = {
        "name": "p",
        "podSpecPatch": '{"containers": [{"name": "main", "resources": {"limits": {"cpu": "2"}}}]}',
        "container": {"image": "alpine", "command": ["true"], "resources": {"limits": {"memory": "1Gi"}}},
    }
    pod = build(tmpl, podSpecPatch="hostNetwork: true\ncontainers:\n- name: main\n  resources: {limits: {cpu: '1'}}\n")
    main = pod["spec"]["containers"][0]
    assert main["resources"] == {"limits": {"memory": "1Gi", "cpu": "2"}}
    assert main["command"][0] == LAUNCHER_PATH
    assert pod["spec"]["hostNetwork"] is True
    with pytest.raises(PodBuildError, match="template 'p' podSpecPatch must be a map"):
        build({**tmpl, "podSpecPatch": "[1, 2]"})


def test_the_engines_substituted_pod_spec_patch_is_applied_instead_of_the_templates_text() -> None:
    from dataclasses import replace

    tmpl = {
        "name": "p",
        "podSpecPatch": '{"priority": {{inputs.parameters.p}}}',  # not YAML until substituted
        "container": {"image": "alpine", "command": ["true"]},
    }
    wf = wf_with(tmpl)
    task = replace(task_of(wf, tmpl), pod_spec_patch=({"hostNetwork": True}, {"priority": 3}))
    pod = build_pod(task, ref_of(wf), SETTINGS, template=tmpl)
    assert pod["spec"]["priority"] == 3 and pod["spec"]["hostNetwork"] is True


def test_merge_patch_deletes_with_null_and_replaces_other_lists() -> None:
    base = {"a": {"b": 1, "c": 2}, "args": [1, 2], "volumes": [{"name": "x", "emptyDir": {}}]}
    patch = {"a": {"b": None}, "args": [3], "volumes": [{"name": "y", "emptyDir": {}}]}
    assert merge_patch(base, patch) == {"a": {"c": 2}, "args": [3], "volumes": [{"name": "x", "emptyDir": {}}, {"name": "y", "emptyDir": {}}]}


# ----------------------------------------------------------------- images:


def test_a_template_without_command_uses_the_images_config() -> None:
    tmpl = {"name": "w", "container": {"image": "docker/whalesay:latest", "args": ["hello"]}}
    images = parse_images({"docker/whalesay:latest": {"cmd": ["cowsay"]}, "tool:v1": {"entrypoint": ["/tool"], "cmd": ["--help"]}})
    pod = build(tmpl, PodSettings(images=images))
    main = pod["spec"]["containers"][0]
    assert main["command"] == [LAUNCHER_PATH, "--result", "--", "hello"]  # Kubernetes: args replace cmd
    assert "args" not in main
    tool = build({"name": "t", "container": {"image": "tool:v1"}}, PodSettings(images=images))["spec"]["containers"][0]
    assert tool["command"] == [LAUNCHER_PATH, "--result", "--", "/tool"]
    assert tool["args"] == ["--help"]
    untagged = build({"name": "u", "container": {"image": "docker/whalesay"}}, PodSettings(images=images))["spec"]["containers"][0]
    assert untagged["command"][-1] == "cowsay"


def test_a_template_without_command_and_an_unknown_image_is_an_error_naming_it() -> None:
    tmpl = {"name": "mystery", "container": {"image": "example.org/secret:1"}}
    with pytest.raises(PodBuildError, match="template 'mystery' sets no command and image 'example.org/secret:1'"):
        build(tmpl, PodSettings())
    wf = wf_with(tmpl)
    assert lint_images(wf, {}) == [
        "spec.templates[0].container: template 'mystery' sets no command and image 'example.org/secret:1' is not in "
        "the images configuration; in Kubernetes mode the launcher needs the program to run: set 'command' in the "
        "template or list the image's entrypoint/cmd under 'images'"
    ]
    assert lint_images(wf, parse_images({"example.org/secret:1": {"entrypoint": ["/s"]}})) == []


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ([], "expected a map of image references"),
        ({"a": "b"}, "images.a: expected a map"),
        ({"a": {"entry": ["x"]}}, "unknown field"),
        ({"a": {"cmd": "x"}}, "images.a.cmd: expected a list of strings"),
        ({"a": {}}, "neither entrypoint nor cmd"),
    ],
)
def test_a_bad_images_config_is_named(value: object, problem: str) -> None:
    with pytest.raises(ImageConfigError, match=problem):
        parse_images(value)
