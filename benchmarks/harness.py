"""What every issue-#5 benchmark part shares: an embedded controller rig, workflows, figures.

:class:`Rig` is one controller as ``hookbus server`` builds it (:class:`hookbus.controller.app.Hookbus`:
``Controller`` + ``PluginHooks`` + ``EventPublisher`` + ``WorkflowStore`` on an embedded nats-server
that requires an identity of every client, unless ``RigSettings.auth`` is off) with P no-op
plugin processes, each on its own plugin identity, and an
:class:`~benchmarks.event_counter.EventCounter` in a process of its own, as ``events``. Each part runs in a fresh interpreter (:func:`run_child`), so
its peak RSS is the controller's alone and no part inherits another's heap.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import math
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from benchmarks.cpu import CpuDuringCalls, machine_shares, machine_times, process_roles
from benchmarks.event_counter import CounterResult, EventCounter, final_key

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from types import TracebackType

    from hookbus.bus.dispatch import CallStats, Dispatcher
    from hookbus.controller.adapters.store import WorkflowKey
    from hookbus.controller.app import Hookbus
    from hookbus.controller.engine.controller import Controller

ROOT: Final = Path(__file__).resolve().parent.parent
JSON = dict[str, Any]

FANOUT_HOOKS: Final = ("node.preExecute", "pod.preCreate")
"""The hooks the fan-out's plugins register for (the issue's configuration)."""
BLOCKING_HOOKS: Final = ("workflow.preOperate", "workflow.preUpdate", "node.preExecute", "node.postExecute", "pod.preCreate")
"""Every blocking hook that fires for plain container nodes (``parameters.resolve`` and
``template.execute`` fire only for plugin placeholders and ``plugin:`` templates)."""

PARTS: Final = {
    "fanout": "benchmarks.fanout:run_fanout",
    "latency": "benchmarks.latency:run_latency",
    "isolation": "benchmarks.isolation:run_isolation",
    "throughput": "benchmarks.throughput:run_throughput",
}
"""Child entry points (``python -m benchmarks.harness PART PARAMS_JSON``)."""


# --------------------------------------------------------------------------- workflows


def _work_template() -> JSON:
    return {"name": "work", "container": {"image": "alpine", "command": ["true"]}}


def fanout_workflow(name: str, nodes: int) -> JSON:
    """A steps template with ``withSequence`` over *nodes* items (one step group, *nodes* pods)."""
    main = {"name": "main", "steps": [[{"name": "fan", "template": "work", "withSequence": {"count": str(nodes)}}]]}
    return _workflow(name, [main, _work_template()])


def sequential_workflow(name: str, steps: int) -> JSON:
    """A steps template of *steps* step groups of one step each: pods run one after another."""
    main = {"name": "main", "steps": [[{"name": f"s{i}", "template": "work"}] for i in range(steps)]}
    return _workflow(name, [main, _work_template()])


def chain_dag_workflow(name: str, tasks: int = 3) -> JSON:
    """A DAG of *tasks* pods in a chain (``t1`` depends on ``t0`` ...)."""
    dag_tasks: list[JSON] = [{"name": "t0", "template": "work"}]
    dag_tasks += [{"name": f"t{i}", "template": "work", "depends": f"t{i - 1}"} for i in range(1, tasks)]
    return _workflow(name, [{"name": "main", "dag": {"tasks": dag_tasks}}, _work_template()])


def _workflow(name: str, templates: list[JSON]) -> JSON:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {"entrypoint": "main", "templates": templates},
    }


# --------------------------------------------------------------------------- figures


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of a non-empty sequence."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def _pod_times(stored_nodes: JSON) -> list[JSON]:
    return sorted(
        (n["x-hookbus"] for n in stored_nodes.values() if n.get("type") == "Pod"),
        key=lambda times: float(times["startedAt"]),
    )


def step_intervals(stored_nodes: JSON) -> list[tuple[float, float]]:
    """``(finishedAt, next startedAt)`` of each pod and the pod that started after it.

    *stored_nodes* are the node records as the store holds them (:meth:`Rig.stored_nodes`):
    they keep the engine's own float timestamps (``x-hookbus``: the controller's
    ``time.time()`` when it recorded a pod's end, after that pod's ``node.postExecute``,
    and when it started the next pod's process, after that pod's ``node.preExecute`` and
    ``pod.preCreate``), where the status has whole seconds. Pods are ordered by start time.
    """
    pods = _pod_times(stored_nodes)
    return [(float(a["finishedAt"]), float(b["startedAt"])) for a, b in zip(pods, pods[1:], strict=False)]


def step_periods(stored_nodes: JSON) -> list[float]:
    """Seconds from each pod's ``startedAt`` to the next pod's: the whole step, every hook in it."""
    pods = _pod_times(stored_nodes)
    return [float(b["startedAt"]) - float(a["startedAt"]) for a, b in zip(pods, pods[1:], strict=False)]


def step_gaps(stored_nodes: JSON) -> list[float]:
    """Seconds from each pod's ``finishedAt`` to the next pod's ``startedAt`` (see :func:`step_intervals`)."""
    return [started - finished for finished, started in step_intervals(stored_nodes)]


def latency_figures(gaps_s: Sequence[float]) -> JSON:
    """p50/p99/mean/max of step gaps, in milliseconds."""
    if not gaps_s:
        return {"samples": 0}
    return {
        "samples": len(gaps_s),
        "p50_ms": round(percentile(gaps_s, 50) * 1e3, 3),
        "p99_ms": round(percentile(gaps_s, 99) * 1e3, 3),
        "mean_ms": round(sum(gaps_s) / len(gaps_s) * 1e3, 3),
        "max_ms": round(max(gaps_s) * 1e3, 3),
    }


def process_cpu_s() -> float:
    """CPU seconds (user + system) this process used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """Peak resident set size of this process, in MiB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def machine_info() -> JSON:
    """The machine and the versions the figures were measured with."""
    from importlib.metadata import PackageNotFoundError, version

    from hookbus.bus.server import find_binary

    def package(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    try:
        out = subprocess.run([str(find_binary()), "--version"], capture_output=True, text=True, check=False, timeout=10)
        server = out.stdout.strip().removeprefix("nats-server: ").removeprefix("v") or None
    except (OSError, subprocess.SubprocessError):
        server = None
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True, check=False)
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "versions": {
            "python": platform.python_version(),
            "nats-py": package("nats-py"),
            "nats-server": server,
            "hookbus": package("hookbus"),
            "hookbus_commit": commit.stdout.strip() or None,
            "uncommitted_changes": sorted(line[3:] for line in dirty.stdout.splitlines()),
        },
    }


# --------------------------------------------------------------------------- the rig


@dataclass(frozen=True)
class RigSettings:
    """How to build one embedded controller for a benchmark part."""

    plugins: int = 0
    """No-op plugin processes (``noop-0`` ...)."""
    hooks: tuple[str, ...] = FANOUT_HOOKS
    """The hooks every plugin registers for."""
    max_batch: int | None = None
    """The plugins' ``maxBatch`` (``None``: the dispatcher's default chunking)."""
    validating: bool = False
    """Register every hook as validating (plugins called in parallel) instead of the hook's default."""
    projected: bool = False
    """Plugins declare the ``fields`` a typical policy plugin reads (``noop_plugin --projected``)."""
    side_effects: bool = False
    """Plugins leave ``sideEffects`` at its default (true): never asked ahead of their turn.
    The no-op plugins otherwise declare ``sideEffects: false``, as a no-op truly is."""
    max_in_flight: int = 8
    """The dispatcher's in-flight limit."""
    max_running_nodes: int = 10_000
    """``ControllerSettings.max_running_nodes`` (executor tasks per workflow)."""
    count_events: str | None = None
    """Subject filter of the event counter process (``None``: no counter)."""
    record_items: int = 0
    """Keep a copy of the first this many items the controller hands the dispatcher per hook
    (:attr:`Rig.records`): the records of :func:`benchmarks.fanout.hook_path_alone` and
    :func:`benchmarks.fanout.codec_floor`."""
    cpu_during_calls: bool = False
    """Add up each process's CPU while hook calls are in flight (:attr:`Rig.cpu_during_calls`)."""
    auth: bool = True
    """The embedded NATS requires an identity of every client, as ``hookbus server`` starts it:
    each plugin process connects as its own plugin identity, the event counter as ``events``.
    ``False``: no authentication (``hookbus server --no-nats-auth``), every client by URL alone."""


