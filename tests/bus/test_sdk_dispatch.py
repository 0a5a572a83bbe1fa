"""The plugin SDK and the controller's dispatcher, end to end over a real nats-server."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import TYPE_CHECKING, Any

import pytest

from hookbus.bus import (
    BusSettings,
    DispatchSettings,
    EmbeddedServer,
    Encoding,
    Hook,
    NatsSettings,
    Plugin,
    RegistrySettings,
    TemporaryError,
    reject,
    short_circuit,
    subjects,
)
from hookbus.bus.codec import encode
from hookbus.bus.connection import connect
from hookbus.bus.dispatch import Dispatcher
from hookbus.bus.registry import RegistryView
from hookbus.bus.testing import PluginHarness, wait_registered
from tests.support.waiting import freeze

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from nats.aio.client import Client

WF = {"name": "wf", "namespace": "default", "uid": "u1", "labels": {"team": "a"}}


@pytest.fixture
async def plugin_nc(nats_url: str) -> AsyncIterator[Client]:
    client = await connect(NatsSettings(urls=(nats_url,), name="plugin"))
    yield client
    await client.close()


async def _controller(nc: Client, **dispatch: Any) -> tuple[RegistryView, Dispatcher]:
    registry = RegistryView(nc.jetstream(), RegistrySettings())
    await registry.start()
    return registry, Dispatcher(nc, registry, DispatchSettings(**dispatch))


def _nodes(n: int) -> list[dict[str, Any]]:
    return [{"id": f"n{i}", "node": {"name": f"wf.step-{i}", "templateName": "main"}, "template": {"name": "main", "container": {"image": "alpine"}}} for i in range(n)]


async def test_harness_round_trip_with_single_item_handler() -> None:
    plugin = Plugin("cache", version="1.2.3")
    seen: list[str] = []

    @plugin.node_pre_execute(timeout=2.0)
    def decide(node: dict[str, Any], workflow: dict[str, Any], **kwargs: Any) -> dict[str, Any] | None:
        seen.append(node["name"])
        assert workflow["metadata"]["name"] == "test-workflow"
        if node["name"].endswith("1"):
            return short_circuit("Succeeded", outputs={"parameters": [{"name": "p", "value": "hit"}]})
        return None

    async with PluginHarness(plugin) as harness:
        result = await harness.call(Hook.NODE_PRE_EXECUTE, _nodes(3))
    assert seen == ["wf.step-0", "wf.step-1", "wf.step-2"]
    assert [o.settled for o in result] == [False, True, False]
    assert result[1].plugin == "cache"
    assert result[1].result["decision"] == "shortCircuit"
    assert result[1].result["outputs"]["parameters"][0]["value"] == "hit"
    assert result.stats.requests == 1


async def test_registration_expires_without_heartbeat_and_comes_back(nc: Client, plugin_nc: Client) -> None:
    now = [1000.0]
    registry = RegistryView(nc.jetstream(), RegistrySettings(ttl=15.0), clock=lambda: now[0])
    await registry.start()
    plugin = Plugin("beater", heartbeat=60.0)

    @plugin.node_pre_execute()
    def noop(**kwargs: Any) -> None:
        return None

    try:
        await plugin.start(plugin_nc)
        await wait_registered(registry, "beater")
        # The entry's own timestamp is the server's; move our clock to it.
        now[0] = max(r.seen for r in registry._instances["beater"].values()) + 1
        assert registry.get("beater") is not None
        now[0] += 16.0  # past the TTL with no heartbeat
        assert registry.get("beater") is None
        assert registry.plugins_for(Hook.NODE_PRE_EXECUTE) == []
        assert registry.snapshot()["beater"]["state"] == "expired"
        # A heartbeat brings it back without any restart.
        assert plugin._registration is not None
        await plugin._registration._put()
        await registry.wait_for(lambda r: max(x.seen for x in r._instances["beater"].values()) > 0, 5)
        now[0] = max(r.seen for r in registry._instances["beater"].values()) + 1
        assert registry.get("beater") is not None
        # A clean stop deregisters at once.
        await plugin.stop()
        await registry.wait_for(lambda r: "beater" not in r._instances, 5)
    finally:
        await plugin.stop()
        await registry.stop()


async def test_allow_list_keeps_unlisted_plugins_out(nc: Client, plugin_nc: Client) -> None:
    registry = RegistryView(nc.jetstream(), RegistrySettings(allow=("good",)))
    await registry.start()
    calls: list[str] = []
    good, bad = Plugin("good"), Plugin("bad")

    @good.pod_pre_create()
    def g(**kwargs: Any) -> None:
        calls.append("good")

    @bad.pod_pre_create()
    def b(**kwargs: Any) -> None:
        calls.append("bad")

    try:
        await good.start(plugin_nc)
        await bad.start(plugin_nc)
        await wait_registered(registry, "good")
        await registry.wait_for(lambda r: "bad" in r._instances, 5)
        assert registry.get("bad") is None
        assert registry.snapshot()["bad"]["state"] == "not allowed"
        dispatcher = Dispatcher(nc, registry)
        await dispatcher.call(Hook.POD_PRE_CREATE, WF, [{"id": "n", "pod": {}}])
        assert calls == ["good"]
    finally:
        await good.stop()
        await bad.stop()
        await registry.stop()


async def test_mutators_run_in_order_and_each_sees_the_previous_patch() -> None:
    first, second, third = Plugin("a-first"), Plugin("b-second"), Plugin("c-third")
    seen: dict[str, Any] = {}

    @second.pod_pre_create(priority=20)
    def add_label(pod: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        seen["second"] = pod.get("metadata", {}).get("labels", {}).copy()
        return {"patch": [{"op": "add", "path": "/metadata/labels/second", "value": "2"}]}

    @first.pod_pre_create(priority=10)
    def add_first(pod: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        seen["first"] = pod.get("metadata", {}).get("labels", {}).copy()
        return {"mergePatch": {"metadata": {"labels": {"first": "1"}}}}

    @third.pod_pre_create(priority=20)  # same priority as b-second: name decides
    def add_third(pod: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        seen["third"] = pod.get("metadata", {}).get("labels", {}).copy()
        return {"patch": [{"op": "replace", "path": "/metadata/labels/second", "value": "2b"}]}

    pod = {"metadata": {"labels": {"orig": "x"}}, "spec": {"containers": []}}
    async with PluginHarness(third, second, first) as harness:
        outcome = await harness.call_one(Hook.POD_PRE_CREATE, {"pod": pod})
    assert seen["first"] == {"orig": "x"}
    assert seen["second"] == {"orig": "x", "first": "1"}
    assert seen["third"] == {"orig": "x", "first": "1", "second": "2"}
    assert outcome.target["metadata"]["labels"] == {"orig": "x", "first": "1", "second": "2b"}
    assert outcome.patched_by == ("a-first", "b-second", "c-third")
    assert pod["metadata"]["labels"] == {"orig": "x"}, "the caller's object is never changed"


async def test_validators_run_concurrently_and_after_mutators() -> None:
    mutator = Plugin("mutator")
    validators = [Plugin(f"validator-{i}") for i in range(3)]
    started: list[str] = []
    all_started = asyncio.Event()

    @mutator.workflow_pre_operate(mutating=True)
    def mutate(workflow: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {"patch": [{"op": "add", "path": "/metadata/labels", "value": {"mutated": "yes"}}]}

    for v in validators:

        @v.workflow_pre_operate(timeout=5.0)
        async def validate(workflow: dict[str, Any], plugin: Plugin, **kwargs: Any) -> dict[str, Any] | None:
            assert workflow["metadata"]["labels"] == {"mutated": "yes"}
            started.append(plugin.name)
            if len(started) == 3:
                all_started.set()
            # Only returns once all three are in flight: proves they run concurrently.
            await asyncio.wait_for(all_started.wait(), 4.0)
            return reject(f"{plugin.name} says no") if plugin.name != "validator-0" else None

    async with PluginHarness(mutator, *validators) as harness:
        outcome = await harness.call_one(Hook.WORKFLOW_PRE_OPERATE, {"workflow": {"metadata": {"name": "wf"}, "spec": {}}})
    assert sorted(started) == ["validator-0", "validator-1", "validator-2"]
    assert not outcome.allowed
    # Deterministic: the first rejecting validator by name wins.
    assert outcome.plugin == "validator-1"
    assert outcome.message == "validator-1 says no"


async def test_a_decision_settles_the_item_for_later_plugins() -> None:
    first, second = Plugin("first"), Plugin("second")
    asked: list[str] = []

    @first.node_pre_execute(priority=1)
    def skip_even(id: str, **kwargs: Any) -> dict[str, Any] | None:
        return short_circuit("Skipped") if int(id[1:]) % 2 == 0 else None

    @second.node_pre_execute(priority=2)
    def record(id: str, **kwargs: Any) -> None:
        asked.append(id)

    async with PluginHarness(first, second) as harness:
        result = await harness.call(Hook.NODE_PRE_EXECUTE, _nodes(6))
    assert asked == ["n1", "n3", "n5"]
    assert [o.plugin for o in result] == ["first", None, "first", None, "first", None]


async def test_a_large_call_is_batched_and_chunked_below_max_payload() -> None:
    plugin = Plugin("counter", compression=False)  # plain requests: cut by their bytes
    sizes: list[int] = []

    @plugin.node_pre_execute(batch=True)
    def count(items: list[dict[str, Any]], **kwargs: Any) -> list[dict[str, Any]]:
        sizes.append(len(items))
        return [{} for _ in items]

    items = _nodes(100_000)
    settings = BusSettings(dispatch=DispatchSettings(max_batch=1000, max_payload=64 * 1024))
    async with PluginHarness(plugin, settings=settings) as harness:
        result = await harness.call(Hook.NODE_PRE_EXECUTE, items)
    assert len(result) == 100_000
    assert sum(sizes) == 100_000
    assert len(sizes) == result.stats.requests
    # 64 KiB requests cannot hold 1000 of these items: the dispatcher split them.
    assert max(sizes) < 1000
    assert len(sizes) < 100_000 // 50, "items travel in batches, not one by one"


async def test_filters_keep_uninterested_plugins_out_and_projection_trims_items() -> None:
    python_only, other_ns, projected = Plugin("python-only"), Plugin("other-ns"), Plugin("projected")
    received: dict[str, list[Any]] = {"python-only": [], "other-ns": [], "projected": []}

    @python_only.node_pre_execute(images=["python:*"], batch=True)
    def p(items: list[Any], **kwargs: Any) -> list[Any]:
        received["python-only"].extend(items)
        return [None] * len(items)

    @other_ns.node_pre_execute(namespaces=["prod"])
    def o(item: Any, **kwargs: Any) -> None:
        received["other-ns"].append(item)

    @projected.node_pre_execute(fields=["node.name"], expression="item['node']['name'].endswith('-1')")
    def j(item: Any, **kwargs: Any) -> None:
        received["projected"].append(item)

    items = _nodes(3)
    items[2]["template"]["container"]["image"] = "python:3.12"
    async with PluginHarness(python_only, other_ns, projected) as harness:
        result = await harness.call(Hook.NODE_PRE_EXECUTE, items)
    assert [i["id"] for i in received["python-only"]] == ["n2"]
    assert received["other-ns"] == []
    assert received["projected"] == [{"id": "n1", "node": {"name": "wf.step-1"}}]
    assert result.stats.plugins_called == 2


async def test_json_encoded_plugin_round_trip() -> None:
    plugin = Plugin("shell-like", encoding=Encoding.JSON)

    @plugin.parameters_resolve(scopes=["vault"])
    def resolve(key: str, **kwargs: Any) -> dict[str, Any]:
        return {"value": f"secret-{key}", "secret": True}

    async with PluginHarness(plugin) as harness:
        assert harness.registry is not None and harness.registry.get("shell-like") is not None
        assert harness.registry.get("shell-like").encoding is Encoding.JSON  # type: ignore[union-attr]
        result = await harness.call(
            Hook.PARAMETERS_RESOLVE,
            [
                {"id": "1", "placeholder": "vault.db", "scope": "vault", "key": "db"},
                {"id": "2", "placeholder": "other.x", "scope": "other", "key": "x"},
            ],
        )
    assert result[0].result == {"value": "secret-db", "secret": True}
    assert result[0].plugin == "shell-like"
    assert not result[1].settled, "a placeholder scope the plugin does not own is not sent to it"


async def test_two_replicas_share_the_load(nats_url: str) -> None:
    counts = {"r1": 0, "r2": 0}
    replicas = []
    for tag in counts:
        replica = Plugin("scaled")

        @replica.node_pre_execute(batch=True)
        async def handle(items: list[Any], tag: str = tag, **kwargs: Any) -> list[Any]:
            counts[tag] += len(items)
            await asyncio.sleep(0)  # yield, so both replicas get work
            return [None] * len(items)

        replicas.append(replica)
    settings = BusSettings(dispatch=DispatchSettings(max_batch=10, max_in_flight=8))
    async with PluginHarness(*replicas, nats_url=nats_url, settings=settings) as harness:
        assert harness.registry is not None
        await harness.registry.wait_for(lambda r: r.instances("scaled") == 2, 5)
        await harness.call(Hook.NODE_PRE_EXECUTE, _nodes(2000))
    assert counts["r1"] + counts["r2"] == 2000
    assert counts["r1"] > 0 and counts["r2"] > 0


async def test_handler_errors_become_error_replies_and_the_plugin_keeps_serving() -> None:
    plugin = Plugin("flaky")
    calls = {"n": 0}

    @plugin.node_pre_execute(failure_policy="Fail")
    def handle(id: str, **kwargs: Any) -> None:
        calls["n"] += 1
        if id == "boom":
            raise RuntimeError("kaput")

    async with PluginHarness(plugin) as harness:
        bad = await harness.call_one(Hook.NODE_PRE_EXECUTE, {"id": "boom"})
        good = await harness.call_one(Hook.NODE_PRE_EXECUTE, {"id": "fine"})
    assert not bad.allowed and bad.error
    assert "flaky" in bad.message and "node.preExecute" in bad.message and "kaput" in bad.message
    assert good.allowed and not good.settled


async def test_temporary_errors_are_retried() -> None:
    plugin = Plugin("warming-up")
    attempts = {"n": 0}

    @plugin.node_pre_execute()
    def handle(**kwargs: Any) -> dict[str, Any]:
        attempts["n"] += 1
        if attempts["n"] < 3:
            raise TemporaryError("cache is warming up")
        return short_circuit("Skipped")

    settings = BusSettings(dispatch=DispatchSettings(retries=2, retry_backoff=0.001))
    async with PluginHarness(plugin, settings=settings) as harness:
        outcome = await harness.call_one(Hook.NODE_PRE_EXECUTE, {"node": {}})
        assert harness.dispatcher is not None and harness.dispatcher.stats.retries == 2
    assert attempts["n"] == 3
    assert outcome.result["phase"] == "Skipped"




async def test_a_request_delivered_after_stop_gave_up_draining_is_still_answered(
    nats_server: EmbeddedServer, nc: Client, plugin_nc: Client
) -> None:
    """On a loaded machine, stop()'s bounded drain can run out of time before the server
    took the unsubscribe. Requests the server routed to the plugin until then arrive
    after stop() returned; they are answered all the same, not dropped (the controller
    would wait out the hook's timeout for each)."""
    plugin = Plugin("leaving")
    handled: list[str] = []

    @plugin.node_pre_execute(mutating=False)
    def see(node: dict[str, Any], **kwargs: Any) -> None:
        handled.append(node["name"])

    await plugin.start(plugin_nc)
    inbox = nc.new_inbox()
    replies = await nc.subscribe(inbox)
    await nc.flush()
    subject = subjects.hook("leaving", Hook.NODE_PRE_EXECUTE)
    assert nats_server.pid is not None
    await freeze(nats_server.pid)  # the server takes nothing until SIGCONT
    try:
        for index in range(3):
            items = _nodes(index + 1)[index:]
            body = {"v": subjects.PROTOCOL_VERSION, "hook": "node.preExecute", "plugin": "leaving", "workflow": {"metadata": WF}, "items": items}
            # Sent on the plugin's own connection, so the server reads them before the
            # unsubscribe that stop() sends next, and routes them to the plugin.
            await plugin_nc.publish(subject, encode(body), reply=inbox)
        await plugin.stop(timeout=0.4)  # the drain's round trip cannot finish: it gives up
        assert handled == []
    finally:
        os.kill(nats_server.pid, signal.SIGCONT)
    answers = [await replies.next_msg(timeout=5) for _ in range(3)]
    assert [(m.headers or {}).get("Nats-Service-Error-Code") for m in answers] == [None] * 3
    assert sorted(handled) == ["wf.step-0", "wf.step-1", "wf.step-2"]
