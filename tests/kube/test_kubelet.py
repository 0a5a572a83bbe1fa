"""The simulated kubelet moves pods through their phases as a kubelet reports them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hookbus.controller.kube.informer import Informer
from hookbus.controller.kube.resources import PODS
from tests.support.kubelet import Kubelet, Outcome
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from hookbus.controller.kube.client import KubeClient
    from tests.support.kubeapi import KubeApi


def pod(name: str, *containers: str) -> dict[str, Any]:
    return {"kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [{"name": c, "image": "busybox"} for c in containers or ("main",)]}}


async def test_pods_go_pending_running_terminated_with_exit_code_log_and_message(kube: KubeClient, kube_api: KubeApi) -> None:
    created = await kube.create(PODS, "default", pod("p", "main", "wait"))
    assert created["status"]["phase"] == "Pending"
    kubelet = Kubelet(kube_api)
    running = kubelet.start("default", "p")
    assert running["status"]["phase"] == "Running" and running["spec"]["nodeName"] == kubelet.node_name
    assert [s["state"].keys() for s in running["status"]["containerStatuses"]] == [{"running"}, {"running"}]
    kubelet.finish("default", "p", Outcome(exit_code=3, log="out\n", message="x" * 5000))
    half = await kube.get(PODS, "default", "p")
    assert half["status"]["phase"] == "Running", "one container still runs"
    kubelet.finish("default", "p", Outcome(container="wait"))
    done = await kube.get(PODS, "default", "p")
    main = done["status"]["containerStatuses"][0]["state"]["terminated"]
    assert done["status"]["phase"] == "Failed" and main["exitCode"] == 3 and main["reason"] == "Error"
    assert len(main["message"]) == 4096, "the kubelet keeps 4 KiB of a termination message"
    log = await kube.api.call_api(PODS.path("default", "p") + "/log", "GET", query_params=[("container", "main")], auth_settings=["BearerToken"], _preload_content=False)
    assert (await log.text()) == "out\n"
    log.release()


async def test_run_moves_every_new_pod_by_a_rule(kube: KubeClient, kube_api: KubeApi) -> None:
    seen: list[str] = []

    async def handler(kind: str, obj: dict[str, Any]) -> None:
        seen.append(f"{obj['metadata']['name']}:{obj['status']['phase']}")

    informer = Informer(kube, PODS, "default", handler=handler)
    informer.start()
    kubelet = Kubelet(kube_api)
    try:
        await informer.wait_synced(5)
        async with kubelet.run(lambda p: Outcome(exit_code=1) if p["metadata"]["name"] == "bad" else None if p["metadata"]["name"] == "slow" else Outcome()):
            for name in ("good", "bad", "slow"):
                await kube.create(PODS, "default", pod(name))
            await wait_for(lambda: {"good:Succeeded", "bad:Failed", "slow:Running"} <= set(seen), what="pods moved")
        assert seen.index("good:Pending") < seen.index("good:Running") < seen.index("good:Succeeded")
    finally:
        await informer.stop()
