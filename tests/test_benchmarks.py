"""Smoke runs of the benchmarks: they run and count correctly (their timing is not checked here).

Expected node counts follow Argo's node tree: a steps template is one ``Steps`` node, one
``StepGroup`` node per group and one ``Pod`` per step; a DAG template is one ``DAG`` node
and one ``Pod`` per task.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def suite(*args: str, table: str = "target ") -> dict[str, Any]:
    """Run ``python -m benchmarks.fanout`` with *args*; its stdout must be one JSON document,
    its stderr the human table (with *table* in it)."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.fanout", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    report: dict[str, Any] = json.loads(out.stdout)  # nothing but the JSON document on stdout
    assert table in out.stderr  # the human table goes to stderr
    return report


def test_fanout_smoke_counts_every_event_and_batches_requests() -> None:
    report = suite(
        "--parts", "fanout,scaling", "--variants", "plugins0,batched,batched_projected,codec_floor",
        "--nodes", "1000", "--scaling-sizes", "500", "--plugins", "2",
    )
    assert report["settings"]["events"] == "grouped"
    fanout = report["fanout"]
    assert fanout["batched_projected"]["decisions"] == fanout["batched"]["decisions"] == 1000 * 2 * 2
    for name in ("plugins0", "batched", "batched_projected"):
        variant = fanout[name]
        assert variant["phase"] == "Succeeded"
        assert variant["nodes"] == 1000
        # 1000 pods + the Steps node + its StepGroup, each with a final event seen by the counter process
        assert variant["final_events_expected"] == variant["final_events_received"] == 1002
        assert variant["events_lost"] == 0
    plugins0, batched = fanout["plugins0"], fanout["batched"]
    assert plugins0["requests"] == 0 and plugins0["hook_s"] == 0 and plugins0["decisions"] == 0
    assert batched["decisions"] == 1000 * 2 * 2  # nodes x plugins x hooks
    # each plugin is asked about each hook, and in batches: far fewer requests than decisions
    assert 2 * 2 <= batched["requests"] <= batched["decisions"] // 10
    # no filters: every decision was an item sent to a plugin
    assert batched["items_per_request"] == pytest.approx(batched["decisions"] / batched["requests"], abs=0.05)
    assert batched["hook_s"] > 0 and batched["decisions_per_hook_s"] >= batched["decisions_per_wall_s"] > 0
    assert batched["hook_failures"] == 0
    # the codec floor and the hook path alone replay the items the batched run really sent
    assert fanout["codec_floor"]["records"] == 4000 and fanout["codec_floor"]["records_from"] == "the batched run"
    alone = batched["hook_path_alone"]
    assert {hook: h["items"] for hook, h in alone["hooks"].items()} == {"node.preExecute": 1000, "pod.preCreate": 1000}
    assert alone["decisions"] == 4000 and alone["decisions_per_s"] > 0
    # CPU by process while the batched run's calls were in flight, and while replaying
    roles = {"controller", "nats-server", "plugins", "event counter"}
    assert set(batched["cpu_during_calls"]["cpu_s"]) == roles
    assert set(alone["cpu_s"]) >= roles - {"event counter"}  # the counter has stopped by then
    assert all(s >= 0 for s in [*batched["cpu_during_calls"]["cpu_s"].values(), *alone["cpu_s"].values()])
    # how often the plugin processes were preempted, per request they answered
    for preempted in (batched["preempted"], alone["preempted"]):
        assert set(preempted["involuntary_switches"]) >= roles - {"event counter"}
        assert preempted["plugin_preemptions_per_request"] >= 0
    assert batched["preempted"]["plugin_preemptions_per_request"] == round(
        batched["preempted"]["involuntary_switches"]["plugins"] / batched["requests"], 2
    )
    assert fanout["batched_vs_plugins0_wall"] == round(batched["wall_s"] / plugins0["wall_s"], 2)
    scaling = report["scaling"]
    assert scaling["sizes"] == [500, 1000]
    assert scaling["per_size"]["1000"]["us_per_node"] == batched["us_per_node"]  # reuses the batched run
    small = scaling["per_size"]["500"]
    assert len(small["runs_us_per_node"]) == 3  # a size below --nodes runs three times
    assert small["us_per_node"] == sorted(small["runs_us_per_node"])[1]  # and counts with its median
    assert small["events_lost"] == 0
    assert scaling["cost_ratio_largest_to_smallest"] == round(batched["us_per_node"] / small["us_per_node"], 2)
    targets = report["targets"]
    assert targets["events_lost"] == {"value": 0, "target": "== 0", "pass": True}
    assert targets["latency_p50_ms"]["pass"] is None  # not run, and said so
    skipped = {s["run"] for s in report["skipped"]}
    assert skipped == {"latency", "throughput", "isolation"}
    versions = report["machine"]["versions"]
    assert versions["nats-py"] and versions["nats-server"] and versions["python"] and versions["hookbus"]
    # how the machine's CPU time went, over the whole run and while each run's child ran
    for shares in (report["machine"]["cpu_over_run"], batched["machine_cpu"], plugins0["machine_cpu"]):
        assert set(shares) == {"busy", "idle", "steal", "seconds"}
        assert shares["busy"] + shares["idle"] + shares["steal"] == pytest.approx(1, abs=0.003)
        assert shares["busy"] > 0 and shares["seconds"] > 0
    assert report["machine"]["cpu_over_run"]["seconds"] > batched["machine_cpu"]["seconds"]


