"""The suite's runs with NATS authentication on and off, alternated: ``python -m benchmarks.fanout --auth on,off``.

Each run the suite would make (the fan-out variants at their sizes, the latency,
throughput and isolation parts; not the scaling sizes) is made ``--auth-pairs`` times
with authentication on and as many times with it off, one right after the other on the
same machine state: run by run, not part by part, so the two settings of a pair are
minutes apart at most. The order within a pair alternates (on, off; then off, on; ...,
starting with the order ``--auth`` gives), because on the shared machine the run made
second of two alike has come out ahead.

For each run the report keeps every result, a handful of figures per result, their
median per setting (the mean of the middle two for an even count), and ``on_vs_off``:
the median with authentication over the median without (above 1: the figure is larger
with it, which is worse for times and better for rates).
"""

from __future__ import annotations

import statistics
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

    from benchmarks.harness import JSON
    from benchmarks.suite import Runner

COMPARED_PARTS = ("fanout", "latency", "throughput", "isolation")
"""The parts a comparison runs (``scaling`` repeats the batched fan-out at other sizes: left out)."""
LATENCY_CONFIGS = ("plugins0", "plugins", "plugins_validating", "plugins_with_side_effects")


def setting_name(auth: bool) -> str:
    return "on" if auth else "off"


def parse_auth(value: str) -> list[bool]:
    """``--auth``: ``on``, ``off``, ``on,off`` or ``off,on`` (the first run of each pair first)."""
    names = [v.strip().lower() for v in value.split(",") if v.strip()]
    flags = {"on": True, "off": False}
    if not names or len(names) > 2 or any(n not in flags for n in names) or len(set(names)) != len(names):
        raise ValueError(f"--auth {value!r}: give on, off, on,off or off,on")
    return [flags[n] for n in names]


def comparison_runs(args: argparse.Namespace) -> list[tuple[str, str, JSON]]:
    """``(label, part, params)`` of every run to compare, in the order they are made."""
    from benchmarks.suite import fanout_params

    parts = args.parts.split(",")
    runs: list[tuple[str, str, JSON]] = []
    if "fanout" in parts:
        sizes = {
            "plugins0": args.nodes,
            "batched": args.nodes,
            "batched_projected": args.nodes,
            "per_call": args.per_call_nodes,
            "per_call_sequential": args.sequential_nodes,
        }
        for variant in args.variants.split(","):
            if variant in sizes:
                params = fanout_params(variant, sizes[variant], args)
                if variant == "batched":
                    params["replay"] = True  # the hook path alone and the CPU per decision
                runs.append((f"fanout {variant} @ {sizes[variant]}", "fanout", params))
    common = {"plugins": args.plugins, "in_flight": args.in_flight}
    if "latency" in parts:
        runs.append(("latency", "latency", {"steps": args.latency_steps, **common}))
    if "throughput" in parts:
        runs.append(("throughput", "throughput", {"workflows": args.throughput_workflows, **common}))
    if "isolation" in parts:
        params = {"fanout_nodes": args.isolation_nodes, "steps": args.isolation_steps, "idle_runs": args.isolation_idle_runs, **common}
        runs.append(("isolation", "isolation", params))
    return runs


def figures(part: str, result: JSON) -> dict[str, float | None]:
    """The figures of one result that the comparison puts side by side."""
    if part == "fanout":
        out = {k: result.get(k) for k in ("wall_s", "us_per_node", "hook_us_per_node", "decisions_per_hook_s", "requests", "controller_cpu_s", "peak_rss_mb", "events_lost")}
        during = result.get("cpu_during_calls")
        if during:
            out["cpu_us_per_decision_during_calls"] = during.get("cpu_us_per_decision_total")
        alone = result.get("hook_path_alone")
        if alone:
            out["hook_path_alone_decisions_per_s"] = alone.get("decisions_per_s")
            out["hook_path_alone_cpu_us_per_decision"] = alone.get("cpu_us_per_decision_total")
        return out
    if part == "latency":
        out = {}
        for config in LATENCY_CONFIGS:
            run = result.get(config) or {}
            steps = run.get("step_to_step") or {}
            out[f"{config}_p50_ms"] = steps.get("p50_ms")
            out[f"{config}_p99_ms"] = steps.get("p99_ms")
            out[f"{config}_ms_per_step"] = run.get("ms_per_step")
        return out
    if part == "throughput":
        return {k: result.get(k) for k in ("workflows_per_s", "wall_s", "end_p99_s", "events_lost")}
    if part == "isolation":
        return {
            "p99_ratio": result.get("p99_ratio"),
            "idle_p99_ms": (result.get("idle") or {}).get("p99_ms"),
            "under_fanout_p99_ms": (result.get("under_fanout") or {}).get("p99_ms"),
            "events_lost": result.get("events_lost"),
        }
    raise ValueError(f"no comparison figures for part {part!r}")


