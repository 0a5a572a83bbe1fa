"""The dispatch semantics of issue 4, end to end through the controller.

Each test runs the real :class:`Controller` with :class:`PluginHooks` on a real
nats-server; plugins are in-process :class:`hookbus.bus.Plugin` objects, each
serving on a NATS connection of its own, found by the controller through the
registry like any plugin process. Ordering, timeouts and failure policies,
shadow mode, filters and projection, the circuit breaker, plugins coming and
going mid-run, and once-only hooks across a controller restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from hookbus.bus import (
    DispatchSettings,
    NatsSettings,
    Plugin,
    patch,
    reject,
    short_circuit,
)
from hookbus.bus.connection import connect
from hookbus.bus.events import replay
from hookbus.bus.testing import wait_registered
from hookbus.controller.executors.base import TaskExecutor, TaskResult, TaskSpec
from tests.support.hookstack import Stack, open_app, stack_settings
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from nats.aio.client import Client

    from hookbus.bus.events import CloudEvent

pytestmark = pytest.mark.slow


# ------------------------------------------------------------------------------ harness


@dataclass
class RecordingExecutor(TaskExecutor):
    """An executor double: records every TaskSpec it is given; nodes of *gated* templates
    wait until :meth:`release`; everything else succeeds at once."""

    gated: set[str] = field(default_factory=set)
    tasks: list[TaskSpec] = field(default_factory=list)
    name: str = "recording"
    _gates: dict[str, asyncio.Event] = field(default_factory=dict)

    def __post_init__(self) -> None:
        TaskExecutor.__init__(self)

    def gate(self, template: str) -> asyncio.Event:
        return self._gates.setdefault(template, asyncio.Event())

    def release(self, template: str) -> None:
        self.gate(template).set()

    def started(self, template: str) -> list[TaskSpec]:
        return [t for t in self.tasks if t.template_name == template]

    async def run(self, task: TaskSpec) -> TaskResult:
        self.tasks.append(task)
        if task.template_name in self.gated:
            await self.gate(task.template_name).wait()
        now = time.time()
        return TaskResult("Succeeded", 0, "", "", {}, None, now, now)


async def open_stack(
    url: str,
    tmp_path: Path,
    executor: RecordingExecutor,
    *,
    dispatch: DispatchSettings | None = None,
    bucket: str = "semantics",
) -> Stack:
    """A controller as ``hookbus server`` wires it, with *executor* and a JetStream store."""
    settings = stack_settings(
        url,
        tmp_path / "state",
        executor="recording",
        dispatch=dispatch or DispatchSettings(default_timeout=5.0),
        bucket=bucket,
    )
    return await open_app(settings, executor=executor)


@contextlib.asynccontextmanager
async def serving(url: str, *plugins: Plugin) -> AsyncIterator[list[Client]]:
    """Serve *plugins* in process, each on a connection of its own; stopped on exit."""
    clients: list[Client] = []
    try:
        for plugin in plugins:
            nc = await connect(NatsSettings(urls=(url,), name=plugin.name))
            clients.append(nc)
            await plugin.start(nc)
        yield clients
    finally:
        for plugin in plugins:
            await plugin.stop(timeout=4)
        for nc in clients:
            await nc.close()


async def run(stack: Stack, manifest: str, timeout: float = 8.0) -> dict[str, Any]:
    key = await stack.controller.submit(yaml.safe_load(manifest))
    return await stack.controller.wait(key, timeout=timeout)


def pods(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The workflow's Pod nodes by display name."""
    return {n["displayName"]: n for n in workflow["status"]["nodes"].values() if n["type"] == "Pod"}


@pytest.fixture
async def executor() -> RecordingExecutor:
    return RecordingExecutor()


@pytest.fixture
async def stack(nats_url: str, tmp_path: Path, executor: RecordingExecutor) -> AsyncIterator[Stack]:
    s = await open_stack(nats_url, tmp_path, executor)
    yield s
    await s.close()


STEPS = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: NAME}
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - {name: one, template: work}
        - - {name: two, template: work}
    - name: work
      container: {image: alpine:3.23, command: [echo], args: [hi]}
