"""The reactor: per-workflow serial workers, and how much work one pass takes."""

from __future__ import annotations

import asyncio

from hookbus.controller.engine.reactor import Reactor
from tests.support.waiting import wait_for


async def test_each_pass_takes_as_many_events_as_its_key_is_given_and_workers_take_turns() -> None:
    seen: list[tuple[str, int]] = []
    sizes = {"big": 50, "a": 3, "b": 3}

    async def handle(key: str, batch: list[int]) -> None:
        seen.append((key, len(batch)))
        await asyncio.sleep(0)

    reactor: Reactor[str, int] = Reactor(handle, limit=10, batch=lambda key: sizes[key])
    for i in range(20):
        reactor.post("big", i)
    await wait_for(lambda: not reactor.busy("big"), timeout=5, what="the worker to finish")
    assert seen == [("big", 20)], "one pass for everything queued, up to the key's size"

    seen.clear()
    for i in range(9):
        reactor.post("a", i)
        reactor.post("b", i)
    await wait_for(lambda: not (reactor.busy("a") or reactor.busy("b")), timeout=5, what="both workers to finish")
    assert [n for key, n in seen if key == "a"] == [3, 3, 3]
    assert [n for key, n in seen if key == "b"] == [3, 3, 3]
    # the two workers took turns: neither ran all of its passes before the other started
    keys = [key for key, _ in seen]
    assert keys.index("b") < len(keys) - keys[::-1].index("a") - 1
    await reactor.close()


async def test_a_fixed_batch_size_still_works() -> None:
    seen: list[int] = []

    async def handle(key: str, batch: list[int]) -> None:
        seen.append(len(batch))

    reactor: Reactor[str, int] = Reactor(handle, limit=1, batch=4)
    for i in range(10):
        reactor.post("k", i)
    await wait_for(lambda: not reactor.busy("k"), timeout=5, what="the worker to finish")
    assert seen == [4, 4, 2]
    await reactor.close()
