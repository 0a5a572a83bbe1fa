"""Edits of a running Workflow's spec: operated on once per spec, applied to what has not run yet.

A controller (simulated executor) follows the test API server; ``workflow.preOperate`` is
counted by a recording hook point. The workflow waits in a suspend node, so the node after it
is created only once it is resumed: after the edit.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from typing import TYPE_CHECKING, Any

from hookbus.controller.adapters.kube_source import (
    GENERATION_ANNOTATION,
    PREVIOUS_GENERATION_ANNOTATION,
    SPEC_ANNOTATION,
    KubeWorkflowSource,
)
from hookbus.controller.adapters.kube_status import KubeStatusWriter
from hookbus.controller.argo.labels import INSTANCE_LABEL
from hookbus.controller.engine.controller import Controller
from hookbus.controller.engine.memory_store import MemoryStore
from hookbus.controller.engine.ports import WorkflowKey
from hookbus.controller.engine.settings import ControllerSettings
from hookbus.controller.executors.registry import make_executor
from hookbus.controller.kube.resources import WORKFLOWS
from tests.kube.support import RecordingHooks
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence
    from pathlib import Path

    from hookbus.controller.argo.types import JSON
    from hookbus.controller.engine.hooks import Admission
    from hookbus.controller.kube.client import KubeClient
    from tests.support.kubeapi import KubeApi

Obj = dict[str, Any]
KEY = WorkflowKey("default", "edited")

EDITED: Obj = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"name": "edited", "labels": {INSTANCE_LABEL: "hookbus"}},
    "spec": {
        "entrypoint": "main",
        "arguments": {"parameters": [{"name": "x", "value": "old"}]},
        "templates": [
            {"name": "main", "steps": [[{"name": "gate", "template": "gate"}], [{"name": "after", "template": "work"}]]},
            {"name": "gate", "suspend": {}},
            {
                "name": "work",
                "inputs": {"parameters": [{"name": "p", "value": "{{workflow.parameters.x}}"}]},
                "container": {"image": "busybox", "command": ["true"]},
            },
        ],
    },
}


@contextlib.asynccontextmanager
async def controller(kube: KubeClient, tmp_path: Path, store: MemoryStore, hooks: RecordingHooks) -> AsyncIterator[tuple[Controller, KubeWorkflowSource]]:
    """A controller on *store* following the cluster, its status written back (one "process")."""
    writer = KubeStatusWriter(None)
    executor = make_executor("simulate", state_dir=tmp_path / "executor")
    ctl = Controller(ControllerSettings(executor="simulate", state_dir=tmp_path), store=store, executor=executor, hooks=hooks, events=writer)
    await ctl.start()
    source = KubeWorkflowSource(kube, ctl, namespace="default", instance_id="hookbus")
    writer.bind(kube, ctl.read, source.object_for)
    source.on_edited.append(writer.mark)
    await source.start(timeout=10)
    try:
        yield ctl, source
    finally:
        await source.stop()
        await writer.close()
        await ctl.stop()
        await executor.close()


def status(api: KubeApi) -> Obj:
    return dict((api.get("workflows", "default", "edited") or {}).get("status") or {})


def node(api: KubeApi, display: str) -> Obj | None:
    return next((n for n in (status(api).get("nodes") or {}).values() if n["displayName"] == display), None)


def edited_spec(value: str) -> Obj:
    """The spec with argument x = *value*, and a second input ``q`` on the template not run yet."""
    spec = copy.deepcopy(EDITED["spec"])
    spec["arguments"]["parameters"][0]["value"] = value
    spec["templates"][2]["inputs"]["parameters"].append({"name": "q", "value": "added by the edit"})
    spec["parallelism"] = 3
    return spec


def inputs(n: Obj) -> dict[str, str]:
    return {p["name"]: p["value"] for p in n["inputs"]["parameters"]}


async def test_an_edit_is_operated_on_once_and_governs_the_nodes_not_run_yet(kube: KubeClient, kube_api: KubeApi, tmp_path: Path) -> None:
    hooks = RecordingHooks()
    kube_api.put(copy.deepcopy(EDITED))
    async with controller(kube, tmp_path, MemoryStore(), hooks) as (ctl, _):
        await wait_for(lambda: node(kube_api, "gate") is not None, what="waiting at the gate")
        assert len(hooks.pre_operate) == 1
        first = hooks.pre_operate[0]["metadata"]
        assert PREVIOUS_GENERATION_ANNOTATION not in first["annotations"], "a first operate is no edit"

        await kube.patch(WORKFLOWS, "default", "edited", {"spec": edited_spec("new")})
        await wait_for(lambda: ctl.get(KEY)["spec"].get("parallelism") == 3, what="the edit applied")
        assert len(hooks.pre_operate) == 2
        shown = hooks.pre_operate[1]["metadata"]
        assert shown["generation"] == 2 and shown["annotations"][PREVIOUS_GENERATION_ANNOTATION] == "1"
        assert shown["uid"] == first["uid"] != "", "the same workflow to plugins"

        await ctl.resume(KEY)
        await wait_for(lambda: status(kube_api).get("phase") == "Succeeded", what="Succeeded")
        after = node(kube_api, "after")
        assert after is not None and inputs(after) == {"p": "new", "q": "added by the edit"}
        gate = node(kube_api, "gate")
        assert gate is not None and gate["phase"] == "Succeeded", "the node that ran is not run again"
        assert len(hooks.pre_operate) == 2, "status writes after the edit are no edits"
        annotations = ctl.get(KEY)["metadata"]["annotations"]
        assert annotations[GENERATION_ANNOTATION] == "2" and annotations[SPEC_ANNOTATION]


class HeldEdits(RecordingHooks):
    """``workflow.preOperate`` of an edit waits until :attr:`release` is set (a slow plugin)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.holding = False

    async def workflow_pre_operate(self, workflows: Sequence[JSON]) -> list[Admission]:
        if any(PREVIOUS_GENERATION_ANNOTATION in ((w.get("metadata") or {}).get("annotations") or {}) for w in workflows):
            self.holding = True
            await self.release.wait()
        return await super().workflow_pre_operate(workflows)


