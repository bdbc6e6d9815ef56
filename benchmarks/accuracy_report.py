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


# Issue 17's targets on the vinyals split, non-transductive: (algorithm, setting, floor %).
FLOORS = (("protonet", "5w1s", 98.5), ("protonet", "20w1s", 95.0), ("maml", "5w1s", 97.0))


def headline(figure: dict[str, Any] | None) -> dict[str, Any] | None:
    """The figure the paper comparison uses: non-transductive where measured."""
    if figure is None:
        return None
    return figure.get("non_transductive") or figure


def percent(figure: dict[str, Any] | None) -> str:
    return "not trained" if figure is None else (
        f"{100 * figure['mean']:.1f} ± {100 * figure['half_width']:.1f}")


def markdown(results: dict[str, Any], data: FewShotData) -> str:
    """The results: ours (non-transductive mean ± CI) beside the published numbers, the cost
    (wall and CPU minutes, threads, per-step times), the learning curve and the targets."""
    settings = [f"{w}w{s}s" for w, s in SETTINGS]
    headers = ["algorithm", *(f"{s} ours / paper" for s in settings), "train min", "threads",
               "iterations", "ms / step (mean; median; p99)", "CPU-min", "eval min"]
    rows, n = [], None
    machine = results.get("machine", {})
    for name, result in results["algorithms"].items():
        cells = []
        for setting in settings:
            ours = headline(result["accuracy"][setting])
            n = n or (ours or {}).get("n")
            paper = result["published"][setting]
            cells.append(f"{percent(ours)} / {'—' if paper is None else f'{100 * paper:.1f}'}")
        steps = "; ".join(
            f"{t['model']}: {t['step_ms']['mean']:.0f}; {t['step_ms']['median']:.0f}; "
            f"{t['step_ms']['p99']:.0f}" if "step_ms" in t else f"{t['ms_per_iteration']:.0f}"
            for t in result["training"])
        rows.append([name, *cells, f"{result['train_seconds'] / 60:.1f}",
                     machine.get("torch_threads", "?"), f"{result['iterations']:,}", steps,
                     f"{result['cpu_minutes']:.1f}", f"{result['eval_seconds'] / 60:.1f}"])
    split = results.get("split", "background")
    classes = ("the vinyals test characters (Snell et al.'s split, like the papers)"
               if split == "vinyals" else
               "the evaluation alphabets (Lake et al.'s split: no alphabet shared with "
               "training, and 964 training characters where the papers have 1,200)")
    protocol = ("non-transductive batch norm where the learner allows it (each query normalised "
                "with its support's statistics only, so no query sees another; the papers' "
                "running statistics never see other queries either); the rows of ANIL and "
                "Reptile, which have no such evaluation, are transductive")
    text = (f"# Omniglot few-shot accuracy (%), {split} split\n\nData: {data.description}.\n\n"
            f"Machine: {machine.get('cpu', 'unknown CPU')}, {machine.get('cpu_cores', '?')} "
            f"cores, torch {machine.get('torch', '?')} with "
            f"{machine.get('torch_threads', '?')} threads. Budgets are wall time; CPU-min "
            "counts all threads of training and testing.\n\n"
            f"Mean ± 95% CI over {n} test episodes per setting from {classes} "
            "(15 queries per class in 5-way, 10 in 20-way episodes), with "
            f"{protocol}; published numbers after the slash (— : none published).\n\n")
    text += common.markdown_table(headers, rows)
    text += runs(results) + learning_curve(results, settings) + targets(results)
    text += f"\n## Engineering (what each speed change bought)\n\nSee `{results['engineering']}`.\n"
    if results["profile"]:
        text += ("\nThe table below re-measures the layout, bfloat16 and thread choices in this "
                 "run.\n\n### Training step time in this run (median ms, first step excluded)\n\n"
                 + common.markdown_table(
                     ["algorithm", "variant", "threads", "ms per step"],
                     [[row["algorithm"], row["variant"], row["threads"], row["ms_per_step"]]
                      for row in results["profile"]]))
    return text + non_transductive_table(results, settings)


