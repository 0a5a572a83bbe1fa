"""The protocol's types (hookbus.bus.wire) against what the dispatcher and the SDK put on the wire."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest

from hookbus.bus import (
    Encoding,
    Hook,
    Plugin,
    allow,
    codec,
    fail,
    hold,
    merge_patch,
    node_result,
    patch,
    reject,
    short_circuit,
    subjects,
    take_over,
    value,
    warn,
    wire,
)
from hookbus.bus import dispatch as dispatch_module
from hookbus.bus.dispatch import NO_OPINION
from hookbus.bus.testing import PluginHarness

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg


def _keys(typed: Any) -> frozenset[str]:
    return frozenset(typed.__required_keys__ | typed.__optional_keys__)


def _nodes(n: int) -> list[dict[str, Any]]:
    return [{"id": f"n{i}", "node": {"id": f"n{i}", "name": f"wf.s{i}"}, "template": {"name": "main"}} for i in range(n)]


async def test_a_request_is_the_typed_envelope_with_the_named_headers(nc: Client, nats_url: str) -> None:
    plugin = Plugin("typed")

    @plugin.node_pre_execute()
    def handle(**kwargs: Any) -> None:
        return None

    seen: list[Msg] = []

    async def watch(msg: Msg) -> None:
        seen.append(msg)

    # A plain subscription beside the plugin's queue group gets a copy of every request.
    sub = await nc.subscribe(subjects.hook("typed", Hook.NODE_PRE_EXECUTE), cb=watch)
    try:
        async with PluginHarness(plugin, nats_url=nats_url) as harness:
            await harness.call(Hook.NODE_PRE_EXECUTE, _nodes(2))
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.02)
    finally:
        await sub.unsubscribe()
    (msg,) = seen
    body = codec.decode(msg.data)
    assert frozenset(body) == _keys(wire.HookRequest)
    assert body["v"] == wire.PROTOCOL_VERSION == subjects.PROTOCOL_VERSION
    assert body["hook"] == Hook.NODE_PRE_EXECUTE.value and body["plugin"] == "typed"
    assert frozenset(body["workflow"]) == _keys(wire.RequestWorkflow)
    assert [frozenset(item) for item in body["items"]] == [_keys(wire.NodeItem)] * 2
    headers = msg.headers or {}
    assert headers[wire.H_CONTENT_TYPE] == Encoding.MSGPACK.content_type
    assert int(headers[wire.H_TIMEOUT_MS]) > 0
    assert headers[wire.H_REQUEST_ID]


@pytest.mark.parametrize("encoding", [Encoding.MSGPACK, Encoding.JSON])
async def test_the_sdk_sends_the_no_opinion_reply_of_the_wire_module(nc: Client, nats_url: str, encoding: Encoding) -> None:
    plugin = Plugin("quiet", encoding=encoding)

    @plugin.node_pre_execute()
    def handle(**kwargs: Any) -> None:
        return None

    async with PluginHarness(plugin, nats_url=nats_url):
        request = {"v": 1, "hook": "node.preExecute", "plugin": "quiet", "workflow": {"metadata": {}}, "items": _nodes(3)}
        reply = await nc.request(
            subjects.hook("quiet", Hook.NODE_PRE_EXECUTE),
            codec.encode(request, encoding),
            headers={wire.H_CONTENT_TYPE: encoding.content_type},
            timeout=5,
        )
    assert reply.data == wire.no_opinion_reply("quiet", 3, encoding)
    decoded = codec.decode(reply.data, encoding)
    assert frozenset(decoded) == _keys(wire.HookReply)
    assert decoded == {"v": 1, "plugin": "quiet", "results": [{}, {}, {}]}


async def test_the_dispatcher_takes_the_no_opinion_reply_without_decoding_it(
    nats_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin = Plugin("silent")

    @plugin.node_pre_execute()
    def handle(**kwargs: Any) -> None:
        return None

    def no_decoding(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a no-opinion reply was decoded")

    monkeypatch.setattr(dispatch_module, "decode_map", no_decoding)
    async with PluginHarness(plugin, nats_url=nats_url) as harness:
        result = await harness.call(Hook.NODE_PRE_EXECUTE, _nodes(5))
    assert list(result) == [NO_OPINION] * 5
    assert result.stats.requests == 1 and result.stats.failures == 0


def test_the_result_helpers_build_the_typed_results() -> None:
    assert frozenset(reject("no", warnings=["w"])) <= _keys(wire.AdmissionResult)
    assert frozenset(patch([{"op": "add", "path": "/a", "value": 1}], warnings=["w"])) <= _keys(wire.PodResult)
    assert frozenset(merge_patch({"a": 1})) <= _keys(wire.PostExecuteResult)
    assert frozenset(warn("w")) <= _keys(wire.AdmissionResult)
    assert allow() == {}
    for result in (short_circuit("Skipped", outputs={"result": "x"}, message="m"), take_over(requeue=3, message="m"), hold(2), fail("m")):
        assert frozenset(result) <= _keys(wire.PreExecuteResult)
        assert result["decision"] in wire.Decision.__args__
    assert frozenset(value("s", secret=True)) == _keys(wire.ResolveResult) - {"warnings"}
    executed = node_result("Running", message="m", outputs={"result": "x"}, requeue=5)
    assert frozenset(executed) <= _keys(wire.TemplateExecuteResult)
    assert frozenset(executed["node"]) == _keys(wire.NodeResult)


def test_the_old_names_of_the_header_constants_are_the_wire_ones() -> None:
    assert dispatch_module.ERROR_CODE == wire.H_ERROR_CODE == "Nats-Service-Error-Code"
    assert dispatch_module.ERROR_TEXT == wire.H_ERROR_TEXT == "Nats-Service-Error"
    assert dispatch_module.TIMEOUT_HEADER == wire.H_TIMEOUT_MS
    assert dispatch_module.REQUEST_ID_HEADER == wire.H_REQUEST_ID
    from hookbus.bus.hooks import Hook as CatalogueHook

    assert CatalogueHook is wire.Hook is Hook


def test_a_full_manifest_is_a_manifest_doc_and_parses_back() -> None:
    plugin = Plugin("full", version="2.0.0", encoding="json", heartbeat=3.0, description="d")

    @plugin.node_pre_execute(
        timeout=1.0,
        failure_policy="Ignore",
        priority=5,
        namespaces=["ci"],
        labels={"team": "a"},
        templates=["main"],
        template_types=["container"],
        images=["python:*"],
        expression="True",
        fields=["node.name"],
        shadow=True,
        max_batch=10,
        side_effects=False,
    )
    def handle(**kwargs: Any) -> None:
        return None

    @plugin.parameters_resolve(scopes=["vault"])
    def resolve(**kwargs: Any) -> None:
        return None

    @plugin.template_execute(templates=["slack"])
    def execute(**kwargs: Any) -> None:
        return None

    doc = plugin.manifest.to_wire()
    assert frozenset(doc) == _keys(wire.ManifestDoc)
    spec = doc["hooks"]["node.preExecute"]
    assert frozenset(spec) == _keys(wire.HookSpecDoc)
    assert frozenset(spec["filters"]) == _keys(wire.FiltersDoc)
    assert wire.ManifestDoc.__required_keys__ == {"name"}
    from hookbus.bus import parse_manifest

    assert parse_manifest(doc) == plugin.manifest


def test_every_verdict_the_controller_publishes_has_a_wire_phase() -> None:
    from typing import get_args

    from hookbus.bus.events import verdict_type

    verdicts = ("reject", "fail", "short-circuit", "take-over", "hold", "veto", "warning", "shadow")
    assert sorted(verdict_type(v) for v in verdicts) == sorted(get_args(wire.PluginEventPhase))
