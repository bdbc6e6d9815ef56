"""Smoke tests of issue 17's small benchmarks: the ProtoNet levers and the FOMAML gap."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run(script: str, tmp_path: Path, *flags: str) -> dict:
    command = [sys.executable, str(REPO / "benchmarks" / script), "--device", "cpu",
               "--threads", "1", "--out", str(tmp_path), *flags]
    done = subprocess.run(command, cwd=REPO, env=dict(os.environ), capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return json.loads((tmp_path / f"{Path(script).stem}.json").read_text())


def test_protonet_levers_times_every_variant(isolated_data, tmp_path):
    payload = run("protonet_levers.py", tmp_path, "--repeats", "2", "--width", "8",
                  "--no-compile")
    variants = payload["results"]["variants"]
    assert "nchw" in variants and "… + glibc keeps freed memory" in variants
    assert not any("compile" in name for name in variants)
    assert all(v["median_ms"] > 0 for v in variants.values())
    assert "speed vs nchw" in (tmp_path / "protonet_levers.md").read_text()


def test_fomaml_gap_records_accuracy_and_gradient_cosine_per_arm(isolated_data, tmp_path):
    payload = run("fomaml_gap.py", tmp_path, "--iterations", "4", "--episodes", "2",
                  "--width", "8")
    arms = payload["results"]["arms"]
    assert [(a["first_order"], a["inner_lr"]) for a in arms] == [
        (False, 0.4), (True, 0.4), (True, 0.1), (False, 0.1)]
    for arm in arms:
        assert [p["iteration"] for p in arm["points"]] == [1, 2, 3, 4]
        assert all(-1 <= p["cosine"] <= 1 and 0 <= p["accuracy"] <= 1 for p in arm["points"])
