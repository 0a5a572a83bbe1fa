"""Smoke runs of the benchmarks: they run and count correctly (their timing is not checked here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def test_fanout_smoke_counts_every_event_and_batches_requests() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.fanout", "--nodes", "1000", "--plugins", "2", "--variants", "plugins0,batched,codec_floor"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    report = json.loads(out.stdout)
    for name in ("plugins0", "batched"):
        variant = report["variants"][name]
        assert variant["phase"] == "Succeeded"
        assert variant["nodes"] == 1000
        assert variant["events_lost"] == 0
        assert variant["final_events_received"] == variant["final_events_expected"] == 1002
    batched = report["variants"]["batched"]
    assert batched["decisions"] == 1000 * 2 * 2
    # One request per plugin per hook per 1000-node wave: 2 plugins x 2 hooks.
    assert batched["requests"] == 4
    assert report["variants"]["codec_floor"]["records"] == 4000


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
    assert report["variants"]["batched"]["requests"] == 2 * 2  # 2000 items in waves of 1000, 2 plugins
    assert report["variants"]["per_call"]["requests"] == 50 * 2
