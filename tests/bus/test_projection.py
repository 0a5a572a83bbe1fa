"""Projection (a plugin's ``fields``): what the controller keeps of an item."""

from __future__ import annotations

from types import MappingProxyType

from hookbus.bus.filters import project, projector

ITEM = {
    "id": "wf-1",
    "node": {"name": "wf[0].a", "templateName": "work", "phase": "Pending"},
    "template": {"name": "work", "container": {"image": "alpine", "command": ["true"]}},
    "pod": {"metadata": {"name": "wf-1", "labels": {"a": "b"}}, "spec": {"containers": [{"name": "main"}]}},
}


def test_only_the_fields_asked_for_and_the_id_are_kept_nested_as_in_the_item() -> None:
    fields = ("node.name", "node.templateName", "template.container.image", "pod.metadata")
    assert project(ITEM, fields) == {
        "id": "wf-1",
        "node": {"name": "wf[0].a", "templateName": "work"},
        "template": {"container": {"image": "alpine"}},
        "pod": {"metadata": {"name": "wf-1", "labels": {"a": "b"}}},
    }


def test_missing_fields_and_paths_through_values_that_are_not_maps_are_left_out() -> None:
    fields = ("node.missing", "nothing", "template.container.command.0", "node.name.first", "pod.spec.containers")
    item = {**ITEM, "extra": None}
    assert project(item, (*fields, "extra.x")) == {"id": "wf-1", "pod": {"spec": {"containers": [{"name": "main"}]}}}
    assert project({"node": {"name": "n"}}, ("node.name",)) == {"node": {"name": "n"}}  # no id, none invented


def test_maps_that_are_not_dicts_are_read_too_and_the_item_is_never_changed() -> None:
    frozen = MappingProxyType({"id": "x", "node": MappingProxyType({"name": "n", "phase": "Running"})})
    assert project(frozen, ("node.name",)) == {"id": "x", "node": {"name": "n"}}
    before = repr(ITEM)
    out = project(ITEM, ("node", "node.name", "template.container.image"))
    assert out["node"] == ITEM["node"]
    assert repr(ITEM) == before


def test_a_projector_is_made_once_per_set_of_fields() -> None:
    fields = ("node.name", "pod.metadata.labels")
    assert projector(fields) is projector(fields)
    assert projector(fields)(ITEM) == {"id": "wf-1", "node": {"name": "wf[0].a"}, "pod": {"metadata": {"labels": {"a": "b"}}}}
