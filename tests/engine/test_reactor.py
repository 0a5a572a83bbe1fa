"""The reactor: per-workflow serial workers, and how much work one pass takes."""

from __future__ import annotations

import asyncio

from hookbus.controller.engine.reactor import Reactor
from tests.conftest import wait_for


async def test_a_key_alone_takes_big_batches_and_shares_with_small_ones() -> None:
    seen: list[tuple[str, int, bool]] = []
    reactor: Reactor[str, int] | None = None

    async def handle(key: str, batch: list[int]) -> None:
        assert reactor is not None
        seen.append((key, len(batch), reactor.sharing(key)))
        await asyncio.sleep(0)

    reactor = Reactor(handle, limit=10, batch=3, batch_alone=50)
    for i in range(20):
        reactor.post("alone", i)
    await wait_for(lambda: not reactor.busy("alone"), timeout=5, what="the worker to finish")
    assert seen == [("alone", 20, False)], "alone: one pass for everything queued (up to batch_alone)"

    seen.clear()
    for i in range(9):
        reactor.post("a", i)
        reactor.post("b", i)
    await wait_for(lambda: not (reactor.busy("a") or reactor.busy("b")), timeout=5, what="both workers to finish")
    assert [n for key, n, _ in seen if key == "a"] == [3, 3, 3]
    assert [n for key, n, _ in seen if key == "b"] == [3, 3, 3]
    assert all(sharing for _, _, sharing in seen)
    # the two workers took turns: neither ran all of its passes before the other started
    keys = [key for key, _, _ in seen]
    assert keys.index("b") < len(keys) - keys[::-1].index("a") - 1
    await reactor.close()
