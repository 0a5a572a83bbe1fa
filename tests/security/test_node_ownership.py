"""Completing a node: only the plugin that took it over, with its capability, while it runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from hookbus.bus import Plugin, subjects, take_over
from hookbus.bus.auth import USER
from hookbus.bus.control import ControlClient, Forbidden
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from .conftest import Secured

PARALLEL = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"name": "owned"},
    "spec": {
        "entrypoint": "main",
        "templates": [
            {"name": "main", "steps": [[{"name": "taken", "template": "taken"}, {"name": "plain", "template": "plain"}]]},
            {"name": "taken", "container": {"image": "alpine", "command": ["sh", "-c", "exit 1"]}},
            {"name": "plain", "container": {"image": "alpine", "command": ["sleep", "60"]}},
        ],
    },
}


async def _nodes(secured: Secured, key: Any) -> dict[str, dict[str, Any]]:
    workflow = await secured.app.controller.read(key)
    return {n["displayName"]: n for n in (workflow.get("status") or {}).get("nodes", {}).values()}


@pytest.mark.parametrize("executor", ["local"])
async def test_only_the_plugin_that_took_a_node_over_completes_it(secured: Secured) -> None:
    owner = Plugin("owner")

    @owner.node_pre_execute()
    def claim(template: dict[str, Any], **kwargs: Any) -> dict[str, Any] | None:
        return dict(take_over()) if template.get("name") == "taken" else None

    owner_nc = await secured.connect(await secured.plugin_identity("owner"))
    thief = await secured.connect(await secured.plugin_identity("thief"))
    user = await secured.connect(secured.identity(USER))
    await owner.start(owner_nc.nc)
    assert secured.app.registry is not None
    registry = secured.app.registry
    await wait_for(lambda: registry.get("owner") is not None, timeout=10, what="the owner plugin to register")
    key = await secured.app.controller.submit(dict(PARALLEL))
    try:
        async def both_running() -> bool:
            nodes = await _nodes(secured, key)
            return all(nodes.get(n, {}).get("phase") == "Running" for n in ("taken", "plain"))

        await wait_for(both_running, timeout=30, interval=0.05, what="both steps to run")
        nodes = await _nodes(secured, key)
        taken, plain = nodes["taken"]["id"], nodes["plain"]["id"]
        guard = secured.app.dispatcher.takeovers  # type: ignore[union-attr]
        stolen = guard.capability("owner", "default", "owned")
        own = guard.capability("thief", "default", "owned")
        as_thief = ControlClient(thief.nc, timeout=5)

        # (c) an ordinary container step nobody took over, even with a valid capability
        with pytest.raises(Forbidden, match="not taken over"):
            await as_thief.complete_node("owned", plain, "Succeeded", outputs={"result": "evil"}, plugin="thief", capability=own)
        # another plugin's node, with the capability stolen from that plugin
        with pytest.raises(Forbidden, match="another plugin"):
            await as_thief.complete_node("owned", taken, "Succeeded", plugin="thief", capability=stolen)
        # on the owner's own subject: the server refuses the publish
        await thief.nc.publish(f"{subjects.CONTROL_ROOT}.plugin.owner.complete", b"{}")
        await thief.nc.flush()
        await wait_for(lambda: thief.refused("plugin.owner.complete"), timeout=5, what="the server to refuse the thief")
        # a user (or anyone on the old subject) names no plugin
        with pytest.raises(Forbidden, match="only by the plugin that took it over"):
            await ControlClient(user.nc, timeout=5).complete_node("owned", taken, "Succeeded")
        # the owner itself, without its capability
        with pytest.raises(Forbidden, match="no valid take-over capability"):
            await ControlClient(owner_nc.nc, timeout=5).complete_node("owned", taken, "Succeeded", plugin="owner", capability="0" * 40)

        nodes = await _nodes(secured, key)
        assert nodes["plain"]["phase"] == "Running", "the real process is still the one that ends the step"
        assert nodes["taken"]["phase"] == "Running"

        # the owner, as the SDK sends it: accepted once, then the node has ended
        await owner.complete_node("owned", taken, "Succeeded", outputs={"result": "done"})
        nodes = await _nodes(secured, key)
        assert nodes["taken"]["phase"] == "Succeeded"
        with pytest.raises(Exception, match="already ended"):
            await owner.complete_node("owned", taken, "Failed")
    finally:
        await secured.app.controller.terminate(key)
        await secured.app.controller.wait(key, timeout=30)
        await owner.stop()