async def start_noop_plugins(
    url: str,
    names: list[str],
    hooks: Sequence[str],
    max_batch: int | None,
    *,
    validating: bool = False,
    side_effects: bool = False,
    projected: bool = False,
    plain: bool = False,
    creds: Mapping[str, Path] | None = None,
) -> list[asyncio.subprocess.Process]:
    """Start ``benchmarks.noop_plugin`` processes answering *hooks* with "no opinion"
    (*creds*: each plugin's credentials file, by name, for a server with authentication)."""
    from benchmarks.dispatch_bench import plugin_env, start_plugins

    if tuple(hooks) == FANOUT_HOOKS and not (validating or side_effects or projected or plain):  # the plugin's defaults
        return await start_plugins(url, names, max_batch, creds=creds)
    procs = []
    for name in names:
        args = [sys.executable, "-m", "benchmarks.noop_plugin", name, url]
        if max_batch:
            args.append(f"--max-batch={max_batch}")
        if validating:
            args.append("--validating")
        if side_effects:
            args.append("--side-effects")
        if projected:
            args.append("--projected")
        if plain:
            args.append("--plain")
        args += list(hooks)
        procs.append(await asyncio.create_subprocess_exec(*args, cwd=ROOT, env=plugin_env(name, creds)))
    return procs