async def test_a_slow_edit_holds_up_no_other_workflow(kube: KubeClient, kube_api: KubeApi, tmp_path: Path) -> None:
    hooks = HeldEdits()
    kube_api.put(copy.deepcopy(EDITED))
    async with controller(kube, tmp_path, MemoryStore(), hooks) as (ctl, _):
        await wait_for(lambda: node(kube_api, "gate") is not None, what="waiting at the gate")
        await kube.patch(WORKFLOWS, "default", "edited", {"spec": edited_spec("new")})
        await wait_for(lambda: hooks.holding, what="the edit's workflow.preOperate under way")

        other = copy.deepcopy(EDITED)
        other["metadata"]["name"] = "other"
        other["spec"]["templates"][1] = {"name": "gate", "container": {"image": "busybox", "command": ["true"]}}
        await kube.create(WORKFLOWS, "default", other)
        phase = lambda: ((kube_api.get("workflows", "default", "other") or {}).get("status") or {}).get("phase")  # noqa: E731
        await wait_for(lambda: phase() == "Succeeded", what="another Workflow run while the edit is held")
        assert ctl.get(KEY)["spec"].get("parallelism") is None, "the held edit is not applied yet"

        await kube.patch(WORKFLOWS, "default", "edited", {"spec": edited_spec("newer")})  # piles up behind it
        hooks.release.set()
        await wait_for(lambda: ctl.get(KEY)["spec"]["arguments"]["parameters"][0]["value"] == "newer", what="the newest edit applied")
        edits = [w for w in hooks.pre_operate if w["metadata"]["name"] == "edited" and PREVIOUS_GENERATION_ANNOTATION in w["metadata"]["annotations"]]
        assert [w["spec"]["arguments"]["parameters"][0]["value"] for w in edits] == ["new", "newer"], "edits operated on in order"


