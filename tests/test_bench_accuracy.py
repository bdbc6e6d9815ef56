"""Smoke test of the Omniglot accuracy benchmark (issue 8, part 1).

The script runs in a subprocess with a tiny budget, a tiny Conv4 and a few test episodes on
offline data (``isolated_data``: the procedurally generated glyphs), and must write its JSON and
markdown with the keys the README generator reads, for every algorithm and test setting.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NAME = "omniglot_accuracy"
ALGORITHMS = ("protonet", "maml", "fomaml", "anil", "reptile")
SETTINGS = ("5w1s", "5w5s", "20w1s", "20w5s")


def test_omniglot_accuracy_smoke(isolated_data, tmp_path):
    command = [sys.executable, str(REPO / "benchmarks" / f"{NAME}.py"), "--device", "cpu",
               "--threads", "1", "--out", str(tmp_path), "--minutes", "0.002", "--episodes", "4",
               "--width", "8", "--test-steps", "1", "--profile-steps", "1",
               "--curve-episodes", "2", "--protonet-objective", "all_splits",
               "--protonet-warmup", "0.1", "--protonet-augment"]
    finished = subprocess.run(command, cwd=REPO, env=dict(os.environ), capture_output=True,
                              text=True, timeout=600)
    assert finished.returncode == 0, finished.stdout[-2000:] + finished.stderr[-3000:]
    payload = json.loads((tmp_path / f"{NAME}.json").read_text())
    assert payload["benchmark"] == NAME and payload["machine"]["device"] == "cpu"
    results = payload["results"]
    assert results["data_source"] == "glyphs" and results["episodes"] == 4
    assert list(results["algorithms"]) == list(ALGORITHMS)
    for name, result in results["algorithms"].items():
        assert set(result["accuracy"]) == set(SETTINGS) == set(result["published"])
        for setting, value in result["accuracy"].items():
            if value is None:  # MAML's budget all goes to its 5-way model
                assert name == "maml" and setting.startswith("20w"), (name, setting)
                continue
            assert 0 <= value["mean"] <= 1 and value["half_width"] >= 0 and value["n"] == 4
        assert all(t["step_ms"]["p99"] >= t["step_ms"]["median"] > 0 for t in result["training"])
        assert all("checkpoint" in t for t in result["training"])  # the halfway point
        assert result["iterations"] >= len(result["training"]) >= 1
        assert result["tasks_seen"] >= result["iterations"]
        for key in ("train_seconds", "eval_seconds", "cpu_minutes"):
            assert result[key] > 0, (name, key)
        assert all(model["cpu_seconds"] > 0 for model in result["training"])
        assert result["config"]["width"] == 8
    profiled = {(row["algorithm"], row["variant"]) for row in results["profile"]}
    assert {(name, "channels-last float32") for name in ALGORITHMS} <= profiled
    assert all(row["ms_per_step"] > 0 for row in results["profile"])
    assert results["algorithms"]["protonet"]["published"]["5w1s"] == 0.988
    protonet_config = results["algorithms"]["protonet"]["config"]
    assert protonet_config["objective"] == "all_splits"
    assert protonet_config["warmup"] == 0.1 and protonet_config["augment"] is True
    assert results["algorithms"]["maml"]["config"]["augment"] is False
    assert results["algorithms"]["maml"]["accuracy"]["20w1s"] is None
    assert results["algorithms"]["anil"]["published"]["5w1s"] is None
    table = (tmp_path / f"{NAME}.md").read_text()
    accuracy_table = table.split("\n## ")[0]
    assert "## Learning curve" in table
    assert accuracy_table.count("\n| ") == 1 + len(ALGORITHMS)  # header + a row per algorithm
    assert "98.8" in table and "—" in table
    assert (tmp_path / f"{NAME}.png").stat().st_size > 0
    assert "separate runs" not in table  # one run, one command (the Reproduce line)

    # --keep-others: re-run ProtoNet alone and keep the other rows with their own command
    again = [*command, "--algorithms", "protonet", "--keep-others", "--protonet-lr", "2e-3"]
    finished = subprocess.run(again, cwd=REPO, env=dict(os.environ), capture_output=True,
                              text=True, timeout=600)
    assert finished.returncode == 0, finished.stdout[-2000:] + finished.stderr[-3000:]
    merged = json.loads((tmp_path / f"{NAME}.json").read_text())["results"]["algorithms"]
    assert list(merged) == list(ALGORITHMS)
    assert merged["protonet"]["config"]["outer_lr"] == 2e-3
    assert "--keep-others" in merged["protonet"]["command"]
    assert merged["maml"] == {**results["algorithms"]["maml"], "command": payload["command"]}
    assert "separate runs" in (tmp_path / f"{NAME}.md").read_text()


def test_omniglot_accuracy_rejects_an_unknown_algorithm(isolated_data, tmp_path):
    command = [sys.executable, str(REPO / "benchmarks" / f"{NAME}.py"), "--out", str(tmp_path),
               "--algorithms", "protonet,snail"]
    finished = subprocess.run(command, cwd=REPO, env=dict(os.environ), capture_output=True,
                              text=True, timeout=120)
    assert finished.returncode != 0 and "snail" in finished.stderr