async def issue_plugin_identities(app: Hookbus, names: Sequence[str]) -> dict[str, Path]:
    """Each plugin's own identity on *app*'s embedded server (issued as ``hookbus plugin
    credentials`` does, then taken in by a configuration reload): its credentials file, by name."""
    from hookbus.bus.auth import wait_accepted

    auth, server = app.auth, app.server
    if auth is None or server is None:
        raise RuntimeError("the rig's embedded server has no identities (authentication is off)")
    made = [auth.plugin(name)[1] for name in names]
    if any(made):
        await server.reload()
    for name in names:  # a reload is read asynchronously: connect only once the identity is known
        if not await asyncio.to_thread(wait_accepted, app.nats_url, auth.credentials_of(name), 10.0):
            raise RuntimeError(f"the embedded server did not accept plugin {name!r}'s new identity")
    return {name: auth.plugin_file(name) for name in names}


class Rig:
    """An embedded controller, its nats-server, plugin processes and event counter.

    ``async with Rig(settings) as rig: key = await rig.controller.submit(...)``.
    """

    def __init__(self, settings: RigSettings) -> None:
        self.settings = settings
        self._tmp = tempfile.TemporaryDirectory(prefix="hookbus-bench-")
        self._cleanup: list[Any] = []
        self.url = ""
        self.counter: EventCounter | None = None
        self._controller: Controller | None = None
        self._dispatcher: Dispatcher | None = None
        self._cpu: CpuDuringCalls | None = None

    @property
    def controller(self) -> Controller:
        assert self._controller is not None, "rig not started"
        return self._controller

    @property
    def dispatcher(self) -> Dispatcher:
        assert self._dispatcher is not None, "rig not started"
        return self._dispatcher

    @property
    def records(self) -> dict[str, tuple[JSON, list[JSON]]]:
        """Per hook: the workflow metadata and the items kept (see ``RigSettings.record_items``)."""
        from benchmarks.records import RecordingDispatcher

        dispatcher = self.dispatcher
        return dispatcher.records() if isinstance(dispatcher, RecordingDispatcher) else {}

    @property
    def cpu_during_calls(self) -> CpuDuringCalls | None:
        """Each process's CPU while hook calls were in flight (see ``RigSettings.cpu_during_calls``)."""
        return self._cpu

    @property
    def hook_stats(self) -> CallStats:
        """The dispatcher's cumulative counters (requests, ``busy_s`` ...)."""
        return self.dispatcher.stats

    async def __aenter__(self) -> Rig:
        from benchmarks.dispatch_bench import stop_plugins
        from benchmarks.records import RecordingDispatcher
        from hookbus.bus import BusSettings, DispatchSettings, NatsSettings, RegistrySettings
        from hookbus.bus.auth import EVENTS
        from hookbus.bus.settings import from_env
        from hookbus.bus.testing import wait_registered
        from hookbus.controller.app import Hookbus
        from hookbus.controller.engine.settings import ControllerSettings
        from hookbus.controller.settings import (
            ApiSettings,
            EmbeddedNatsSettings,
            ExecutorSettings,
            HookbusSettings,
        )

        s = self.settings
        try:
            dispatch = DispatchSettings(default_timeout=60.0, max_in_flight=s.max_in_flight)
            if s.max_batch:
                dispatch = replace(dispatch, max_batch=s.max_batch)
            events = from_env().events  # HOOKBUS_EVENTS_GROUPED, as for hookbus server
            settings = HookbusSettings(
                bus=BusSettings(
                    nats=NatsSettings(name="bench-controller"),
                    registry=RegistrySettings(),
                    dispatch=dispatch,
                    events=events,
                ),
                controller=ControllerSettings(max_running_nodes=s.max_running_nodes),
                executor=ExecutorSettings(kind="simulate"),
                embedded=EmbeddedNatsSettings(store_dir=Path(self._tmp.name) / "nats", max_payload=8 * 1024 * 1024, auth=s.auth),
                api=ApiSettings(enabled=False),
                state_dir=Path(self._tmp.name),
            )

            def recording(nc: Any, registry: Any, settings: DispatchSettings) -> Dispatcher:
                return RecordingDispatcher(nc, registry, settings, keep=s.record_items)

            app = Hookbus(settings, dispatcher_factory=recording if s.record_items else None)
            self._cleanup.append(app.close)
            await app.start()
            self.url = app.nats_url
            self._controller = app.controller
            self._dispatcher = app.dispatcher
            names = [f"noop-{i}" for i in range(s.plugins)]
            creds = await issue_plugin_identities(app, names) if s.auth and names else None
            procs = await start_noop_plugins(
                self.url, names, s.hooks, s.max_batch, validating=s.validating, side_effects=s.side_effects, projected=s.projected, creds=creds
            )
            self._cleanup.append(lambda: stop_plugins(procs))
            if names:
                assert app.registry is not None
                await wait_registered(app.registry, *names, timeout=60)
            if s.count_events:
                counter_creds = app.auth.role_file(EVENTS) if app.auth is not None else None
                self.counter = await EventCounter.start(self.url, s.count_events, grouped=events.grouped, creds=counter_creds)
                self._cleanup.append(self.counter.stop)
            if s.cpu_during_calls:
                self._cpu = CpuDuringCalls(self.dispatcher.activity, process_roles())
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop everything this rig started, newest first (idempotent)."""
        while self._cleanup:
            step = self._cleanup.pop()
            try:
                await step()
            except Exception as exc:  # keep stopping the rest, say what failed
                print(f"benchmark rig: cleanup step failed: {exc!r}", file=sys.stderr)
        self._tmp.cleanup()

    async def stored_nodes(self, key: WorkflowKey) -> JSON:
        """The node records of workflow *key* as persisted (with the engine's float times)."""
        stored = await self.controller.store.load(key)
        if stored is None:
            raise RuntimeError(f"workflow {key} is not in the store")
        return stored.nodes

    async def count_finals(self, workflows: list[JSON], timeout: float = 600.0) -> CounterResult:
        """Every node's final event of *workflows* (final objects) as the counter saw them."""
        assert self.counter is not None, "rig has no event counter"
        expect = [final_key(wf["metadata"]["name"], node_id) for wf in workflows for node_id in wf["status"]["nodes"]]
        result = await self.counter.result(expect, timeout)
        self.counter = None
        return result


def events_figures(result: CounterResult, started_epoch: float) -> JSON:
    """The event counter's result as benchmark figures."""
    return {
        "events_wall_s": round(result["last_final_at"] - started_epoch, 3) if result["last_final_at"] else None,
        "final_events_expected": result["expected"],
        "final_events_received": result["expected_seen"],
        "events_received": result["received"],
        "events_lost": result["lost"],
        "events_missing_sample": result["missing_sample"],
    }


# --------------------------------------------------------------------------- child processes


def run_child(part: str, params: JSON, *, timeout: float = 1800.0) -> JSON:
    """Run one part in a fresh interpreter; its last stdout line is the part's JSON result.

    The child leads a process group of its own (its plugins and counter are in it; its
    nats-server dies with it), so a run that outlives *timeout* is ended with everything
    it started, and its temporary files live in a directory removed afterwards. Failures
    come back as ``{"error": ...}``. ``machine_cpu`` says how the machine's CPU time went
    while the child ran (:func:`~benchmarks.cpu.machine_shares`: busy, idle, steal).
    """
    started = time.perf_counter()
    machine = machine_times()
    with tempfile.TemporaryDirectory(prefix="hookbus-bench-child-", ignore_cleanup_errors=True) as tmp:  # removed even if the child is killed
        proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.harness", part, json.dumps(params)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), "HOOKBUS_LOG_LEVEL": "error", "TMPDIR": tmp},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return {"error": f"{part} {params} did not finish within {timeout:.0f} s (the time budget); it was stopped"}
        except BaseException:  # Ctrl-C reaches only our own process group: end the child's too
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"error": f"{part} {params} failed (exit {proc.returncode}): {stderr[-1500:]}"}
    result: JSON = json.loads(lines[-1])
    result["process_wall_s"] = round(time.perf_counter() - started, 1)
    result["machine_cpu"] = machine_shares(machine, machine_times())
    return result


def _child_main(argv: list[str]) -> None:
    import gc

    from hookbus.bus.log import configure
    from hookbus.bus.loop import loop_name
    from hookbus.bus.loop import run as run_process

    part, params = argv
    configure("error", json=True)
    module, _, function = PARTS[part].partition(":")
    body = getattr(importlib.import_module(module), function)
    loop: list[str] = []

    async def measured() -> JSON:
        loop.append(loop_name())
        out: JSON = await body(**json.loads(params))
        return out

    # as ``hookbus server`` runs the controller: uvloop, a controller's GC tuning (HOOKBUS_UVLOOP, HOOKBUS_GC_THRESHOLD)
    result = run_process(measured(), fast=True, controller=True)
    result["controller_process"] = {"loop": loop[0], "gc_threshold": list(gc.get_threshold())}
    result["nats_auth"] = bool(json.loads(params).get("auth", True))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    _child_main(sys.argv[1:])
