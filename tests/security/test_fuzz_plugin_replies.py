"""Fuzzing plugin replies with hypothesis: random msgpack and JSON bodies, well-formed
envelopes with random results, sent by a raw plugin over a real NATS server to the
dispatcher and read back through ``PluginHooks`` for six hooks. Every reply gives a
decision or a clear error on the node, never a traceback, never a hang."""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

import ormsgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hookbus.bus import (
    DispatchSettings,
    FailurePolicy,
    Hook,
    HookSpec,
    NatsSettings,
    PluginManifest,
    RegistrySettings,
    subjects,
)
from hookbus.bus.connection import connect
from hookbus.bus.dispatch import Dispatcher
from hookbus.bus.registry import Registration, RegistryView
from hookbus.bus.testing import wait_registered
from hookbus.controller.adapters.plugin_hooks import PluginHooks
from hookbus.controller.engine.hooks import NodeItem, PluginItem, PodItem, WorkflowInfo
from tests.support.fuzzing import Outcomes, internal

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from nats.aio.client import Client
    from nats.aio.msg import Msg

HOOKS = (
    Hook.WORKFLOW_PRE_OPERATE,
    Hook.NODE_PRE_EXECUTE,
    Hook.NODE_POST_EXECUTE,
    Hook.POD_PRE_CREATE,
    Hook.PARAMETERS_RESOLVE,
    Hook.TEMPLATE_EXECUTE,
)
INFO = WorkflowInfo(namespace="default", name="wf", uid="u1")
NODE = {"id": "wf-1", "name": "wf.a", "displayName": "a", "type": "Pod", "phase": "Pending", "templateName": "t"}
TEMPLATE = {"name": "t", "container": {"image": "alpine", "args": ["echo hi"]}}
POD = {"name": "wf-1", "main": {"name": "main", "image": "alpine", "args": ["echo"], "env": {}}, "init": [], "sidecars": [], "labels": {}, "annotations": {}}
WORKFLOW = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "wf", "namespace": "default"}, "spec": {"entrypoint": "t", "templates": [TEMPLATE]}}

json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.floats(allow_nan=True), st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)
KEYS = ["decision", "allowed", "message", "phase", "outputs", "requeue", "warnings", "patch", "mergePatch", "reason", "value", "secret", "missing", "error", "node", "x"]
VALUES = st.one_of(
    json_value,
    st.sampled_from(["continue", "shortCircuit", "takeOver", "hold", "fail", "Succeeded", "Failed", "Error", "Running"]),
    st.just([{"op": "replace", "path": "/metadata/name", "value": "x"}]),
    st.just([{"op": "remove", "path": "/nope"}]),
    st.just({"parameters": [{"name": "p", "value": 1}], "result": 3}),
)
result = st.one_of(st.none(), json_value, st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=5))


def _envelope(results: list[Any], plugin: str, version: Any) -> dict[str, Any]:
    return {"v": version, "plugin": plugin, "results": results}


reply_body = st.one_of(
    st.binary(max_size=64),
    st.builds(lambda v: ormsgpack.packb(v, option=ormsgpack.OPT_NON_STR_KEYS), json_value),
    st.builds(lambda v: json.dumps(v).encode(), json_value),
    st.builds(
        lambda rs, plugin, version: ormsgpack.packb(_envelope(rs, plugin, version)),
        st.lists(result, min_size=0, max_size=3),
        st.sampled_from(["raw", "raw", "raw", "other"]),
        st.sampled_from([1, 1, 1, 2, "1", None]),
    ),
    st.builds(lambda rs: ormsgpack.packb(_envelope(rs, "raw", 1)), st.lists(result, min_size=2, max_size=2)),
)
cases = st.tuples(st.sampled_from(HOOKS), reply_body)


