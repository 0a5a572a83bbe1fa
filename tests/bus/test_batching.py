"""How the dispatcher cuts a call into requests, shares encodings, and reads no-opinion replies."""

from __future__ import annotations

import gc
import math
from typing import TYPE_CHECKING, Any

import ormsgpack
import pytest

from hookbus.bus import (
    BusSettings,
    DispatchSettings,
    EncodeError,
    Encoding,
    Hook,
    NatsSettings,
    Plugin,
    merge_patch,
    reject,
    subjects,
)
from hookbus.bus.codec import decode, encode
from hookbus.bus.connection import connect
from hookbus.bus.testing import PluginHarness
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg

TARGET = 16 * 1024


def _items(n: int, pad: int = 200) -> list[dict[str, Any]]:
    return [{"id": f"n{i}", "node": {"name": f"wf.step-{i}", "note": "x" * pad}} for i in range(n)]


class Wiretap:
    """A plain subscriber (no queue group) that sees a copy of every request sent to a plugin."""

    def __init__(self, nc: Client, plugin: str, hook: Hook) -> None:
        self.nc = nc
        self.subject = subjects.hook(plugin, hook)
        self.sizes: list[int] = []
        self.counts: list[int] = []
        self.sub: Any = None

    async def on(self, msg: Msg) -> None:
        self.sizes.append(len(msg.data))
        self.counts.append(len(decode(msg.data)["items"]))

    async def seen(self, items: int) -> None:
        """Wait until the copies of *items* items arrived (the tap's callbacks run after the call returned)."""
        await self.nc.flush()
        await wait_for(lambda: sum(self.counts) >= items, timeout=10, what=f"the wiretap to see {items} items")

    async def __aenter__(self) -> Wiretap:
        self.sub = await self.nc.subscribe(self.subject, cb=self.on)
        await self.nc.flush()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.nc.flush()
        await self.sub.unsubscribe()


def _counter(name: str, *, compression: bool = False, **options: Any) -> tuple[Plugin, list[int]]:
    """A plugin counting the items of each request; plain requests unless *compression*
    (the cut by bytes of plain requests is what most tests here look at)."""
    plugin = Plugin(name, compression=compression)
    counts: list[int] = []

    @plugin.node_pre_execute(batch=True, **options)
    def count(items: list[Any], **kwargs: Any) -> list[Any]:
        counts.append(len(items))
        return [None] * len(items)

    return plugin, counts


async def test_requests_are_cut_by_bytes_near_the_target() -> None:
    plugin, counts = _counter("sizer")
    items = _items(3000)
    item_bytes = sum(len(ormsgpack.packb(i)) for i in items)
    async with PluginHarness(plugin, settings=BusSettings(dispatch=DispatchSettings(max_batch=1000))) as harness:
        assert harness.dispatcher is not None
        harness.dispatcher.request_bytes = TARGET
        tap_nc = await connect(NatsSettings(urls=(harness.url,), name="wiretap"))
        try:
            async with Wiretap(tap_nc, "sizer", Hook.NODE_PRE_EXECUTE) as tap:
                result = await harness.call(Hook.NODE_PRE_EXECUTE, items)
                await tap.seen(3000)
        finally:
            await tap_nc.close()
    assert all(not o.settled for o in result)
    assert sum(counts) == 3000 and len(counts) == result.stats.requests
    assert sorted(tap.counts) == sorted(counts)
    assert max(tap.sizes) <= TARGET, "no request is larger than the target"
    fewest = math.ceil(item_bytes / TARGET)
    # Each 1000-item wave is cut into equal parts that fit: a few requests more than
    # the bytes strictly need, never item-by-item or nearly empty ones.
    assert fewest <= len(counts) <= fewest + 3
    assert min(tap.sizes) >= TARGET // 2


async def test_max_batch_still_bounds_items_per_request() -> None:
    plugin, counts = _counter("small-batches", max_batch=7)
    async with PluginHarness(plugin) as harness:
        await harness.call(Hook.NODE_PRE_EXECUTE, _items(100, pad=0))
    assert sum(counts) == 100
    assert max(counts) == 7
    assert len(counts) == math.ceil(100 / 7)


