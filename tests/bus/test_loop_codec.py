"""The process runtime switches (uvloop, GC tuning) and the codec pieces behind batched dispatch."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import textwrap
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ormsgpack
import pytest

from hookbus.bus import DecodeError, EncodeError, Encoding, Hook, RegistrySettings
from hookbus.bus.codec import QUIET_GC_BYTES, ListEnvelope, decode, encode
from hookbus.bus.dispatch import Dispatcher
from hookbus.bus.loop import (
    CONTROLLER_FULL_AFTER,
    CONTROLLER_GC_THRESHOLD,
    ENV_SWITCH,
    GC_ENV,
    GC_THRESHOLD,
    loop_factory,
    loop_name,
    run,
    tune_gc,
)
from hookbus.bus.registry import RegistryView
from hookbus.bus.testing import wait_registered

if TYPE_CHECKING:
    from nats.aio.client import Client

REPO = Path(__file__).resolve().parents[2]


def _in_thread(fn: Any) -> Any:
    """Run *fn* in a fresh thread (its own event loop state) and return what it returned."""
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(fn()))
    thread.start()
    thread.join(30)
    assert out, "the thread did not finish"
    return out[0]


async def _which_loop() -> str:
    return loop_name()


def test_run_uses_uvloop_unless_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("uvloop")
    monkeypatch.setenv(GC_ENV, "0")  # leave this test process's collector alone
    monkeypatch.delenv(ENV_SWITCH, raising=False)
    assert _in_thread(lambda: run(_which_loop())) == "uvloop"
    assert _in_thread(lambda: run(_which_loop(), fast=False)) == "asyncio"
    for off in ("0", "false", "OFF", " no "):
        monkeypatch.setenv(ENV_SWITCH, off)
        assert loop_factory() is None
        assert _in_thread(lambda: run(_which_loop())) == "asyncio"
    monkeypatch.setenv(ENV_SWITCH, "1")
    assert _in_thread(lambda: run(_which_loop())) == "uvloop"


def test_tune_gc_raises_the_young_threshold_and_freezes_startup_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, before[1], before[2])
        monkeypatch.setenv(GC_ENV, "0")
        assert tune_gc() is False
        assert gc.get_threshold()[0] == 700
        monkeypatch.delenv(GC_ENV)
        assert tune_gc() is True
        assert gc.get_threshold() == (GC_THRESHOLD, before[1], before[2])
        assert gc.get_freeze_count() > 0
        monkeypatch.setenv(GC_ENV, "50000")
        tune_gc()
        assert gc.get_threshold()[0] == 50000
        tune_gc(20000)
        assert gc.get_threshold()[0] == 50000, "a higher threshold set by someone else is kept"
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_a_controller_collects_young_objects_often_and_everything_rarely(monkeypatch: pytest.MonkeyPatch) -> None:
    before = gc.get_threshold()
    try:
        monkeypatch.delenv(GC_ENV, raising=False)
        gc.set_threshold(700, 10, 10)
        assert tune_gc(controller=True) is True
        assert gc.get_threshold() == (CONTROLLER_GC_THRESHOLD, 10, CONTROLLER_FULL_AFTER)
        assert CONTROLLER_GC_THRESHOLD < GC_THRESHOLD, "short young collections: short pauses"
        gc.set_threshold(700, 10, 10)
        monkeypatch.setenv(GC_ENV, "3000")
        tune_gc(controller=True)
        assert gc.get_threshold() == (3000, 10, CONTROLLER_FULL_AFTER)
        gc.set_threshold(700, 10, 10)
        monkeypatch.setenv(GC_ENV, "0")
        assert tune_gc(controller=True) is False
        assert gc.get_threshold() == (700, 10, 10)
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


@pytest.mark.parametrize("encoding", list(Encoding))
def test_list_envelope_gives_the_bytes_of_a_whole_encode(encoding: Encoding) -> None:
    head = {"v": 1, "hook": "node.preExecute", "plugin": "p", "workflow": {"metadata": {"name": "wf"}}}
    for items in ([], [{"id": "a"}], [{"id": str(i), "node": {"name": f"n{i}", "x": [1, 2.5, None, "é"]}} for i in range(300)]):
        envelope = ListEnvelope.of(head, "items", encoding)
        encoded = encode(items, encoding)
        whole = envelope.wrap(encoded)
        assert whole == encode({**head, "items": items}, encoding)
        assert envelope.size(len(encoded)) == len(whole)
        assert decode(whole, encoding) == {**head, "items": items}
    with pytest.raises(EncodeError, match="already has a field 'plugin'"):
        ListEnvelope.of(head, "plugin", encoding)


def test_large_decode_pauses_the_collector_and_restores_it() -> None:
    data = ormsgpack.packb([{"id": str(i), "n": {"a": [i]}} for i in range(2000)])
    assert len(data) >= QUIET_GC_BYTES
    assert gc.isenabled()
    assert len(decode(data)) == 2000
    assert gc.isenabled()
    with pytest.raises(DecodeError):
        decode(data[:-3])
    assert gc.isenabled(), "a failed decode re-enables the collector too"
    gc.disable()
    try:
        decode(data)
        assert not gc.isenabled(), "a collector disabled by someone else stays disabled"
    finally:
        gc.enable()


@pytest.mark.parametrize("size", [1, 3000])
def test_maps_with_keys_other_than_strings_still_decode(size: int) -> None:
    value = {"items": [{"id": str(i), "ports": {80: "http", 1.5: None}} for i in range(size)], 7: True}
    data = encode(value)
    assert decode(data) == value
    assert decode(encode({"plain": [1, 2]})) == {"plain": [1, 2]}
    with pytest.raises(DecodeError, match="invalid msgpack"):
        decode(data[: len(data) // 2])


PLUGIN_FILE = """
    from hookbus.bus import Plugin, warn
    from hookbus.bus.loop import loop_name

    plugin = Plugin("{name}")

    @plugin.node_pre_execute(timeout=10.0)
    def which(**kwargs):
        return warn(loop_name())
"""


@pytest.mark.parametrize(("switch", "expected"), [(None, "uvloop"), ("0", "asyncio")])
async def test_a_plugin_process_runs_on_uvloop_unless_switched_off(
    nc: Client, nats_url: str, tmp_path: Path, switch: str | None, expected: str
) -> None:
    pytest.importorskip("uvloop")
    name = f"loop-{expected}"
    path = tmp_path / "loopy.py"
    path.write_text(textwrap.dedent(PLUGIN_FILE.format(name=name)))
    env = {k: v for k, v in os.environ.items() if k != ENV_SWITCH}
    if switch is not None:
        env[ENV_SWITCH] = switch
    code = f"from hookbus.bus.sdk import load_plugin; load_plugin({str(path)!r}).run(nats_url={nats_url!r})"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, cwd=REPO, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    registry = RegistryView(nc.jetstream(), RegistrySettings())
    try:
        await registry.start()
        await wait_registered(registry, name, timeout=30)
        result = await Dispatcher(nc, registry).call(Hook.NODE_PRE_EXECUTE, {"name": "wf", "namespace": "default"}, [{"id": "a"}])
        assert [w.message for w in result[0].warnings] == [expected]
    finally:
        await registry.stop()
        if proc.returncode is None:
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def test_json_envelope_is_valid_json() -> None:
    envelope = ListEnvelope.of({"v": 1}, "results", Encoding.JSON)
    assert json.loads(envelope.wrap(b"[{},{}]")) == {"v": 1, "results": [{}, {}]}
