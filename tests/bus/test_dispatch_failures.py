"""How the dispatcher treats plugins that misbehave: each failure mode, both failure policies."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import ormsgpack
import pytest
from nats.aio.msg import Msg

from hookbus.bus import (
    DispatchSettings,
    FailurePolicy,
    Hook,
    HookSpec,
    NatsSettings,
    PluginManifest,
    RegistrySettings,
    subjects,
)
from hookbus.bus.breaker import BreakerState
from hookbus.bus.connection import connect
from hookbus.bus.dispatch import Dispatcher
from hookbus.bus.registry import Registration, RegistryView
from hookbus.bus.testing import wait_registered

if TYPE_CHECKING:
    from nats.aio.client import Client

WF = {"name": "wf", "namespace": "default", "uid": "u1"}
ITEMS = [{"id": "a", "node": {"name": "wf.a"}}, {"id": "b", "node": {"name": "wf.b"}}]

Responder = Callable[[Msg], Awaitable[None]]


class RawPlugin:
    """A plugin written against the wire protocol directly, to misbehave on purpose."""

    def __init__(self, nc: Client, name: str, responder: Responder | None, *, policy: FailurePolicy, timeout: float = 0.5) -> None:
        self.nc = nc
        self.manifest = PluginManifest(
            name=name, hooks={Hook.NODE_PRE_EXECUTE: HookSpec(Hook.NODE_PRE_EXECUTE, timeout=timeout, failure_policy=policy)}
        )
        self.responder = responder
        self.requests = 0
        self.sub: Any = None
        self.registration = Registration(nc.jetstream(), self.manifest)

    async def start(self) -> None:
        if self.responder is not None:
            async def on(msg: Msg) -> None:
                self.requests += 1
                assert self.responder is not None
                await self.responder(msg)

            self.sub = await self.nc.subscribe(subjects.hook(self.manifest.name, Hook.NODE_PRE_EXECUTE), cb=on)
            await self.nc.flush()
        await self.registration.start()

    async def stop(self) -> None:
        await self.registration.stop()
        if self.sub is not None:
            await self.sub.unsubscribe()


def ok_reply(name: str = "raw") -> Responder:
    async def respond(msg: Msg) -> None:
        body = ormsgpack.unpackb(msg.data)
        await msg.respond(ormsgpack.packb({"v": 1, "plugin": name, "results": [{} for _ in body["items"]]}))

    return respond


def error_reply(code: str, text: str) -> Responder:
    async def respond(msg: Msg) -> None:
        assert msg.reply
        await msg._client.publish(msg.reply, b"", headers={"Nats-Service-Error-Code": code, "Nats-Service-Error": text})

    return respond


@pytest.fixture
async def pnc(nats_url: str) -> AsyncIterator[Client]:
    client = await connect(NatsSettings(urls=(nats_url,), name="raw-plugin"))
    yield client
    await client.close()


@pytest.fixture
async def registry(nc: Client) -> AsyncIterator[RegistryView]:
    view = RegistryView(nc.jetstream(), RegistrySettings())
    await view.start()
    yield view
    await view.stop()


async def _call_with(
    nc: Client, pnc: Client, registry: RegistryView, responder: Responder | None, policy: FailurePolicy, **settings: Any
) -> tuple[Any, RawPlugin, Dispatcher]:
    plugin = RawPlugin(pnc, "raw", responder, policy=policy, timeout=settings.pop("timeout", 0.5))
    await plugin.start()
    try:
        await wait_registered(registry, "raw")
        dispatcher = Dispatcher(nc, registry, DispatchSettings(**settings))
        result = await dispatcher.call(Hook.NODE_PRE_EXECUTE, WF, ITEMS)
    finally:
        await plugin.stop()
    return result, plugin, dispatcher


CASES = {
    "timeout": (lambda: _silent, "no reply within"),
    "no-responders": (lambda: None, "no responders"),
    "fatal": (lambda: error_reply("500", "database is on fire"), "error reply 500: database is on fire"),
    "malformed": (lambda: _garbage, "malformed reply"),
    "wrong-count": (lambda: _one_result, "expected 2 results, got 1 results"),
    "wrong-plugin": (lambda: ok_reply("impostor"), "claims to come from plugin 'impostor'"),
    "wrong-version": (lambda: _wrong_version, "protocol version 7 is not supported"),
}


async def _silent(msg: Msg) -> None:
    return None


async def _garbage(msg: Msg) -> None:
    await msg.respond(b"\xc1\xc1 not msgpack")


async def _one_result(msg: Msg) -> None:
    await msg.respond(ormsgpack.packb({"v": 1, "plugin": "raw", "results": [{}]}))


async def _wrong_version(msg: Msg) -> None:
    await msg.respond(ormsgpack.packb({"v": 7, "plugin": "raw", "results": [{}, {}]}))


@pytest.mark.parametrize("case", sorted(CASES))
async def test_failure_with_policy_fail_fails_every_item_naming_plugin_and_hook(
    case: str, nc: Client, pnc: Client, registry: RegistryView
) -> None:
    make, expected = CASES[case]
    loop = asyncio.get_running_loop()
    started = loop.time()
    result, _, dispatcher = await _call_with(nc, pnc, registry, make(), FailurePolicy.FAIL, timeout=0.3)
    for outcome in result:
        assert not outcome.allowed and outcome.error
        assert outcome.plugin == "raw"
        assert "'raw'" in outcome.message and "node.preExecute" in outcome.message
        assert expected in outcome.message
    assert dispatcher.stats.failures == 2 and dispatcher.stats.ignored == 0
    if case == "no-responders":
        assert loop.time() - started < 0.3, "no responders is detected at once, not waited out"


@pytest.mark.parametrize("case", sorted(CASES))
async def test_failure_with_policy_ignore_goes_on_and_is_counted(
    case: str, nc: Client, pnc: Client, registry: RegistryView
) -> None:
    make, expected = CASES[case]
    result, _, dispatcher = await _call_with(nc, pnc, registry, make(), FailurePolicy.IGNORE, timeout=0.3)
    for outcome in result:
        assert outcome.allowed and not outcome.settled
        assert len(outcome.ignored) == 1 and expected in outcome.ignored[0]
    assert dispatcher.stats.ignored == 2


async def test_not_implemented_404_counts_as_no_opinion(nc: Client, pnc: Client, registry: RegistryView) -> None:
    result, plugin, dispatcher = await _call_with(nc, pnc, registry, error_reply("404", "not mine"), FailurePolicy.FAIL)
    assert all(o.allowed and not o.settled and not o.ignored for o in result)
    assert dispatcher.stats.not_implemented == 2 and dispatcher.stats.failures == 0
    assert plugin.requests == 1


async def test_503_is_retried_then_fails_per_policy(nc: Client, pnc: Client, registry: RegistryView) -> None:
    result, plugin, dispatcher = await _call_with(
        nc, pnc, registry, error_reply("503", "busy"), FailurePolicy.FAIL, retries=3, retry_backoff=0.001
    )
    assert plugin.requests == 4, "one request and three retries"
    assert dispatcher.stats.retries == 3
    assert all(not o.allowed and "503" in o.message for o in result)


async def test_oversized_reply_is_rejected_with_a_clear_error(nc: Client, pnc: Client, registry: RegistryView) -> None:
    async def huge(msg: Msg) -> None:
        await msg.respond(ormsgpack.packb({"v": 1, "plugin": "raw", "results": [{"junk": "x" * 5000}, {}]}))

    result, _, _ = await _call_with(nc, pnc, registry, huge, FailurePolicy.FAIL, max_reply=1024)
    assert all("over the limit of 1024 bytes" in o.message for o in result)


async def test_circuit_breaker_opens_then_probes_then_closes(nc: Client, pnc: Client, registry: RegistryView) -> None:
    now = [0.0]
    healthy = {"ok": False}

    async def respond(msg: Msg) -> None:
        if healthy["ok"]:
            await ok_reply()(msg)
        else:
            await error_reply("500", "down")(msg)

    plugin = RawPlugin(pnc, "raw", respond, policy=FailurePolicy.IGNORE)
    await plugin.start()
    try:
        await wait_registered(registry, "raw")
        dispatcher = Dispatcher(nc, registry, DispatchSettings(breaker_threshold=3, breaker_cooldown=30.0), clock=lambda: now[0])
        for _ in range(3):
            await dispatcher.call(Hook.NODE_PRE_EXECUTE, WF, ITEMS)
        assert dispatcher.breaker("raw").state is BreakerState.OPEN
        assert plugin.requests == 3
        # Open: the plugin is not called at all; the failure policy applies.
        result = await dispatcher.call(Hook.NODE_PRE_EXECUTE, WF, ITEMS)
        assert plugin.requests == 3 and result.stats.breaker_skips == 1
        assert "circuit breaker is open" in result[0].ignored[0]
        # After the cooldown one probe goes through; it fails, so the breaker opens again.
        now[0] += 31.0
        assert dispatcher.breaker("raw").state is BreakerState.HALF_OPEN
        await dispatcher.call(Hook.NODE_PRE_EXECUTE, WF, ITEMS)
        assert plugin.requests == 4
        assert dispatcher.breaker("raw").state is BreakerState.OPEN
        # The plugin recovers: the next probe succeeds and closes the breaker.
        healthy["ok"] = True
        now[0] += 31.0
        result = await dispatcher.call(Hook.NODE_PRE_EXECUTE, WF, ITEMS)
        assert plugin.requests == 5 and not result[0].ignored
        assert dispatcher.breaker("raw").state is BreakerState.CLOSED
    finally:
        await plugin.stop()


async def test_remaining_deadline_is_sent_to_the_plugin(nc: Client, pnc: Client, registry: RegistryView) -> None:
    seen: list[str] = []

    async def respond(msg: Msg) -> None:
        seen.append((msg.headers or {}).get("Hookbus-Timeout-Ms", ""))
        await ok_reply()(msg)

    await _call_with(nc, pnc, registry, respond, FailurePolicy.FAIL, timeout=0.25)
    assert seen and 0 < int(seen[0]) <= 250


async def test_invalid_manifest_in_the_bucket_is_ignored_with_its_reason(nc: Client, registry: RegistryView) -> None:
    kv = await nc.jetstream().key_value("hookbus-plugins")
    await kv.put("broken.i1", b'{"name": "broken", "hooks": {"node.preExecute": {"failurePolicy": "Maybe"}}}')
    await registry.wait_for(lambda r: "broken" in r.snapshot(), 5)
    assert registry.get("broken") is None
    assert "failurePolicy" in registry.snapshot()["broken"]["error"]


async def test_a_reply_is_decoded_in_the_manifests_encoding_whatever_its_content_type(
    nc: Client, pnc: Client, registry: RegistryView
) -> None:
    """A reply needs no Content-Type, and one it carries is not read (docs/protocol.md, Encoding)."""

    def replying(encode: Callable[[Any], bytes], headers: dict[str, str] | None) -> Responder:
        async def respond(msg: Msg) -> None:
            body = ormsgpack.unpackb(msg.data)
            results = [{"decision": "hold", "requeue": 1} for _ in body["items"]]
            assert msg.reply
            await msg._client.publish(msg.reply, encode({"v": 1, "plugin": "raw", "results": results}), headers=headers)

        return respond

    # No header: msgpack, the manifest's encoding.
    result, _, _ = await _call_with(nc, pnc, registry, replying(ormsgpack.packb, None), FailurePolicy.FAIL)
    assert [o.result.get("decision") for o in result] == ["hold", "hold"]
    # A header naming JSON over a msgpack body: still read as msgpack.
    result, _, _ = await _call_with(nc, pnc, registry, replying(ormsgpack.packb, {"Content-Type": "application/json"}), FailurePolicy.FAIL)
    assert [o.result.get("decision") for o in result] == ["hold", "hold"]
    # A JSON body, even labelled JSON, is malformed for a msgpack plugin.
    as_json = replying(lambda value: json.dumps(value).encode(), {"Content-Type": "application/json"})
    result, _, _ = await _call_with(nc, pnc, registry, as_json, FailurePolicy.FAIL)
    assert all(o.error and o.result["reason"] == "malformed" for o in result)
