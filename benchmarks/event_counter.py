"""Counts node events in a process of its own, so counting never steals the controller's CPU.

    python -m benchmarks.event_counter NATS_URL SUBJECT_FILTER [--grouped] [--creds FILE]

The counter reads the ``HOOKBUS_EVENTS`` stream (a JetStream push consumer on
*SUBJECT_FILTER*, from the first message, no acks) over a bare NATS connection it
parses itself (see :class:`_Wire`), so it counts what was stored, not what a core
subscriber happened to keep up with. A message in binary mode is one event, read from
its headers (the consumer delivers headers only); with ``--grouped`` (a controller with
``EventSettings.grouped``) the consumer delivers bodies too, and a grouped message counts
every event in its JSON body. With ``--creds`` (a hookbus credentials file, the
``events`` identity of a server with authentication) both of its connections log in
as that identity and its consumer delivers under the identity's inbox prefix, the only
subjects it may subscribe to. Protocol on its pipes:

- stdout, first line: ``{"ready": true}`` once the consumer exists;
- stdin, one JSON line: ``{"expect": ["<workflow token>/nodes/<id>", ...], "timeout": s}``,
  the final events the caller expects (known only once the workflow ended);
- stdout, last line: the result (see :func:`result_of`), once every expected final event
  was seen, at the timeout, or on SIGTERM/SIGINT.

A node's *final* event is one whose subject ends in a fulfilled phase (``Succeeded``,
``Failed``, ``Error``, ``Skipped``, ``Omitted``); it is keyed by the workflow's subject
token and the event's ``ce-subject`` (``nodes/<id>``), so duplicates count once.

:class:`EventCounter` is the caller's side: it starts the process and talks this protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Final, TypedDict

from hookbus.bus.events import BATCH_CONTENT_TYPE, H_CONTENT_TYPE, H_SUBJECT

if TYPE_CHECKING:
    from collections.abc import Callable

    from hookbus.bus.auth import Credentials

FINAL_PHASES: Final = frozenset({"Succeeded", "Failed", "Error", "Skipped", "Omitted"})
ROOT: Final = Path(__file__).resolve().parent.parent


class CounterResult(TypedDict):
    """What the counter reports (its last stdout line)."""

    received: int
    """Every event read from the stream under the filter (all phases; a grouped message counts its events)."""
    finals: int
    """Distinct final events (workflow, node) seen."""
    expected: int
    """Final events the caller said to expect."""
    expected_seen: int
    """Expected final events that were seen."""
    lost: int
    """Expected final events never seen (must be 0)."""
    missing_sample: list[str]
    """Up to five keys of lost events, for the error message."""
    last_final_at: float | None
    """Epoch seconds when the last expected final event arrived (``None``: none did)."""
    complete: bool
    """Whether every expected final event was seen before the timeout or signal."""


class _Tally:
    """The counting state of the counter process."""

    def __init__(self) -> None:
        self.received = 0
        self.finals: set[str] = set()
        self.expect: set[str] | None = None
        self.missing = 0
        self.last_final_at: float | None = None
        self.done = asyncio.Event()

    def add(self, subject: str, ce_subject: str) -> None:
        self.received += 1
        tokens = subject.rsplit(".", 4)
        # hookbus.event.v1.<ns>.<workflow>.node.<phase>: tokens[-1] is the phase, [-3] the workflow
        if tokens[-1] not in FINAL_PHASES:
            return
        key = f"{tokens[-3]}/{ce_subject}"
        if key in self.finals:
            return
        self.finals.add(key)
        if self.expect is None:
            self.last_final_at = time.time()
        elif key in self.expect:
            self.last_final_at = time.time()
            self.missing -= 1
            if self.missing <= 0:
                self.done.set()

    def set_expect(self, keys: list[str]) -> None:
        self.expect = set(keys)
        self.missing = len(self.expect - self.finals)
        if self.missing <= 0:
            self.done.set()


def result_of(tally: _Tally) -> CounterResult:
    """The result document of *tally*."""
    expect = tally.expect or set()
    missing = expect - tally.finals
    return {
        "received": tally.received,
        "finals": len(tally.finals),
        "expected": len(expect),
        "expected_seen": len(expect) - len(missing),
        "lost": len(missing),
        "missing_sample": sorted(missing)[:5],
        "last_final_at": tally.last_final_at,
        "complete": bool(expect) and not missing,
    }


class _Wire(asyncio.Protocol):
    """The receiving end of a bare NATS connection: every message's subject, headers and body.

    nats-py spends 30-90 us of CPU on each message (parsing, a ``Msg`` object, a task
    step per callback or per fetched message). Counting 200,000 events that way took more
    CPU than the 5 plugins of the run being measured, CPU it took from them. This reads
    the protocol itself: a few microseconds a message.
    """

    def __init__(self, on_message: Callable[[bytes, bytes, bytes], None]) -> None:
        self._on_message = on_message
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self.ponged = asyncio.Event()
        self.closed = asyncio.Event()
        self.error = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.error = self.error or f"connection lost: {exc!r}"
        self.closed.set()

    def send(self, data: bytes) -> None:
        assert self._transport is not None
        self._transport.write(data)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        pos = 0
        while True:
            end = buffer.find(b"\r\n", pos)
            if end < 0:
                break
            if buffer.startswith(b"HMSG ", pos):  # HMSG <subject> <sid> [reply] <header bytes> <total bytes>
                parts = bytes(buffer[pos:end]).split()
                header_size, total = int(parts[-2]), int(parts[-1])
                body = end + 2
                if len(buffer) < body + total + 2:
                    break  # the rest of this message has not arrived yet
                self._on_message(parts[1], bytes(buffer[body : body + header_size]), bytes(buffer[body + header_size : body + total]))
                pos = body + total + 2
            elif buffer.startswith(b"MSG ", pos):  # a message without headers: not an event
                total = int(bytes(buffer[pos:end]).split()[-1])
                if len(buffer) < end + 2 + total + 2:
                    break
                pos = end + 2 + total + 2
            else:  # INFO, PING, PONG, +OK, -ERR: one line each
                line = bytes(buffer[pos:end])
                if line == b"PING":
                    self.send(b"PONG\r\n")
                elif line == b"PONG":
                    self.ponged.set()
                elif line.startswith(b"-ERR"):
                    self.error = line.decode(errors="replace")
                pos = end + 2
        del buffer[:pos]


_CE_SUBJECT = f"\r\n{H_SUBJECT}: ".encode()
_GROUPED = f"\r\n{H_CONTENT_TYPE}: {BATCH_CONTENT_TYPE}\r\n".encode()


def _ce_subject(headers: bytes) -> str:
    start = headers.find(_CE_SUBJECT)
    if start < 0:
        return ""
    start += len(_CE_SUBJECT)
    return headers[start : headers.find(b"\r", start)].decode()


def wire_connect(credentials: Credentials | None) -> bytes:
    """The CONNECT line of the bare connection, with the identity's user and password if given."""
    options: dict[str, object] = {"verbose": False, "pedantic": False, "headers": True, "protocol": 1, "name": "bench-event-counter-wire"}
    if credentials is not None:
        options.update(user=credentials.user, **{"pass": credentials.password})
    return f"CONNECT {json.dumps(options)}\r\n".encode()