def _collect(count: int) -> list[tuple[Hook, bytes]]:
    found: list[tuple[Hook, bytes]] = []

    @settings(max_examples=count, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(cases)
    def gather(case: tuple[Hook, bytes]) -> None:
        found.append(case)

    gather()
    return found


@pytest.fixture
async def pnc(nats_url: str) -> AsyncIterator[Client]:
    client = await connect(NatsSettings(urls=(nats_url,), name="raw-plugin"))
    yield client
    await client.close()


async def _call(hooks: PluginHooks, hook: Hook) -> list[Any]:
    node_items = [NodeItem(dict(NODE, id=f"wf-{i}"), TEMPLATE) for i in range(2)]
    if hook is Hook.WORKFLOW_PRE_OPERATE:
        return list(await hooks.workflow_pre_operate([WORKFLOW]))
    if hook is Hook.NODE_PRE_EXECUTE:
        return list(await hooks.node_pre_execute(INFO, node_items))
    if hook is Hook.NODE_POST_EXECUTE:
        return list(await hooks.node_post_execute(INFO, node_items))
    if hook is Hook.POD_PRE_CREATE:
        return list(await hooks.pod_pre_create(INFO, [PodItem(NODE, POD), PodItem(NODE, POD)]))
    if hook is Hook.PARAMETERS_RESOLVE:
        return list(await hooks.parameters_resolve(INFO, ["raw.a", "raw.b"]))
    return list(await hooks.template_execute(INFO, [PluginItem(NODE, {"name": "t", "plugin": {"raw": {}}})] * 2))


async def test_fuzz_plugin_replies(nc: Client, pnc: Client) -> None:
    replies: asyncio.Queue[bytes] = asyncio.Queue()

    async def respond(msg: Msg) -> None:
        await msg.respond(replies.get_nowait() if not replies.empty() else b"")

    manifest = PluginManifest(
        name="raw", hooks={h: HookSpec(h, timeout=1.0, failure_policy=FailurePolicy.FAIL, side_effects=False) for h in HOOKS}
    )
    subs = [await pnc.subscribe(subjects.hook("raw", h), cb=respond) for h in HOOKS]
    await pnc.flush()
    registration = Registration(pnc.jetstream(), manifest)
    await registration.start()
    registry = RegistryView(nc.jetstream(), RegistrySettings())
    await registry.start()
    outcomes = Outcomes("plugin replies", budget=3.0)
    try:
        await wait_registered(registry, "raw")
        hooks = PluginHooks(Dispatcher(nc, registry, DispatchSettings(retries=0)))
        for hook, body in _collect(250):
            replies.put_nowait(body)
            started = time.monotonic()
            outcomes.counts["inputs"] += 1
            try:
                results = await asyncio.wait_for(_call(hooks, hook), 5)
            except TimeoutError:
                outcomes._fail("hangs", (hook, body), "no answer within 5 s")
                continue
            except Exception as exc:
                outcomes._fail("tracebacks", (hook, body), f"{type(exc).__name__}: {exc}")
                continue
            finally:
                while not replies.empty():
                    replies.get_nowait()
            messages = [str(getattr(r, "message", "") or getattr(r, "error", "") or "") for r in results if r is not None]
            if any(internal(m) for m in messages):
                outcomes._fail("tracebacks", (hook, body), "; ".join(messages))
            elif any(_refused(r) for r in results):
                outcomes.counts["clear errors"] += 1
            else:
                outcomes.counts["successes"] += 1
            if time.monotonic() - started > outcomes.budget:
                outcomes._fail("hangs", (hook, body), f"took {time.monotonic() - started:.2f}s")
    finally:
        await registry.stop()
        await registration.stop()
        for sub in subs:
            await sub.unsubscribe()
    outcomes.check()


def _refused(result: Any) -> bool:
    if result is None:
        return False
    return (
        getattr(result, "allowed", True) is False
        or getattr(result, "decision", "") == "fail"
        or bool(getattr(result, "error", ""))
        or bool(getattr(result, "message", "")) and getattr(result, "phase", "") in ("Failed", "Error")
    )

