"""Subjects, codec and manifests: the pure parts of the wire protocol."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from hookbus.bus import (
    ConfigError,
    DecodeError,
    Encoding,
    Hook,
    Plugin,
    codec,
    parse_manifest,
    subjects,
)
from hookbus.bus.errors import PayloadTooLarge

if TYPE_CHECKING:
    from nats.aio.client import Client


def test_hook_subjects_round_trip() -> None:
    subject = subjects.hook("image-allowlist", Hook.WORKFLOW_PRE_OPERATE)
    assert subject == "hookbus.hook.v1.image-allowlist.workflow.preOperate"
    parsed = subjects.parse_hook_subject(subject)
    assert (parsed.plugin, parsed.hook) == ("image-allowlist", "workflow.preOperate")


@pytest.mark.parametrize("name", ["", "Upper", "under_score", "-lead", "trail-", "a" * 64, "dot.ted"])
def test_invalid_plugin_names_are_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="plugin name"):
        subjects.validate_plugin_name(name)


def test_event_subjects_escape_dots_reversibly() -> None:
    subject = subjects.event("team.a", "build.v2-x7", "node", "Succeeded")
    assert subject == "hookbus.event.v1.team_a.build_v2-x7.node.Succeeded"
    assert subjects.token_name("build_v2-x7") == "build.v2-x7"
    assert subjects.events_filter(workflow="w") == "hookbus.event.v1.*.w.>"
    assert subjects.progress("default", "w") == "hookbus.progress.v1.default.w"
    with pytest.raises(ConfigError):
        subjects.event("default", "Bad Name", "node", "Running")


def test_unknown_hook_names_list_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="node.preExecute"):
        subjects.hook("p", "node.preExecutee")


@pytest.mark.parametrize("encoding", list(Encoding))
def test_codec_round_trip(encoding: Encoding) -> None:
    value = {"v": 1, "items": [{"id": "n1", "x": [1, 2.5, None, True, "ü"]}]}
    assert codec.decode(codec.encode(value, encoding), encoding) == value


def test_decode_error_names_subject_and_previews_payload() -> None:
    with pytest.raises(DecodeError) as info:
        codec.decode_map(b"\xc1garbage" * 40, subject="hookbus.hook.v1.p.node.preExecute")
    message = str(info.value)
    assert "hookbus.hook.v1.p.node.preExecute" in message
    assert "320 bytes" in message and "..." in message
    with pytest.raises(DecodeError, match="expected a map"):
        codec.decode_map(codec.encode([1, 2]))
    with pytest.raises(DecodeError, match="protocol version 2"):
        codec.decode_map(codec.encode({"v": 2}), version=1)
    with pytest.raises(DecodeError, match="empty payload"):
        codec.decode(b"")


def test_encode_limit() -> None:
    with pytest.raises(PayloadTooLarge, match="over the limit of 10 bytes"):
        codec.encode({"x": "y" * 100}, limit=10)


def test_manifest_round_trip_through_the_sdk() -> None:
    plugin = Plugin("vault", version="2.0.0", encoding="json")

    @plugin.parameters_resolve(scopes=["vault"], timeout=1.5, failure_policy="Ignore")
    def resolve(**kwargs: Any) -> None:
        return None

    @plugin.pod_pre_create(images=["python:*"], fields=["pod.metadata"], shadow=True, max_batch=50, side_effects=False)
    def pods(**kwargs: Any) -> None:
        return None

    wire = plugin.manifest.to_wire()
    assert parse_manifest(wire) == plugin.manifest
    assert wire["hooks"]["pod.preCreate"]["filters"] == {"images": ["python:*"]}
    assert wire["hooks"]["pod.preCreate"]["sideEffects"] is False
    assert "sideEffects" not in wire["hooks"]["parameters.resolve"]  # the default, true, is left out
    assert plugin.manifest.hooks[Hook.PARAMETERS_RESOLVE].side_effects
    assert wire["placeholders"] == ["vault"]


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ({}, "missing field 'name'"),
        ({"name": "x", "protocol": 2}, "manifest.protocol: version 2"),
        ({"name": "x", "encoding": "xml"}, "manifest.encoding"),
        ({"name": "x", "hooks": {"node.run": {}}}, "unknown hook 'node.run'"),
        ({"name": "x", "hooks": {"node.preExecute": {"timeout": -1}}}, "manifest.hooks.node.preExecute.timeout: must be positive"),
        ({"name": "x", "hooks": {"node.preExecute": {"filters": {"image": []}}}}, "unknown field 'image'"),
        ({"name": "x", "hooks": {"node.preExecute": {"maxBatch": 0}}}, "maxBatch: must be at least 1"),
        ({"name": "x", "hooks": {"pod.preCreate": {"sideEffects": "None"}}}, "pod.preCreate.sideEffects: expected bool, got str"),
        ({"name": "x", "colour": "red"}, "manifest: unknown field 'colour'"),
    ],
)
def test_invalid_manifests_name_the_field(manifest: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        parse_manifest(manifest)


async def test_plugin_answers_bad_requests_with_400_and_unknown_hooks_with_404(nc: Client, nats_url: str) -> None:
    from hookbus.bus.testing import PluginHarness

    plugin = Plugin("picky")

    @plugin.node_pre_execute()
    def handle(**kwargs: Any) -> None:
        return None

    async with PluginHarness(plugin, nats_url=nats_url):
        bad = await nc.request(subjects.hook("picky", Hook.NODE_PRE_EXECUTE), b"\xc1", timeout=2)
        assert bad.headers and bad.headers["Nats-Service-Error-Code"] == "400"
        assert "cannot decode" in bad.headers["Nats-Service-Error"]
        other = await nc.request(subjects.hook("picky", Hook.POD_PRE_CREATE), codec.encode({"v": 1, "items": []}), timeout=2)
        assert other.headers and other.headers["Nats-Service-Error-Code"] == "404"
        fine = await nc.request(subjects.hook("picky", Hook.NODE_PRE_EXECUTE), codec.encode({"v": 1, "items": [{}]}), timeout=2)
        assert codec.decode(fine.data) == {"v": 1, "plugin": "picky", "results": [{}]}