async def _consume(
    url: str, subject: str, tally: _Tally, ready: asyncio.Event, *, grouped: bool, credentials: Credentials | None = None
) -> None:
    from urllib.parse import urlsplit

    import nats
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    from hookbus.bus.subjects import EVENTS_STREAM

    def counted(msg_subject: bytes, headers: bytes, body: bytes) -> None:
        subject = msg_subject.decode()
        if _GROUPED not in headers:
            tally.add(subject, _ce_subject(headers))
            return
        for event in json.loads(body):
            tally.add(subject, str(event.get("subject", "")))

    where = urlsplit(url)
    loop = asyncio.get_running_loop()
    transport, wire = await loop.create_connection(lambda: _Wire(counted), where.hostname, where.port)
    login: dict[str, str] = {}
    if credentials is not None:
        login = {"user": credentials.user, "password": credentials.password, "inbox_prefix": credentials.inbox_prefix}
    # one attempt: a refused identity is an error to report, not a reason to retry
    nc = await nats.connect(url, name="bench-event-counter", allow_reconnect=False, **login)
    try:
        inbox = nc.new_inbox()  # under the identity's inbox prefix
        wire.send(wire_connect(credentials) + f"SUB {inbox} 1\r\nPING\r\n".encode())
        # the subscription is in place once the server answers the PING; a refused login
        # or subscription is an -ERR before it (a refused login also closes the connection)
        answered = [asyncio.ensure_future(wire.ponged.wait()), asyncio.ensure_future(wire.closed.wait())]
        await asyncio.wait(answered, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        for waiter in answered:
            waiter.cancel()
        if wire.error or not wire.ponged.is_set():
            raise RuntimeError(f"event counter: {wire.error or 'no answer from the server'}")
        # A push consumer from the stream's first message, no acknowledgements; headers
        # only (all one event's count needs) unless grouped messages carry events in bodies.
        config = ConsumerConfig(
            deliver_subject=inbox,
            ack_policy=AckPolicy.NONE,
            deliver_policy=DeliverPolicy.ALL,
            filter_subject=subject,
            headers_only=not grouped,
        )
        await nc.jsm().add_consumer(EVENTS_STREAM, config=config)
        ready.set()
        await wire.closed.wait()
        raise RuntimeError(f"event counter: {wire.error}")
    finally:
        transport.close()
        await nc.close()


async def _read_expectation(tally: _Tally) -> float:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 30)  # one line of every expected key
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    line = await reader.readline()
    if not line:  # the caller went away: report what we have
        tally.done.set()
        return 0.0
    request = json.loads(line)
    tally.set_expect([str(k) for k in request["expect"]])
    return float(request.get("timeout", 60.0))


