"""Looking at Workflow objects: pod names of nodes follow Argo's v2 rule, nodes are found by any name."""

from __future__ import annotations

from typing import Any

from hookbus.controller.argo.names import fnv1a_32, node_id, pod_name
from hookbus.controller.workflows import find_node, node_pod_name, without_nodes


def _node(workflow: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"id": node_id(workflow, name), "name": name, "displayName": name.rsplit(".", 1)[-1], "type": "Pod", **extra}


def test_a_nodes_pod_name_is_argos_v2_name_of_its_node_and_template() -> None:
    wf = "many-items-z26lj"
    node = _node(wf, "many-items-z26lj[0].sleep(9:nine)", templateName="sleep")
    assert node_pod_name(wf, node) == "many-items-z26lj-sleep-2619926859" == pod_name(wf, node["name"], "sleep")
    assert node_pod_name(wf, _node(wf, wf)) == wf, "the root node's pod is the workflow's name"
    ref = _node(wf, f"{wf}.lib", templateRef={"name": "library", "template": "say"})
    assert node_pod_name(wf, ref) == f"{wf}-say-{fnv1a_32(f'{wf}.lib')}", "a templateRef names the referenced template"
    bare = _node(wf, f"{wf}.x")
    assert node_pod_name(wf, bare) == bare["id"], "without a template the pod name is the node id"


def test_long_pod_names_are_shortened_as_argo_shortens_them() -> None:
    wf = "w" * 200
    node = _node(wf, f"{wf}.step", templateName="t" * 100)
    name = node_pod_name(wf, node)
    assert len(name) <= 253
    assert name == ("w" * 200 + "-" + "t" * 100)[:242] + f"-{fnv1a_32(node['name'])}"


def test_find_node_by_id_pod_name_full_name_or_unique_display_name() -> None:
    wf = "find-abc"
    a = _node(wf, f"{wf}[0].a", templateName="work")
    twin1, twin2 = _node(wf, f"{wf}[0].g.b", templateName="x"), _node(wf, f"{wf}[1].g.b", templateName="x")
    workflow = {"metadata": {"name": wf}, "status": {"nodes": {n["id"]: n for n in (a, twin1, twin2)}}}
    assert find_node(workflow, a["id"]) is a
    assert find_node(workflow, node_pod_name(wf, a)) is a
    assert find_node(workflow, a["name"]) is a
    assert find_node(workflow, "a") is a
    assert find_node(workflow, "b") is None, "a display name two nodes share names neither"
    assert "nodes" not in without_nodes(workflow)["status"]
