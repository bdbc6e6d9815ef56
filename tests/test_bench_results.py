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