"""


# ------------------------------------------------------------------------------ ordering


async def test_mutating_pod_plugins_run_in_priority_order_and_both_patches_reach_the_executor(
    nats_url: str, stack: Stack, executor: RecordingExecutor
) -> None:
    # Names sort the other way round: priority, not name, must decide the order.
    first = Plugin("zz-first")
    second = Plugin("aa-second")
    seen_by_second: list[dict[str, Any]] = []

    @first.pod_pre_create(priority=10)
    def label(pod: dict[str, Any], **kwargs: Any) -> Any:
        return patch([
            {"op": "add", "path": "/metadata/labels/stage", "value": "first"},
            {"op": "add", "path": "/spec/containers/0/env", "value": [{"name": "FIRST", "value": "1"}]},
        ])

    @second.pod_pre_create(priority=20)
    def extend(pod: dict[str, Any], **kwargs: Any) -> Any:
        seen_by_second.append(pod)
        # "env/-" only applies if the first plugin's env list is already there.
        stage = pod["metadata"]["labels"].get("stage", "none")
        return patch([
            {"op": "add", "path": "/metadata/labels/after", "value": stage},
            {"op": "add", "path": "/spec/containers/0/env/-", "value": {"name": "SECOND", "value": f"saw-{stage}"}},
        ])

    # A validating plugin runs after every mutating one, whatever its name or priority.
    checker = Plugin("a-checker")
    seen_by_checker: list[dict[str, Any]] = []

    @checker.pod_pre_create(mutating=False, priority=1)
    def check(pod: dict[str, Any], **kwargs: Any) -> None:
        seen_by_checker.append(pod)

    async with serving(nats_url, second, first, checker):
        await wait_registered(stack.registry, "zz-first", "aa-second", "a-checker")
        done = await run(stack, STEPS.replace("NAME", "order"))
    assert done["status"]["phase"] == "Succeeded", done["status"].get("message")
    assert len(seen_by_second) == 2
    assert [p["metadata"]["labels"]["after"] for p in seen_by_checker] == ["first", "first"]
    for pod in seen_by_second:
        assert pod["metadata"]["labels"]["stage"] == "first"
        assert pod["spec"]["containers"][0]["env"] == [{"name": "FIRST", "value": "1"}]
    assert len(executor.tasks) == 2
    for task in executor.tasks:
        assert dict(task.main.env) == {"FIRST": "1", "SECOND": "saw-first"}
        assert task.labels["stage"] == "first" and task.labels["after"] == "first"


async def test_a_pod_vetoed_by_an_earlier_plugin_is_not_shown_to_later_ones(
    nats_url: str, stack: Stack, executor: RecordingExecutor
) -> None:
    gate = Plugin("gatekeeper")
    later = Plugin("labeller")
    seen_by_later: list[str] = []

    @gate.pod_pre_create(priority=1)
    def veto(node: dict[str, Any], **kwargs: Any) -> Any:
        return reject("step two may not run") if node["displayName"] == "two" else None

    @later.pod_pre_create(priority=2)
    def label(node: dict[str, Any], **kwargs: Any) -> Any:
        seen_by_later.append(node["displayName"])
        return patch([{"op": "add", "path": "/metadata/labels/seen", "value": "yes"}])

    manifest = STEPS.replace("        - - {name: one, template: work}\n        - - {name: two, template: work}",
                             "        - - {name: one, template: work}\n          - {name: two, template: work}")
    async with serving(nats_url, gate, later):
        await wait_registered(stack.registry, "gatekeeper", "labeller")
        done = await run(stack, manifest.replace("NAME", "settled"))
    nodes = pods(done)
    assert nodes["two"]["phase"] == "Error"
    assert "step two may not run" in nodes["two"]["message"] and "gatekeeper" in nodes["two"]["message"]
    assert nodes["one"]["phase"] == "Succeeded"
    assert seen_by_later == ["one"]
    assert [t.labels.get("seen") for t in executor.tasks] == ["yes"]


async def test_side_effect_free_mutators_are_asked_at_once_with_the_outcome_of_asking_in_order(
    nats_url: str, stack: Stack, executor: RecordingExecutor
) -> None:
    first, second, third = Plugin("spec-first"), Plugin("spec-second"), Plugin("spec-third")
    third_asked = asyncio.Event()
    seen_by_second: list[str] = []
    seen_by_third: list[str] = []

    @first.pod_pre_create(priority=10, side_effects=False)
    async def label(**kwargs: Any) -> Any:
        # Answers only once the last plugin has been asked: one after another would never get there.
        await asyncio.wait_for(third_asked.wait(), 5)
        return patch([{"op": "add", "path": "/metadata/labels/stage", "value": "first"}])

    @second.pod_pre_create(priority=20, side_effects=False)
    def extend(pod: dict[str, Any], **kwargs: Any) -> Any:
        stage = pod["metadata"]["labels"].get("stage", "none")
        seen_by_second.append(stage)
        return patch([{"op": "add", "path": "/metadata/labels/after", "value": stage}])

    @third.pod_pre_create(priority=30, side_effects=False)
    def look(pod: dict[str, Any], **kwargs: Any) -> None:
        seen_by_third.append(pod["metadata"]["labels"].get("after", "none"))
        third_asked.set()

    async with serving(nats_url, first, second, third):
        await wait_registered(stack.registry, "spec-first", "spec-second", "spec-third")
        done = await run(stack, STEPS.replace("NAME", "speculated"))
    assert done["status"]["phase"] == "Succeeded", done["status"].get("message")
    # Each later plugin answered first about the pod as it was, then again about the patched one.
    assert seen_by_second == ["none", "first"] * 2
    assert seen_by_third == ["none", "none", "first"] * 2
    for task in executor.tasks:
        assert task.labels["stage"] == "first" and task.labels["after"] == "first"


async def test_mutators_with_side_effects_are_never_asked_ahead_of_their_turn(
    nats_url: str, stack: Stack, executor: RecordingExecutor
) -> None:
    first, second = Plugin("careful-first"), Plugin("careful-second")
    order: list[str] = []

    @first.pod_pre_create(priority=10, side_effects=False)
    async def slow(**kwargs: Any) -> None:
        order.append("first asked")
        await asyncio.sleep(0.2)  # long enough for a request to the second to overtake it
        order.append("first answered")

    @second.pod_pre_create(priority=20)  # side effects: asked only in its turn
    def act(**kwargs: Any) -> None:
        order.append("second asked")

    async with serving(nats_url, first, second):
        await wait_registered(stack.registry, "careful-first", "careful-second")
        done = await run(stack, STEPS.replace("NAME", "careful"))
    assert done["status"]["phase"] == "Succeeded", done["status"].get("message")
    assert order == ["first asked", "first answered", "second asked"] * 2


async def test_pods_are_offered_with_their_nodes_and_a_verdict_on_a_pod_never_created_leaves_no_trace(
    nats_url: str, stack: Stack, executor: RecordingExecutor
) -> None:
    cache = Plugin("ahead-cache")
    policy = Plugin("ahead-policy")
    pods_asked: set[str] = set()
    pod_seen = asyncio.Event()

    @cache.node_pre_execute(side_effects=False)
    async def lookup(node: dict[str, Any], **kwargs: Any) -> Any:
        if node["displayName"] == "one":
            return short_circuit(outputs={"parameters": []}, message="from the cache")
        # asked in the same round trip as pod.preCreate: its request is already there
        await asyncio.wait_for(pod_seen.wait(), 5)
        return None

    @policy.pod_pre_create(side_effects=False)
    def veto(node: dict[str, Any], **kwargs: Any) -> Any:
        pods_asked.add(node["displayName"])
        pod_seen.set()
        return reject("no pods here")

    async with serving(nats_url, cache, policy):
        await wait_registered(stack.registry, "ahead-cache", "ahead-policy")
        done = await run(stack, STEPS.replace("NAME", "ahead"))
    nodes = pods(done)
    assert pods_asked == {"one", "two"}  # one's pod was offered ahead ...
    assert nodes["one"]["phase"] == "Succeeded" and nodes["one"]["message"] == "from the cache"
    assert nodes["two"]["phase"] == "Error" and "no pods here" in nodes["two"]["message"]
    assert executor.tasks == []

    async def reported() -> bool:
        events = await all_events(stack.nc.jetstream(), "ahead")
        return any(e.data.get("nodeId") == nodes["two"]["id"] and e.data.get("hook") == "pod.preCreate" for e in events)

    await wait_for(reported, timeout=8, what="the veto of step two")
    events = await all_events(stack.nc.jetstream(), "ahead")
    # ... but its veto was dropped unseen: no event, no message
    assert not [e for e in events if e.data.get("nodeId") == nodes["one"]["id"] and e.data.get("hook") == "pod.preCreate"]


# ------------------------------------------------------------------------------ timeouts


@pytest.mark.parametrize("policy", ["Fail", "Ignore"])
async def test_a_plugin_slower_than_its_timeout_errors_the_node_or_is_skipped(
    nats_url: str, stack: Stack, executor: RecordingExecutor, policy: str
) -> None:
    slow = Plugin("slow-plugin")
    release = asyncio.Event()
    calls: list[str] = []

    @slow.node_pre_execute(failure_policy=policy, timeout=0.3)
    async def stall(node: dict[str, Any], **kwargs: Any) -> None:
        calls.append(node["id"])
        await release.wait()

    async with serving(nats_url, slow):
        await wait_registered(stack.registry, "slow-plugin")
        began = time.monotonic()
        try:
            done = await run(stack, STEPS.replace("NAME", f"slow-{policy.lower()}"), timeout=8)
        finally:
            release.set()
        took = time.monotonic() - began
    nodes = pods(done)
    if policy == "Fail":
        # The first step errors; Argo does not start the second step of a failed steps template.
        assert done["status"]["phase"] == "Failed"
        assert nodes["one"]["phase"] == "Error"
        message = nodes["one"]["message"]
        assert "'slow-plugin'" in message and "node.preExecute" in message and "no reply within" in message
        assert "two" not in nodes
        assert executor.tasks == []
        assert len(calls) == 1
    else:
        assert done["status"]["phase"] == "Succeeded", done["status"].get("message")
        assert {n["phase"] for n in nodes.values()} == {"Succeeded"}
        assert len(calls) == 2 and len(executor.tasks) == 2
        assert stack.dispatcher.stats.ignored == 2
    # Bounded by the plugin's timeout per call, not by the plugin.
    assert took < 5


async def test_a_plugin_that_is_down_under_ignore_is_skipped_and_counted(stack: Stack, executor: RecordingExecutor) -> None:
    from hookbus.bus.registry import Registration

    down = Plugin("down-ignored")

    @down.node_pre_execute(failure_policy="Ignore", timeout=0.5)
    def never(**kwargs: Any) -> None:
        return None

    # Registered, but nobody serves the subject: every call meets "no responders".
    registration = Registration(stack.nc.jetstream(), down.manifest)
    await registration.start()
    try:
        await wait_registered(stack.registry, "down-ignored")
        done = await run(stack, STEPS.replace("NAME", "down-ignore"))
    finally:
        await registration.stop()
    assert done["status"]["phase"] == "Succeeded", done["status"].get("message")
    assert len(executor.tasks) == 2
    assert stack.dispatcher.stats.ignored == 2


# ------------------------------------------------------------------------------ shadow mode


async def all_events(js: Any, workflow: str) -> list[CloudEvent]:
    async with replay(js, workflow=workflow) as reader:
        return [event async for event in reader]


async def test_a_shadow_plugin_that_vetoes_every_pod_changes_nothing_but_is_reported(
    nats_url: str, stack: Stack, executor: RecordingExecutor
) -> None:
    shadow = Plugin("strict-shadow")

    @shadow.pod_pre_create(shadow=True)
    def veto(**kwargs: Any) -> Any:
        return reject("no pods today")

    async with serving(nats_url, shadow):
        await wait_registered(stack.registry, "strict-shadow")
        done = await run(stack, STEPS.replace("NAME", "shadowed"))
    assert done["status"]["phase"] == "Succeeded", done["status"].get("message")
    assert len(executor.tasks) == 2
    node_ids = {n["id"] for n in pods(done).values()}

    async def reported() -> bool:
        events = await all_events(stack.nc.jetstream(), "shadowed")
        shadows = [e.data for e in events if e.data.get("verdict") == "shadow"]
        return {d.get("nodeId") for d in shadows} == node_ids

    await wait_for(reported, timeout=8, what="a shadow verdict event per pod")
    events = await all_events(stack.nc.jetstream(), "shadowed")
    shadows = [e.data for e in events if e.data.get("verdict") == "shadow"]
    assert len(shadows) == 2
    for data in shadows:
        assert data["plugin"] == "strict-shadow" and data["hook"] == "pod.preCreate"
        assert "no pods today" in data["message"]
    # Nothing was vetoed for real.
    assert not [e for e in events if e.data.get("verdict") == "vetoed"]


async def test_a_failing_shadow_plugin_never_fails_a_node(nats_url: str, stack: Stack, executor: RecordingExecutor) -> None:
    shadow = Plugin("broken-shadow")

    @shadow.node_pre_execute(shadow=True, failure_policy="Fail")
    def boom(**kwargs: Any) -> Any:
        raise RuntimeError("shadow backend down")

    async with serving(nats_url, shadow):
        await wait_registered(stack.registry, "broken-shadow")
        done = await run(stack, STEPS.replace("NAME", "shadow-broken"))
    assert done["status"]["phase"] == "Succeeded", done["status"].get("message")
    assert len(executor.tasks) == 2
    assert stack.dispatcher.stats.ignored == 2


# ------------------------------------------------------------------------------ filters and projection

MIXED = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: mixed}
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - {name: build, template: build}
        - - name: deploy
            template: deploy
            withItems: [eu, us]
            arguments: {parameters: [{name: region, value: "{{item}}"}]}
        - - {name: check, template: check}
    - name: build
      container: {image: alpine:3.23, command: [echo], args: [build]}
    - name: deploy
      inputs: {parameters: [{name: region}]}
      container: {image: alpine:3.23, command: [echo], args: ["{{inputs.parameters.region}}"]}
    - name: check
      script: {image: "python:3.12", command: [python], source: "print(1)"}
"""


