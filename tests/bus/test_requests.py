"""The dispatcher's request/reply client: replies matched to requests, headers on the wire,
no responders and timeouts told apart, over a real nats-server."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import pytest
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from hookbus.bus import NatsSettings
from hookbus.bus.connection import connect
from hookbus.bus.requests import Requester
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg


async def ask(requester: Requester, subject: str, data: bytes, **options: Any) -> Msg:
    """One request, sent and then waited for (what the dispatcher does, one at a time)."""
    return await requester.receive(await requester.send(subject, data, **options))


@pytest.mark.parametrize("frames", [True, False], ids=["ready-frames", "client-publish"])
async def test_each_reply_reaches_its_own_request_with_the_headers_sent(nc: Client, nats_url: str, frames: bool) -> None:
    responder = await connect(NatsSettings(urls=(nats_url,), name="responder"))
    seen: list[dict[str, str]] = []

    async def answer(msg: Msg) -> None:
        seen.append(dict(msg.headers or {}))
        await asyncio.sleep(0.001 * (int(msg.data) % 5))  # out of order
        await responder.publish(msg.reply, b"re:" + msg.data)

    await responder.subscribe("svc.echo", cb=answer)
    await responder.flush()

    async def reachable() -> bool:
        # Even after the responder's flush, a publish from another connection can find
        # no interest for a moment (plain Client.request too): wait until it is seen.
        try:
            await nc.request("svc.echo", b"0", timeout=2)
        except NoRespondersError:
            return False
        return True

    await wait_for(reachable, timeout=10, what="the responder's subscription")
    seen.clear()
    requester = Requester(nc)
    if not frames:
        requester._writer = None  # a client without the buffer the frames need
    try:
        replies = await asyncio.gather(
            *(
                ask(requester, "svc.echo", str(n).encode(), timeout=5, headers={"A": "1"}, extra={"Id": str(n)})
                for n in range(40)
            )
        )
        assert [r.data for r in replies] == [b"re:%d" % n for n in range(40)]
        assert sorted(int(h["Id"]) for h in seen) == list(range(40))
        assert all(h["A"] == "1" for h in seen)
        plain = await ask(requester, "svc.echo", b"7", timeout=5)
        assert plain.data == b"re:7" and seen[-1] == {}
    finally:
        await requester.close()
        await responder.close()


async def test_nobody_listening_and_nobody_answering_are_told_apart(nc: Client) -> None:
    requester = Requester(nc)
    started = time.monotonic()
    with pytest.raises(NoRespondersError):
        await ask(requester, "svc.nobody", b"x", timeout=5, headers={"A": "1"})
    assert time.monotonic() - started < 2  # the server says so at once

    async def silent(msg: Msg) -> None:
        return None

    await nc.subscribe("svc.silent", cb=silent)
    started = time.monotonic()
    with pytest.raises(NatsTimeoutError):
        await ask(requester, "svc.silent", b"x", timeout=0.3)
    assert 0.25 <= time.monotonic() - started < 3
    assert not requester._pending  # nothing left behind
    await requester.close()


async def test_requests_sent_first_are_received_later_in_any_order_or_discarded(nc: Client, nats_url: str) -> None:
    responder = await connect(NatsSettings(urls=(nats_url,), name="responder"))

    async def answer(msg: Msg) -> None:
        await responder.publish(msg.reply, b"re:" + msg.data)

    await responder.subscribe("svc.two-step", cb=answer)
    await responder.flush()
    requester = Requester(nc)
    try:
        await wait_for(lambda: _answers(requester), timeout=10, what="the responder's subscription")
        sent = [await requester.send("svc.two-step", b"%d" % n, timeout=5) for n in range(3)]
        dropped = sent.pop(1)
        requester.discard(dropped)
        requester.discard(dropped)  # idempotent
        assert (await requester.receive(sent[1])).data == b"re:2"
        assert (await requester.receive(sent[0])).data == b"re:0"
        assert dropped.future.cancelled()
        # The discarded request's reply still comes, and is dropped without a trace.
        await ask(requester, "svc.two-step", b"last", timeout=5)
        assert not requester._pending
    finally:
        await requester.close()
        await responder.close()


async def _answers(requester: Requester) -> bool:
    try:
        await ask(requester, "svc.two-step", b"ping", timeout=2)
    except NoRespondersError:
        return False
    return True
