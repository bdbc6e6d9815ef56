"""The README's Results section is generated from the committed benchmark JSON, and matches it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
import make_results  # noqa: E402


def test_readme_results_section_matches_the_committed_json():
    assert make_results.main(["--check"]) == 0, "run: python benchmarks/make_results.py"


def test_render_quotes_each_table_with_its_command_and_machine(tmp_path: Path):
    payload = {"benchmark": "fusion", "command": "python benchmarks/fusion.py --minutes 8",
               "minutes": 8, "date": "2026-11-28", "markdown": "| a | b |\n|---|---|\n| 1 | 2 |\n",
               "machine": {"cpu": "Some CPU", "cpu_cores": 2, "torch_threads": 2,
                           "torch": "2.14.1", "device": "cpu"},
               "results": {}}
    (tmp_path / "fusion.json").write_text(json.dumps(payload))
    section = make_results.render(make_results.load_results(tmp_path), plot_path=None)
    assert "### Fusion on Omniglot 20-way 1-shot" in section
    assert "| 1 | 2 |" in section
    assert "Reproduce: `python benchmarks/fusion.py --minutes 8` (2-core Some CPU" in section


def test_replace_section_needs_the_markers():
    with pytest.raises(ValueError, match="marker"):
        make_results.replace_section("# no markers here\n", "## Results\n")
    readme = f"a\n{make_results.START}\nold\n{make_results.END}\nb\n"
    assert make_results.replace_section(readme, "new\n") == (
        f"a\n{make_results.START}\nnew\n{make_results.END}\nb\n")


def test_rows_from_separate_runs_point_to_their_own_commands():
    one = {"command": "python a.py", "results": {"algorithms": {
        "protonet": {"command": "python a.py"}, "maml": {"command": "python a.py"}}}}
    assert make_results.reproduce(one) == "`python a.py`"
    merged = {"command": "python b.py", "results": {"algorithms": {
        "protonet": {"command": "python b.py"}, "maml": {"command": "python a.py"}}}}
    assert "each row's command" in make_results.reproduce(merged)


@pytest.mark.parametrize("mean, half_width, verdict", [
    (0.988, 0.001, "**met**"), (0.986, 0.002, "**met by the mean, not by the CI's low end**"),
    (0.984, 0.001, "**not met**")])
def test_a_floor_is_met_only_when_the_whole_interval_clears_it(mean, half_width, verdict):
    import accuracy_report  # noqa: PLC0415 (needs benchmarks/ on the path, set above)

    figure = {"mean": mean, "half_width": half_width, "n": 600}
    results = {"split": "vinyals", "algorithms": {"protonet": {
        "accuracy": {"5w1s": figure, "20w1s": None}, "train_seconds": 900.0, "minutes": 15}}}
    lines = accuracy_report.targets(results).splitlines()
    assert verdict in next(line for line in lines if "5w1s" in line)
