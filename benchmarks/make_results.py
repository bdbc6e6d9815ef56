"""Rebuild the README's "Results" section from the benchmarks' JSON files.

    python benchmarks/make_results.py           # rewrite README.md between the markers
    python benchmarks/make_results.py --check   # exit 1 if README.md is out of date

Every table in the section is the markdown its benchmark stored in its JSON, followed by the
command that reproduces it and the machine it ran on; the plot is drawn from the JSON too.
So the README can only quote figures that a committed run produced.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
README = REPO / "README.md"
PLOT = REPO / "docs" / "results_omniglot.png"  # the one plot the README shows
START, END = "<!-- results:start -->", "<!-- results:end -->"

# (file stem, heading) in the order the README shows them.
SECTIONS = [
    ("omniglot_accuracy_vinyals", "Omniglot like for like: the papers' (vinyals) split"),
    ("omniglot_accuracy", "Omniglot accuracy against the published numbers"),
    ("fomaml_gap", "First-order MAML against MAML at matched iterations"),
    ("maml_speed", "Meta-learning speed and memory"),
    ("distillation", "Distillation on MNIST"),
    ("fusion", "Fusion on Omniglot 20-way 1-shot"),
    ("notebook_times", "Notebook run times"),
    ("notebook_times_under_load", "Notebook run times beside a competing process"),
]


def load_results(folder: Path = RESULTS) -> dict[str, dict[str, Any]]:
    """Every ``<name>.json`` in ``folder`` that a benchmark wrote, keyed by name."""
    return {stem: json.loads((folder / f"{stem}.json").read_text())
            for stem, _ in SECTIONS if (folder / f"{stem}.json").exists()}


def reproduce(payload: dict[str, Any]) -> str:
    """The command to quote, or a pointer to each row's command when the rows come from several
    runs (``omniglot_accuracy.py --keep-others`` records one per algorithm)."""
    algorithms = payload.get("results", {}).get("algorithms")
    commands = ({a.get("command") for a in algorithms.values() if isinstance(a, dict)}
                if isinstance(algorithms, dict) else set())
    if len(commands) > 1:
        return "each row's command, listed under the table"
    return f"`{payload['command']}`"


def machine_line(payload: dict[str, Any]) -> str:
    """'2-core Intel …, torch 2.14.1, cpu with 2 threads, 15 min budget, 2026-11-28'."""
    m = payload["machine"]
    where = m.get("gpu", f"{m['cpu_cores']}-core {m['cpu']}")
    budget = f"budget {payload['minutes']:g} min"
    algorithms = payload.get("results", {}).get("algorithms")
    if isinstance(algorithms, dict) and algorithms and all(
            isinstance(a, dict) and "minutes" in a for a in algorithms.values()):
        budget = "budgets " + ", ".join(f"{name} {a['minutes']:g} min"
                                        for name, a in algorithms.items())
    return (f"{where}, torch {m['torch']}, {m['device']} with {m['torch_threads']} torch threads, "
            f"{budget}, run on {payload['date']}")


def render(results: dict[str, dict[str, Any]], plot_path: str | None) -> str:
    """The markdown of the Results section (without the markers)."""
    parts = ["## Results", "",
             "Measured by the scripts in [`benchmarks/`](benchmarks/README.md) on this kit's "
             "reference machine; every table below is generated from the JSON in "
             "`benchmarks/results/` by `python benchmarks/make_results.py`.", ""]
    if plot_path:
        parts += [f"![Omniglot test accuracy of each meta-learner against the published "
                  f"numbers, background split]({plot_path})",
                  "The plot shows the background-split table (below the vinyals one).", ""]
    for stem, heading in SECTIONS:
        if stem not in results:
            continue
        payload = results[stem]
        parts += [f"### {heading}", "", demote_headings(payload["markdown"].strip()), "",
                  f"Reproduce: {reproduce(payload)} ({machine_line(payload)}).", ""]
    return "\n".join(parts).rstrip() + "\n"


def replace_section(readme: str, section: str) -> str:
    """Put ``section`` between the markers in ``readme`` (the markers must exist once)."""
    if readme.count(START) != 1 or readme.count(END) != 1:
        raise ValueError(f"README.md needs exactly one {START} and one {END} marker")
    head, rest = readme.split(START)
    _, tail = rest.split(END)
    return f"{head}{START}\n{section}{END}{tail}"


def draw_plot(results: dict[str, Any], path: Path) -> None:
    """Redraw the Omniglot accuracy plot from its JSON, with the benchmark's own plot code."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from accuracy_report import plot  # imported late: it loads torch and the library

    figure = plot(results["omniglot_accuracy"]["results"])
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100, bbox_inches="tight")


def demote_headings(markdown: str, levels: int = 3) -> str:
    """Put a benchmark's own headings (``# ...``) below the README's ``###`` heading."""
    return "\n".join("#" * levels + line if line.startswith("#") else line
                     for line in markdown.splitlines())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check README.md is current")
    args = parser.parse_args(argv)
    results = load_results()
    has_plot = "omniglot_accuracy" in results
    plot_path = PLOT.relative_to(REPO).as_posix() if has_plot else None
    wanted = replace_section(README.read_text(), render(results, plot_path))
    if args.check:
        if wanted != README.read_text():
            print("README.md's Results section is out of date: run python benchmarks/make_results.py")
            return 1
        print("README.md's Results section matches benchmarks/results/")
        return 0
    if has_plot:
        draw_plot(results, PLOT)
    README.write_text(wanted)
    print(f"rewrote the Results section of {README} from {len(results)} benchmark(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