async def test_an_item_larger_than_the_target_travels_alone_and_one_over_the_limit_is_refused() -> None:
    plugin, counts = _counter("big-items")
    items = _items(50)
    items[20]["node"]["note"] = "y" * (3 * TARGET)
    settings = BusSettings(dispatch=DispatchSettings(max_payload=8 * TARGET))
    async with PluginHarness(plugin, settings=settings) as harness:
        assert harness.dispatcher is not None
        harness.dispatcher.request_bytes = TARGET
        tap_nc = await connect(NatsSettings(urls=(harness.url,), name="wiretap"))
        try:
            async with Wiretap(tap_nc, "big-items", Hook.NODE_PRE_EXECUTE) as tap:
                await harness.call(Hook.NODE_PRE_EXECUTE, items)
                await tap.seen(50)
        finally:
            await tap_nc.close()
        big = [(size, count) for size, count in zip(tap.sizes, tap.counts, strict=True) if size > TARGET]
        assert len(big) == 1 and big[0][1] == 1, "the large item went in a request of its own"
        assert sum(counts) == 50

        items[20]["node"]["note"] = "z" * (9 * TARGET)
        with pytest.raises(EncodeError, match=r"over the request limit of \d+; declare 'fields'"):
            await harness.call(Hook.NODE_PRE_EXECUTE, items)


async def test_a_call_leaves_no_reference_cycle_that_keeps_its_items_alive() -> None:
    # Items that only a reference cycle holds live on until the garbage collector walks
    # them: in a controller that sends a million items, that is long pauses, often.
    plugin, counts = _counter("tidy")
    async with PluginHarness(plugin, settings=BusSettings(dispatch=DispatchSettings(max_batch=100))) as harness:
        assert harness.dispatcher is not None
        harness.dispatcher.request_bytes = TARGET  # requests cut by count and by bytes
        gc.collect()
        gc.disable()
        try:
            await harness.call(Hook.NODE_PRE_EXECUTE, [{"id": f"tidy-{i}", "node": {"note": "x" * 200}} for i in range(500)])
            gc.set_debug(gc.DEBUG_SAVEALL)  # what a collection finds unreachable stays to be seen
            gc.collect()
            held = [o for o in gc.garbage if isinstance(o, dict) and str(o.get("id", "")).startswith("tidy-")]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()
    assert sum(counts) == 500
    assert held == [], f"{len(held)} items were kept alive by a reference cycle"


async def test_plugins_sharing_an_encoding_see_patches_and_settled_items_of_earlier_ones() -> None:
    first, patcher, last = Plugin("a-first"), Plugin("b-patcher"), Plugin("c-last")
    seen: dict[str, list[dict[str, Any]]] = {"a": [], "c": []}

    @first.pod_pre_create(priority=1, batch=True)
    def a(items: list[dict[str, Any]], **kwargs: Any) -> list[Any]:
        seen["a"].extend(items)
        return [reject("no pods for item 3") if i["id"] == "p3" else None for i in items]

    @patcher.pod_pre_create(priority=2)
    def b(pod: dict[str, Any], **kwargs: Any) -> Any:
        return merge_patch({"metadata": {"labels": {"patched-by": "b"}}})

    @last.pod_pre_create(priority=3, batch=True)
    def c(items: list[dict[str, Any]], **kwargs: Any) -> list[Any]:
        seen["c"].extend(items)
        return [None] * len(items)

    items = [{"id": f"p{i}", "pod": {"metadata": {"name": f"pod-{i}", "labels": {}}}} for i in range(40)]
    async with PluginHarness(first, patcher, last, settings=BusSettings(dispatch=DispatchSettings(max_batch=10))) as harness:
        result = await harness.call(Hook.POD_PRE_CREATE, items)
    assert len(seen["a"]) == 40
    assert all(i["pod"]["metadata"]["labels"] == {} for i in seen["a"])
    assert sorted(i["id"] for i in seen["c"]) == sorted(f"p{i}" for i in range(40) if i != 3)
    assert all(i["pod"]["metadata"]["labels"] == {"patched-by": "b"} for i in seen["c"]), "c sees b's patch"
    assert not result[3].allowed and result[3].plugin == "a-first"
    assert result[5].patched_by == ("b-patcher",)