def test_latency_smoke_measures_every_step_gap() -> None:
    report = suite("--parts", "latency", "--latency-steps", "10", "--plugins", "2")
    latency = report["latency"]
    for name in ("plugins0", "plugins", "plugins_validating"):
        run = latency[name]
        assert run["phase"] == "Succeeded"
        gaps = run["step_to_step"]
        assert gaps["samples"] == 9  # 10 sequential pods: 9 step-to-step gaps
        assert 0 <= gaps["p50_ms"] <= gaps["p99_ms"] <= gaps["max_ms"]
        periods = run["start_to_start"]
        assert periods["samples"] == 9
        # a step (start to next start) contains its gap (finish to next start)
        assert periods["mean_ms"] > gaps["mean_ms"] and periods["max_ms"] >= gaps["max_ms"]
        # the 5-step warm-up (1 + 2 x 5 nodes) and the measured workflow (1 + 2 x 10 nodes)
        assert run["final_events_expected"] == run["final_events_received"] == 11 + 21
        assert run["events_lost"] == 0
    assert latency["plugins0"]["requests"] == 0
    assert latency["plugins"]["requests"] > 0 and latency["plugins"]["hooks"] == [
        "workflow.preOperate", "workflow.preUpdate", "node.preExecute", "node.postExecute", "pod.preCreate",
    ]
    assert latency["plugins"]["registered_as"] == "each hook's default"
    assert latency["plugins_validating"]["registered_as"] == "validating"
    # the same calls either way: one request per plugin per hook call
    assert latency["plugins_validating"]["requests"] == latency["plugins"]["requests"]
    assert report["targets"]["latency_p99_ms"]["value"] == latency["plugins"]["step_to_step"]["p99_ms"]


def test_throughput_smoke_completes_every_workflow() -> None:
    # one message per event here (the other smoke runs use the default, grouped events)
    report = suite("--parts", "throughput", "--throughput-workflows", "10", "--plugins", "2", "--events", "single")
    assert report["settings"]["events"] == "single"
    throughput = report["throughput"]
    assert throughput["phases"] == {"Succeeded": 10}
    # 10 workflows and the warm-up, each a DAG node and three pods
    assert throughput["final_events_expected"] == throughput["final_events_received"] == 11 * 4
    assert throughput["events_lost"] == 0
    # wall_s is rounded to the millisecond: on a fast machine ten workflows take a few of them
    wall = throughput["wall_s"]
    assert 10 / (wall + 0.0005) - 0.05 <= throughput["workflows_per_s"] <= 10 / max(wall - 0.0005, 1e-6) + 0.05
    assert throughput["all_submitted_s"] <= throughput["end_p50_s"] <= throughput["end_p99_s"] <= throughput["wall_s"]
    assert throughput["requests"] > 0