def _median(values: list[Any]) -> float | None:
    numbers = [v for v in values if isinstance(v, int | float)]
    return round(statistics.median(numbers), 3) if numbers else None


def summarize(part: str, results: dict[str, list[JSON]]) -> JSON:
    """One run's results per setting: each one's figures, their medians, and on over off."""
    out: JSON = {}
    for setting, runs in results.items():
        rows = [figures(part, r) for r in runs]
        names = list(rows[0]) if rows else []
        out[setting] = {"runs": len(rows), "figures": rows, "median": {n: _median([row.get(n) for row in rows]) for n in names}}
    on, off = (out.get(s, {}).get("median", {}) for s in ("on", "off"))
    out["on_vs_off"] = {n: round(on[n] / off[n], 3) if on.get(n) is not None and off.get(n) else None for n in on}
    return out


def run_comparison(runner: Runner, args: argparse.Namespace, order: list[bool]) -> JSON:
    """Every run of :func:`comparison_runs` with authentication on and off, alternated."""
    runs = comparison_runs(args)
    results: dict[str, dict[str, list[JSON]]] = {label: {setting_name(a): [] for a in order} for label, _, _ in runs}
    for pair in range(args.auth_pairs):
        sequence = order if pair % 2 == 0 else order[::-1]
        for label, part, params in runs:
            for auth in sequence:
                runner.auth = auth
                result = runner.run(f"{label}, auth {setting_name(auth)} (pair {pair + 1})", part, params)
                if result is not None:
                    result["pair"] = pair + 1
                    results[label][setting_name(auth)].append(result)
    parts = {label: part for label, part, _ in runs}
    out: JSON = {
        "order": [setting_name(a) for a in order],
        "pairs": args.auth_pairs,
        "runs": {label: {**summarize(parts[label], per), "results": per} for label, per in results.items()},
    }
    plugins0 = results.get(f"fanout plugins0 @ {args.nodes}")
    batched = results.get(f"fanout batched @ {args.nodes}")
    if plugins0 and batched:  # the wall ratio target, pair by pair, per setting
        out["batched_vs_plugins0_wall"] = {
            setting: [
                round(b["wall_s"] / p["wall_s"], 2)
                for p, b in zip(plugins0[setting], batched[setting], strict=False)
                if p["wall_s"] > 0
            ]
            for setting in plugins0
        }
    return out


def table(comparison: JSON) -> str:
    """A short human summary of a comparison: each figure's medians and their ratio."""
    lines = [f"{'run':30} {'figure':42} {'auth on':>12} {'auth off':>12} {'on/off':>7}"]
    for label, run in comparison["runs"].items():
        on, off = run.get("on", {}).get("median", {}), run.get("off", {}).get("median", {})
        for name in on or off:
            ratio = run["on_vs_off"].get(name)
            lines.append(f"{label:30} {name:42} {on.get(name)!s:>12} {off.get(name)!s:>12} {ratio!s:>7}")
    for setting, ratios in (comparison.get("batched_vs_plugins0_wall") or {}).items():
        lines.append(f"batched / plugins0 wall, auth {setting}: {', '.join(str(r) for r in ratios)}")
    return "\n".join(lines)


def main(args: argparse.Namespace, order: list[bool], report: JSON, runner: Runner) -> JSON:
    """Fill *report* with the comparison; the table goes to stderr."""
    parts = args.parts.split(",")
    for part in parts:
        if part not in COMPARED_PARTS:
            runner.skipped.append({"run": part, "reason": "not part of an authentication comparison (--auth on,off)"})
    report["auth_comparison"] = run_comparison(runner, args, order)
    print(table(report["auth_comparison"]), file=sys.stderr, flush=True)
    return report