async def test_filters_and_projection_decide_what_each_plugin_receives(nats_url: str, stack: Stack) -> None:
    got: dict[str, list[tuple[str, Any]]] = {}

    def recorder(name: str, **options: Any) -> Plugin:
        """A validating node.preExecute plugin that records (workflow, what it was sent)."""
        plugin = Plugin(name)
        got[name] = []

        @plugin.node_pre_execute(mutating=False, **options)
        def record(item: dict[str, Any], workflow: dict[str, Any], **kwargs: Any) -> None:
            got[name].append((workflow["metadata"]["name"], item))

        return plugin

    plugins = (
        recorder("deploy-only", templates=["deploy"]),
        recorder("python-only", images=["python:*"]),
        recorder("names-only", fields=["node.name"]),
        recorder("team-data", labels={"team": "data"}),
        recorder("eu-only", expression="item['node']['displayName'].endswith(':eu)')"),
    )
    async with serving(nats_url, *plugins):
        await wait_registered(stack.registry, *(p.name for p in plugins))
        done = await run(stack, MIXED)
        labelled = await run(stack, MIXED.replace("{name: mixed}", "{name: labelled, labels: {team: data}}"))
    assert done["status"]["phase"] == labelled["status"]["phase"] == "Succeeded", done["status"].get("message")

    def sent(plugin: str, workflow: str = "mixed") -> list[str]:
        return sorted(item["node"]["displayName"] for wf, item in got[plugin] if wf == workflow)

    assert len(pods(done)) == 4
    assert sent("deploy-only") == ["deploy(0:eu)", "deploy(1:us)"]
    assert sent("python-only") == ["check"]
    assert sent("eu-only") == ["deploy(0:eu)"]
    # Workflow-level filter: only the labelled workflow's nodes.
    assert sent("team-data") == [] and sent("team-data", "labelled") == sorted(pods(labelled))
    # Projection: the id and the one field asked for, nothing else.
    names_only = sorted((item for wf, item in got["names-only"] if wf == "mixed"), key=lambda i: i["id"])
    expected = sorted(({"id": n["id"], "node": {"name": n["name"]}} for n in pods(done).values()), key=lambda i: i["id"])
    assert names_only == expected


