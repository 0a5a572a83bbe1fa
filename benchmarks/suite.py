"""Issue #5's benchmark suite: fan-out, latency, isolation, scaling, throughput, targets.

    python -m benchmarks.fanout                  # everything at the issue's sizes (bounded by --budget-s)
    python -m benchmarks.fanout --quick          # the same parts at small sizes (~2.5 min)
    python -m benchmarks.fanout --parts latency,throughput --throughput-workflows 200
    python -m benchmarks.fanout --auth on,off --parts fanout --variants plugins0,batched   # alternated, see benchmarks.auth_compare

Every measurement runs in a fresh child process with its own embedded nats-server,
no-op plugin processes and event counter process (:mod:`benchmarks.harness`). One JSON
document goes to stdout (nothing else does), a short table to stderr. ``targets`` holds
the issue's pass/fail criteria; a part that is not run (not asked for, over the time
budget, or failed) is listed under ``skipped`` with the reason and its targets are
``null``, never silently absent. The embedded NATS of every run requires an identity of
each client, as ``hookbus server`` starts it (``--auth off``: without authentication);
``--auth on,off`` makes each run with both, alternated (:mod:`benchmarks.auth_compare`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import TYPE_CHECKING, Any

from benchmarks.cpu import machine_shares, machine_times
from benchmarks.harness import FANOUT_HOOKS, JSON, machine_info, run_child

if TYPE_CHECKING:
    from collections.abc import Callable

GROUPED_ENV = "HOOKBUS_EVENTS_GROUPED"

PARTS = ("fanout", "scaling", "latency", "throughput", "isolation")
FANOUT_VARIANTS = ("plugins0", "batched", "batched_projected", "per_call", "per_call_sequential", "codec_floor")

FULL = {
    "nodes": 100_000,
    "per_call_nodes": 10_000,
    "sequential_nodes": 10_000,
    "scaling_sizes": "1000,10000",
    "latency_steps": 200,
    "isolation_nodes": None,  # the fan-out's size
    "isolation_steps": 10,
    "isolation_idle_runs": 150,
    "throughput_workflows": 1_000,
}
QUICK = {
    "nodes": 10_000,
    "per_call_nodes": 2_000,
    "sequential_nodes": 500,
    "scaling_sizes": "1000,3000",
    "latency_steps": 50,
    "isolation_nodes": None,
    "isolation_steps": 10,
    "isolation_idle_runs": 5,
    "throughput_workflows": 200,
}

TARGETS = {
    "batched_decisions_per_hook_s": (">=", 250_000),
    "batched_vs_per_call_per_node": (">=", 10),
    "batched_vs_per_call_sequential_per_node": (">=", 100),
    "batched_vs_plugins0_wall": ("<=", 1.5),
    "latency_p50_ms": ("<=", 5),
    "latency_p99_ms": ("<=", 50),
    "isolation_p99_ratio": ("<=", 3),
    "scaling_cost_ratio": ("<=", 1.5),
    "controller_peak_rss_mb": ("<", 1536),
    "events_lost": ("==", 0),
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fanout", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (every part still runs)")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {', '.join(PARTS)}")
    parser.add_argument("--variants", default=",".join(FANOUT_VARIANTS), help="fan-out variants to run")
    parser.add_argument("--nodes", type=int, help="fan-out size of plugins0 and batched (100000; quick 10000)")
    parser.add_argument("--per-call-nodes", type=int, help="per_call size (10000; quick 2000)")
    parser.add_argument("--sequential-nodes", type=int, help="per_call_sequential size (10000, as the issue asks; quick 500)")
    parser.add_argument("--scaling-sizes", help="batched sizes besides --nodes (1000,10000; quick 1000,3000)")
    parser.add_argument("--latency-steps", type=int, help="steps of the latency workflow (200; quick 50)")
    parser.add_argument("--isolation-nodes", type=int, help="fan-out size under the small workflow (default --nodes)")
    parser.add_argument("--isolation-steps", type=int, help="steps of the small workflow (10)")
    parser.add_argument("--isolation-idle-runs", type=int, help="small-workflow runs on the idle controller (150; quick 5)")
    parser.add_argument("--throughput-workflows", type=int, help="workflows submitted at once (1000; quick 200)")
    parser.add_argument(
        "--events",
        choices=("grouped", "single"),
        default="grouped",
        help="grouped (default): node and pod events of a pass travel as grouped messages, which the "
        "suite's event counter reads (HOOKBUS_EVENTS_GROUPED=1 for every controller); single: one "
        "message per event, hookbus server's default",
    )
    parser.add_argument("--plugins", type=int, default=5)
    parser.add_argument("--in-flight", type=int, default=8, help="the dispatcher's in-flight limit")
    parser.add_argument("--budget-s", type=float, default=580.0, help="hard bound on the whole run: later runs are shrunk, skipped or stopped")
    parser.add_argument(
        "--auth",
        default="on",
        help="on (default): the embedded NATS requires an identity of every client, as hookbus server "
        "starts it; off: no authentication; on,off (or off,on): every run with both, alternated, "
        "medians side by side (no targets)",
    )
    parser.add_argument("--auth-pairs", type=int, default=2, help="with --auth on,off: runs with each setting (2)")
    args = parser.parse_args(argv)
    from benchmarks.auth_compare import parse_auth

    try:
        args.auth_order = parse_auth(args.auth)
    except ValueError as exc:
        parser.error(str(exc))
    if args.auth_pairs < 1:
        parser.error("--auth-pairs must be at least 1")
    defaults = QUICK if args.quick else FULL
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.isolation_nodes is None:
        args.isolation_nodes = args.nodes
    unknown = set(args.parts.split(",")) - set(PARTS)
    if unknown:
        parser.error(f"unknown part(s) {', '.join(sorted(unknown))}; known: {', '.join(PARTS)}")
    unknown = set(args.variants.split(",")) - set(FANOUT_VARIANTS)
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(sorted(unknown))}; known: {', '.join(FANOUT_VARIANTS)}")
    return args


class Runner:
    """Runs child processes within the time budget and remembers what it skipped."""

    def __init__(self, budget_s: float) -> None:
        self.started = time.perf_counter()
        self.budget_s = budget_s
        self.skipped: list[JSON] = []
        self.fanouts: dict[tuple[str, int], JSON] = {}
        self.auth = True
        """Whether the runs' embedded NATS requires identities (each child's ``auth``)."""

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def run(self, what: str, part: str, params: JSON) -> JSON | None:
        left = self.budget_s - self.elapsed()
        if left < 15:
            self.skipped.append({"run": what, "reason": f"time budget of {self.budget_s:.0f} s used up ({left:.0f} s left)"})
            return None
        print(f"[{self.elapsed():6.1f} s] {what} ...", file=sys.stderr, flush=True)
        result = run_child(part, {**params, "auth": self.auth}, timeout=left)
        if "error" in result:
            self.skipped.append({"run": what, "reason": result["error"]})
            print(f"    failed: {result['error'][:300]}", file=sys.stderr, flush=True)
            return None
        return result

    def fanout(self, variant: str, nodes: int, args: argparse.Namespace) -> JSON | None:
        key = (variant, nodes)
        if key not in self.fanouts:
            params = fanout_params(variant, nodes, args)
            if variant == "batched" and nodes == args.nodes:  # the one run the reference figures replay
                params["replay"] = True
            result = self.run(f"fanout {variant} @ {nodes}", "fanout", params)
            if result is None:
                return None
            self.fanouts[key] = result
        return self.fanouts[key]


def fanout_params(variant: str, nodes: int, args: argparse.Namespace) -> JSON:
    """What a child process needs to run one fan-out *variant* of *nodes* nodes."""
    return {"variant": variant, "nodes": nodes, "plugins": args.plugins, "in_flight": args.in_flight}


def _ratio(a: float | None, b: float | None, digits: int = 2) -> float | None:
    if a is None or b is None or b <= 0:
        return None
    return round(a / b, digits)


SCALING_REPEATS = 3
"""Runs of each scaling size below ``--nodes`` (the median counts)."""


def run_fanout_part(runner: Runner, args: argparse.Namespace, variants: list[str]) -> JSON:
    sizes = {
        "plugins0": args.nodes,
        "batched": args.nodes,
        "batched_projected": args.nodes,
        "per_call": args.per_call_nodes,
        "per_call_sequential": args.sequential_nodes,
    }
    out: JSON = {"hooks": list(FANOUT_HOOKS), "plugins": args.plugins, "in_flight": args.in_flight}
    for variant in variants:
        if variant == "codec_floor":
            continue  # from the batched run's records, below
        size = sizes[variant]
        result = runner.fanout(variant, size, args)
        if result is None:
            out[variant] = None
            continue
        # The same-size references: per-node figures are compared at equal sizes.
        base = runner.fanout("plugins0", size, args) if variant != "plugins0" else result
        if base is not None and variant != "plugins0":
            result["hook_overhead_us_per_node"] = round(result["us_per_node"] - base["us_per_node"], 1)
            result["plugins0_us_per_node_same_size"] = base["us_per_node"]
        if variant.startswith("per_call"):
            batched = runner.fanout("batched", size, args)
            if batched is not None:
                result["batched_hook_us_per_node_same_size"] = batched["hook_us_per_node"]
                result["batched_vs_this_per_node"] = _ratio(result["hook_us_per_node"], batched["hook_us_per_node"], 1)
        out[variant] = result
    if "codec_floor" in variants:
        from benchmarks.fanout import RECORDED_NODES, codec_floor, synthetic_records

        batched = out.get("batched") or {}
        if batched.get("codec_floor"):
            out["codec_floor"] = {**batched.pop("codec_floor"), "records_from": "the batched run"}
        else:  # the batched variant did not run: look-alike records
            records = synthetic_records(min(args.nodes, RECORDED_NODES))
            out["codec_floor"] = {**codec_floor(records, args.plugins), "records_from": "synthetic"}
    batched, projected, plugins0 = out.get("batched"), out.get("batched_projected"), out.get("plugins0")
    if batched and plugins0:
        out["batched_vs_plugins0_wall"] = _ratio(batched["wall_s"], plugins0["wall_s"])
    if projected and plugins0:
        out["batched_projected_vs_plugins0_wall"] = _ratio(projected["wall_s"], plugins0["wall_s"])
    return out


def run_scaling_part(runner: Runner, args: argparse.Namespace) -> JSON:
    """``batched`` at each scaling size; sizes below ``--nodes`` run :data:`SCALING_REPEATS`
    times and give their median (a 1,000-node run lasts well under a second, and one run
    alone moved the ratio by a third on the shared machine)."""
    sizes = sorted({int(s) for s in args.scaling_sizes.split(",") if s} | {args.nodes})
    rows = {}
    for size in sizes:
        result = runner.fanout("batched", size, args)
        if result is None:
            continue
        runs = [result]
        if size < args.nodes:
            for repeat in range(2, SCALING_REPEATS + 1):
                again = runner.run(f"fanout batched @ {size} (scaling, run {repeat})", "fanout", fanout_params("batched", size, args))
                if again is not None:
                    runs.append(again)
        median = sorted(runs, key=lambda r: r["us_per_node"])[(len(runs) - 1) // 2]
        rows[str(size)] = {
            "us_per_node": median["us_per_node"],
            "hook_us_per_node": median["hook_us_per_node"],
            "wall_s": median["wall_s"],
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            "events_lost": sum(r["events_lost"] for r in runs),
            "runs_us_per_node": [r["us_per_node"] for r in runs],
        }
    out: JSON = {"variant": "batched", "sizes": sizes, "per_size": rows}
    small, large = rows.get(str(sizes[0])), rows.get(str(sizes[-1]))
    out["cost_ratio_largest_to_smallest"] = _ratio(large["us_per_node"], small["us_per_node"]) if small and large else None
    return out


def isolation_size(runner: Runner, args: argparse.Namespace) -> int | None:
    """The isolation fan-out's size: as asked, or smaller so that it ends within the budget.

    The estimate is the per-node time of the largest ``batched`` run so far (its whole
    process), times 4: beside the small workflow, submitted again as soon as it ends, the
    fan-out runs in small passes and shares the CPU (measured 3.4 times its time alone);
    plus 30 s for start-up and the idle runs. A reduction is recorded in ``skipped``;
    below 1,000 nodes the part is skipped.
    """
    asked = int(args.isolation_nodes)
    runs = [r for (variant, _), r in runner.fanouts.items() if variant == "batched"]
    if not runs:
        return asked
    ref = max(runs, key=lambda r: r["nodes"])
    per_node = ref["process_wall_s"] / max(ref["nodes"], 1) * 4
    left = runner.budget_s - runner.elapsed() - 30
    fit = int(left / per_node) // 1000 * 1000 if per_node > 0 else asked
    if fit >= asked:
        return asked
    if fit < 1000:
        runner.skipped.append({"run": "isolation", "reason": f"{left + 30:.0f} s of the time budget left: too little for a fan-out of 1000 nodes"})
        return None
    runner.skipped.append(
        {"run": f"isolation fan-out of {asked} nodes", "reason": f"reduced to {fit} nodes to end within the time budget ({left + 30:.0f} s left)"}
    )
    return fit


def evaluate(report: JSON, args: argparse.Namespace, fanout_runs: list[JSON]) -> JSON:
    """The issue's targets, each ``{"value", "limit", "pass"}`` (``pass`` null when not measured)."""
    fanout = report.get("fanout") or {}
    batched = fanout.get("batched") or {}
    per_call = fanout.get("per_call") or {}
    sequential = fanout.get("per_call_sequential") or {}
    latency = ((report.get("latency") or {}).get("plugins") or {}).get("step_to_step") or {}
    values: dict[str, Any] = {
        "batched_decisions_per_hook_s": batched.get("decisions_per_hook_s"),
        "batched_vs_per_call_per_node": per_call.get("batched_vs_this_per_node"),
        "batched_vs_per_call_sequential_per_node": sequential.get("batched_vs_this_per_node"),
        "batched_vs_plugins0_wall": fanout.get("batched_vs_plugins0_wall"),
        "latency_p50_ms": latency.get("p50_ms"),
        "latency_p99_ms": latency.get("p99_ms"),
        "isolation_p99_ratio": (report.get("isolation") or {}).get("p99_ratio"),
        "scaling_cost_ratio": (report.get("scaling") or {}).get("cost_ratio_largest_to_smallest"),
        "controller_peak_rss_mb": max(
            (r["peak_rss_mb"] for r in (fanout.get("plugins0"), fanout.get("batched")) if r), default=None
        ),
        "events_lost": _events_lost(report, fanout_runs),
    }
    targets: JSON = {}
    for name, (op, limit) in TARGETS.items():
        value = values[name]
        ok = None if value is None else {">=": value >= limit, "<=": value <= limit, "<": value < limit, "==": value == limit}[op]
        targets[name] = {"value": value, "target": f"{op} {limit}", "pass": ok}
    targets["controller_peak_rss_mb"]["nodes"] = args.nodes
    targets["scaling_cost_ratio"]["sizes"] = (report.get("scaling") or {}).get("sizes")
    return targets


