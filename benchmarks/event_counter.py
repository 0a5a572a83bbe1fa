"""Counts node events in a process of its own, so counting never steals the controller's CPU.

    python -m benchmarks.event_counter NATS_URL SUBJECT_FILTER

The counter reads the ``HOOKBUS_EVENTS`` stream (an ephemeral JetStream pull consumer
on *SUBJECT_FILTER*, from the first message, no acks), so it counts what was stored,
not what a core subscriber happened to keep up with. Protocol on its pipes:

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
from typing import Final, TypedDict

FINAL_PHASES: Final = frozenset({"Succeeded", "Failed", "Error", "Skipped", "Omitted"})
ROOT: Final = Path(__file__).resolve().parent.parent
_FETCH_BATCH: Final = 2000


class CounterResult(TypedDict):
    """What the counter reports (its last stdout line)."""

    received: int
    """Every message read from the stream under the filter (all phases)."""
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


async def _consume(url: str, subject: str, tally: _Tally, ready: asyncio.Event) -> None:
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    from hookbus.bus.subjects import EVENTS_STREAM

    nc = await nats.connect(url, name="bench-event-counter")
    try:
        js = nc.jetstream()
        config = ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL)
        sub = await js.pull_subscribe(subject, durable=None, stream=EVENTS_STREAM, config=config)
        ready.set()
        while True:
            try:
                msgs = await sub.fetch(_FETCH_BATCH, timeout=0.5)
            except TimeoutError:
                continue
            for msg in msgs:
                headers = msg.headers
                tally.add(msg.subject, headers.get("ce-subject", "") if headers else "")
    finally:
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


async def run_counter(url: str, subject: str) -> CounterResult:
    """The counter process's body: count until the expectation is met, a timeout or a signal."""
    tally = _Tally()
    ready = asyncio.Event()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    consumer = asyncio.create_task(_consume(url, subject, tally, ready), name="event-counter-consumer")
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
    async def start(cls, url: str, subject: str, *, timeout: float = 30.0) -> EventCounter:
        """Start a counter on *subject* and wait until its consumer exists."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.event_counter", url, subject,
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
    url, subject = argv
    print(json.dumps(asyncio.run(run_counter(url, subject))), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