# ------------------------------------------------------------------------------ circuit breaker

FOUR = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: NAME}
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - {name: s1, template: work}
        - - {name: s2, template: work}
        - - {name: s3, template: work}
        - - {name: s4, template: work}
    - name: work
      container: {image: alpine:3.23, command: [echo], args: [hi]}
"""


async def test_the_circuit_breaker_stops_calling_a_failing_plugin(
    nats_url: str, tmp_path: Path, executor: RecordingExecutor
) -> None:
    stack = await open_stack(
        nats_url, tmp_path, executor, dispatch=DispatchSettings(default_timeout=2.0, breaker_threshold=2, retries=0)
    )
    broken = Plugin("flaky")
    calls: list[str] = []

    @broken.node_pre_execute(failure_policy="Ignore")
    def boom(node: dict[str, Any], **kwargs: Any) -> None:
        calls.append(node["displayName"])
        raise RuntimeError("backend unreachable")

    try:
        async with serving(nats_url, broken):
            await wait_registered(stack.registry, "flaky")
            done = await run(stack, FOUR.replace("NAME", "breaker"))
        stats = stack.dispatcher.stats
    finally:
        await stack.close()
    assert done["status"]["phase"] == "Succeeded", done["status"].get("message")
    assert len(executor.tasks) == 4
    # Two failures open the breaker; the last two nodes never reach the plugin.
    assert calls == ["s1", "s2"]
    assert stats.breaker_skips == 2
    assert stats.ignored == 4


# ------------------------------------------------------------------------------ plugins come and go

SLOW_FIRST = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: NAME}
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - {name: s1, template: slow}
        - - {name: s2, template: work}
        - - {name: s3, template: work}
    - name: slow
      container: {image: alpine:3.23, command: [echo], args: [slow]}
    - name: work
      container: {image: alpine:3.23, command: [echo], args: [hi]}
"""


