"""What an attacker on the bus tried, as raw NATS clients with no identity or the wrong one:
each attempt is refused by the server's permissions or by the controller."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import pytest
from nats.aio.client import Client

from hookbus.bus import subjects
from hookbus.bus.auth import EVENTS, READER, USER
from hookbus.bus.control import ControlClient
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from .conftest import Raw, Secured

HELLO = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"name": "hello"},
    "spec": {"entrypoint": "main", "templates": [{"name": "main", "container": {"image": "alpine", "command": ["true"]}}]},
}


async def refused(raw: Raw, what: str) -> None:
    await raw.nc.flush()
    await wait_for(lambda: raw.refused(what), timeout=5, what=f"the server to refuse {what}")


async def attempt(url: str, **options: Any) -> str:
    """Connect and close again; the error the connection met ("" if none)."""
    nc = Client()
    try:
        await nc.connect(url, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=2, **options)
    except Exception as exc:
        return str(exc) or type(exc).__name__
    finally:
        await nc.close()
    return ""


async def test_a_client_without_credentials_cannot_connect(secured: Secured) -> None:
    assert "authorization violation" in (await attempt(secured.url)).lower()
    assert "authorization violation" in (await attempt(secured.url, user="hookbus-user", password="guessed")).lower()
    user = secured.identity(USER)
    assert await attempt(secured.url, user=user.user, password=user.password) == ""


async def test_a_user_uses_the_control_api_but_cannot_read_or_write_the_bus_underneath(secured: Secured) -> None:
    user = await secured.connect(secured.identity(USER))
    client = ControlClient(user.nc)
    submitted = await client.submit(HELLO)
    assert submitted["name"] == "hello"
    assert [w["metadata"]["name"] for w in await client.list()] == ["hello"]
    # (a) every message, every hook request, every reply in anyone's inbox
    await user.nc.subscribe(">")
    await refused(user, 'subscription to ">"')
    await user.nc.subscribe(subjects.HOOK_ROOT + ".>")
    await refused(user, f'subscription to "{subjects.HOOK_ROOT}.>"')
    await user.nc.subscribe("_INBOX.>")
    await refused(user, 'subscription to "_INBOX.>"')
    # (b) a fake event
    await user.nc.publish(subjects.event("default", "hello", "workflow", "Failed"), b"{}")
    await refused(user, "publish to")
    # (d) the workflow store: read or rewrite a workflow
    await user.nc.publish("$KV.hookbus-workflows.default.hello", b"{}")
    await refused(user, "$KV.hookbus-workflows")
    await user.nc.publish("$JS.API.STREAM.INFO.KV_hookbus-workflows", b"")
    await refused(user, "$JS.API.STREAM.INFO.KV_hookbus-workflows")
    # (f) a registration of its own
    await user.nc.publish("$KV.hookbus-plugins.evil.x", b"{}")
    await refused(user, "$KV.hookbus-plugins.evil.x")
    # the streams themselves
    await user.nc.publish(f"$JS.API.STREAM.DELETE.{subjects.EVENTS_STREAM}", b"")
    await refused(user, "$JS.API.STREAM.DELETE")


async def test_a_reader_reads_but_cannot_change_or_delete(secured: Secured) -> None:
    await secured.app.controller.submit(dict(HELLO))
    reader = await secured.connect(secured.identity(READER))
    client = ControlClient(reader.nc, timeout=2)
    assert (await client.get("hello"))["metadata"]["name"] == "hello"
    for verb in ("delete", "submit", "terminate"):
        await reader.nc.publish(f"{subjects.CONTROL_ROOT}.workflow.{verb}", b"{}")
        await refused(reader, f"{subjects.CONTROL_ROOT}.workflow.{verb}")
    assert (await client.get("hello"))["metadata"]["name"] == "hello"


async def test_an_event_consumer_reads_events_and_nothing_else(secured: Secured) -> None:
    from hookbus.bus.events import replay

    key = await secured.app.controller.submit(dict(HELLO))
    await secured.app.controller.wait(key, timeout=30)
    events = await secured.connect(secured.identity(EVENTS))

    async def read() -> bool:
        seen = []
        async with replay(events.nc.jetstream(), workflow="hello") as reader:
            async for event in reader:
                seen.append(event.type)
        return any(t.endswith("workflow.succeeded") or "Succeeded" in t for t in seen) or len(seen) >= 2

    await wait_for(read, timeout=15, interval=0.2, what="an event consumer to read the workflow's events")
    assert not events.errors, events.errors
    await events.nc.publish(subjects.event("default", "hello", "workflow", "Failed"), b"{}")
    await refused(events, "publish to")
    await events.nc.publish(f"{subjects.CONTROL_ROOT}.workflow.list", b"{}")
    await refused(events, f"{subjects.CONTROL_ROOT}.workflow.list")


async def test_a_plugin_identity_is_confined_to_its_own_subjects_and_keys(secured: Secured) -> None:
    evil = await secured.plugin_identity("evil")
    await secured.plugin_identity("victim")
    raw = await secured.connect(evil)
    js = raw.nc.jetstream()
    # its own registration key: allowed
    kv = await js.key_value("hookbus-plugins")
    await kv.put("evil.instance-1", json.dumps({"name": "evil", "hooks": {}}).encode())
    # another plugin's hook requests and registration, the control verbs of users, the store
    await raw.nc.subscribe(subjects.hook_wildcard("victim"))
    await refused(raw, subjects.hook_wildcard("victim"))
    with pytest.raises(Exception):  # noqa: B017 - the JetStream ack never comes: no permission
        await js.publish("$KV.hookbus-plugins.victim.instance-1", b"{}", timeout=1)
    await refused(raw, "$KV.hookbus-plugins.victim.instance-1")
    await raw.nc.publish(f"{subjects.CONTROL_ROOT}.plugin.victim.complete", b"{}")
    await refused(raw, f"{subjects.CONTROL_ROOT}.plugin.victim.complete")
    await raw.nc.publish(f"{subjects.CONTROL_ROOT}.workflow.delete", b"{}")
    await refused(raw, f"{subjects.CONTROL_ROOT}.workflow.delete")
    await raw.nc.publish("$KV.hookbus-plugins._registry", b'{"v":1,"ttl":99999}')
    await refused(raw, "$KV.hookbus-plugins._registry")
    await raw.nc.publish("$KV.hookbus-workflows.default.x", b"{}")
    await refused(raw, "$KV.hookbus-workflows")


async def test_a_plugin_identity_issued_to_a_running_server_works_at_once(secured: Secured) -> None:
    from hookbus.bus import Plugin

    credentials = await secured.plugin_identity("late")
    plugin = Plugin("late")

    @plugin.node_pre_execute()
    def nothing(**kwargs: object) -> None:
        return None

    raw = await secured.connect(credentials)
    await plugin.start(raw.nc)
    try:
        assert secured.app.registry is not None
        await wait_for(lambda: secured.app.registry is not None and secured.app.registry.get("late") is not None, timeout=10, what="the plugin to register")
    finally:
        await plugin.stop()


async def test_revoking_a_plugin_identity_refuses_its_next_connection(secured: Secured) -> None:
    credentials = await secured.plugin_identity("gone")
    secured.auth.revoke("gone")
    assert secured.app.server is not None
    await secured.app.server.reload()

    async def refused_now() -> bool:
        error = await attempt(secured.url, user=credentials.user, password=credentials.password)
        return "authorization violation" in error.lower()

    await wait_for(refused_now, timeout=10, interval=0.1, what="the revoked identity to be refused")


async def test_secrets_plugin_replies_cannot_be_read_by_other_identities(secured: Secured) -> None:
    """A plugin's reply goes to the controller's inbox, which nobody else may subscribe to."""
    other = await secured.connect(await secured.plugin_identity("sniffer"))
    await other.nc.subscribe("_INBOX.hookbus-controller.>")
    await refused(other, "_INBOX.hookbus-controller.>")
    await other.nc.subscribe("_INBOX.*.>")
    await refused(other, "_INBOX.*.>")
    await asyncio.sleep(0)