def test_isolation_smoke_runs_the_small_workflow_during_the_fanout() -> None:
    steps, idle_runs = 3, 2
    report = suite(
        "--parts", "isolation", "--isolation-nodes", "1000", "--isolation-steps", str(steps),
        "--isolation-idle-runs", str(idle_runs), "--plugins", "2",
    )
    iso = report["isolation"]
    assert iso["fanout_phase"] == "Succeeded" and iso["small_phases"] == ["Succeeded"]
    assert iso["idle"]["runs"] == idle_runs and iso["idle"]["samples"] == idle_runs * (steps - 1)
    busy = iso["under_fanout"]
    assert busy["runs"] >= 1  # the first small run starts while the fan-out is running
    # every gap of the runs under load is either measured or dropped as after the fan-out's end
    assert busy["samples"] + busy["gaps_after_fanout_dropped"] == busy["runs"] * (steps - 1)
    contended = iso["cpu_contention"]
    assert contended["runs"] == idle_runs and contended["samples"] == idle_runs * (steps - 1)
    assert contended["busy_loop_processes"] == 4 and contended["p99_ratio"] is not None
    small_nodes = 1 + 2 * steps
    expected = (1 + 2 * idle_runs + busy["runs"]) * small_nodes + 1002
    assert iso["final_events_expected"] == iso["final_events_received"] == expected
    assert iso["events_lost"] == 0
    # the loop-lag monitor woke up (every 5 ms) both before and during the fan-out
    for phase in ("idle", "under_fanout"):
        lag = iso["loop_lag"][phase]
        assert lag["samples"] > 0 and 0 <= lag["p50_ms"] <= lag["p99_ms"] <= lag["max_ms"]


def test_dispatch_benchmark_prints_only_json_and_batches() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.dispatch_bench", "--items", "2000", "--per-call-items", "50", "--plugins", "2"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    report = json.loads(out.stdout)  # nothing but the JSON document on stdout
    # 2000 items in waves of up to 1000, 2 plugins: a few requests each (more if cut by
    # bytes), never anywhere near one per item
    assert 2 * 2 <= report["variants"]["batched"]["requests"] <= 2 * 8
    assert report["variants"]["per_call"]["requests"] == 50 * 2


