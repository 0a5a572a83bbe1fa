"""The control API over a real nats-server, served for a fake controller."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import pytest

from hookbus.bus import subjects
from hookbus.bus.codec import Encoding, decode_map, encode
from hookbus.bus.control import (
    BadRequest,
    Conflict,
    ControlClient,
    LogCursor,
    NoServerError,
    NotFound,
    subject,
)
from hookbus.controller.adapters.api_server import ApiServer
from tests.support.cli import FakeController, Key
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from nats.aio.client import Client

HELLO: dict[str, Any] = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"generateName": "hello-"},
    "spec": {
        "entrypoint": "main",
        "templates": [{"name": "main", "container": {"image": "busybox"}}],
    },
}


@pytest.fixture
def controller(tmp_path: Path) -> FakeController:
    return FakeController(tmp_path)


@pytest.fixture
async def client(nc: Client, controller: FakeController) -> AsyncIterator[ControlClient]:
    async with ApiServer(controller, nc, key_factory=Key):
        yield ControlClient(nc, timeout=5.0)


def test_subjects_are_the_control_subjects() -> None:
    assert subject("get") == "hookbus.control.v1.workflow.get"
    assert subject("submit") == subjects.control("workflow.submit")


async def test_submit_get_list(client: ControlClient, controller: FakeController) -> None:
    result = await client.submit(HELLO, parameters={"message": "hi"})
    name = result["name"]
    assert name.startswith("hello-")
    assert result["namespace"] == "default"
    assert result["workflow"]["status"]["phase"] == "Running"
    assert controller.calls == [("submit", name)]

    got = await client.get(name)
    assert got["metadata"]["name"] == name
    assert got["spec"]["arguments"]["parameters"] == [{"name": "message", "value": "hi"}]
    assert name in got["status"]["nodes"]

    items = await client.list()
    assert [i["metadata"]["name"] for i in items] == [name]
    assert "nodes" not in items[0]["status"], "listings leave the node tree out"
    assert await client.list(namespace="other") == []
    assert len(await client.list(all_namespaces=True)) == 1


async def test_invalid_manifest_is_400_with_details(client: ControlClient) -> None:
    bad = {**HELLO, "spec": {"templates": []}}
    with pytest.raises(BadRequest) as info:
        await client.submit(bad)
    assert info.value.code == 400
    assert info.value.details == ["spec.entrypoint: is required"]


async def test_unknown_workflow_is_404(client: ControlClient) -> None:
    with pytest.raises(NotFound, match="default/nope"):
        await client.get("nope")
    with pytest.raises(NotFound):
        await client.action("terminate", "nope")


async def test_an_action_builds_the_workflow_once_for_its_reply(client: ControlClient, controller: FakeController) -> None:
    name = (await client.submit(HELLO))["name"]
    controller.snapshots = 0
    await client.action("suspend", name)
    assert controller.snapshots == 1  # knowing that the workflow exists builds nothing


async def test_state_conflict_is_409(client: ControlClient, controller: FakeController) -> None:
    name = (await client.submit(HELLO))["name"]
    await controller.set_phase(Key("default", name), "Succeeded")
    with pytest.raises(Conflict, match="not suspended"):
        await client.action("resume", name)


async def test_actions_reach_the_controller(client: ControlClient, controller: FakeController) -> None:
    name = (await client.submit(HELLO))["name"]
    await client.action("suspend", name)
    await client.action("resume", name)
    await client.action("stop", name, message="enough")
    await client.action("retry", name)
    result = await client.action("terminate", name)
    assert result["workflow"]["status"]["phase"] == "Failed"
    await client.action("delete", name)
    assert [c for c in controller.calls if c[0] != "submit"] == [
        ("suspend", name),
        ("resume", name),
        ("stop", f"{name}:enough"),
        ("retry", name),
        ("terminate", name),
        ("delete", name),
    ]
    with pytest.raises(NotFound):
        await client.get(name)


async def test_watch_yields_each_change_and_ends_when_finished(
    client: ControlClient, controller: FakeController
) -> None:
    name = (await client.submit(HELLO))["name"]
    seen: list[str] = []

    async def watcher() -> None:
        async for workflow in client.watch(name, wait=5.0):
            seen.append(workflow["status"]["phase"])

    task = asyncio.create_task(watcher())
    await wait_for(lambda: seen == ["Running"], what="the first snapshot")
    await controller.set_phase(Key("default", name), "Succeeded")
    await asyncio.wait_for(task, 10)
    assert seen == ["Running", "Succeeded"]


async def test_watch_long_poll_times_out_with_the_same_snapshot(client: ControlClient) -> None:
    name = (await client.submit(HELLO))["name"]
    first = await client.request("watch", {"namespace": "default", "name": name, "wait": 0})
    again = await client.request(
        "watch", {"namespace": "default", "name": name, "since": first["fingerprint"], "wait": 0.2}
    )
    assert again["fingerprint"] == first["fingerprint"]
    assert again["done"] is False


async def test_logs_in_chunks_with_offsets(
    client: ControlClient, controller: FakeController, tmp_path: Path
) -> None:
    name = (await client.submit(HELLO))["name"]
    log = tmp_path / f"{name}.log"
    log.write_text("hello\nwor")
    cursor = LogCursor()
    chunks, done = await client.logs(name, cursor=cursor)
    assert [c["data"] for c in chunks] == ["hello\nwor"]
    assert chunks[0]["pod_name"] == name, "the root pod's name is the workflow's"
    assert done is False, "a running workflow's logs are not complete"
    with log.open("a") as handle:
        handle.write("ld\n")
    chunks, _ = await client.logs(name, cursor=cursor)
    assert [c["data"] for c in chunks] == ["ld\n"]
    await controller.set_phase(Key("default", name), "Succeeded")
    chunks, done = await client.logs(name, cursor=cursor)
    assert chunks == []
    assert done is True
    with pytest.raises(NotFound, match="no node"):
        await client.logs(name, "missing-node")


async def test_no_server_is_detected_at_once(nc: Client) -> None:
    client = ControlClient(nc, timeout=30.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(NoServerError, match="hookbus server"):
        await client.get("anything")
    assert loop.time() - started < 5.0, "no responders must not wait for the timeout"


async def test_raw_json_requests_and_error_headers(nc: Client, controller: FakeController) -> None:
    async with ApiServer(controller, nc, key_factory=Key):
        reply = await nc.request(subject("get"), b'{"v":1,"name":"ghost"}', timeout=5)
        body = decode_map(reply.data, Encoding.JSON)
        assert body["ok"] is False
        assert body["error"]["code"] == 404
        assert reply.headers is not None
        assert reply.headers["Nats-Service-Error-Code"] == "404"

        reply = await nc.request(subject("get"), b"not json", timeout=5)
        assert decode_map(reply.data, Encoding.JSON)["error"]["code"] == 400

        reply = await nc.request(subject("explode"), encode({"v": 1}, Encoding.JSON), timeout=5)
        assert decode_map(reply.data, Encoding.JSON)["error"]["code"] == 404

        reply = await nc.request(subject("list"), encode({"v": 2}, Encoding.JSON), timeout=5)
        assert decode_map(reply.data, Encoding.JSON)["error"]["code"] == 400

        reply = await nc.request(
            subject("get"), encode({"v": 1, "name": ""}, Encoding.JSON), timeout=5
        )
        assert "name" in decode_map(reply.data, Encoding.JSON)["error"]["message"]


async def test_stop_cancels_requests_in_flight(nc: Client, controller: FakeController) -> None:
    server = ApiServer(controller, nc, key_factory=Key)
    await server.start()
    client = ControlClient(nc, timeout=5.0)
    name = (await client.submit(HELLO))["name"]
    first = await client.request("watch", {"name": name, "wait": 0})
    pending = asyncio.create_task(
        client.request("watch", {"name": name, "since": first["fingerprint"], "wait": 20})
    )
    await wait_for(lambda: len(server._tasks) == 1, what="the long poll to arrive")
    await server.stop()
    await server.stop()
    assert not server._tasks
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending


async def test_big_workflows_travel_compressed(
    client: ControlClient, controller: FakeController, nc: Client
) -> None:
    name = (await client.submit(HELLO))["name"]
    workflow = controller.workflows[Key("default", name)]
    nodes = workflow["status"]["nodes"]
    for i in range(20_000):  # about 3 MB of JSON, over the test server's 1 MB max_payload
        node_id = f"{name}-{i}"
        nodes[node_id] = {
            "id": node_id,
            "name": f"{name}.task-{i}",
            "type": "Pod",
            "phase": "Succeeded",
            "templateName": "main",
            "boundaryID": name,
            "message": "done " * 20,
        }
    assert len(json.dumps(workflow)) > nc.max_payload
    got = await client.get(name)
    assert len(got["status"]["nodes"]) == 20_001

    raw = await nc.request(
        subject("get"), encode({"v": 1, "name": name}, Encoding.JSON), timeout=10
    )
    error = decode_map(raw.data, Encoding.JSON)["error"]
    assert error["code"] == 413
    assert "max_payload" in error["message"]

    summary = await client.request("watch", {"name": name, "wait": 0, "nodes": False})
    assert "nodes" not in summary["workflow"]["status"]
    assert summary["workflow"]["status"]["phase"] == "Running"


async def test_a_watch_that_sees_no_change_builds_the_workflow_twice_not_three_times(
    client: ControlClient, controller: FakeController
) -> None:
    name = (await client.submit(HELLO))["name"]
    first = await client.request("watch", {"namespace": "default", "name": name, "wait": 0})
    controller.snapshots = 0
    body = {"namespace": "default", "name": name, "since": first["fingerprint"], "wait": 0.2}
    again = await client.request("watch", body, timeout=5)
    assert again["fingerprint"] == first["fingerprint"] and not again["done"]
    # the current state, then the watch's own first snapshot; at the timeout the last one
    # taken is the answer, not a third build
    assert controller.snapshots == 2


async def test_progress_watch_takes_no_full_snapshots(
    client: ControlClient, controller: FakeController
) -> None:
    name = (await client.submit(HELLO))["name"]
    controller.snapshots = 0
    seen: list[str] = []

    async def watcher() -> None:
        async for workflow in client.watch(name, nodes=False, wait=5.0):
            assert "nodes" not in workflow["status"]
            seen.append(workflow["status"]["phase"])

    task = asyncio.create_task(watcher())
    await wait_for(lambda: seen == ["Running"], what="the first summary")
    controller.workflows[Key("default", name)]["status"]["phase"] = "Succeeded"
    await asyncio.wait_for(task, 10)
    assert seen == ["Running", "Succeeded"]
    assert controller.snapshots == 0, "a progress watch reads summaries only"
