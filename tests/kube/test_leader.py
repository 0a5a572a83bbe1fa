"""One active controller per instance id: the Lease, handover, and self-fencing."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from hookbus.controller.kube.leader import Leadership, LeaseTimes
from tests.support.kubeapi import Fault
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from hookbus.controller.kube.client import KubeClient
    from tests.support.kubeapi import KubeApi

FAST = LeaseTimes(duration=2.0, renew_deadline=1.5, retry=1.0, margin=0.5)


def candidate(kube: KubeClient, identity: str, **kwargs: object) -> Leadership:
    return Leadership(kube, name="lease", namespace="default", identity=identity, times=FAST, **kwargs)  # type: ignore[arg-type]


async def test_one_leads_and_the_other_takes_over_after_the_lease(kube: KubeClient, kube_api: KubeApi) -> None:
    first, second = candidate(kube, "first"), candidate(kube, "second")
    first.start()
    try:
        assert await asyncio.wait_for(first.wait(), 10)
        second.start()
        await wait_for(lambda: len(kube_api.requests("GET", "leases")) >= 4, what="the second candidate trying")
        assert first.leading and not second.acquired.is_set()
        lease = kube_api.get("leases", "default", "lease")
        assert lease is not None and lease["spec"]["holderIdentity"] == "first"
        assert kube_api.requests("PUT", "leases"), "renewals are conditional PUTs"
        await first.stop()
        assert await asyncio.wait_for(second.wait(), 15)
        lease = kube_api.get("leases", "default", "lease")
        assert lease is not None and lease["spec"]["holderIdentity"] == "second"
    finally:
        await first.stop()
        await second.stop()


async def test_failing_renewals_end_leadership(kube: KubeClient, kube_api: KubeApi) -> None:
    leader = candidate(kube, "only")
    leader.start()
    try:
        assert await asyncio.wait_for(leader.wait(), 10)
        kube_api.inject(Fault("PUT", "leases", status=500, times=1000))
        await asyncio.wait_for(leader.lost.wait(), 15)
        assert not leader.leading
    finally:
        await leader.stop()


async def test_a_leader_fences_itself_on_the_monotonic_clock(kube: KubeClient, kube_api: KubeApi) -> None:
    now = [1000.0]
    leader = candidate(kube, "only", clock=lambda: now[0])
    leader.start()
    try:
        assert await asyncio.wait_for(leader.wait(), 10)
        assert leader.leading
        # renewals hang: the election, waiting for its call, still believes it leads
        fault = kube_api.inject(Fault("PUT", "leases", hang=20, times=1000))
        await wait_for(lambda: fault.hits > 0, what="a renewal under way")
        now[0] += FAST.duration - FAST.margin
        assert not leader.leading
        await asyncio.wait_for(leader.lost.wait(), 5)
    finally:
        await leader.stop()


def test_lease_times_are_checked() -> None:
    LeaseTimes().check()
    for bad in (LeaseTimes(retry=0.5), LeaseTimes(duration=10, renew_deadline=10), LeaseTimes(renew_deadline=2, retry=2), LeaseTimes(margin=20)):
        with pytest.raises(ValueError):
            bad.check()