def counting_plugin(name: str, seen: list[str]) -> Plugin:
    plugin = Plugin(name)

    @plugin.node_pre_execute(mutating=False)
    def count(node: dict[str, Any], **kwargs: Any) -> None:
        seen.append(node["displayName"])

    return plugin


async def test_a_plugin_registered_mid_run_is_called_for_later_nodes(
    nats_url: str, stack: Stack, executor: RecordingExecutor
) -> None:
    executor.gated.add("slow")
    seen: list[str] = []
    key = await stack.controller.submit(yaml.safe_load(SLOW_FIRST.replace("NAME", "late-plugin")))
    await wait_for(lambda: bool(executor.started("slow")), what="s1 to run")
    async with serving(nats_url, counting_plugin("latecomer", seen)):
        await wait_registered(stack.registry, "latecomer")
        executor.release("slow")
        done = await stack.controller.wait(key, timeout=8)
    assert done["status"]["phase"] == "Succeeded", done["status"].get("message")
    assert seen == ["s2", "s3"]


async def test_a_plugin_deregistered_mid_run_is_no_longer_called(
    nats_url: str, stack: Stack, executor: RecordingExecutor
) -> None:
    executor.gated.add("slow")
    seen: list[str] = []
    plugin = counting_plugin("leaver", seen)
    async with serving(nats_url, plugin):
        await wait_registered(stack.registry, "leaver")
        key = await stack.controller.submit(yaml.safe_load(SLOW_FIRST.replace("NAME", "leaving-plugin")))
        await wait_for(lambda: bool(executor.started("slow")), what="s1 to run")
        await plugin.stop(timeout=4)  # deregisters: deletes its registry key
        await wait_for(lambda: stack.registry.get("leaver") is None, what="the controller to see it go")
        executor.release("slow")
        done = await stack.controller.wait(key, timeout=8)
    assert done["status"]["phase"] == "Succeeded", done["status"].get("message")
    # Not called after leaving, and (the default Fail policy) nothing errored for lack of it.
    assert seen == ["s1"]
    assert {n["phase"] for n in pods(done).values()} == {"Succeeded"}


