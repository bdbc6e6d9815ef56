"""The Omniglot accuracy report: a markdown table and a bar plot, both from the results dict.

``make_results.py`` calls :func:`plot` on the committed JSON to redraw the README's figure, so
both functions read only the results dict that ``omniglot_accuracy.py`` writes.
"""

from __future__ import annotations

from typing import Any

import common
from kdmeta_lib.data import FewShotData
from recipes import SETTINGS

# Where the notes on what each speed change bought live (stored in the JSON's "engineering").
ENGINEERING_NOTES = "benchmarks/README.md#engineering-notes-what-each-speed-change-bought"


def markdown(results: dict[str, Any], data: FewShotData) -> str:
    """The results table: ours (mean ± CI) beside the published numbers, plus the cost."""
    settings = [f"{w}w{s}s" for w, s in SETTINGS]
    headers = ["algorithm", *(f"{s} ours / paper" for s in settings), "train min",
               "iterations", "tasks", "eval min", "CPU-min"]
    rows = []
    for name, result in results["algorithms"].items():
        cells = []
        for setting in settings:
            ours = result["accuracy"][setting]
            paper = result["published"][setting]
            cells.append(f"{100 * ours['mean']:.1f} ± {100 * ours['half_width']:.1f} / "
                         f"{'—' if paper is None else f'{100 * paper:.1f}'}")
        rows.append([name, *cells, f"{result['train_seconds'] / 60:.1f}",
                     f"{result['iterations']:,}", f"{result['tasks_seen']:,}",
                     f"{result['eval_seconds'] / 60:.1f}", f"{result['cpu_minutes']:.1f}"])
    n = next(iter(results["algorithms"].values()))["accuracy"]["5w1s"]["n"]
    text = (f"# Omniglot few-shot accuracy (%)\n\nData: {data.description}.\n\n"
            f"Mean ± 95% CI over {n} test episodes per setting from the evaluation alphabets "
            "(15 queries per class in 5-way, 10 in 20-way episodes); published numbers after "
            "the slash (— : none published). The papers test on a random character split "
            "(Vinyals et al.), which shares alphabets with training; ours does not, so it is "
            "harder.\n\n")
    text += common.markdown_table(headers, rows)
    text += f"\n## Engineering (what each speed change bought)\n\nSee `{results['engineering']}`.\n"
    if results["profile"]:
        text += ("\nThe table below re-measures the layout, bfloat16 and thread choices in this "
                 "run.\n\n### Training step time in this run (median ms, first step excluded)\n\n"
                 + common.markdown_table(
                     ["algorithm", "variant", "threads", "ms per step"],
                     [[row["algorithm"], row["variant"], row["threads"], row["ms_per_step"]]
                      for row in results["profile"]]))
    return text


def plot(results: dict[str, Any]):
    """Grouped bars: accuracy per test setting and algorithm, CI whiskers, published markers."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = [f"{w}w{s}s" for w, s in SETTINGS]
    names = list(results["algorithms"])
    figure, axes = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / max(1, len(names))
    lowest = 100.0
    for index, name in enumerate(names):
        result = results["algorithms"][name]
        xs = [s + (index - (len(names) - 1) / 2) * width for s in range(len(settings))]
        means = [100 * result["accuracy"][s]["mean"] for s in settings]
        errors = [100 * result["accuracy"][s]["half_width"] for s in settings]
        lowest = min(lowest, *means)
        axes.bar(xs, means, width, yerr=errors, capsize=2, label=name)
        published = [(x, 100 * result["published"][s]) for x, s in zip(xs, settings)
                     if result["published"][s] is not None]
        if published:
            axes.scatter(*zip(*published), marker="_", s=200, color="black", zorder=3,
                         label="published" if index == 0 else None)
    axes.set_xticks(range(len(settings)), settings)
    axes.set_ylim(max(0.0, min(lowest, 88.0) - 3), 100.5)
    axes.set_xlabel("test setting (N-way K-shot)")
    axes.set_ylabel("test accuracy (%), 95% CI")
    axes.set_title("Omniglot evaluation alphabets: kit (bars) vs published (black marks)")
    axes.legend(loc="lower left", fontsize=8, ncol=2)
    figure.tight_layout()
    return figure
