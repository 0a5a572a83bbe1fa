"""Manifests: loading, bundles, workflowTemplateRef merging, template and ConfigMap lookup."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from hookbus.controller.argo.errors import ManifestError
from hookbus.controller.argo.manifest import (
    Bundle,
    apply_template_defaults,
    config_map_value,
    find_template,
    iter_template_refs,
    load_bundle,
    load_documents,
    resolve_template_ref,
    resolve_workflow,
    strategic_merge,
    template_kind,
    workflow_name,
)

EXAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance" / "argo-examples"

# ---------------------------------------------------------------------------------------
# load_documents


def test_several_yaml_documents_and_empty_ones() -> None:
    text = "---\nkind: A\n---\n# only a comment\n---\nkind: B\nmetadata: {name: b}\n...\n"
    docs = load_documents(text)
    assert [d["kind"] for d in docs] == ["A", "B"]


def test_json_object_array_and_kubernetes_list() -> None:
    assert load_documents('{"kind": "Workflow", "spec": {}}') == [{"kind": "Workflow", "spec": {}}]
    assert [d["kind"] for d in load_documents('[{"kind": "A"}, {"kind": "B"}]')] == ["A", "B"]
    listed = {"apiVersion": "v1", "kind": "List", "items": [{"kind": "A"}, {"kind": "B"}]}
    assert [d["kind"] for d in load_documents(json.dumps(listed))] == ["A", "B"]


def test_bytes_and_path_sources(tmp_path: Path) -> None:
    file = tmp_path / "wf.yaml"
    file.write_text("kind: Workflow\n")
    assert load_documents(file) == [{"kind": "Workflow"}]
    assert load_documents(b"kind: Workflow\n") == [{"kind": "Workflow"}]


def test_yaml_error_names_file_and_line(tmp_path: Path) -> None:
    file = tmp_path / "broken.yaml"
    file.write_text("kind: Workflow\nspec:\n  entrypoint: main\n   templates: []\n")
    with pytest.raises(ManifestError) as info:
        load_documents(file)
    assert len(info.value.errors) == 1
    where = info.value.errors[0].path
    assert where.startswith(f"{file}:4:"), where
    assert str(file) in str(info.value)


def test_yaml_error_line_in_a_later_document() -> None:
    text = "kind: A\n---\nkind: B\nlist: [1, 2\n"
    with pytest.raises(ManifestError) as info:
        load_documents(text, name="multi.yaml")
    assert re.match(r"multi\.yaml:[45]:\d+$", info.value.errors[0].path)


def test_json_error_names_line() -> None:
    with pytest.raises(ManifestError) as info:
        load_documents('[\n  {"kind": "A"},\n  {"kind": }\n]', name="x.json")
    assert info.value.errors[0].path.startswith("x.json:3:")


def test_yaml_flow_text_is_not_mistaken_for_json() -> None:
    assert load_documents("{kind: Workflow, spec: {entrypoint: main}}") == [
        {"kind": "Workflow", "spec": {"entrypoint": "main"}}
    ]
    assert load_documents("[{kind: A}, {kind: B}]") == [{"kind": "A"}, {"kind": "B"}]


@pytest.mark.parametrize("text", ["[" * 100_000, "a: " + "[" * 100_000, "{" + '"a": {' * 50_000])
def test_absurd_nesting_is_a_manifest_error(text: str) -> None:
    with pytest.raises(ManifestError):
        load_documents(text, name="deep.yaml")


def test_non_mapping_document_is_refused() -> None:
    with pytest.raises(ManifestError, match="document 2 is a str"):
        load_documents("kind: A\n---\njust text\n", name="odd.yaml")


def test_loading_is_safe_and_keeps_timestamps_as_strings() -> None:
    with pytest.raises(ManifestError):
        load_documents("!!python/object/apply:os.system ['true']\n")
    doc = load_documents("metadata:\n  creationTimestamp: 2024-01-02T03:04:05Z\n")[0]
    assert doc["metadata"]["creationTimestamp"] == "2024-01-02T03:04:05Z"


# ---------------------------------------------------------------------------------------
# Bundle

WFT_YAML = """
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata:
  name: lib