# ------------------------------------------------------------------------------ restart

CRASH = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: crashy}
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - {name: a, template: work}
        - - {name: fan, template: work, withItems: [1, 2]}
          - {name: b, template: slow}
        - - {name: c, template: work}
    - name: work
      container: {image: alpine:3.23, command: [echo], args: [hi]}
    - name: slow
      retryStrategy: {limit: 2, retryPolicy: Always}
      container: {image: alpine:3.23, command: [echo], args: [slow]}
"""


@dataclass
class Restarted:
    """What the ``once`` plugin saw of :data:`CRASH` across a controller restart."""

    workflow: dict[str, Any]
    pre: Counter[str]
    post: Counter[str]
    pre_before_crash: set[str]
    post_before_crash: set[str]
    second_runs: list[str]
    pods_created: Counter[str]
    admitted: Counter[str]

    @property
    def ids(self) -> dict[str, str]:
        return {name: node["id"] for name, node in pods(self.workflow).items()}


async def crash_and_restart(url: str, tmp_path: Path) -> Restarted:
    """Run CRASH, stop the controller while ``b`` runs, finish it with a new controller
    on the same store; a plugin (running throughout) counts the node hooks per node id."""
    pre: Counter[str] = Counter()
    post: Counter[str] = Counter()
    pods_created: Counter[str] = Counter()
    admitted: Counter[str] = Counter()
    plugin = Plugin("once")

    @plugin.node_pre_execute(mutating=False)
    def before(node: dict[str, Any], **kwargs: Any) -> None:
        pre[node["id"]] += 1

    @plugin.node_post_execute(mutating=False)
    def after(node: dict[str, Any], **kwargs: Any) -> None:
        post[node["id"]] += 1

    @plugin.pod_pre_create(mutating=False)
    def pod(node: dict[str, Any], **kwargs: Any) -> None:
        pods_created[node["id"]] += 1

    @plugin.workflow_pre_operate(mutating=False)
    def admit(workflow: dict[str, Any], **kwargs: Any) -> None:
        admitted[workflow["metadata"]["name"]] += 1

    first = RecordingExecutor(gated={"slow"})
    async with serving(url, plugin):
        stack = await open_stack(url, tmp_path, first, bucket="semantics-restart")
        try:
            await wait_registered(stack.registry, "once")
            key = await stack.controller.submit(yaml.safe_load(CRASH))
            store = stack.controller.store

            async def b_running_fan_done() -> bool:
                stored = await store.load(key)
                assert stored is not None
                phases = {n.get("displayName"): n.get("phase") for n in stored.nodes.values()}
                return phases.get("b(0)") == "Running" and phases.get("fan(0:1)") == phases.get("fan(1:2)") == "Succeeded"

            await wait_for(b_running_fan_done, what="fan done and b persisted as Running")
            pre_before, post_before = set(pre), set(post)
            await stack.controller.stop()  # abrupt: the running node is cancelled, nothing is marked
            await store.close()
        finally:
            await stack.close()

        second = RecordingExecutor()
        stack = await open_stack(url, tmp_path, second, bucket="semantics-restart")
        try:
            await wait_registered(stack.registry, "once")
            done = await stack.controller.wait(key, timeout=8)
            await stack.controller.store.close()
        finally:
            await stack.close()
    runs = sorted(t.node_name.rsplit(".", 1)[-1] for t in second.tasks)
    return Restarted(done, pre, post, pre_before, post_before, runs, pods_created, admitted)


async def test_hooks_fire_once_per_node_across_a_controller_restart(nats_url: str, tmp_path: Path) -> None:
    """What we observe: ``a`` and both ``fan`` nodes had their ``node.preExecute`` and
    ``node.postExecute`` calls from the first controller and get none from the second.
    ``b(0)``, Running at the crash, got its ``node.preExecute`` from the first controller;
    the second marks it Error ("pod deleted") and retries it as the new node ``b(1)``,
    whose hooks (like ``c``'s) fire once, from the second controller. ``b(0)`` gets its
    ``node.postExecute`` from the second controller, once it is Error. ``pod.preCreate`` fires once
    per pod, and ``workflow.preOperate`` once: the resumed workflow is not admitted again.
    """
    seen = await crash_and_restart(nats_url, tmp_path)
    done, ids = seen.workflow, seen.ids
    assert done["status"]["phase"] == "Succeeded", done["status"].get("message")
    assert sorted(ids) == ["a", "b(0)", "b(1)", "c", "fan(0:1)", "fan(1:2)"]
    nodes = pods(done)
    assert nodes["b(0)"]["phase"] == "Error" and nodes["b(0)"]["message"] == "pod deleted"
    # Nothing that finished before the crash ran again.
    assert seen.second_runs == ["b(1)", "c"]
    # node.preExecute: once per node id, from the controller that started the node.
    assert dict(seen.pre) == dict.fromkeys(ids.values(), 1)
    assert seen.pre_before_crash == {ids["a"], ids["fan(0:1)"], ids["fan(1:2)"], ids["b(0)"]}
    # node.postExecute: once per node, never repeated by the restart.
    assert dict(seen.post) == dict.fromkeys(ids.values(), 1)
    assert seen.post_before_crash == {ids["a"], ids["fan(0:1)"], ids["fan(1:2)"]}
    # pod.preCreate: once per pod; workflow.preOperate: once, not again on resume.
    assert dict(seen.pods_created) == dict.fromkeys(ids.values(), 1)
    assert dict(seen.admitted) == {"crashy": 1}


async def test_a_node_lost_in_a_restart_gets_its_post_execute(nats_url: str, tmp_path: Path) -> None:
    """``node.postExecute`` is "once per node, after it reached a final phase" (docs/protocol.md),
    also for a node whose process was lost in a restart (it ends Error 'pod deleted')."""
    seen = await crash_and_restart(nats_url, tmp_path)
    assert seen.post[seen.ids["b(0)"]] == 1


async def test_a_plugin_upgraded_mid_run_is_called_with_its_new_manifest(
    nats_url: str, stack: Stack, executor: RecordingExecutor
) -> None:
    """A rolling upgrade: v2 (other filters) starts beside v1, then v1 leaves; later nodes
    are filtered by v2's manifest, without restarting the controller."""
    executor.gated.add("slow")
    seen: dict[str, list[str]] = {"1.0": [], "2.0": []}

    def version(number: str, templates: list[str]) -> Plugin:
        plugin = Plugin("upgrader", number)

        @plugin.node_pre_execute(mutating=False, templates=templates)
        def count(node: dict[str, Any], **kwargs: Any) -> None:
            seen[number].append(node["displayName"])

        return plugin

    old, new = version("1.0", ["slow"]), version("2.0", ["work"])
    async with serving(nats_url, old):
        await wait_registered(stack.registry, "upgrader")
        key = await stack.controller.submit(yaml.safe_load(SLOW_FIRST.replace("NAME", "upgrade")))
        await wait_for(lambda: bool(executor.started("slow")), what="s1 to run")
        async with serving(nats_url, new):
            await wait_for(lambda: stack.registry.instances("upgrader") == 2, what="both versions live")
            await old.stop(timeout=4)
            await wait_for(lambda: stack.registry.instances("upgrader") == 1, what="v1 to leave")
            manifest = stack.registry.get("upgrader")
            assert manifest is not None and manifest.version == "2.0"
            executor.release("slow")
            done = await stack.controller.wait(key, timeout=8)
    # Before Plugin.stop drained its subscription, s2's request could still be routed to
    # the leaving v1 and be dropped there: s2 then errored with "no reply within 5s".
    assert done["status"]["phase"] == "Succeeded", done["status"].get("message")
    assert seen == {"1.0": ["s1"], "2.0": ["s2", "s3"]}


# ------------------------------------------------------------------------------ a plugin process dies

DOOMED = '''
from hookbus.bus import Plugin

plugin = Plugin("doomed")


@plugin.node_pre_execute(failure_policy="Fail", timeout=1.0, mutating=False)
def see(**kwargs):
    return None
'''


async def test_a_plugin_process_killed_mid_run_errors_the_next_node_without_a_hang(
    stack: Stack, executor: RecordingExecutor, tmp_path: Path
) -> None:
    """SIGKILL: no deregistration, the registry still lists the plugin until its TTL.
    The next node's call finds nobody (or, if the server has not yet noticed the dead
    connection, nobody answers within the hook's 1 s timeout): under ``Fail`` the node
    errors naming plugin and hook, and the workflow ends."""
    executor.gated.add("slow")
    source = tmp_path / "doomed.py"
    source.write_text(DOOMED)
    proc = await stack.plugin("doomed", str(source))
    key = await stack.controller.submit(yaml.safe_load(SLOW_FIRST.replace("NAME", "doomed")))
    await wait_for(lambda: bool(executor.started("slow")), what="s1 to run")
    proc.kill()
    await proc.wait()
    assert stack.registry.get("doomed") is not None  # not deregistered: it never got to
    executor.release("slow")
    began = time.monotonic()
    done = await stack.controller.wait(key, timeout=8)
    assert time.monotonic() - began < 5
    nodes = pods(done)
    assert nodes["s1"]["phase"] == "Succeeded"
    assert nodes["s2"]["phase"] == "Error"
    message = nodes["s2"]["message"]
    assert "'doomed'" in message and "node.preExecute" in message
    assert "no responders" in message or "no reply within" in message
    assert done["status"]["phase"] == "Failed"
    assert "s3" not in nodes


# ------------------------------------------------------------- what plugins said, on the record


async def test_pod_metadata_a_plugin_patched_is_kept_on_the_node_record(nats_url: str, stack: Stack) -> None:
    labeller = Plugin("labeller")

    @labeller.pod_pre_create(priority=10)
    def label(**kwargs: Any) -> Any:
        return patch(
            [
                {"op": "add", "path": "/metadata/labels/team", "value": "data"},
                {"op": "add", "path": "/metadata/annotations/cost-center", "value": "42"},
            ]
        )

    async with serving(nats_url, labeller):
        await wait_registered(stack.registry, "labeller", timeout=10)
        done = await run(stack, STEPS.replace("NAME", "labelled"))
    assert done["status"]["phase"] == "Succeeded"
    for node in pods(done).values():
        assert node["podMetadata"]["labels"]["team"] == "data"
        assert node["podMetadata"]["annotations"]["cost-center"] == "42"
    stored = {s.key.name: s for s in await stack.controller.store.load_all()}["labelled"]
    assert all(stored.nodes[n["id"]]["podMetadata"]["labels"]["team"] == "data" for n in pods(done).values())


async def test_node_and_pod_warnings_are_kept_on_the_node_and_once_on_the_workflow(nats_url: str, stack: Stack) -> None:
    from hookbus.bus import warn
    from hookbus.controller.engine.warnings import warnings_of

    advisor = Plugin("advisor")

    @advisor.node_pre_execute(mutating=False)
    def before(node: dict[str, Any], **kwargs: Any) -> Any:
        return warn("step runs without a cache")

    @advisor.pod_pre_create(mutating=False)
    def pod_check(**kwargs: Any) -> Any:
        return warn("no resource limits")

    async with serving(nats_url, advisor):
        await wait_registered(stack.registry, "advisor", timeout=10)
        done = await run(stack, STEPS.replace("NAME", "advised"))
    assert done["status"]["phase"] == "Succeeded"
    for node in pods(done).values():
        assert node["warnings"] == ["advisor: step runs without a cache", "advisor: no resource limits"]
    # two nodes gave the same two warnings: the workflow lists each text once
    assert warnings_of(done) == ["advisor: step runs without a cache", "advisor: no resource limits"]
    stored = {s.key.name: s for s in await stack.controller.store.load_all()}["advised"]
    assert warnings_of(stored.workflow) == warnings_of(done)


# ------------------------------------------------------------- take over, then requeue polling

CHAIN = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: polled}
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - {name: remote, template: remote}
        - - name: after
            template: work
            arguments: {parameters: [{name: n, value: "{{steps.remote.outputs.parameters.rows}}"}]}
    - name: remote
      outputs: {parameters: [{name: rows, valueFrom: {path: /tmp/rows}}]}
      container: {image: alpine:3.23, command: [sh, -c, "exit 1"]}
    - name: work
      inputs: {parameters: [{name: n}]}
      container: {image: alpine:3.23, command: [echo, "{{inputs.parameters.n}}"]}