async def test_a_rejected_edit_keeps_the_previous_spec_and_says_why(kube: KubeClient, kube_api: KubeApi, tmp_path: Path) -> None:
    hooks = RecordingHooks()
    kube_api.put(copy.deepcopy(EDITED))
    async with controller(kube, tmp_path, MemoryStore(), hooks) as (ctl, _):
        await wait_for(lambda: node(kube_api, "gate") is not None, what="waiting at the gate")
        hooks.reject = "parameter x is frozen once the workflow runs (plugin 'freezer', workflow.preOperate)"
        await kube.patch(WORKFLOWS, "default", "edited", {"spec": edited_spec("new")})

        def refused() -> str:
            conditions = status(kube_api).get("conditions") or []
            return next((c["message"] for c in conditions if c["type"] == "SpecError"), "")

        await wait_for(refused, what="the refusal on the object")
        assert "frozen" in refused() and "freezer" in refused()
        assert status(kube_api)["phase"] == "Running"
        hooks.reject = ""
        await ctl.resume(KEY)
        await wait_for(lambda: status(kube_api).get("phase") == "Succeeded", what="Succeeded on the old spec")
        after = node(kube_api, "after")
        assert after is not None and inputs(after) == {"p": "old"}
        assert len(hooks.pre_operate) == 2


async def test_a_restart_asks_again_only_about_an_edit_made_while_away(kube: KubeClient, kube_api: KubeApi, tmp_path: Path) -> None:
    hooks = RecordingHooks()
    store = MemoryStore()
    kube_api.put(copy.deepcopy(EDITED))
    async with controller(kube, tmp_path, store, hooks) as (ctl, _):
        await wait_for(lambda: node(kube_api, "gate") is not None, what="waiting at the gate")
        await kube.patch(WORKFLOWS, "default", "edited", {"spec": edited_spec("second")})
        await wait_for(lambda: ctl.get(KEY)["spec"].get("parallelism") == 3, what="the edit applied")
    assert len(hooks.pre_operate) == 2

    async with controller(kube, tmp_path, store, hooks) as (ctl, source):
        assert ctl.exists(KEY) and source.object_for(KEY) is not None
        await ctl.read(KEY)
        assert len(hooks.pre_operate) == 2, "a restart does not ask again about a spec operated on"
    spec = edited_spec("third")
    await kube.patch(WORKFLOWS, "default", "edited", {"spec": spec})  # while no controller runs

    async with controller(kube, tmp_path, store, hooks) as (ctl, _):
        await wait_for(lambda: len(hooks.pre_operate) == 3, what="the edit made while away operated on")
        assert hooks.pre_operate[2]["metadata"]["annotations"][PREVIOUS_GENERATION_ANNOTATION] == "2"
        await ctl.resume(KEY)
        await wait_for(lambda: status(kube_api).get("phase") == "Succeeded", what="Succeeded")
        after = node(kube_api, "after")
        assert after is not None and inputs(after)["p"] == "third"
        assert len(hooks.pre_operate) == 3


async def test_an_edited_active_deadline_ends_a_running_workflow(kube: KubeClient, kube_api: KubeApi, tmp_path: Path) -> None:
    """As ``kubectl patch wf --type merge -p '{"spec":{"activeDeadlineSeconds":0}}'`` ends an Argo workflow."""
    hooks = RecordingHooks()
    kube_api.put(copy.deepcopy(EDITED))
    async with controller(kube, tmp_path, MemoryStore(), hooks):
        await wait_for(lambda: node(kube_api, "gate") is not None, what="waiting at the gate")
        await kube.patch(WORKFLOWS, "default", "edited", {"spec": {"activeDeadlineSeconds": 0}})
        await wait_for(lambda: status(kube_api).get("phase") == "Failed", what="ended by its deadline")
        gate = node(kube_api, "gate")
        assert gate is not None and gate["phase"] == "Failed" and "deadline" in gate["message"]
        assert node(kube_api, "after") is None, "nothing new started"