def test_dispatch_benchmark_compares_authentication_on_and_off() -> None:
    out = subprocess.run(
        [
            sys.executable, "-m", "benchmarks.dispatch_bench", "--items", "1000", "--per-call-items", "20",
            "--sequential-items", "10", "--plugins", "2", "--auth", "off,on", "--auth-pairs", "2",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    comparison = json.loads(out.stdout)["auth_comparison"]
    assert comparison["order"] == ["off", "on"] and comparison["pairs"] == 2
    # off then on, then on then off
    assert [r["pair"] for r in comparison["runs"]["off"]] == [1, 2] and [r["pair"] for r in comparison["runs"]["on"]] == [1, 2]
    for setting in ("on", "off"):
        for run in comparison["runs"][setting]:
            assert run["auth"] == setting
            assert run["variants"]["per_call"]["requests"] == 20 * 2  # the same requests either way
        batched = [r["variants"]["batched"]["decisions_per_s"] for r in comparison["runs"][setting]]
        assert comparison["median"][setting]["batched"]["decisions_per_s"] == pytest.approx(sum(batched) / 2, abs=0.01)
    median = comparison["median"]
    expected = round(median["on"]["per_call"]["us_per_item"] / median["off"]["per_call"]["us_per_item"], 3)
    assert comparison["on_vs_off"]["per_call"]["us_per_item"] == expected


@pytest.mark.parametrize("grouped", [False, True], ids=["single", "grouped"])
async def test_event_counter_process_counts_each_final_event_once(nc: Any, nats_url: str, grouped: bool) -> None:
    from benchmarks.event_counter import EventCounter, final_key
    from hookbus.bus.events import EventPublisher, node_event
    from hookbus.bus.settings import EventSettings

    publisher = EventPublisher(nc, EventSettings(grouped=grouped))
    await publisher.start()  # creates the HOOKBUS_EVENTS stream the counter reads
    counter = await EventCounter.start(nats_url, "hookbus.event.v1.default.wf.node.>", grouped=grouped)
    try:
        events = [
            node_event("default", "wf", "uid-1", {"id": node_id, "phase": phase}, attempt=attempt)
            for node_id, phase, attempt in [("a", "Running", 0), ("a", "Succeeded", 0), ("a", "Succeeded", 1), ("b", "Failed", 0)]
        ]
        # another workflow's events are outside the counter's filter
        events.append(node_event("default", "other", "uid-2", {"id": "c", "phase": "Succeeded"}))
        await publisher.publish_many(events)  # grouped: both Succeeded events of wf travel together
        await publisher.flush(timeout=10)
        assert publisher.stats.groups == (1 if grouped else 0)
        result = await counter.result([final_key("wf", n) for n in ("a", "b", "c")], timeout=2)
    finally:
        await counter.stop()
        await publisher.close()
    assert result["received"] == 4  # every stored message under the filter, all phases
    assert result["finals"] == 2  # a's two Succeeded events count once
    assert result["expected"] == 3 and result["expected_seen"] == 2
    assert result["lost"] == 1 and result["missing_sample"] == ["wf/nodes/c"]
    assert result["complete"] is False


async def test_event_counter_logs_in_as_the_events_identity_on_a_server_with_authentication(tmp_path: Path) -> None:
    from benchmarks.event_counter import EventCounter, final_key
    from hookbus.bus.auth import CONTROLLER, EVENTS, AuthDir
    from hookbus.bus.connection import connect
    from hookbus.bus.events import EventPublisher, node_event
    from hookbus.bus.server import EmbeddedServer
    from hookbus.bus.settings import EventSettings, NatsSettings

    auth = AuthDir(tmp_path / "auth").ensure()
    async with EmbeddedServer(store_dir=tmp_path / "nats", include=auth.config_file) as server:
        # without an identity the server refuses it, and the counter says it did not start
        with pytest.raises(RuntimeError, match="failed to start"):
            await EventCounter.start(server.url, "hookbus.event.v1.default.wf.node.>", timeout=20)
        nc = await connect(NatsSettings(urls=(server.url,), creds_file=str(auth.role_file(CONTROLLER))))
        publisher = EventPublisher(nc, EventSettings(grouped=True))
        await publisher.start()
        # the events identity may subscribe only under its inbox prefix: the counter's
        # bare connection and its push consumer's delivery subject must both be there
        counter = await EventCounter.start(server.url, "hookbus.event.v1.default.wf.node.>", grouped=True, creds=auth.role_file(EVENTS))
        try:
            await publisher.publish_many([node_event("default", "wf", "uid-1", {"id": n, "phase": "Succeeded"}) for n in ("a", "b")])
            await publisher.flush(timeout=10)
            result = await counter.result([final_key("wf", n) for n in ("a", "b")], timeout=10)
        finally:
            await counter.stop()
            await publisher.close()
            await nc.close()
    assert result["received"] == 2 and result["lost"] == 0 and result["complete"] is True


def test_auth_comparison_alternates_on_and_off_run_by_run() -> None:
    report = suite(
        "--auth", "on,off", "--auth-pairs", "2", "--parts", "fanout,latency,scaling", "--variants", "plugins0,batched",
        "--nodes", "500", "--latency-steps", "5", "--plugins", "2", table="auth on",
    )
    assert report["settings"]["auth"] == "on,off" and report["settings"]["auth_pairs"] == 2
    assert "targets" not in report  # a comparison, not a check of the targets
    assert [s["run"] for s in report["skipped"]] == ["scaling"]  # said, not silently left out
    comparison = report["auth_comparison"]
    assert comparison["order"] == ["on", "off"] and comparison["pairs"] == 2
    assert set(comparison["runs"]) == {"fanout plugins0 @ 500", "fanout batched @ 500", "latency"}
    for run in comparison["runs"].values():
        # each setting twice, the order of a pair alternating: on then off, then off then on
        assert [(r["pair"], r["nats_auth"]) for r in run["results"]["on"]] == [(1, True), (2, True)]
        assert [(r["pair"], r["nats_auth"]) for r in run["results"]["off"]] == [(1, False), (2, False)]
        for setting in ("on", "off"):
            assert run[setting]["runs"] == 2 and len(run[setting]["figures"]) == 2
    batched = comparison["runs"]["fanout batched @ 500"]
    for setting in ("on", "off"):
        walls = [r["wall_s"] for r in batched["results"][setting]]
        assert batched[setting]["median"]["wall_s"] == pytest.approx(sum(walls) / 2, abs=0.001)  # two runs: their mean
        assert all(r["decisions"] == 500 * 2 * 2 and r["events_lost"] == 0 for r in batched["results"][setting])
        assert batched[setting]["median"]["hook_path_alone_decisions_per_s"] > 0
    on, off = batched["on"]["median"]["wall_s"], batched["off"]["median"]["wall_s"]
    assert batched["on_vs_off"]["wall_s"] == pytest.approx(on / off, abs=0.001)
    assert batched["on_vs_off"]["requests"] == 1.0  # the same calls either way
    latency = comparison["runs"]["latency"]
    assert latency["on"]["median"]["plugins_p99_ms"] > 0 and latency["off"]["median"]["plugins_p99_ms"] > 0
    assert set(comparison["batched_vs_plugins0_wall"]) == {"on", "off"}


def test_suite_runs_with_authentication_unless_told_otherwise() -> None:
    on = suite("--parts", "fanout", "--variants", "batched", "--nodes", "200", "--plugins", "1")
    off = suite("--auth", "off", "--parts", "fanout", "--variants", "batched", "--nodes", "200", "--plugins", "1")
    assert on["settings"]["auth"] == "on" and on["fanout"]["batched"]["nats_auth"] is True
    assert off["settings"]["auth"] == "off" and off["fanout"]["batched"]["nats_auth"] is False
    # the plugin answered both ways (with its own identity when the server asks for one)
    assert on["fanout"]["batched"]["decisions"] == off["fanout"]["batched"]["decisions"] == 200 * 2
    assert on["fanout"]["batched"]["hook_failures"] == off["fanout"]["batched"]["hook_failures"] == 0


def test_auth_flag_refuses_what_it_does_not_know() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.fanout", "--auth", "maybe"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2 and "--auth 'maybe': give on, off, on,off or off,on" in out.stderr
    assert "Traceback" not in out.stderr


async def test_cpu_by_process_role_adds_up_only_while_calls_are_in_flight(nats_server: Any) -> None:
    from benchmarks.cpu import CpuDuringCalls, per_decision, process_roles
    from hookbus.bus.activity import Activity

    roles = process_roles()
    assert roles[os.getpid()] == "controller"
    assert "nats-server" in roles.values()  # the fixture's server runs under this process

    def burn(seconds: float) -> None:
        until = time.process_time() + seconds
        while time.process_time() < until:
            pass

    activity = Activity()
    during = CpuDuringCalls(activity, roles)
    burn(0.2)  # not in a call: not counted
    assert during.seconds["controller"] == 0
    activity.enter()
    burn(0.3)
    activity.leave()
    assert 0.2 <= during.seconds["controller"] <= 0.3 + 0.2  # clock ticks of 10 ms, other threads

    figures = per_decision({"controller": 0.5, "plugins": 1.5}, decisions=200_000, busy_s=1.25)
    assert figures["cpu_us_per_decision"] == {"controller": 2.5, "plugins": 7.5}
    assert figures["cpu_us_per_decision_total"] == 10.0
    assert figures["cores_busy"] == 1.6
    assert figures["ceiling_decisions_per_s"] == figures["cores"] * 100_000
    assert per_decision({}, 10, 1.0) == {} and per_decision({"plugins": 1.0}, 0, 1.0) == {}


def test_preemptions_count_the_involuntary_switches_of_every_process_by_role() -> None:
    from benchmarks.cpu import plugin_preemptions, preempted, process_roles, thread_preemptions

    # Two busy loops sharing one core must take turns on it: the kernel preempts them.
    core = min(os.sched_getaffinity(0))
    burn = f"import os, time\nos.sched_setaffinity(0, {{{core}}})\nend = time.time() + 20\nwhile time.time() < end: pass"
    procs = [subprocess.Popen([sys.executable, "-c", burn]) for _ in range(2)]
    try:
        deadline = time.monotonic() + 15
        first = thread_preemptions(process_roles())
        counted = preempted(first, first)
        while counted["other"] < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
            counted = preempted(first, thread_preemptions(process_roles()))
        assert counted["other"] >= 2  # the busy loops ("other": neither plugin nor server)
        assert "controller" in counted  # this process's threads are counted too
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()

    # a thread that ended between two counts is left out; a count never goes below zero
    before = {("plugins", 11): 5, ("plugins", 12): 9, ("nats-server", 20): 3}
    after = {("plugins", 11): 8, ("plugins", 13): 2, ("nats-server", 20): 1}
    assert preempted(before, after) == {"nats-server": 0, "plugins": 5}

    figures = plugin_preemptions({"controller": 4, "plugins": 30}, requests=20)
    assert figures == {"involuntary_switches": {"controller": 4, "plugins": 30}, "plugin_preemptions_per_request": 1.5}
    assert plugin_preemptions({"plugins": 3}, 0) == {} and plugin_preemptions({"controller": 3}, 5) == {}


def test_machine_cpu_shares_come_from_the_cpu_line_of_proc_stat() -> None:
    from benchmarks.cpu import machine_shares, machine_times

    stat = "cpu  100 5 50 800 20 3 2 20 7 0\ncpu0 50 2 25 400 10 1 1 10 3 0\nintr 12345\n"
    before = machine_times(stat)
    assert before == {"user": 100, "nice": 5, "system": 50, "idle": 800, "iowait": 20, "irq": 3, "softirq": 2, "steal": 20}
    after = machine_times("cpu  400 5 150 1200 20 3 2 220 7 0\n")
    # 1000 ticks: 400 busy (user, system), 400 idle, 200 taken by the hypervisor
    shares = machine_shares(before, after)
    assert {k: shares[k] for k in ("busy", "idle", "steal")} == {"busy": 0.4, "idle": 0.4, "steal": 0.2}
    assert machine_times("cpu  1 2 3 4\n")["steal"] == 0  # an old kernel without the later fields
    assert machine_times("intr 1\n") == {} and machine_shares({}, after) == {} and machine_shares(after, after) == {}
    # this machine's own counters move forward
    first = machine_times()
    deadline = time.monotonic() + 10
    while machine_shares(first, machine_times()) == {} and time.monotonic() < deadline:
        time.sleep(0.01)
    live = machine_shares(first, machine_times())
    assert live["seconds"] > 0 and live["busy"] + live["idle"] + live["steal"] == pytest.approx(1, abs=0.003)