"""


async def test_a_taken_over_node_is_polled_by_requeue_until_the_plugin_says_it_ended(
    nats_url: str, stack: Stack, executor: RecordingExecutor
) -> None:
    from hookbus.bus import short_circuit, take_over

    runner = Plugin("remote-runner")
    calls: Counter[str] = Counter()

    @runner.node_pre_execute(templates=["remote"])
    def poll(node: dict[str, Any], **kwargs: Any) -> Any:
        calls[node["id"]] += 1
        if calls[node["id"]] < 3:
            return take_over(requeue=0.2, message=f"remote job running (poll {calls[node['id']]})")
        return short_circuit("Succeeded", outputs={"parameters": [{"name": "rows", "value": "1234"}]}, message="remote job done")

    async with serving(nats_url, runner):
        await wait_registered(stack.registry, "remote-runner", timeout=10)
        done = await run(stack, CHAIN)
    assert done["status"]["phase"] == "Succeeded", done["status"].get("message")
    remote, after = pods(done)["remote"], pods(done)["after"]
    assert list(calls.values()) == [3], "asked again after each requeue, never after the end"
    assert remote["message"] == "remote job done"
    assert [t.template_name for t in executor.tasks] == ["work"], "the taken-over node never ran a process"
    assert after["inputs"]["parameters"][0]["value"] == "1234"
