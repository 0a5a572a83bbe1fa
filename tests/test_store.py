"""The JetStream KV workflow store, against a real nats-server."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from hookbus.bus import EmbeddedServer, NatsSettings
from hookbus.bus.connection import connect
from hookbus.controller.adapters.store import (
    RevisionConflict,
    StoreError,
    WorkflowKey,
    WorkflowStore,
    node_token,
    token_node,
)
from hookbus.controller.engine.memory_store import MemoryStore
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from pathlib import Path

    from nats.aio.client import Client


def node(node_id: str, phase: str = "Running", **extra: Any) -> dict[str, Any]:
    return {"id": node_id, "name": f"wf[0].{node_id}", "type": "Pod", "phase": phase, **extra}


@pytest.fixture
async def store(nc: Client) -> WorkflowStore:
    s = WorkflowStore(nc.jetstream())
    await s.open()
    return s


@pytest.mark.parametrize(
    "node_id", ["wf-123", "my.wf-42", "wf.with.dots-1", "odd id/with spaces", "ünïcode", "=x", "a_b"]
)
def test_node_token_is_a_valid_kv_token_and_reversible(node_id: str) -> None:
    token = node_token(node_id)
    assert token and all(c.isalnum() and c.isascii() or c in "-_=" for c in token)
    assert token_node(token) == node_id


def test_node_tokens_do_not_collide() -> None:
    ids = ["a.b", "a_b", "a-b", "=a", "YQ", "=YQ"]
    assert len({node_token(i) for i in ids}) == len(ids)


async def test_roundtrip_workflow_and_nodes(store: WorkflowStore) -> None:
    key = WorkflowKey("default", "hello.world")  # a dot in a Kubernetes name
    wf = {"metadata": {"name": key.name, "namespace": key.namespace}, "spec": {"entrypoint": "main"}, "status": {"phase": "Running"}}
    rev = await store.put_workflow(key, wf, 0)
    assert rev > 0
    nodes = {"hello.world": node("hello.world"), "hello.world-1": node("hello.world-1", outputs={"result": "hi"})}
    assert await store.put_nodes(key, nodes, rev) == rev

    loaded = await store.load(key)
    assert loaded is not None
    assert loaded.key == key
    assert loaded.workflow == wf
    assert loaded.nodes == nodes
    assert loaded.revision == rev
    assert await store.keys() == [key]


async def test_status_nodes_are_not_stored_with_the_workflow(store: WorkflowStore) -> None:
    key = WorkflowKey("ns1", "wf")
    await store.put_workflow(key, {"metadata": {"name": "wf"}, "status": {"phase": "Running", "nodes": {"x": node("x")}}}, 0)
    loaded = await store.load(key)
    assert loaded is not None
    assert loaded.workflow["status"] == {"phase": "Running"}
    assert loaded.nodes == {}


async def test_later_writes_win_and_revision_grows(store: WorkflowStore) -> None:
    key = WorkflowKey("default", "wf")
    first = await store.put_workflow(key, {"v": 1}, 0)
    await store.put_nodes(key, {"n1": node("n1", "Running"), "n2": node("n2", "Pending")}, first)
    second = await store.put_workflow(key, {"v": 2}, first)
    await store.put_nodes(key, {"n1": node("n1", "Succeeded")}, second)
    assert second > first
    loaded = await store.load(key)
    assert loaded is not None
    assert loaded.workflow == {"v": 2}
    assert loaded.revision == second
    assert {k: v["phase"] for k, v in loaded.nodes.items()} == {"n1": "Succeeded", "n2": "Pending"}


async def test_delete_nodes_and_delete_workflow(store: WorkflowStore) -> None:
    a, b = WorkflowKey("default", "a"), WorkflowKey("default", "b")
    revisions = {}
    for key in (a, b):
        revisions[key] = await store.put_workflow(key, {"name": key.name}, 0)
        await store.put_nodes(key, {f"{key.name}-{i}": node(f"{key.name}-{i}") for i in range(5)}, revisions[key])
    await store.delete_nodes(a, ["a-1", "a-3", "not-there"], revisions[a])
    loaded = await store.load(a)
    assert loaded is not None
    assert sorted(loaded.nodes) == ["a-0", "a-2", "a-4"]

    await store.delete(a, revisions[a])
    assert await store.load(a) is None
    assert await store.keys() == [b]
    everything = await store.load_all()
    assert [(w.key, len(w.nodes)) for w in everything] == [(b, 5)]


async def test_missing_workflow_and_empty_bucket(store: WorkflowStore) -> None:
    assert await store.load(WorkflowKey("default", "nope")) is None
    assert await store.keys() == []
    assert await store.load_all() == []


async def test_load_all_separates_workflows_with_similar_names(store: WorkflowStore) -> None:
    keys = [WorkflowKey("default", "wf"), WorkflowKey("default", "wf-2"), WorkflowKey("other", "wf"), WorkflowKey("default", "wf.2")]
    for i, key in enumerate(keys):
        rev = await store.put_workflow(key, {"i": i}, 0)
        await store.put_nodes(key, {f"n{j}": node(f"n{j}", index=i) for j in range(i + 1)}, rev)
    loaded = {w.key: w for w in await store.load_all()}
    assert set(loaded) == set(keys)
    for i, key in enumerate(keys):
        assert loaded[key].workflow == {"i": i}
        assert len(loaded[key].nodes) == i + 1
        assert {n["index"] for n in loaded[key].nodes.values()} == {i}


async def test_put_nodes_many_pipelined_writes_all_acknowledged(store: WorkflowStore, nc: Client) -> None:
    key = WorkflowKey("default", "big")
    rev = await store.put_workflow(key, {"big": True}, 0)
    nodes = {f"big-{i}": node(f"big-{i}", padding="x" * 200) for i in range(12_000)}  # > the 4000 window
    await store.put_nodes(key, nodes, rev)
    # Every write is in the stream once put_nodes has returned (acknowledged, not just sent).
    info = await nc.jetstream().stream_info(f"KV_{store.bucket}")
    assert info.state.messages == 12_001
    loaded = await store.load(key)
    assert loaded is not None and loaded.nodes == nodes


async def test_oversized_node_is_a_permanent_error(store: WorkflowStore) -> None:
    key = WorkflowKey("default", "huge")
    with pytest.raises(StoreError) as info:
        await store.put_nodes(key, {"x": node("x", blob="y" * (2 * 1024 * 1024))}, 0)
    assert not info.value.retryable
    assert "max_payload" in str(info.value)


async def test_survives_kill_9_of_the_server(tmp_path: Path) -> None:
    store_dir = tmp_path / "nats"
    key = WorkflowKey("default", "durable.wf")
    wf = {"metadata": {"name": key.name}, "status": {"phase": "Running"}}
    nodes = {f"durable.wf-{i}": node(f"durable.wf-{i}", "Succeeded" if i % 2 else "Running") for i in range(2500)}

    server = EmbeddedServer(store_dir=store_dir)
    await server.start()
    try:
        client = await connect(NatsSettings(urls=(server.url,)), allow_reconnect=False)
        store = WorkflowStore(client.jetstream())
        await store.open()
        rev = await store.put_workflow(key, wf, 0)
        await store.put_nodes(key, nodes, rev)
        await store.delete_nodes(key, ["durable.wf-0"], rev)
        await store.close()
        await client.close()
        await server.kill()
    finally:
        await server.stop()

    async with EmbeddedServer(store_dir=store_dir) as again:
        client = await connect(NatsSettings(urls=(again.url,)))
        try:
            store = WorkflowStore(client.jetstream())
            await store.open()
            everything = await store.load_all()
        finally:
            await client.close()
    expected = dict(nodes)
    del expected["durable.wf-0"]
    assert len(everything) == 1
    assert everything[0].key == key
    assert everything[0].workflow == wf
    assert everything[0].revision == rev
    assert everything[0].nodes == expected


async def test_keeps_working_across_a_server_restart(tmp_path: Path) -> None:
    server = EmbeddedServer(store_dir=tmp_path / "nats")
    url = await server.start()
    port = int(url.rsplit(":", 1)[1])
    client = await connect(NatsSettings(urls=(url,), reconnect_wait=0.05))
    try:
        store = WorkflowStore(client.jetstream())
        await store.open()
        key = WorkflowKey("default", "restarted")
        rev = await store.put_workflow(key, {"v": 1}, 0)
        await store.put_nodes(key, {"a": node("a")}, rev)

        await server.kill()
        server = EmbeddedServer(store_dir=tmp_path / "nats", port=port)
        await server.start()
        await wait_for(lambda: client.is_connected, what="the client to reconnect")

        # acknowledged writes came back with the server; new writes are acknowledged again
        await store.put_nodes(key, {"b": node("b", "Succeeded")}, rev)
        loaded = await store.load(key)
        assert loaded is not None
        assert loaded.workflow == {"v": 1}
        assert sorted(loaded.nodes) == ["a", "b"]
    finally:
        await client.close()
        await server.stop()


async def test_writes_without_a_server_fail_as_retryable(tmp_path: Path) -> None:
    server = EmbeddedServer(store_dir=tmp_path / "nats")
    url = await server.start()
    client = await connect(NatsSettings(urls=(url,)), allow_reconnect=False)
    try:
        store = WorkflowStore(client.jetstream(), timeout=0.5)
        await store.open()
        await server.kill()
        await wait_for(lambda: client.is_closed, what="the client to notice")
        for write in (
            store.put_nodes(WorkflowKey("default", "lost"), {"a": node("a")}, 0),
            store.put_workflow(WorkflowKey("default", "lost"), {"v": 1}, 0),
        ):
            with pytest.raises(StoreError) as info:
                await write
            assert info.value.retryable
    finally:
        await client.close()
        await server.stop()


async def test_without_the_raw_writer_records_go_through_client_publish(nc: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from hookbus.bus import pubwire

    monkeypatch.setattr(pubwire.Writer, "available", staticmethod(lambda _nc: False))
    store = WorkflowStore(nc.jetstream(), bucket="public-path")
    await store.open()
    key = WorkflowKey("default", "plain")
    rev = await store.put_workflow(key, {"v": 1}, 0)
    nodes = {f"plain-{i}": node(f"plain-{i}") for i in range(50)}
    await store.put_nodes(key, nodes, rev)
    await store.delete_nodes(key, ["plain-0"], rev)
    loaded = await store.load(key)
    assert loaded is not None
    assert loaded.nodes == {k: v for k, v in nodes.items() if k != "plain-0"}


# ------------------------------------------------------------- conditional writes


@pytest.fixture(params=["jetstream", "memory"])
async def either(request: pytest.FixtureRequest, nc: Client) -> WorkflowStore | MemoryStore:
    """The JetStream store and the in-memory one: both keep the same revision contract."""
    if request.param == "memory":
        return MemoryStore()
    s = WorkflowStore(nc.jetstream(), bucket="conditional")
    await s.open()
    return s


async def test_a_workflow_write_based_on_a_stale_revision_is_refused(either: WorkflowStore | MemoryStore) -> None:
    store = either
    key = WorkflowKey("default", "owned")
    first = await store.put_workflow(key, {"v": 1}, 0)
    with pytest.raises(RevisionConflict):
        await store.put_workflow(key, {"v": "again"}, 0)  # created meanwhile by someone else
    second = await store.put_workflow(key, {"v": 2}, first)
    assert second != first
    with pytest.raises(RevisionConflict) as stale:
        await store.put_workflow(key, {"v": "stale"}, first)
    assert stale.value.key == key and stale.value.expected == first and not stale.value.retryable
    loaded = await store.load(key)
    assert loaded is not None
    assert loaded.workflow == {"v": 2} and loaded.revision == second


async def test_node_writes_are_fenced_by_the_workflow_revision(either: WorkflowStore | MemoryStore) -> None:
    store = either
    key = WorkflowKey("default", "fenced")
    mine = await store.put_workflow(key, {"owner": "a"}, 0)
    await store.put_nodes(key, {"n1": node("n1")}, mine)
    theirs = await store.put_workflow(key, {"owner": "b"}, mine)  # another writer took the workflow over
    with pytest.raises(RevisionConflict):
        await store.put_nodes(key, {"n1": node("n1", "Succeeded"), "n2": node("n2")}, mine)
    with pytest.raises(RevisionConflict):
        await store.delete_nodes(key, ["n1"], mine)
    with pytest.raises(RevisionConflict):
        await store.delete(key, mine)
    loaded = await store.load(key)
    assert loaded is not None
    assert loaded.nodes == {"n1": node("n1")}, "a stale writer changed a node"
    assert await store.put_nodes(key, {"n2": node("n2")}, theirs) == theirs
    await store.delete(key, theirs)
    assert await store.load(key) is None
    assert await store.put_workflow(key, {"owner": "c"}, 0) > 0  # a deleted workflow can be created anew


async def test_node_writes_of_a_deleted_workflow_are_a_conflict(either: WorkflowStore | MemoryStore) -> None:
    store = either
    key = WorkflowKey("default", "gone")
    mine = await store.put_workflow(key, {"owner": "a"}, 0)
    await store.delete(key, mine)  # another writer deleted it
    with pytest.raises(RevisionConflict) as stale:
        await store.put_nodes(key, {"n1": node("n1")}, mine)
    assert stale.value.expected == mine
    assert await store.load(key) is None


async def test_node_writes_refused_for_another_reason_are_a_retryable_error(nc: Client) -> None:
    from nats.js.api import KeyValueConfig

    # Values over the bucket's limit are refused by the server while the fence holds.
    await nc.jetstream().create_key_value(KeyValueConfig(bucket="small-values", history=1, max_value_size=512))
    store = WorkflowStore(nc.jetstream(), bucket="small-values")
    await store.open()
    key = WorkflowKey("default", "big-nodes")
    rev = await store.put_workflow(key, {"v": 1}, 0)
    with pytest.raises(StoreError) as refused:
        await store.put_nodes(key, {"small": node("small"), "big": node("big", blob="x" * 1024)}, rev)
    assert refused.value.retryable
    assert "1 of 2 writes failed" in str(refused.value)
    loaded = await store.load(key)
    assert loaded is not None and set(loaded.nodes) == {"small"}