def _events_lost(report: JSON, fanout_runs: list[JSON]) -> int | None:
    """Lost final events over every run (``None`` when a run did not report them)."""
    runs = list(fanout_runs)
    latency = report.get("latency") or {}
    runs += [latency[k] for k in ("plugins0", "plugins", "plugins_validating", "plugins_with_side_effects") if latency.get(k)]
    runs += [report[k] for k in ("isolation", "throughput") if report.get(k)]
    if not runs or any(r.get("events_lost") is None for r in runs):
        return None
    return sum(int(r["events_lost"]) for r in runs)


def table(report: JSON) -> str:
    """A short human summary of *report*."""
    lines = [f"{'run':34} {'nodes':>7} {'wall s':>8} {'us/node':>8} {'hook us/node':>12} {'dec/hook-s':>11} {'RSS MB':>7} {'lost':>5}"]
    for (variant, nodes), r in sorted((report.get("_fanouts") or {}).items(), key=lambda kv: (kv[0][1], kv[0][0])):
        lines.append(
            f"fanout {variant:27} {nodes:>7} {r['wall_s']:>8.2f} {r['us_per_node']:>8.1f} {r['hook_us_per_node']:>12.1f} "
            f"{r['decisions_per_hook_s']:>11} {r['peak_rss_mb']:>7.0f} {r['events_lost']:>5}"
        )
    fanout = report.get("fanout") or {}
    alone = (fanout.get("batched") or {}).get("hook_path_alone")
    if alone:
        lines.append(
            f"hook path alone (the batched run's items for {max(h['items'] for h in alone['hooks'].values())} nodes "
            f"sent again, engine idle): {alone['decisions_per_s']} decisions/s"
        )
    for label, figures in (("during the batched calls", (fanout.get("batched") or {}).get("cpu_during_calls")), ("hook path alone", alone)):
        if figures and figures.get("cpu_us_per_decision"):
            costs = ", ".join(f"{role} {us}" for role, us in figures["cpu_us_per_decision"].items())
            lines.append(
                f"CPU {label}: {figures['cpu_us_per_decision_total']} us per decision ({costs}); "
                f"{figures['cores_busy']} of {figures['cores']} cores busy; at that cost the cores allow "
                f"{figures['ceiling_decisions_per_s']} decisions/s"
            )
    counts = (
        ("in the batched run", (fanout.get("batched") or {}).get("preempted")),
        ("in the hook path alone", (alone or {}).get("preempted")),
    )
    preempted = [f"{p['plugin_preemptions_per_request']} {label}" for label, p in counts if p]
    if preempted:
        lines.append(f"plugin processes preempted per request they answered: {', '.join(preempted)}")
    floor = fanout.get("codec_floor")
    if floor:
        lines.append(f"codec floor (records from {floor['records_from']}, one core): {floor['records_per_s']} records/s")
    latency = report.get("latency") or {}
    for name in ("plugins0", "plugins", "plugins_validating", "plugins_with_side_effects"):
        r = latency.get(name)
        if r:
            s = r["step_to_step"]
            lines.append(f"latency {name:25} {r['steps']} steps: step-to-step p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms, lost {r['events_lost']}")
    iso = report.get("isolation")
    if iso:
        lines.append(
            f"isolation: small-workflow p99 idle {iso['idle'].get('p99_ms')} ms, under a {iso['fanout_nodes']}-node fan-out "
            f"{iso['under_fanout'].get('p99_ms')} ms (x{iso['p99_ratio']}), lost {iso['events_lost']}; "
            f"with {iso['cpu_contention']['busy_loop_processes']} busy-loop processes instead "
            f"{iso['cpu_contention'].get('p99_ms')} ms (x{iso['cpu_contention'].get('p99_ratio')})"
        )
    thr = report.get("throughput")
    if thr:
        lines.append(f"throughput: {thr['workflows']} workflows in {thr['wall_s']} s = {thr['workflows_per_s']} workflows/s, lost {thr['events_lost']}")
    for name, t in (report.get("targets") or {}).items():
        verdict = {True: "pass", False: "FAIL", None: "not measured"}[t["pass"]]
        lines.append(f"target {name:42} {t['value']!s:>12} {t['target']:>10}  {verdict}")
    lines.append(f"total {report.get('total_wall_s')} s; skipped: {len(report.get('skipped') or [])}")
    over_run = (report.get("machine") or {}).get("cpu_over_run")
    if over_run:
        batched = (fanout.get("batched") or {}).get("machine_cpu") or {}
        during = f"; during the batched fan-out {batched['steal']:.1%}" if batched else ""
        lines.append(
            f"machine CPU over the run: busy {over_run['busy']:.1%}, idle {over_run['idle']:.1%}, "
            f"taken by the hypervisor (steal) {over_run['steal']:.1%}{during}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> JSON:
    """Run the asked parts; print the JSON report on stdout and the table on stderr."""

    args = parse_args(argv)
    os.environ[GROUPED_ENV] = "1" if args.events == "grouped" else "0"  # read by every child's controller
    parts = args.parts.split(",")
    variants = args.variants.split(",")
    runner = Runner(args.budget_s)
    machine = machine_times()
    report: JSON = {
        "benchmark": "hookbus issue #5",
        "mode": "quick" if args.quick else "full",
        "machine": machine_info(),
        "settings": {
            **{k: getattr(args, k) for k in (*FULL, "plugins", "in_flight", "budget_s")},
            "events": args.events,
            "auth": args.auth,
        },
    }
    if len(args.auth_order) == 2:
        from benchmarks.auth_compare import main as compare

        report["mode"] += ", authentication on and off alternated"
        report["settings"]["auth_pairs"] = args.auth_pairs
        compare(args, args.auth_order, report, runner)
        return _finish(report, runner, machine, table_text=None)
    runner.auth = args.auth_order[0]
    for part in PARTS:
        if part not in parts:
            report[part] = None
            runner.skipped.append({"run": part, "reason": "not asked for (--parts)"})
            continue
        if part == "fanout":
            report["fanout"] = run_fanout_part(runner, args, variants)
        elif part == "scaling":
            report["scaling"] = run_scaling_part(runner, args)
        elif part == "latency":
            report["latency"] = runner.run("latency", "latency", {"steps": args.latency_steps, "plugins": args.plugins, "in_flight": args.in_flight})
        elif part == "throughput":
            report["throughput"] = runner.run(
                "throughput", "throughput", {"workflows": args.throughput_workflows, "plugins": args.plugins, "in_flight": args.in_flight}
            )
        elif part == "isolation":
            nodes = isolation_size(runner, args)
            if nodes is None:
                report["isolation"] = None
                continue
            params = {
                "fanout_nodes": nodes,
                "steps": args.isolation_steps,
                "idle_runs": args.isolation_idle_runs,
                "plugins": args.plugins,
                "in_flight": args.in_flight,
            }
            report["isolation"] = runner.run("isolation", "isolation", params)
            if report["isolation"] is not None:
                report["isolation"]["fanout_nodes_asked"] = args.isolation_nodes
    if report.get("fanout") is not None:
        used = {(v, r["nodes"]) for v, r in report["fanout"].items() if isinstance(r, dict) and "nodes" in r and "variant" in r}
        report["fanout"]["same_size_references"] = {
            f"{variant}@{nodes}": result for (variant, nodes), result in runner.fanouts.items() if (variant, nodes) not in used
        }
    report["targets"] = evaluate(report, args, list(runner.fanouts.values()))
    return _finish(report, runner, machine, table_text=table)


def _finish(report: JSON, runner: Runner, machine: dict[str, int], table_text: Callable[[JSON], str] | None) -> JSON:
    """Close *report* (skipped runs, total time, the machine at the end), print the table
    (*table_text* of the report, if given) on stderr and the JSON document on stdout."""
    import json

    report["skipped"] = runner.skipped
    report["total_wall_s"] = round(runner.elapsed(), 1)
    report["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report["machine"]["cpu_over_run"] = machine_shares(machine, machine_times())
    if table_text is not None:
        report["_fanouts"] = runner.fanouts
        print(table_text(report), file=sys.stderr, flush=True)
        del report["_fanouts"]
    print(json.dumps(report, indent=2), flush=True)
    return report


if __name__ == "__main__":
    main()
