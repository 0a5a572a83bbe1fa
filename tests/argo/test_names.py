"""Node ids, pod names, expanded node names and loop expansion, per Argo.

Node ids are checked against ids recorded from real Argo runs (Argo's own test data);
FNV-1a against the published test vectors; item names and sequences against Argo's
controller tests and docs.
"""

from __future__ import annotations

from typing import Any

import pytest

from hookbus.controller.argo.errors import ArgoError
from hookbus.controller.argo.names import (
    LoopError,
    expand_items,
    expand_sequence,
    fnv1a_32,
    go_sprintf_int,
    item_node_name,
    item_variables,
    node_id,
    pod_name,
)


@pytest.mark.parametrize(
    ("data", "want"),
    [("", 0x811C9DC5), ("a", 0xE40C292C), ("foobar", 0xBF9CF968)],
)
def test_fnv1a_32_published_vectors(data: str, want: int) -> None:
    assert fnv1a_32(data) == want


def test_root_node_id_is_the_workflow_name() -> None:
    assert node_id("hello-world-x7k2p", "hello-world-x7k2p") == "hello-world-x7k2p"


@pytest.mark.parametrize(
    ("workflow", "node", "want"),
    [
        ("dag-disable-fail-fast-r6xdc", "dag-disable-fail-fast-r6xdc.A", "dag-disable-fail-fast-r6xdc-3928436299"),
        ("dag-disable-fail-fast-r6xdc", "dag-disable-fail-fast-r6xdc.B", "dag-disable-fail-fast-r6xdc-3945213918"),
        ("dag-taskgroup-id-ref", "dag-taskgroup-id-ref.fanout(0:0)", "dag-taskgroup-id-ref-2700861446"),
        ("many-items-z26lj", "many-items-z26lj[0].sleep(9:nine)", "many-items-z26lj-2619926859"),
        ("many-items-z26lj", "many-items-z26lj[0].sleep(10:ten)", "many-items-z26lj-1052882686"),
    ],
)
def test_node_ids_recorded_from_argo(workflow: str, node: str, want: str) -> None:
    assert node_id(workflow, node) == want


def test_pod_names() -> None:
    # v2 (Argo's default): <workflow>-<template>-<fnv of node name>
    assert pod_name("many-items-z26lj", "many-items-z26lj[0].sleep(9:nine)", "sleep") == "many-items-z26lj-sleep-2619926859"
    assert pod_name("wf", "wf") == "wf"
    assert pod_name("wf", "wf.a") == f"wf-{fnv1a_32('wf.a')}"
    # v1: the node id
    assert pod_name("many-items-z26lj", "many-items-z26lj[0].sleep(9:nine)", "sleep", version="v1") == "many-items-z26lj-2619926859"
    long = pod_name("w" * 200, "node", "t" * 100)
    assert len(long) <= 253


@pytest.mark.parametrize(
    ("index", "item", "want"),
    [
        # Argo dag_test: withParam [1234, "foo\tbar", true, []]
        (0, 1234, "fanout-param(0:1234)"),
        (1, "foo\tbar", "fanout-param(1:foo\\tbar)"),
        (2, True, "fanout-param(2:true)"),
        (3, [], "fanout-param(3:[])"),
        # maps: sorted key:value pairs joined by commas (loops-maps.yaml items)
        (0, {"os": "debian", "version": 9.1}, "fanout-param(0:os:debian,version:9.1)"),
        (1, {"version": "18.04", "os": "ubuntu"}, "fanout-param(1:os:ubuntu,version:18.04)"),
        (2, {"b": {"y": 1, "x": [1, 2]}}, 'fanout-param(2:b:{"x":[1,2],"y":1})'),
        # lists print as Go slices of items
        (0, [1, "a", {"b": 1}], 'fanout-param(0:[1 a {"b":1}])'),
        # parentheses are dropped so the index stays recoverable
        (4, "f(x)", "fanout-param(4:fx)"),
        (5, 2.0, "fanout-param(5:2)"),
        (6, "hello world", "fanout-param(6:hello world)"),
    ],
)
def test_item_node_name(index: int, item: Any, want: str) -> None:
    assert item_node_name("fanout-param", index, item) == want


