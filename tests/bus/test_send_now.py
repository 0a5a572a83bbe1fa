"""Frames written with ``now`` reach the server at once, not when the flusher task gets its turn.

The observer is a plain socket in a thread of its own, so it sees what the server
forwards while the test keeps the event loop busy (as a large scheduling pass does).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import pytest

from hookbus.bus import (
    DispatchSettings,
    Hook,
    HookSpec,
    PluginManifest,
    RegistrySettings,
    pubwire,
    subjects,
)
from hookbus.bus.dispatch import Dispatcher
from hookbus.bus.registry import Registration, RegistryView
from hookbus.bus.requests import SEND_AT_ONCE_BYTES, Requester
from hookbus.bus.testing import wait_registered

if TYPE_CHECKING:
    from collections.abc import Iterator

    from nats.aio.client import Client

    from hookbus.bus import EmbeddedServer


class Observer:
    """A raw NATS subscriber on its own thread, keeping the payloads of *subject*'s messages."""

    def __init__(self, url: str, subject: str) -> None:
        parsed = urlparse(url)
        self.sock = socket.create_connection((parsed.hostname, parsed.port), timeout=10)
        self.file = self.sock.makefile("rb")
        self.file.readline()  # INFO
        self.sock.sendall(f"CONNECT {{}}\r\nSUB {subject} 1\r\nPING\r\n".encode())
        while self.file.readline().strip() != b"PONG":  # the subscription is in place
            pass
        self.arrived = threading.Condition()
        self.payloads: list[bytes] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            while line := self.file.readline():
                if line.startswith(b"PING"):
                    self.sock.sendall(b"PONG\r\n")
                elif line.startswith(b"MSG"):
                    size = int(line.split()[-1])
                    payload = self.file.read(size + 2)[:-2]
                    with self.arrived:
                        self.payloads.append(payload)
                        self.arrived.notify_all()
        except OSError:
            return

    def wait(self, count: int, timeout: float) -> bool:
        """Block this thread until *count* payloads arrived; False if *timeout* passed first."""
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.payloads) >= count, timeout=timeout)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # ends the reader's readline
        self.thread.join(timeout=5)
        self.file.close()
        self.sock.close()


@pytest.fixture
def observer(nats_server: EmbeddedServer) -> Iterator[Observer]:
    watcher = Observer(nats_server.url, "now.test")
    yield watcher
    watcher.close()


async def test_a_frame_written_now_reaches_the_server_while_the_loop_stays_busy(nc: Client, observer: Observer) -> None:
    writer = pubwire.Writer(nc)
    await writer.write([pubwire.pub_frame(b"now.test", b"", b"queued first")])  # left to the flusher
    await writer.write([pubwire.pub_frame(b"now.test", b"", b"sent now")], now=True)
    # The loop does not run from here on (no await): only a write done already can arrive.
    assert observer.wait(2, timeout=10), f"only {observer.payloads} arrived while the event loop was busy"
    assert observer.payloads == [b"queued first", b"sent now"]  # what was queued before goes first


async def test_a_full_socket_leaves_the_frame_to_the_flusher(nc: Client, observer: Observer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pubwire, "SEND_NOW_BUFFER", 0)  # every socket counts as full
    writer = pubwire.Writer(nc)
    await writer.write([pubwire.pub_frame(b"now.test", b"", b"later")], now=True)
    # The flusher has not run (no await since): nothing can have been written.
    assert not observer.wait(1, timeout=0.3)
    await nc.flush()  # the loop runs: the flusher sends it
    assert observer.wait(1, timeout=10)
    assert observer.payloads == [b"later"]


async def test_nothing_is_written_now_on_a_closed_client(nats_url: str) -> None:
    from nats.errors import ConnectionClosedError

    from hookbus.bus import NatsSettings
    from hookbus.bus.connection import connect

    client = await connect(NatsSettings(urls=(nats_url,)))
    await client.close()
    with pytest.raises(ConnectionClosedError):
        await pubwire.Writer(client).write([pubwire.pub_frame(b"now.test", b"", b"x")], now=True)


@pytest.mark.parametrize("size", [100, SEND_AT_ONCE_BYTES])
async def test_large_requests_go_at_once_small_ones_with_the_flusher(nc: Client, observer: Observer, size: int) -> None:
    requester = Requester(nc)
    await requester._start()  # the reply subscription is in place before the request
    sent = await requester.send("now.test", b"x" * size, timeout=30)  # the flusher's turn comes later
    # The loop does not run from here on: only what was written already can arrive.
    arrived = observer.wait(1, timeout=10 if size >= SEND_AT_ONCE_BYTES else 0.3)
    assert arrived is (size >= SEND_AT_ONCE_BYTES)
    await nc.flush()
    assert observer.wait(1, timeout=10)  # the small one too, once the flusher ran
    assert observer.payloads == [b"x" * size]
    requester.discard(sent)
    await requester.close()


async def test_a_call_puts_its_first_requests_on_the_wire_before_any_other_task_runs(
    nats_server: EmbeddedServer, nc: Client
) -> None:
    """The dispatcher sends a plugin's first requests as soon as their items are encoded,
    from the calling task. Sent from tasks of their own, they would wait for every task
    ready before those: in a large scheduling pass, the encoding of every other wave."""
    name = "eager"
    hook = Hook.NODE_PRE_EXECUTE
    watcher = Observer(nats_server.url, subjects.hook(name, hook))  # registered, never answers
    manifest = PluginManifest(name=name, hooks={hook: HookSpec(hook, timeout=30.0, mutating=False)})
    registration = Registration(nc.jetstream(), manifest)
    registry = RegistryView(nc.jetstream(), RegistrySettings())
    await registry.start()
    await registration.start()
    try:
        await wait_registered(registry, name)
        dispatcher = Dispatcher(nc, registry, DispatchSettings(max_in_flight=8), request_bytes=64 * 1024)
        await dispatcher._requests._start()  # the reply subscription is in place before the call
        items = [{"id": f"n{i}", "blob": "x" * 1000} for i in range(300)]  # about 300 KB: five requests
        call = asyncio.create_task(dispatcher.call(hook, {"name": "wf", "namespace": "default"}, items))
        await asyncio.sleep(0)  # one step of the call's task; nothing else runs after it
        # The loop does not run from here on: only what the call's first step wrote can arrive.
        assert watcher.wait(2, timeout=10), f"{len(watcher.payloads)} requests arrived while the event loop was busy"
        assert all(len(p) >= SEND_AT_ONCE_BYTES for p in watcher.payloads)
        call.cancel()
        await asyncio.gather(call, return_exceptions=True)
        assert not dispatcher._requests._pending  # the cancelled call waits for nothing
    finally:
        watcher.close()
        await registration.stop()
        await registry.stop()
