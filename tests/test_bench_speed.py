"""Smoke test of benchmarks/maml_speed.py: a tiny run writes JSON and markdown with its figures."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
import maml_speed  # noqa: E402


def test_maml_speed_smoke(isolated_data, tmp_path):
    out = tmp_path / "results"
    command = [sys.executable, str(REPO / "benchmarks" / "maml_speed.py"), "--minutes", "0.02",
               "--device", "cpu", "--threads", "1", "--inner-steps", "1", "--width", "8",
               "--methods", "plain,kit_loop,kit_batched", "--max-iterations", "3",
               "--rounds", "2",
               "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ),
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    payload = json.loads((out / "maml_speed.json").read_text())
    assert payload["benchmark"] == "maml_speed" and payload["machine"]["device"] == "cpu"
    entry = payload["results"]["inner_steps"]["1"]
    methods = entry["methods"]
    for name in ("plain", "kit_loop", "kit_batched"):
        figures = methods[name]
        assert figures["median_ms"] > 0 and figures["n_iterations"] >= 6  # 3 in each round
        assert figures["rounds"] == 2 and len(figures["round_medians_ms"]) == 2
        assert figures["quartiles_ms"][0] <= figures["median_ms"] <= figures["quartiles_ms"][1]
        assert figures["peak_memory_mb"] >= 0 and figures["peak_rss_mb"] > 0
        assert figures["speedup_vs_reference"] > 0
    assert entry["reference"] == "plain"
    assert "target_met" in methods["kit_batched"]
    markdown = (out / "maml_speed.md").read_text()
    assert "kit_batched" in markdown and "speed-up" in markdown


def test_ratios_are_against_the_faster_reference():
    methods = {"plain": {"median_ms": 300.0, "peak_memory_mb": 200.0},
               "higher": dict(maml_speed.SKIPPED_HIGHER),
               "kit_loop": {"median_ms": 150.0, "peak_memory_mb": 400.0},
               "kit_batched": {"median_ms": 180.0, "peak_memory_mb": 150.0}}
    summary = maml_speed.compare(methods)
    assert summary["reference"] == "plain"
    assert methods["kit_loop"]["speedup_vs_reference"] == 2.0
    assert not methods["kit_loop"]["target_met"]      # twice as fast, but twice the memory
    assert methods["kit_batched"]["target_met"]       # 1.67x as fast with less memory
    assert "vmap_speedup_vs_loop" not in summary    # no kit_vmap timed
