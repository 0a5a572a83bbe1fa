"""Long id lists in the store: a fan-out that grows by a slice per pass writes only the
chunks that changed, and what is read back is the whole list."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hookbus.controller.engine.controller import Controller
from hookbus.controller.engine.memory_store import MemoryStore
from hookbus.controller.engine.model import (
    CHILD_CHUNK,
    POD,
    STEP_GROUP,
    Node,
    merge_records,
    storage_records,
)
from hookbus.controller.engine.settings import ControllerSettings
from hookbus.controller.executors.registry import make_executor

if TYPE_CHECKING:
    from collections.abc import Mapping

    from hookbus.controller.adapters.store import WorkflowKey


def group(children: int) -> Node:
    node = Node(id="g", name="wf[0]", display_name="[0]", type=STEP_GROUP, template_name="", phase="Running", boundary_id="", started_at=0.0)
    node.children = [f"c{i}" for i in range(children)]
    return node


def test_chunks_below_what_is_stored_are_left_out_and_the_merge_is_whole() -> None:
    node = group(9000)
    first = storage_records(node)
    assert sorted(k for k in first if "~" in k) == ["g~c0", "g~c1", "g~c2"]
    node.children.extend(f"c{i}" for i in range(9000, 13000))  # the next pass adds a slice
    second = storage_records(node, stored={"children": 9000})
    # c0 and c1 hold ids 0..8191, all stored before and unchanged; c2 grew, c3 is new
    assert sorted(k for k in second if "~" in k) == ["g~c2", "g~c3"]
    merged = merge_records({**first, **second})  # what the store holds after both writes
    assert merged["g"]["children"] == [f"c{i}" for i in range(13000)]
    assert merge_records(storage_records(node, stored={"children": 13000}) | first | second)["g"]["children"] == node.children
    everything = storage_records(node, stored=None)
    assert sorted(k for k in everything if "~" in k) == ["g~c0", "g~c1", "g~c2", "g~c3"]
    short = storage_records(group(10))
    assert list(short) == ["g"] and short["g"]["children"] == [f"c{i}" for i in range(10)]


class CountingStore(MemoryStore):
    """The memory store, counting how often each record was written."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: dict[str, int] = {}

    async def put_nodes(self, key: WorkflowKey, nodes: Mapping[str, dict[str, Any]], revision: int) -> int:
        for record_id in nodes:
            self.writes[record_id] = self.writes.get(record_id, 0) + 1
        return await super().put_nodes(key, nodes, revision)


async def test_a_wide_fan_out_writes_each_full_chunk_of_its_children_once() -> None:
    width = 2 * CHILD_CHUNK + 500
    manifest = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "wide"},
        "spec": {
            "entrypoint": "main",
            "templates": [
                {"name": "main", "steps": [[{"name": "fan", "template": "work", "withSequence": {"count": str(width)}}]]},
                {"name": "work", "container": {"image": "alpine", "command": ["true"]}},
            ],
        },
    }
    store = CountingStore()
    settings = ControllerSettings(executor="simulate", max_running_nodes=width, max_nodes_per_pass=500)
    async with Controller(settings, store=store, executor=lambda: make_executor(settings.executor, state_dir=settings.state_dir)) as ctl:
        key = await ctl.submit(manifest)
        done = await ctl.wait(key, timeout=60)
    assert done["status"]["phase"] == "Succeeded"
    group_id = next(i for i, n in done["status"]["nodes"].items() if n["type"] == "StepGroup")
    chunk_writes = {k: v for k, v in store.writes.items() if k.startswith(f"{group_id}~c")}
    assert sorted(chunk_writes) == [f"{group_id}~c0", f"{group_id}~c1", f"{group_id}~c2"]
    assert chunk_writes[f"{group_id}~c0"] == 1  # full when first written, never again
    assert chunk_writes[f"{group_id}~c1"] <= CHILD_CHUNK // 500 + 2  # only while it filled
    assert store.writes[group_id] > chunk_writes[f"{group_id}~c1"]  # the node itself changed every pass
    stored = await store.load(key)
    assert stored is not None
    children = merge_records(stored.nodes)[group_id]["children"]
    assert len(children) == width and len(set(children)) == width
    assert {done["status"]["nodes"][c]["type"] for c in children} == {POD}
