"""pubwire.AckPipe: many JetStream writes, every acknowledgement awaited, a bounded window."""

from __future__ import annotations

from typing import TYPE_CHECKING

import nats.errors
import pytest
from nats.js.api import StreamConfig

from hookbus.bus import pubwire

if TYPE_CHECKING:
    from nats.aio.client import Client


async def _stream(nc: Client, name: str = "ACKS", subjects: tuple[str, ...] = ("acks.>",)) -> None:
    await nc.jetstream().add_stream(StreamConfig(name=name, subjects=list(subjects)))


@pytest.mark.parametrize("window", [4, 4000])
async def test_every_record_is_stored_before_publish_all_returns(nc: Client, window: int) -> None:
    await _stream(nc)
    pipe = pubwire.AckPipe(nc.jetstream(), window=window)
    records = [(f"acks.r{i}", b"x" * (i % 7)) for i in range(300)]
    try:
        await pipe.publish_all(records, None, deadline=10)
        await pipe.publish_all(records[:10], {"Kind": "again"}, deadline=10)
    finally:
        await pipe.stop()
    info = await nc.jetstream().stream_info("ACKS")
    assert info.state.messages == 310
    last = await nc.jetstream().get_last_msg("ACKS", "acks.r3")
    assert (last.headers or {}).get("Kind") == "again"


async def test_writes_no_stream_takes_are_rejected(nc: Client) -> None:
    await _stream(nc)
    pipe = pubwire.AckPipe(nc.jetstream())
    try:
        with pytest.raises(pubwire.AckRejected, match="1 of 3 writes failed, first: no stream answers"):
            await pipe.publish_all([("acks.a", b"1"), ("nowhere.b", b"2"), ("acks.c", b"3")], None, deadline=10)
    finally:
        await pipe.stop()


async def test_a_record_over_max_payload_is_refused_before_anything_is_sent(nc: Client) -> None:
    await _stream(nc)
    pipe = pubwire.AckPipe(nc.jetstream())
    try:
        with pytest.raises(nats.errors.MaxPayloadError):
            await pipe.publish_all([("acks.a", b"1"), ("acks.big", b"x" * (nc.max_payload + 1))], None, deadline=10)
    finally:
        await pipe.stop()
    assert (await nc.jetstream().stream_info("ACKS")).state.messages == 0


class _Msg:
    def __init__(self, data: bytes, headers: dict[str, str] | None = None) -> None:
        self.data = data
        self.headers = headers


def test_ack_error_reads_successes_without_decoding_and_failures_as_parse_ack_does() -> None:
    assert pubwire.ack_error(_Msg(b'{"stream":"S","seq":7}')) is None
    assert pubwire.ack_error(_Msg(b"")) is None
    refused = _Msg(b'{"error":{"code":400,"err_code":10071,"description":"wrong last sequence"}}')
    assert pubwire.ack_error(refused) == "wrong last sequence (JetStream error 10071)"
    assert "no stream answers" in (pubwire.ack_error(_Msg(b"", {"Status": "503"})) or "")
    assert pubwire.ack_error(_Msg(b"", {"Status": "408", "Description": "Request Timeout"})) == "Request Timeout"