async def test_no_opinion_replies_in_any_form_leave_items_untouched() -> None:
    batch, single, json_plugin = Plugin("batch-none"), Plugin("single-none"), Plugin("json-none", encoding=Encoding.JSON)

    @batch.node_pre_execute(batch=True)
    def many(items: list[Any], **kwargs: Any) -> list[Any]:
        return [None if n % 2 else {} for n in range(len(items))]

    @single.node_pre_execute()
    def one(**kwargs: Any) -> None:
        return None

    @json_plugin.node_pre_execute(batch=True)
    def js(items: list[Any], **kwargs: Any) -> list[Any]:
        return [None] * len(items)

    async with PluginHarness(batch, single, json_plugin) as harness:
        result = await harness.call(Hook.NODE_PRE_EXECUTE, _items(25, pad=0))
    assert result.stats.failures == 0 and result.stats.plugins_called == 3
    assert all(not o.settled and not o.warnings and o.target is None for o in result)


@pytest.mark.parametrize("encoding", list(Encoding))
async def test_the_sdk_answers_no_opinion_with_the_canonical_reply(encoding: Encoding) -> None:
    plugin = Plugin("canon", encoding=encoding)

    @plugin.node_pre_execute(batch=True)
    def none(items: list[Any], **kwargs: Any) -> list[Any]:
        return [None] * len(items) if items[0]["id"] != "mixed" else [None, reject("no")]

    async with PluginHarness(plugin) as harness:
        assert harness.dispatcher is not None
        nc = harness.dispatcher._nc
        subject = subjects.hook("canon", Hook.NODE_PRE_EXECUTE)
        headers = {"Content-Type": encoding.content_type}
        for n in (1, 3, 3):
            request = encode({"v": 1, "hook": "node.preExecute", "plugin": "canon", "items": _items(n, pad=0)}, encoding)
            reply = await nc.request(subject, request, timeout=5, headers=headers)
            assert reply.data == encode({"v": 1, "plugin": "canon", "results": [{}] * n}, encoding)
        mixed = encode({"v": 1, "hook": "node.preExecute", "plugin": "canon", "items": [{"id": "mixed"}, {"id": "x"}]}, encoding)
        reply = await nc.request(subject, mixed, timeout=5, headers=headers)
        assert decode(reply.data, encoding)["results"] == [{}, {"allowed": False, "message": "no"}]


async def test_one_item_handlers_get_the_item_fields_they_name_and_the_context() -> None:
    named, open_ended = Plugin("named-args"), Plugin("open-args")
    calls: list[tuple[str, Any]] = []

    @named.node_pre_execute()
    def strict(id: str, node: dict[str, Any], item: dict[str, Any], workflow: dict[str, Any]) -> Any:
        calls.append(("named", (id, node["name"], item["id"], workflow["metadata"]["name"])))
        return reject("odd") if id.endswith(("1", "3")) else None

    @open_ended.node_pre_execute()
    def loose(**kwargs: Any) -> None:
        calls.append(("open", sorted(kwargs)))

    items = _items(4, pad=0)
    async with PluginHarness(named, open_ended) as harness:
        result = await harness.call(Hook.NODE_PRE_EXECUTE, items, workflow={"name": "wf-1"})
    assert [c[1] for c in calls if c[0] == "named"] == [(f"n{i}", f"wf.step-{i}", f"n{i}", "wf-1") for i in range(4)]
    opened = [c[1] for c in calls if c[0] == "open"]
    assert len(opened) == 2, "rejected items are not sent to the next plugin"
    assert all(keys == ["hook", "id", "item", "node", "plugin", "request", "workflow"] for keys in opened)
    assert [o.allowed for o in result] == [True, False, True, False]


async def test_mutators_answer_a_call_of_one_wave_in_a_pipeline() -> None:
    first, counts_first = _counter("m-first", priority=1)
    second, counts_second = _counter("m-second", priority=2)
    validator, counts_validator = _counter("v-only", mutating=False)
    async with PluginHarness(first, second, validator) as harness:
        result = await harness.call(Hook.NODE_PRE_EXECUTE, _items(500, pad=0))
    assert len(result) == 500 and all(not o.settled for o in result)
    # 500 items fit one request of max_batch 1000; two mutators get two waves of 250,
    # so the second answers the first wave while the first answers the second
    assert sorted(counts_first) == sorted(counts_second) == [250, 250]
    assert sum(counts_validator) == 500
    small, counts_small = _counter("m-small", priority=3)
    async with PluginHarness(first, small) as harness:
        await harness.call(Hook.NODE_PRE_EXECUTE, _items(100, pad=0))
    assert counts_small == [100], "no wave below MIN_WAVE items"