async def run_counter(url: str, subject: str, *, grouped: bool = False, creds: str | None = None) -> CounterResult:
    """The counter process's body: count until the expectation is met, a timeout or a signal
    (*creds*: the credentials file of the identity to connect as)."""
    from hookbus.bus.auth import load_credentials

    credentials = load_credentials(creds) if creds else None
    tally = _Tally()
    ready = asyncio.Event()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    consumer = asyncio.create_task(
        _consume(url, subject, tally, ready, grouped=grouped, credentials=credentials), name="event-counter-consumer"
    )
    stopper = asyncio.create_task(stop.wait(), name="event-counter-stop")
    try:
        started = asyncio.create_task(ready.wait())
        await asyncio.wait({started, consumer, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if consumer.done():
            consumer.result()  # raises what went wrong
        if ready.is_set():
            print(json.dumps({"ready": True}), flush=True)
            timeout = await _read_expectation(tally)
            done = asyncio.create_task(tally.done.wait())
            await asyncio.wait({done, stopper, consumer}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            done.cancel()
        started.cancel()
        return result_of(tally)
    finally:
        for task in (consumer, stopper):
            task.cancel()
        for task in (consumer, stopper):
            with contextlib.suppress(asyncio.CancelledError):
                await task


class EventCounter:
    """The caller's side of a counter process: ``start``, then ``result`` (or ``stop``)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc

    @classmethod
    async def start(
        cls, url: str, subject: str, *, grouped: bool = False, creds: Path | None = None, timeout: float = 30.0
    ) -> EventCounter:
        """Start a counter on *subject* and wait until its consumer exists (*grouped*: the
        controller sends grouped messages, so bodies are read too; *creds*: the credentials
        file to connect with, the ``events`` identity on a server with authentication)."""
        flags = [*(["--grouped"] if grouped else []), *(["--creds", str(creds)] if creds else [])]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.event_counter", url, subject, *flags,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        counter = cls(proc)
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), timeout)
        except TimeoutError:
            await counter.stop()
            raise RuntimeError(f"event counter on {subject} not ready after {timeout} s") from None
        if not line.startswith(b'{"ready"'):
            await counter.stop()
            raise RuntimeError(f"event counter on {subject} failed to start (exit {proc.returncode})")
        return counter

    async def result(self, expect: list[str], timeout: float) -> CounterResult:
        """Tell the counter which final events to expect; its result once it saw them or gave up."""
        proc = self._proc
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps({"expect": expect, "timeout": timeout}).encode() + b"\n")
        await proc.stdin.drain()
        out = await asyncio.wait_for(proc.stdout.read(), timeout + 30)
        await proc.wait()
        lines = [line for line in out.decode().splitlines() if line.startswith("{")]
        if not lines:
            raise RuntimeError(f"event counter printed no result (exit {proc.returncode})")
        result: CounterResult = json.loads(lines[-1])
        return result

    async def stop(self) -> None:
        """End the counter without a result (idempotent)."""
        if self._proc.returncode is None:
            self._proc.terminate()
            try:
                await asyncio.wait_for(self._proc.wait(), 10)
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()


def final_key(workflow: str, node_id: str) -> str:
    """The key the counter files a node's final event under."""
    from hookbus.bus.subjects import name_token

    return f"{name_token(workflow)}/nodes/{node_id}"


def main(argv: list[str]) -> None:
    url, subject, *flags = argv
    creds = flags[flags.index("--creds") + 1] if "--creds" in flags else None
    try:
        result = asyncio.run(run_counter(url, subject, grouped="--grouped" in flags, creds=creds))
    except Exception as exc:  # one line for the caller's log (a refused identity, a lost connection)
        print(f"event counter on {subject}: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
