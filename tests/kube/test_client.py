"""The Kubernetes layer: retries, merge patch, conditional updates, list-then-watch."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest

from hookbus.controller.argo.labels import INSTANCE_LABEL
from hookbus.controller.kube.errors import KubeError
from hookbus.controller.kube.informer import Informer
from hookbus.controller.kube.instance import instance_selector, owns
from hookbus.controller.kube.resources import CONFIG_MAPS, WORKFLOWS
from tests.support.kubeapi import Fault
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from hookbus.controller.kube.client import KubeClient
    from tests.support.kubeapi import KubeApi


async def test_throttling_and_server_errors_are_retried(kube: KubeClient, kube_api: KubeApi) -> None:
    kube_api.inject(Fault("POST", "configmaps", status=429, times=1))
    kube_api.inject(Fault("POST", "configmaps", status=503, times=1))
    created = await kube.create(CONFIG_MAPS, "default", {"metadata": {"name": "cm"}})
    assert created["metadata"]["name"] == "cm"
    assert len(kube_api.requests("POST", "configmaps")) == 3
    kube_api.inject(Fault("GET", "configmaps", name="cm", status=500, times=10))
    with pytest.raises(KubeError) as failed:
        await kube.get(CONFIG_MAPS, "default", "cm")
    assert failed.value.status == 500 and failed.value.retryable
    assert len(kube_api.requests("GET", "configmaps", name="cm")) == kube.backoff.attempts


async def test_client_errors_are_not_retried(kube: KubeClient, kube_api: KubeApi) -> None:
    with pytest.raises(KubeError) as failed:
        await kube.get(CONFIG_MAPS, "default", "missing")
    assert failed.value.status == 404 and "missing" in str(failed.value)
    assert len(kube_api.requests("GET", "configmaps")) == 1


async def test_custom_resources_are_patched_with_merge_patch(kube: KubeClient, kube_api: KubeApi) -> None:
    await kube.create(WORKFLOWS, "default", {"metadata": {"name": "wf", "labels": {"a": "1"}}, "spec": {"x": 1}})
    patched = await kube.patch(WORKFLOWS, "default", "wf", {"metadata": {"labels": {"a": None, "b": "2"}}})
    assert patched["metadata"]["labels"] == {"b": "2"} and patched["spec"] == {"x": 1}
    assert [r.content_type for r in kube_api.requests("PATCH")] == ["application/merge-patch+json"]


async def test_update_rereads_and_reapplies_on_conflict(kube: KubeClient, kube_api: KubeApi) -> None:
    stale = await kube.create(WORKFLOWS, "default", {"metadata": {"name": "wf"}, "spec": {}})
    kube_api.modify("workflows", "default", "wf", lambda o: o["metadata"].setdefault("labels", {}).update(other="yes"))
    seen: list[dict[str, Any]] = []

    def change(obj: dict[str, Any]) -> dict[str, Any]:
        seen.append(obj)
        return {"status": {"phase": "Running"}}

    written = await kube.update(WORKFLOWS, "default", "wf", change, current=stale)
    assert written is not None
    assert written["status"] == {"phase": "Running"} and written["metadata"]["labels"] == {"other": "yes"}
    assert len(seen) == 2 and seen[1]["metadata"]["labels"] == {"other": "yes"}
    patches = kube_api.requests("PATCH", "workflows")
    assert len(patches) == 2 and patches[0].body["metadata"]["resourceVersion"] == stale["metadata"]["resourceVersion"]
    assert await kube.update(WORKFLOWS, "default", "wf", lambda o: None) is None


async def test_informer_lists_then_watches_and_relists_on_410_and_stream_end(kube: KubeClient, kube_api: KubeApi) -> None:
    kube_api.put({"kind": "ConfigMap", "metadata": {"name": "a"}})
    events: list[tuple[str, str]] = []

    async def handler(kind: str, obj: dict[str, Any]) -> None:
        events.append((kind, obj["metadata"]["name"]))

    informer = Informer(kube, CONFIG_MAPS, "default", handler=handler)
    informer.start()
    try:
        await informer.wait_synced(5)
        assert events == [("ADDED", "a")]
        await wait_for(lambda: kube_api.watching == 1, what="a watch")
        kube_api.put({"kind": "ConfigMap", "metadata": {"name": "b"}})
        await wait_for(lambda: ("ADDED", "b") in events, what="b")
        # the stream ends and, meanwhile, b goes and c comes: a relist sees both
        kube_api.end_watches()
        kube_api.remove("configmaps", "default", "b")
        kube_api.put({"kind": "ConfigMap", "metadata": {"name": "c"}})
        await wait_for(lambda: ("ADDED", "c") in events and ("DELETED", "b") in events, what="relist")
        lists = informer.lists
        assert lists == 2
        # a watch from a forgotten version gets 410: the informer lists again
        await wait_for(lambda: kube_api.watching == 1, what="a watch again")
        kube_api.compact()
        kube_api.end_watches()
        await wait_for(lambda: informer.lists > lists and kube_api.watching == 1, what="relist after 410")
        assert sorted(informer.cache) == [("default", "a"), ("default", "c")]
        watches = [r for r in kube_api.requests("GET", "configmaps") if r.watch]
        assert watches[0].query["resourceVersion"] == kube_api.get("configmaps", "default", "a")["metadata"]["resourceVersion"]  # type: ignore[index]
    finally:
        await informer.stop()


async def test_informer_waits_out_server_errors(kube: KubeClient, kube_api: KubeApi) -> None:
    kube_api.inject(Fault("GET", "configmaps", status=500, times=6))
    informer = Informer(kube, CONFIG_MAPS, "default")
    informer.backoff = kube.backoff
    informer.start()
    try:
        await informer.wait_synced(10)
    finally:
        await informer.stop()


def test_instance_selection_is_argos() -> None:
    labelled = {"metadata": {"labels": {INSTANCE_LABEL: "hookbus"}}}
    other = {"metadata": {"labels": {INSTANCE_LABEL: "argo"}}}
    plain: dict[str, Any] = {"metadata": {}}
    assert instance_selector("hookbus") == f"{INSTANCE_LABEL}=hookbus"
    assert instance_selector("") == f"!{INSTANCE_LABEL}"
    assert [owns(o, "hookbus") for o in (labelled, other, plain)] == [True, False, False]
    assert [owns(o, "") for o in (labelled, other, plain)] == [False, False, True]


async def test_a_watch_interrupted_by_the_server_is_an_error(kube: KubeClient, kube_api: KubeApi) -> None:
    kube_api.inject(Fault("GET", "workflows", status=503, times=1))
    with pytest.raises(KubeError):
        async for _ in kube.watch(WORKFLOWS, "default", ""):
            pass
    await asyncio.sleep(0)
