"""Deflated hook requests: alike items of one pass in one request per plugin, never over max_payload."""

from __future__ import annotations

import json
import os
import zlib
from typing import TYPE_CHECKING, Any

import pytest

from hookbus.bus import BusSettings, DispatchSettings, Hook, NatsSettings, Plugin, subjects, wire
from hookbus.bus.codec import decode, encode
from hookbus.bus.connection import connect
from hookbus.bus.deflate import deflate, inflate
from hookbus.bus.errors import ConfigError, DecodeError
from hookbus.bus.manifest import PluginManifest, parse_manifest
from hookbus.bus.registry import Registration, offered_codings, registry_info
from hookbus.bus.testing import PluginHarness

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg

MIB = 1024 * 1024


def _pods(n: int) -> list[dict[str, Any]]:
    """``pod.preCreate`` items as a fan-out's pass has them: Pods alike but for names and ids."""
    items = []
    for i in range(n):
        node_id = f"fanout-{1_000_000_000 + i * 7919}"
        mount = [{"name": "hookbus-launcher", "mountPath": "/var/run/hookbus"}]
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"fanout-work-{node_id[7:]}",
                "namespace": "default",
                "labels": {"workflows.argoproj.io/workflow": "fanout", "workflows.argoproj.io/completed": "false"},
                "annotations": {"workflows.argoproj.io/node-name": f"fanout[0].fan({i}:{i})", "workflows.argoproj.io/node-id": node_id},
                "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "name": "fanout", "uid": "061c6437-a0ef", "controller": True}],
            },
            "spec": {
                "restartPolicy": "Never",
                "initContainers": [
                    {
                        "name": "init",
                        "image": "ghcr.io/hookbus/hookbus:0.1.0",
                        "command": ["/usr/local/bin/hookbus-launcher", "install", "/var/run/hookbus/launcher"],
                        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "32Mi"}},
                        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
                        "volumeMounts": mount,
                    }
                ],
                "containers": [
                    {
                        "name": "main",
                        "image": "alpine",
                        "command": ["/var/run/hookbus/launcher", "--result", "--", "echo", str(i)],
                        "terminationMessagePath": "/dev/termination-log",
                        "volumeMounts": mount,
                    }
                ],
                "volumes": [{"name": "hookbus-launcher", "emptyDir": {}}],
            },
        }
        node = {"id": node_id, "name": f"fanout[0].fan({i}:{i})", "type": "Pod", "phase": "Pending", "templateName": "work"}
        items.append({"id": node_id, "node": node, "pod": pod})
    return items


class Wiretap:
    """A plain subscriber (no queue group) that sees a copy of every request to a plugin."""

    def __init__(self, nc: Client, plugin: str, hook: Hook) -> None:
        self.nc = nc
        self.subject = subjects.hook(plugin, hook)
        self.sizes: list[int] = []
        self.codings: list[str | None] = []
        self.items: list[list[Any]] = []
        self.sub: Any = None

    async def on(self, msg: Msg) -> None:
        coding = (msg.headers or {}).get(wire.H_CONTENT_ENCODING)
        self.sizes.append(len(msg.data))
        self.codings.append(coding)
        body = zlib.decompress(msg.data) if coding == wire.DEFLATE else msg.data
        self.items.append(decode(body)["items"])

    async def __aenter__(self) -> Wiretap:
        self.sub = await self.nc.subscribe(self.subject, cb=self.on)
        await self.nc.flush()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.nc.flush()
        await self.sub.unsubscribe()


def _labeller(name: str, seen: list[int], **options: Any) -> Plugin:
    """A plugin that patches the first pod of each request (a mutating one with side effects)."""
    plugin = Plugin(name, **options)

    @plugin.pod_pre_create(batch=True)
    def label(items: list[dict[str, Any]], **kwargs: Any) -> list[dict[str, Any]]:
        seen.append(len(items))
        return [{"patch": [{"op": "add", "path": "/metadata/labels/seen-by", "value": name}]} if i == 0 else {} for i, _ in enumerate(items)]

    return plugin


