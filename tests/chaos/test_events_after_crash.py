"""Events the stored state implies reach the stream after a restart, even when none was
published before (as when the process died right after each save)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from hookbus.bus.events import replay
from hookbus.controller.app import Hookbus
from hookbus.controller.settings import ApiSettings, ExecutorSettings, HookbusSettings
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from pathlib import Path

    from hookbus.bus.events import CloudEvent

WORKFLOW: dict[str, Any] = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"name": "quiet"},
    "spec": {
        "entrypoint": "main",
        "templates": [
            {"name": "main", "steps": [[{"name": "a", "template": "w"}, {"name": "b", "template": "w"}], [{"name": "c", "template": "w"}]]},
            {"name": "w", "container": {"image": "alpine", "command": ["true"]}},
        ],
    },
}


async def _events(app: Hookbus) -> list[CloudEvent]:
    assert app.nc is not None
    async with replay(app.nc.jetstream(), workflow="quiet") as reader:
        return [event async for event in reader]


async def test_a_restart_publishes_the_events_that_never_went_out(tmp_path: Path) -> None:
    settings = HookbusSettings(executor=ExecutorSettings(kind="simulate"), api=ApiSettings(enabled=False), plugins=False, state_dir=tmp_path)
    async with Hookbus(replace(settings, events=False)) as app:  # nothing is published
        final = await app.controller.wait(await app.controller.submit(dict(WORKFLOW)), timeout=30)
    assert final["status"]["phase"] == "Succeeded"

    async with Hookbus(settings) as app:
        async def all_there() -> bool:
            return any(e.type == "io.hookbus.workflow.succeeded" for e in await _events(app))

        await wait_for(all_there, timeout=20, what="the workflow's final event")
        events = await _events(app)
        assert app.publisher is not None
        await app.publisher.flush(timeout=10)
    nodes = {(e.data["node"]["id"], e.data["phase"]) for e in events if e.type.startswith("io.hookbus.node.")}
    assert nodes == {(n["id"], n["phase"]) for n in final["status"]["nodes"].values()}
    assert len([e for e in events if e.type == "io.hookbus.workflow.succeeded"]) == 1

    async with Hookbus(settings) as app:  # once more: the final event is there, nothing is sent again
        assert app.publisher is not None and app.controller._restoring is not None
        await app.controller._restoring
        await app.publisher.flush(timeout=10)
        assert (app.publisher.stats.published, app.publisher.stats.duplicates) == (0, 0)
        assert len(await _events(app)) == len(events)
