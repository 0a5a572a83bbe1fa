"""A registration needs the plugin's own identity, and one without a live instance cannot
fail workflows for longer than the registry's TTL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hookbus.bus import Plugin
from hookbus.bus.auth import USER
from hookbus.bus.registry import Registration
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from .conftest import Secured

HELLO = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"generateName": "hello-"},
    "spec": {"entrypoint": "main", "templates": [{"name": "main", "container": {"image": "alpine", "command": ["true"]}}]},
}


def _failing() -> Plugin:
    plugin = Plugin("strict")

    @plugin.node_pre_execute(failure_policy="Fail", timeout=0.5)
    def never(**kwargs: Any) -> None:
        return None

    return plugin


async def test_only_the_plugins_identity_registers_it(secured: Secured) -> None:
    user = await secured.connect(secured.identity(USER))
    registration = Registration(user.nc.jetstream(), _failing().manifest)
    try:
        await registration.start()
    except Exception:  # the refusal shows in the server's errors below
        pass
    await user.nc.flush()
    await wait_for(lambda: user.refused("$JS.API.STREAM.INFO.KV_hookbus-plugins") or user.refused("$KV.hookbus-plugins"),
                   timeout=5, what="the server to refuse a user's registration")
    await registration.stop(deregister=False)
    assert secured.app.registry is not None
    assert secured.app.registry.get("strict") is None


async def test_a_fail_registration_without_a_live_instance_stops_failing_workflows_after_the_ttl(secured: Secured) -> None:
    """The heartbeat is what makes a registration live: once it is older than the TTL, the
    plugin is absent, and its Fail policy no longer applies."""
    raw = await secured.connect(await secured.plugin_identity("strict"))
    registration = Registration(raw.nc.jetstream(), _failing().manifest)
    await registration.start()
    await registration.stop(deregister=False)  # one put, then silence: no instance serves it
    assert secured.app.registry is not None
    registry = secured.app.registry
    await wait_for(lambda: registry.get("strict") is not None, timeout=10, what="the registration to be seen")
    controller = secured.app.controller
    first = await controller.wait(await controller.submit(dict(HELLO)), timeout=30)
    if first["status"]["phase"] == "Succeeded":
        # the TTL (3 s here) ran out before the node was started: nothing more to show
        assert registry.get("strict") is None
    else:
        assert "'strict'" in str(first["status"]["nodes"]), first["status"]
    await wait_for(lambda: registry.get("strict") is None, timeout=15, interval=0.1, what="the registration to expire")
    later = await controller.wait(await controller.submit(dict(HELLO)), timeout=30)
    assert later["status"]["phase"] == "Succeeded", later["status"].get("message")