def runs(results: dict[str, Any]) -> str:
    """The command behind each row, when the rows come from more than one run
    (``omniglot_accuracy.py --keep-others``)."""
    commands = {name: result.get("command") for name, result in results["algorithms"].items()}
    if len(set(commands.values())) <= 1:
        return ""
    return ("\nThe rows come from separate runs on this machine:\n\n"
            + "\n".join(f"- {name}: `{command}`" for name, command in commands.items()) + "\n")


def learning_curve(results: dict[str, Any], settings: list[str]) -> str:
    """Accuracy halfway through the budget (mid-schedule) beside the end of the run."""
    rows = []
    for name, result in results["algorithms"].items():
        for training in result["training"]:
            point = training.get("checkpoint")
            if not point:
                continue
            rows.append([training["model"], f"{point['train_seconds'] / 60:.1f} min, "
                         f"{point['iterations']:,} it.",
                         *(percent(point["result"].get(s)) if s in point["result"] else "—"
                           for s in settings)])
            rows.append([training["model"], f"{training['train_seconds'] / 60:.1f} min, "
                         f"{training['iterations']:,} it. (end)",
                         *(percent(headline(result["accuracy"][s])) if s in point["result"]
                           else "—" for s in settings)])
    if not rows:
        return ""
    return ("\n## Learning curve\n\nNon-transductive accuracy halfway through the budget (the "
            "learning rate still mid-cosine, so this under-estimates a run that ends there) and "
            "at the end; the halfway point uses the first episodes of the final test.\n\n"
            + common.markdown_table(["model", "when", *settings], rows))


def targets(results: dict[str, Any]) -> str:
    """Each floor of issue 17 met or not, with its figure (non-transductive, this split)."""
    if results.get("split") != "vinyals":
        return ""
    lines = []
    for name, setting, floor in FLOORS:
        result = results["algorithms"].get(name)
        if result is None:
            continue
        figure = headline(result["accuracy"][setting])
        minutes = result["train_seconds"] / 60
        verdict = ("not trained" if figure is None else
                   ("met" if 100 * (figure["mean"] - figure["half_width"]) >= floor else
                    "met by the mean, not by the CI's low end" if 100 * figure["mean"] >= floor
                    else "not met"))
        lines.append(f"- {name} {setting}: floor {floor:.1f} % in {result['minutes']:g} min: "
                     f"**{verdict}** ({percent(figure)} %, {minutes:.1f} min of training)")
    return "\n## Targets\n\n" + "\n".join(lines) + "\n" if lines else ""


def non_transductive_table(results: dict[str, Any], settings: list[str]) -> str:
    """Transductive vs non-transductive accuracy on the same episodes (the papers' protocol is
    the second: no query sees another query's batch-norm statistics)."""
    rows = []
    for name, result in results["algorithms"].items():
        present = [s for s in settings if result["accuracy"][s] is not None]
        figures = {s: result["accuracy"][s].get("non_transductive") for s in present}
        if all(figure is None for figure in figures.values()):
            continue  # a learner without a non-transductive evaluation (ANIL, Reptile)
        rows.append([name, *(
            "not trained" if setting not in present else
            f"{100 * result['accuracy'][setting]['mean']:.1f} / "
            + ("—" if figures[setting] is None else
               f"{100 * figures[setting]['mean']:.1f} ± "
               f"{100 * figures[setting]['half_width']:.1f}")
            for setting in settings)])
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
        figures = [headline(result["accuracy"][s]) or {"mean": 0.0, "half_width": 0.0}
                   for s in settings]  # a setting with no model is drawn as an empty bar
        means = [100 * figure["mean"] for figure in figures]
        errors = [100 * figure["half_width"] for figure in figures]
        lowest = min(lowest, *(m for m in means if m > 0))
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