def _watcher(name: str, seen: list[int], *, mutating: bool) -> Plugin:
    """A plugin as a fan-out's pass meets them: no side effects; the validating one vetoes
    the pod of node 7."""
    plugin = Plugin(name)

    @plugin.pod_pre_create(batch=True, mutating=mutating, side_effects=False)
    def watch(items: list[dict[str, Any]], **kwargs: Any) -> list[dict[str, Any]]:
        seen.append(len(items))
        if mutating:
            return [{} for _ in items]
        return [{"allowed": False, "message": "no"} if item["node"]["name"] == "fanout[0].fan(7:7)" else {} for item in items]

    return plugin


async def _tapped_call(harness: PluginHarness, names: list[str], items: list[dict[str, Any]]) -> tuple[Any, dict[str, Wiretap]]:
    tap_nc = await connect(NatsSettings(urls=(harness.url,), name="wiretap"))
    taps = {name: Wiretap(tap_nc, name, Hook.POD_PRE_CREATE) for name in names}
    try:
        for tap in taps.values():
            await tap.__aenter__()
        result = await harness.call(Hook.POD_PRE_CREATE, items)
        for tap in taps.values():
            await tap.__aexit__()
    finally:
        await tap_nc.close()
    return result, taps


async def test_a_thousand_pods_cost_one_request_per_plugin_within_a_one_mib_max_payload() -> None:
    items = _pods(1000)
    assert len(encode(items)) > 1 * MIB  # more than the server's default max_payload, as plain msgpack
    names = ["mutator-a", "mutator-b", "validator"]
    seen: dict[str, list[int]] = {name: [] for name in names}
    plugins = [_watcher(name, seen[name], mutating=name != "validator") for name in names]
    settings = BusSettings(dispatch=DispatchSettings(max_payload=MIB - 4096))
    async with PluginHarness(*plugins, settings=settings) as harness:
        result, taps = await _tapped_call(harness, names, items)
    assert result.stats.requests == len(names), "one pod.preCreate request per plugin"
    for name in names:
        tap = taps[name]
        assert tap.codings == [wire.DEFLATE] and len(tap.items[0]) == 1000
        assert tap.items[0] == items, "the plugin sees every pod as it is"
        assert max(tap.sizes) < 192 * 1024, "within the request target"
        assert seen[name] == [1000]
    assert [i for i, o in enumerate(result) if not o.allowed] == [7]


async def test_mutating_plugins_with_side_effects_see_deflated_waves_and_each_others_patches() -> None:
    items = _pods(1000)
    names = ["labeller-a", "labeller-b"]
    seen: dict[str, list[int]] = {name: [] for name in names}
    async with PluginHarness(*(_labeller(name, seen[name]) for name in names)) as harness:
        result, taps = await _tapped_call(harness, names, items)
    for name in names:
        # one wave per mutator (they answer in a pipeline), each wave one deflated request
        assert taps[name].codings == [wire.DEFLATE, wire.DEFLATE] and seen[name] == [500, 500]
    assert result[0].target["metadata"]["labels"]["seen-by"] == "labeller-b"
    assert result[0].patched_by == tuple(names) and result[500].patched_by == tuple(names)


async def test_a_plugin_that_asks_for_plain_requests_gets_them_cut_by_bytes() -> None:
    items = _pods(1000)
    seen: list[int] = []
    async with PluginHarness(_labeller("plain", seen, compression=False)) as harness:
        result, taps = await _tapped_call(harness, ["plain"], items)
    tap = taps["plain"]
    assert set(tap.codings) == {None}, "no Content-Encoding for a plugin whose manifest lists none"
    assert result.stats.requests == len(tap.sizes) > 1 and sum(seen) == 1000
    assert max(tap.sizes) <= 192 * 1024


async def test_small_items_go_plain_and_cut_by_bytes_even_to_a_plugin_that_takes_compression() -> None:
    # a node's item: a few hundred bytes (the local fan-out's hot path)
    items = [{"id": f"n{i}", "node": {"name": f"wf.step-{i}", "note": "x" * 300}} for i in range(3000)]
    seen: list[int] = []
    plugin = Plugin("nodes")

    @plugin.node_pre_execute(batch=True)
    def count(items: list[Any], **kwargs: Any) -> list[Any]:
        seen.append(len(items))
        return [None] * len(items)

    async with PluginHarness(plugin) as harness:
        tap_nc = await connect(NatsSettings(urls=(harness.url,), name="wiretap"))
        tap = Wiretap(tap_nc, "nodes", Hook.NODE_PRE_EXECUTE)
        try:
            async with tap:
                result = await harness.call(Hook.NODE_PRE_EXECUTE, items)
        finally:
            await tap_nc.close()
    assert set(tap.codings) == {None}
    assert sum(seen) == 3000 and len(seen) == result.stats.requests > 3
    assert max(tap.sizes) <= 192 * 1024


