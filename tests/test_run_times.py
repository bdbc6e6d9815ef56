"""One source of run times: headers and README quote benchmarks/results/notebook_times.json."""

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("sync_run_times", REPO / "tools" / "sync_run_times.py")
sync = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sync)

CPU = sync.load_minutes(sync.CPU_TIMES)
GPU = sync.load_minutes(sync.GPU_TIMES)
MASTERS = sorted((REPO / "notebooks").glob("*.ipynb"))


def test_every_notebook_was_timed_and_ran_to_the_end():
    assert sorted(CPU) == [p.name for p in MASTERS], (
        "benchmarks/results/notebook_times.json lacks a notebook or recorded a failure: "
        "rerun python benchmarks/notebook_times.py on an idle machine")


@pytest.mark.parametrize("master", MASTERS, ids=lambda p: p.name.split("_")[0])
def test_the_header_quotes_the_measured_time(master):
    header = "".join(json.loads(master.read_text(encoding="utf-8"))["cells"][0]["source"])
    expected = sync.header_sentence(master.name, CPU, GPU)
    assert expected in header, (f"{master.name}: header should say {expected!r}; "
                                "run python tools/sync_run_times.py")


def test_the_readme_learning_path_quotes_the_measured_times():
    readme = sync.README.read_text(encoding="utf-8")
    rows = sync.ROW.findall(readme)
    assert sorted(name for _, _, name in rows) == [p.name for p in MASTERS]
    assert sync.synced_readme(readme, CPU, GPU) == readme, "run python tools/sync_run_times.py"


def test_a_header_without_the_generated_sentence_is_refused():
    with pytest.raises(ValueError, match="exactly one generated"):
        sync.synced_header("# Title\n\n**Run time**: about 3 min.\n", "x", "demo.ipynb")


def test_minutes_are_rounded_to_one_decimal():
    assert sync.minutes_text(1.66) == "1.7 min" and sync.minutes_text(None) == "not measured"