spec:
  entrypoint: say
  suspend: true
  arguments:
    parameters:
    - name: msg
      value: from-template
    - name: who
      default: world
    - name: mood
      valueFrom:
        configMapKeyRef: {name: settings, key: mood}
  hooks:
    exit: {template: say}
    running: {expression: "true", template: say}
  templates:
  - name: say
    inputs: {parameters: [{name: msg}]}
    container:
      image: alpine:3.19
      command: [echo, "{{inputs.parameters.msg}}"]
      env: [{name: A, value: template}, {name: B, value: template}]
  - name: shout
    container: {image: alpine:3.19, command: [echo, HEY]}
"""
CWFT_YAML = """
apiVersion: argoproj.io/v1alpha1
kind: ClusterWorkflowTemplate
metadata:
  name: lib
spec:
  templates:
  - name: cluster-say
    container: {image: busybox, command: [echo, cluster]}
"""
CM_YAML = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: team-a
data:
  mood: happy
"""
CM_ANY_NS_YAML = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: shared
data:
  colour: blue
"""


def _bundle() -> Bundle:
    return load_bundle_from_texts(WFT_YAML, CWFT_YAML, CM_YAML, CM_ANY_NS_YAML)


def load_bundle_from_texts(*texts: str) -> Bundle:
    bundle = Bundle()
    for text in texts:
        for doc in load_documents(text):
            bundle.add(doc)
    return bundle


def test_bundle_files_documents_by_kind() -> None:
    wf = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "w"}}
    bundle = _bundle()
    bundle.add(wf)
    bundle.add({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "p"}})
    assert list(bundle.workflow_templates) == ["lib"]
    assert list(bundle.cluster_workflow_templates) == ["lib"]
    assert set(bundle.config_maps) == {("team-a", "settings"), ("", "shared")}
    assert bundle.workflows == [wf]
    assert [d["kind"] for d in bundle.others] == ["PersistentVolumeClaim"]


def test_bundle_merge_later_wins() -> None:
    first = load_bundle_from_texts(WFT_YAML)
    replacement = yaml.safe_load(WFT_YAML)
    replacement["spec"]["entrypoint"] = "shout"
    second = Bundle()
    second.add(replacement)
    second.add({"kind": "Workflow", "metadata": {"name": "w"}})
    first.merge(second)
    assert first.workflow_templates["lib"]["spec"]["entrypoint"] == "shout"
    assert len(first.workflows) == 1


def test_load_bundle_walks_folders_recursively(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "wft.yaml").write_text(WFT_YAML)
    (tmp_path / "a" / "cm.yml").write_text(CM_YAML + "---\n" + CM_ANY_NS_YAML)
    (tmp_path / "cwft.json").write_text(json.dumps(yaml.safe_load(CWFT_YAML)))
    (tmp_path / "notes.txt").write_text("not: [a manifest")
    single = tmp_path / "wf.yaml"
    single.write_text("apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: x}\n")
    bundle = load_bundle(tmp_path / "a", str(tmp_path / "cwft.json"), single)
    assert list(bundle.workflow_templates) == ["lib"]
    assert list(bundle.cluster_workflow_templates) == ["lib"]
    assert len(bundle.config_maps) == 2
    assert [w["metadata"]["name"] for w in bundle.workflows] == ["x"]
    assert bundle.source_of(bundle.workflows[0]) == str(single)


# ---------------------------------------------------------------------------------------
# resolve_workflow


def _wf(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "ref-"},
        "spec": spec,
    }


def test_resolve_merges_the_workflow_template() -> None:
    wf = _wf(
        {
            "workflowTemplateRef": {"name": "lib"},
            "arguments": {
                "parameters": [
                    {"name": "msg", "value": "from-workflow"},
                    {"name": "extra", "value": "x"},
                ]
            },
        }
    )
    original = copy.deepcopy(wf)
    resolved = resolve_workflow(wf, _bundle())
    assert wf == original  # the input is not touched
    spec = resolved["spec"]
    assert spec["entrypoint"] == "say"  # from the template
    assert [t["name"] for t in spec["templates"]] == ["say", "shout"]
    params = {p["name"]: p for p in spec["arguments"]["parameters"]}
    assert params["msg"] == {"name": "msg", "value": "from-workflow"}  # the workflow's wins
    assert params["who"] == {"name": "who", "default": "world"}  # kept from the template
    assert params["mood"]["valueFrom"]["configMapKeyRef"]["key"] == "mood"
    assert params["extra"] == {"name": "extra", "value": "x"}
    assert spec["workflowTemplateRef"] == {"name": "lib"}
    # suspend is only ever the workflow's own
    assert "suspend" not in spec
    # resolving shares nothing with the bundle
    spec["templates"][0]["container"]["image"] = "changed"
    assert (
        _bundle().workflow_templates["lib"]["spec"]["templates"][0]["container"]["image"]
        == "alpine:3.19"
    )


def test_resolve_own_fields_win_and_templates_merge_by_name() -> None:
    wf = _wf(
        {
            "workflowTemplateRef": {"name": "lib"},
            "entrypoint": "shout",
            "hooks": {"exit": {"template": "shout"}},
            "templates": [
                {
                    "name": "say",
                    "container": {"image": "alpine:3.20", "env": [{"name": "B", "value": "wf"}]},
                },
                {"name": "own", "suspend": {}},
            ],
        }
    )
    spec = resolve_workflow(wf, _bundle())["spec"]
    assert spec["entrypoint"] == "shout"
    by_name = {t["name"]: t for t in spec["templates"]}
    assert set(by_name) == {"say", "shout", "own"}
    say = by_name["say"]["container"]
    assert say["image"] == "alpine:3.20"  # the workflow's field wins
    assert say["command"] == ["echo", "{{inputs.parameters.msg}}"]  # the template fills the rest
    assert say["env"] == [{"name": "A", "value": "template"}, {"name": "B", "value": "wf"}]
    # hooks: the workflow's entry replaces the template's whole; others are inherited
    assert spec["hooks"]["exit"] == {"template": "shout"}
    assert spec["hooks"]["running"] == {"expression": "true", "template": "say"}


def test_resolve_cluster_scope_and_missing_template_resource() -> None:
    wf = _wf(
        {"entrypoint": "cluster-say", "workflowTemplateRef": {"name": "lib", "clusterScope": True}}
    )
    spec = resolve_workflow(wf, _bundle())["spec"]
    assert [t["name"] for t in spec["templates"]] == ["cluster-say"]

    missing = _wf({"workflowTemplateRef": {"name": "nope"}})
    with pytest.raises(ManifestError) as info:
        resolve_workflow(missing, _bundle())
    assert info.value.errors[0].path == "spec.workflowTemplateRef.name"
    assert 'WorkflowTemplate "nope" not found' in str(info.value)
    missing["spec"]["workflowTemplateRef"]["clusterScope"] = True
    with pytest.raises(ManifestError, match='ClusterWorkflowTemplate "nope" not found'):
        resolve_workflow(missing, _bundle())


def test_resolve_without_reference_is_a_copy() -> None:
    wf = _wf({"entrypoint": "a", "templates": [{"name": "a", "suspend": {}}]})
    resolved = resolve_workflow(wf, Bundle())
    assert resolved == wf
    assert resolved is not wf and resolved["spec"] is not wf["spec"]


def test_strategic_merge_replaces_unkeyed_lists() -> None:
    base = {"command": ["a", "b"], "volumes": [{"name": "v", "emptyDir": {}}], "map": {"x": 1}}
    over = {"command": ["c"], "volumes": [{"name": "w", "emptyDir": {}}], "map": {"y": 2}}
    merged = strategic_merge(base, over)
    assert merged == {
        "command": ["c"],
        "volumes": [{"name": "v", "emptyDir": {}}, {"name": "w", "emptyDir": {}}],
        "map": {"x": 1, "y": 2},
    }


def test_template_defaults_fill_gaps_of_the_same_kind_only() -> None:
    defaults = {
        "timeout": "1m",
        "retryStrategy": {"limit": 2},
        "container": {"image": "alpine", "env": [{"name": "A", "value": "default"}]},
        "script": {"image": "python:3"},
    }
    template = {
        "name": "t",
        "timeout": "5m",
        "container": {"command": ["true"], "env": [{"name": "B", "value": "own"}]},
    }
    merged = apply_template_defaults(template, defaults)
    assert merged == {
        "name": "t",
        "timeout": "5m",  # the template's own value wins
        "retryStrategy": {"limit": 2},
        "container": {
            "image": "alpine",
            "command": ["true"],
            "env": [{"name": "A", "value": "default"}, {"name": "B", "value": "own"}],
        },
    }
    assert "script" not in merged  # a default of another template kind does not apply
    assert apply_template_defaults(template, None) == template
    assert template["container"] == {"command": ["true"], "env": [{"name": "B", "value": "own"}]}


# ---------------------------------------------------------------------------------------
# find_template / templateRef


def test_find_template_by_name_and_through_the_workflow_template_ref() -> None:
    bundle = _bundle()
    wf = _wf(
        {"workflowTemplateRef": {"name": "lib"}, "templates": [{"name": "own", "suspend": {}}]}
    )
    assert find_template(wf, "own")["suspend"] == {}
    assert find_template(wf, "shout", bundle=bundle)["container"]["command"] == ["echo", "HEY"]
    resolved = resolve_workflow(wf, bundle)
    assert find_template(resolved, "say")["container"]["image"] == "alpine:3.19"
    with pytest.raises(ManifestError, match='template "nope" not found'):
        find_template(wf, "nope", bundle=bundle)


def test_names_inside_a_referenced_template_resolve_in_its_owner() -> None:
    bundle = _bundle()
    _, owner = resolve_template_ref({"name": "lib", "template": "say"}, bundle)
    # A steps template of "lib" naming "shout" means lib's "shout", whatever the workflow has.
    assert find_template(owner, "shout")["container"]["command"] == ["echo", "HEY"]


def test_find_template_by_template_ref() -> None:
    bundle = _bundle()
    wf = _wf({"entrypoint": "x", "templates": []})
    say = find_template(wf, template_ref={"name": "lib", "template": "say"}, bundle=bundle)
    assert say["name"] == "say"
    cluster = find_template(
        wf,
        template_ref={"name": "lib", "template": "cluster-say", "clusterScope": True},
        bundle=bundle,
    )
    assert cluster["container"]["image"] == "busybox"
    template, owner = resolve_template_ref({"name": "lib", "template": "say"}, bundle)
    assert owner["kind"] == "WorkflowTemplate" and template is say

    with pytest.raises(ManifestError) as info:
        find_template(wf, template_ref={"name": "lib", "template": "whisper"}, bundle=bundle)
    assert info.value.errors[0].path == "templateRef.template"
    assert 'template "whisper" not found in WorkflowTemplate "lib"' in str(info.value)
    with pytest.raises(ManifestError, match='WorkflowTemplate "other" not found'):
        find_template(wf, template_ref={"name": "other", "template": "say"}, bundle=bundle)
    with pytest.raises(ManifestError, match="without a bundle"):
        find_template(wf, template_ref={"name": "lib", "template": "say"})
    with pytest.raises(ManifestError, match="exactly one of name or template_ref"):
        find_template(wf)


# ---------------------------------------------------------------------------------------
# Small helpers


def test_config_map_value() -> None:
    bundle = _bundle()
    assert config_map_value(bundle, "team-a", "settings", "mood") == "happy"
    assert config_map_value(bundle, "anywhere", "shared", "colour") == "blue"  # no namespace given
    with pytest.raises(ManifestError, match='ConfigMap "settings" not found in namespace "team-b"'):
        config_map_value(bundle, "team-b", "settings", "mood")
    with pytest.raises(ManifestError, match='ConfigMap "settings" has no key "size"'):
        config_map_value(bundle, "team-a", "settings", "size")
    assert config_map_value(bundle, "team-a", "settings", "size", optional=True) is None
    assert config_map_value(bundle, "team-a", "absent", "size", optional=True) is None


@pytest.mark.parametrize(
    ("template", "kind"),
    [
        ({"name": "t", "container": {"image": "a"}}, "container"),
        ({"name": "t", "script": {"image": "a", "source": "x"}}, "script"),
        ({"name": "t", "resource": {"action": "get"}}, "resource"),
        ({"name": "t", "suspend": {}}, "suspend"),
        ({"name": "t", "steps": []}, "steps"),
        ({"name": "t", "dag": {"tasks": []}}, "dag"),
        ({"name": "t", "containerSet": {"containers": []}}, "containerSet"),
        ({"name": "t", "http": {"url": "http://x"}}, "http"),
        ({"name": "t", "plugin": {"hello": {}}}, "plugin"),
        ({"name": "t", "data": {"source": {}, "transformation": []}}, "data"),
    ],
)
def test_template_kind(template: dict[str, Any], kind: str) -> None:
    assert template_kind(template) == kind


def test_template_kind_refuses_none_or_two() -> None:
    with pytest.raises(ManifestError, match="has none"):
        template_kind({"name": "t", "inputs": {}})
    with pytest.raises(ManifestError, match="has container, script"):
        template_kind({"name": "t", "container": {}, "script": {}})


def test_workflow_name() -> None:
    assert workflow_name({"metadata": {"name": "fixed", "generateName": "g-"}}) == "fixed"
    assert workflow_name({"metadata": {"generateName": "g-"}}, suffix="abcde") == "g-abcde"
    generated = {workflow_name({"metadata": {"generateName": "hello-"}}) for _ in range(20)}
    assert all(re.fullmatch(r"hello-[a-z0-9]{5}", n) for n in generated)
    assert len(generated) > 1
    with pytest.raises(ManifestError, match="name or generateName is required"):
        workflow_name({"metadata": {}})


# ---------------------------------------------------------------------------------------
# The conformance folder


@pytest.fixture(scope="module")
def examples() -> Bundle:
    if not EXAMPLES.is_dir():
        pytest.skip(f"Argo examples folder not present at {EXAMPLES} (it is not part of the repo)")
    return load_bundle(EXAMPLES)


def _count_kind(kind: str) -> int:
    pattern = re.compile(rf"^kind: {kind}\s*(#.*)?$", re.M)
    return sum(len(pattern.findall(p.read_text())) for p in EXAMPLES.rglob("*.yaml"))


def test_examples_bundle_finds_the_referenced_resources(examples: Bundle) -> None:
    # Counted independently of the loader, from the raw text.
    assert len(examples.workflow_templates) == _count_kind("WorkflowTemplate")
    assert len(examples.cluster_workflow_templates) == _count_kind("ClusterWorkflowTemplate")
    assert len(examples.workflows) == _count_kind("Workflow")
    assert ("", "simple-parameters") in examples.config_maps
    assert config_map_value(examples, "argo", "simple-parameters", "msg") == "hello world"
    assert "workflow-template-submittable" in examples.workflow_templates
    assert "cluster-workflow-template-submittable" in examples.cluster_workflow_templates


def test_every_reference_in_the_examples_resolves(examples: Bundle) -> None:
    checked_refs = 0
    checked_workflow_refs = 0
    crons = [d for d in examples.others if d.get("kind") == "CronWorkflow"]
    docs = [
        *examples.workflows,
        *examples.workflow_templates.values(),
        *examples.cluster_workflow_templates.values(),
        *crons,
    ]
    for doc in docs:
        where = f"{examples.source_of(doc)} ({doc['metadata'].get('name') or doc['metadata'].get('generateName')})"
        for path, ref in iter_template_refs(doc):
            template = find_template(doc, template_ref=ref, bundle=examples)
            assert template["name"] == ref["template"], f"{where}: {path}"
            checked_refs += 1
        if doc["kind"] == "CronWorkflow":
            doc = {
                "kind": "Workflow",
                "metadata": doc["metadata"],
                "spec": doc["spec"]["workflowSpec"],
            }
        if "workflowTemplateRef" in doc.get("spec", {}):
            resolved = resolve_workflow(doc, examples)
            entry = resolved["spec"]["entrypoint"]
            assert template_kind(find_template(resolved, entry)), where
            checked_workflow_refs += 1
    # The examples use both kinds of reference; make sure the loop saw them.
    assert checked_refs >= 10
    assert checked_workflow_refs >= 6


def test_every_example_template_has_one_kind(examples: Bundle) -> None:
    for doc in [*examples.workflows, *examples.workflow_templates.values()]:
        for template in doc["spec"].get("templates", []):
            assert template_kind(template)