async def test_a_request_over_max_payload_even_deflated_is_still_split() -> None:
    # items that do not compress: deflated they are as large as plain
    items = [{"id": f"n{i}", "node": {"name": f"n{i}", "noise": os.urandom(2048).hex()}} for i in range(400)]
    seen: list[int] = []
    plugin = Plugin("noisy")

    @plugin.node_pre_execute(batch=True)
    def count(items: list[Any], **kwargs: Any) -> list[Any]:
        seen.append(len(items))
        return [None] * len(items)

    limit = 256 * 1024
    settings = BusSettings(dispatch=DispatchSettings(max_payload=limit))
    async with PluginHarness(plugin, settings=settings) as harness:
        assert harness.dispatcher is not None
        harness.dispatcher.request_bytes = 4 * MIB  # a target above the limit: the limit rules
        tap_nc = await connect(NatsSettings(urls=(harness.url,), name="wiretap"))
        tap = Wiretap(tap_nc, "noisy", Hook.NODE_PRE_EXECUTE)
        try:
            async with tap:
                result = await harness.call(Hook.NODE_PRE_EXECUTE, items)
        finally:
            await tap_nc.close()
    assert all(not o.settled for o in result), "no error: the call was split"
    assert sum(seen) == 400 and len(seen) == result.stats.requests > 1
    assert max(tap.sizes) <= limit


def test_the_deflate_helpers_bound_what_they_inflate() -> None:
    body = deflate(b"abc", b"x" * 10_000, b"}")
    assert inflate(body) == b"abc" + b"x" * 10_000 + b"}"
    with pytest.raises(DecodeError, match="inflates past 100 bytes"):
        inflate(body, limit=100)
    with pytest.raises(DecodeError, match="does not inflate"):
        inflate(b"not zlib at all")
    with pytest.raises(DecodeError, match="cut short"):
        inflate(body[:-4])


async def test_the_sdk_answers_400_to_a_body_that_does_not_inflate() -> None:
    plugin = Plugin("strict")

    @plugin.node_pre_execute()
    def anything(node: Any, **kwargs: Any) -> None:
        return None

    async with PluginHarness(plugin) as harness:
        nc = await connect(NatsSettings(urls=(harness.url,), name="prober"))
        try:
            subject = subjects.hook("strict", Hook.NODE_PRE_EXECUTE)
            for coding, data, reason in (
                (wire.DEFLATE, b"garbage", "does not inflate"),
                ("br", zlib.compress(b"{}"), "unknown Content-Encoding 'br'"),
            ):
                headers = {wire.H_CONTENT_TYPE: "application/msgpack", wire.H_CONTENT_ENCODING: coding}
                reply = await nc.request(subject, data, timeout=5, headers=headers)
                assert reply.headers is not None and reply.headers[wire.H_ERROR_CODE] == "400"
                assert reason in reply.headers[wire.H_ERROR_TEXT]
        finally:
            await nc.close()


def test_the_manifest_lists_codings_and_registers_only_those_the_controller_offers() -> None:
    manifest = parse_manifest({"name": "p", "compression": ["deflate"]})
    assert manifest.compression == ("deflate",)
    assert json.loads(manifest.to_json())["compression"] == ["deflate"]
    assert "compression" not in json.loads(PluginManifest("p").to_json())
    with pytest.raises(ConfigError, match="manifest.compression"):
        parse_manifest({"name": "p", "compression": "deflate"})
    assert offered_codings(registry_info(15.0)) == ("deflate",)
    assert offered_codings(json.dumps({"v": 1, "ttl": 15}).encode()) == ()  # a controller without compression
    assert offered_codings(b"{not json") == ()
    registration = Registration(None, manifest)  # type: ignore[arg-type]
    assert registration.registered().compression == ()  # nothing offered (yet): the field stays out
    assert "compression" not in json.loads(registration.registered().to_json())
    registration.offered = ("deflate",)
    assert registration.registered().compression == ("deflate",)
