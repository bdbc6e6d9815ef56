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
    split = results.get("split", "background")
    classes = ("the vinyals test characters (Snell et al.'s split, like the papers)"
               if split == "vinyals" else
               "the evaluation alphabets (Lake et al.'s split: no alphabet shared with "
               "training, and 964 training characters where the papers have 1,200)")
    text = (f"# Omniglot few-shot accuracy (%), {split} split\n\nData: {data.description}.\n\n"
            f"Mean ± 95% CI over {n} test episodes per setting from {classes} "
            "(15 queries per class in 5-way, 10 in 20-way episodes), with the kit's "
            "transductive batch norm; published numbers after the slash (— : none "
            "published).\n\n")
    text += common.markdown_table(headers, rows)
    text += f"\n## Engineering (what each speed change bought)\n\nSee `{results['engineering']}`.\n"
    if results["profile"]:
        text += ("\nThe table below re-measures the layout, bfloat16 and thread choices in this "
                 "run.\n\n### Training step time in this run (median ms, first step excluded)\n\n"
                 + common.markdown_table(
                     ["algorithm", "variant", "threads", "ms per step"],
                     [[row["algorithm"], row["variant"], row["threads"], row["ms_per_step"]]
                      for row in results["profile"]]))
    return text + non_transductive_table(results, settings)


def non_transductive_table(results: dict[str, Any], settings: list[str]) -> str:
    """Transductive vs non-transductive accuracy on the same episodes (the papers' protocol is
    the second: no query sees another query's batch-norm statistics)."""
    rows = []
    for name, result in results["algorithms"].items():
        figures = [result["accuracy"][setting].get("non_transductive") for setting in settings]
        if all(figure is None for figure in figures):
            continue  # a learner without a non-transductive evaluation (ANIL, Reptile)
        rows.append([name, *(
            f"{100 * result['accuracy'][setting]['mean']:.1f} / "
            + ("—" if figure is None else
               f"{100 * figure['mean']:.1f} ± {100 * figure['half_width']:.1f}")
            for setting, figure in zip(settings, figures))])
    if not rows:
        return ""
    return ("\n## Test-time batch norm\n\nTransductive (statistics of support and queries "
            "together) / non-transductive (each query normalised with the support's statistics "
            "only), on the same episodes; the paper comparison uses the second.\n\n"
            + common.markdown_table(["algorithm", *(f"{s} trans. / non-trans."
                                                    for s in settings)], rows))


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
    test_classes = ("vinyals test characters" if results.get("split") == "vinyals"
                    else "evaluation alphabets")
    axes.set_title(f"Omniglot {test_classes}: kit (bars) vs published (black marks)")
    axes.legend(loc="lower left", fontsize=8, ncol=2)
    figure.tight_layout()
    return figure