def test_item_variables() -> None:
    assert item_variables("foo\tbar") == {"item": "foo\tbar"}
    assert item_variables(1234) == {"item": "1234"}
    assert item_variables(True) == {"item": "true"}
    assert item_variables([1, "a"]) == {"item": '[1,"a"]'}
    assert item_variables({"os": "debian", "version": 9.1, "tags": ["x"]}) == {
        "item": '{"os":"debian","tags":["x"],"version":9.1}',
        "item.os": "debian",
        "item.version": "9.1",
        "item.tags": '["x"]',
    }
    with pytest.raises(LoopError):
        item_variables(None)


def test_expand_sequence_cases_from_argo_tests() -> None:
    items = expand_sequence({"count": "10"})
    assert len(items) == 10 and items[0] == "0" and items[9] == "9"
    items = expand_sequence({"start": "101", "count": "10"})
    assert items[0] == "101" and items[9] == "110" and len(items) == 10
    items = expand_sequence({"start": "50", "end": "60"})
    assert len(items) == 11 and items[0] == "50" and items[10] == "60"
    items = expand_sequence({"start": "60", "end": "50"})  # descending
    assert len(items) == 11 and items[0] == "60" and items[10] == "50"
    assert expand_sequence({"count": "0"}) == []
    assert expand_sequence({"start": "8", "end": "8"}) == ["8"]
    items = expand_sequence({"format": "testuser%02X", "count": "10", "start": "1"})
    assert len(items) == 10 and items[0] == "testuser01" and items[9] == "testuser0A"


def test_expand_sequence_docs_and_ints() -> None:
    # loops-sequence.yaml: count 5; start 100 end 105; start 5 end 0; "testuser%02X" count 5
    assert expand_sequence({"count": "5"}) == ["0", "1", "2", "3", "4"]
    assert expand_sequence({"start": "100", "end": "105"}) == ["100", "101", "102", "103", "104", "105"]
    assert expand_sequence({"start": "5", "end": "0"}) == ["5", "4", "3", "2", "1", "0"]
    users = expand_sequence({"count": "5", "format": "testuser%02X"})
    assert users == ["testuser00", "testuser01", "testuser02", "testuser03", "testuser04"]
    assert expand_sequence({"start": 3, "count": 2}) == ["3", "4"]  # ints as well as strings
    assert expand_sequence({"end": "2", "count": "10"}) == ["0", "1", "2"]  # end wins over count
    assert expand_sequence({"start": "-1", "end": "1"}) == ["-1", "0", "1"]


@pytest.mark.parametrize(
    ("fmt", "value", "want"),
    [("%d", 5, "5"), ("%03d", 5, "005"), ("%x", 255, "ff"), ("%X", 255, "FF"),
     ("%o", 8, "10"), ("%b", 5, "101"), ("%08b", 5, "00000101"), ("%-3d|", 5, "5  |"),
     ("%+d", 5, "+5"), ("100%%-%d", 5, "100%-5"), ("%v", 7, "7"),
     ("plain", 1, "plain%!(EXTRA int=1)"), ("%d-%d", 1, "1-%!d(MISSING)")],
)
def test_go_printf_formats(fmt: str, value: int, want: str) -> None:
    assert go_sprintf_int(fmt, value) == want


@pytest.mark.parametrize(
    ("seq", "fragment"),
    [
        ({}, "neither end nor count"),
        ({"count": "ten"}, 'parsing "ten"'),
        ({"start": "1.5", "end": "3"}, 'parsing "1.5"'),
    ],
)
def test_expand_sequence_errors(seq: dict[str, Any], fragment: str) -> None:
    with pytest.raises(LoopError) as info:
        expand_sequence(seq)
    assert fragment in str(info.value)


def test_expand_items() -> None:
    assert expand_items(["a", {"b": 1}]) == ["a", {"b": 1}]
    assert expand_items('[1234, "foo\\tbar", true, []]') == [1234, "foo\tbar", True, []]
    assert expand_items("[]") == []


@pytest.mark.parametrize("value", ["not json", '{"a": 1}', '"a string"', "[1,"])
def test_expand_items_invalid_with_param(value: str) -> None:
    with pytest.raises(LoopError) as info:
        expand_items(value)
    assert "withParam value could not be parsed as a JSON list" in str(info.value)
    assert isinstance(info.value, ArgoError) and isinstance(info.value, ValueError)
    assert info.value.retryable is False
