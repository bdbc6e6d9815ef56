"""The fusion benchmark's statistics, tables and plot, from the jobs' predictions.

Every model is tested on the same episodes, so two models are compared task by task (paired CI
over episodes, each seed's arms averaged first) and seed by seed (CI over seeds, Student's t).
"""

from __future__ import annotations

import math

import torch

from common import markdown_table
from fusion_jobs import accuracy_of
from kdmeta_lib import mean_ci

TARGET = 0.5


def ci(values) -> dict:
    values = torch.as_tensor(values, dtype=torch.float64)
    if values.numel() < 2:
        return {"mean": values.mean().item(), "half_width": None, "n": values.numel()}
    c = mean_ci(values)
    return {"mean": c.mean, "half_width": c.half_width, "n": c.n}


def pct(d: dict, digits: int = 1) -> str:
    if d["half_width"] is None:
        return f"{100 * d['mean']:.{digits}f}"
    return f"{100 * d['mean']:.{digits}f} ± {100 * d['half_width']:.{digits}f}"


def summarise(done: dict, args, data, subset, teacher, teacher_seconds, from_cache,
              seconds) -> dict:
    q = args.test_query
    acc = {name: accuracy_of(r["test"], q) for name, r in done.items() if "test" in r}
    teacher_pred = done["teacher"]["test"]
    fidelity = {name: (r["test"] == teacher_pred).float().mean(1) for name, r in done.items()
                if "test" in r}
    t = acc["teacher"]
    seeds = list(range(args.seed, args.seed + args.seeds))

    def row(name: str) -> dict:
        r = done[name]
        return {"test": ci(acc[name]), "train": ci(r["train_accuracy"]),
                "fidelity": ci(fidelity[name]), "seconds": r["seconds"], "steps": r["steps"],
                "parameters": r["parameters"], "logit_spread": r["spread"]}

    capacity = {"teacher": dict(row("teacher"), steps=args.teacher_steps)}
    for name in sorted((n for n in done if n.startswith("capacity w")), key=lambda n: int(n[10:])):
        capacity[name.split()[1]] = row(name)

    def over_seeds(arm: str) -> torch.Tensor:  # [seeds, episodes]
        return torch.stack([acc[f"{arm} s{seed}"] for seed in seeds])

    arms = {}
    alone = over_seeds("a")
    for arm in ("a", "b", "c", "d", "e"):
        if f"{arm} s{seeds[0]}" not in acc:
            continue
        x = over_seeds(arm)
        gain = x.mean(1) - alone.mean(1)
        gaps = [(x[i].mean() - alone[i].mean()).item() / (t.mean() - alone[i].mean()).item()
                for i in range(len(seeds))]
        arms[arm] = {"test": ci(x.mean(1)), "per_seed": x.mean(1).tolist(),
                     "train": ci([done[f"{arm} s{s}"]["train_accuracy"].mean() for s in seeds]),
                     "fidelity": ci([fidelity[f"{arm} s{s}"].mean() for s in seeds]),
                     "seconds": sum(done[f"{arm} s{s}"]["seconds"] for s in seeds) / len(seeds),
                     "steps": [done[f"{arm} s{s}"]["steps"] for s in seeds],
                     "gain_over_a_seeds": ci(gain), "gain_over_a_episodes": ci((x - alone).mean(0)),
                     "gap_recovered": ci(gaps),
                     "gap_recovered_pooled": gap(alone.mean(), x.mean(), t.mean())}
    paired = {}
    for left, right in (("c", "d"), ("c", "e"), ("b", "e"), ("c", "b")):
        if left in arms and right in arms:
            diff = over_seeds(left) - over_seeds(right)
            paired[f"{left} − {right}"] = {"episodes": ci(diff.mean(0)), "seeds": ci(diff.mean(1))}
    first = f"s{args.seed}"
    clock = None
    if f"a at c's time {first}" in acc:
        x = acc[f"a at c's time {first}"]
        clock = {"test": ci(x), "seconds": done[f"a at c's time {first}"]["seconds"],
                 "steps": done[f"a at c's time {first}"]["steps"],
                 "train": ci(done[f"a at c's time {first}"]["train_accuracy"]),
                 "minus_a": ci(x - acc[f"a {first}"]), "c_minus_it": ci(acc[f"c {first}"] - x),
                 "c_seconds": done[f"c {first}"]["seconds"]}
    distilled = {}
    for name in ("b", "normalised", "relational", "more_shots", "per_task"):
        key = f"{name} {first}"
        if key in acc:
            distilled[name] = dict(row(key), minus_b=ci(acc[key] - acc[f"b {first}"]),
                                   gap_recovered=gap(acc[f"a {first}"].mean(), acc[key].mean(),
                                                     t.mean()))
    budget = {}
    for kind in ("alone", "fused", "alone-matched"):
        for n in args.budget_steps:
            key = f"budget {kind} {n}"
            if key in acc:
                budget.setdefault(kind, {})[str(n)] = row(key)
    held = {name.split(": ", 1)[1]: ci(r["accuracy"]) for name, r in sorted(done.items())
            if name.startswith("held-out")}
    if held:
        base = done["held-out: student as trained"]["accuracy"]
        for name, r in done.items():
            if name.startswith("held-out") and "as trained" not in name:
                held[name.split(": ", 1)[1]]["minus_student"] = ci(r["accuracy"] - base)
    best = max((a for a in ("b", "c") if a in arms),
               key=lambda a: arms[a]["gap_recovered_pooled"] or -1)
    targets = {
        "best_arm": best,
        "gap_recovered_at_least_half": (arms[best]["gap_recovered_pooled"] or 0) >= TARGET,
        "gain_over_a_seed_ci_above_zero": low(arms[best]["gain_over_a_seeds"]) > 0,
        "c_beats_d_paired": "c − d" in paired and low(paired["c − d"]["episodes"]) > 0,
        "moonshot_c_beats_e_paired": "c − e" in paired and low(paired["c − e"]["episodes"]) > 0,
    }
    return {"data": data.source, "description": data.description, "setting": "20-way 1-shot",
            "subset_classes": len(subset), "train_classes": int(data.train.shape[0]),
            "episodes": args.episodes, "test_query": q, "seeds": seeds,
            "teacher": {"width": args.teacher_width, "steps": args.teacher_steps,
                        "from_cache": from_cache, "seconds": teacher_seconds},
            "student_width": args.student_width, "budget_width": args.budget_width,
            "alpha": args.alpha,
            "temperature": args.temperature, "capacity": capacity, "arms": arms,
            "paired": paired, "equal_time_alone": clock, "distilled": distilled, "budget": budget, "held_out": held,
            "targets": targets, "seconds": seconds, "workers": args.workers}


def gap(alone, arm, teacher) -> float | None:
    alone, arm, teacher = float(alone), float(arm), float(teacher)
    return None if teacher == alone else (arm - alone) / (teacher - alone)


def low(d: dict) -> float:
    return -math.inf if d["half_width"] is None else d["mean"] - d["half_width"]


def share(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f} %"


HELD_OUT_ORDER = ["student as trained", "+ adapted on the support alone",
                  "+ self-training on the pool", "+ teacher-guided on the pool", "the teacher itself"]
ARM_NAMES = {"a": "(a) alone on the subset", "b": "(b) fused on the subset",
             "c": "(c) (b) + label-free transfer episodes (teacher)",
             "d": "(d) control: (c) with (a)'s student as teacher",
             "e": "(e) alone with all labels", "a at c's time": "(a) at (c)'s wall-clock time"}


def render(r: dict):
    """The markdown (README Results) and a figure (the budget curve)."""
    cap = r["capacity"]
    lines = [f"Omniglot 20-way 1-shot ({r['data']}), {r['episodes']} test episodes "
             f"({r['test_query']} queries per class) shared by every model; teacher Conv4-"
             f"{r['teacher']['width']} meta-trained on all {r['train_classes']} training classes "
             f"for {r['teacher']['steps']} steps. Every model is tested the same way "
             "(`protonet.test_logits`: batch norm with the statistics of 1,000 random test images "
             "rather than each episode's, so each image is embedded once). Mean ± 95% CI.", "",
             "# Capacity diagnosis (all labels)", "",
             markdown_table(["model", "parameters", "steps", "train episodes (%)",
                             "test episodes (%)", "train − test", "agrees with teacher (%)"],
                            [[name if name == "teacher" else f"Conv4-{name[1:]}", v["parameters"],
                              v["steps"], pct(v["train"]), pct(v["test"]),
                              f"{100 * (v['train']['mean'] - v['test']['mean']):.1f}",
                              pct(v["fidelity"])] for name, v in cap.items()])]
    arms = r["arms"]
    lines += [f"# The data-limited student (Conv4-{r['student_width']}, labels on "
              f"{r['subset_classes']} of {r['train_classes']} classes)", "",
              f"{len(r['seeds'])} seeds; α = {r['alpha']:g}, T = {r['temperature']:g}; test: mean "
              "± CI over seeds; gain and gap recovered: CI over seeds.", "",
              markdown_table(["arm", "train episodes (%)", "test (%)", "gain over (a), points",
                              "gap recovered", "seconds", "steps"],
                             [[ARM_NAMES[k], pct(v["train"]), pct(v["test"]),
                               pct(v["gain_over_a_seeds"]), pct(v["gap_recovered"], 0) + " %",
                               f"{v['seconds']:.0f}", "/".join(map(str, sorted(set(v["steps"]))))]
                              for k, v in arms.items()]),
              *([f"Equal wall-clock (first seed): (a) for {r['equal_time_alone']['steps']} steps "
                 f"({r['equal_time_alone']['seconds']:.0f} s, (c) took "
                 f"{r['equal_time_alone']['c_seconds']:.0f} s): test "
                 f"{pct(r['equal_time_alone']['test'])} %, train episodes "
                 f"{pct(r['equal_time_alone']['train'])} %; minus (a) "
                 f"{pct(r['equal_time_alone']['minus_a'], 2)} points; (c) minus it "
                 f"{pct(r['equal_time_alone']['c_minus_it'], 2)} points (paired over episodes).",
                 ""] if r["equal_time_alone"] else []),
              "Paired over the same test episodes (seed-averaged), and over seeds:", "",
              markdown_table(["comparison", "episodes, points", "seeds, points"],
                             [[k, pct(v["episodes"], 2), pct(v["seeds"], 2)]
                              for k, v in r["paired"].items()])]
    if r["distilled"]:
        lines += ["# What is distilled (first seed, paired over episodes)", "",
                  markdown_table(["target", "test (%)", "minus (b), points", "gap recovered",
                                  "logit spread", "seconds"],
                                 [[k, pct(v["test"]), pct(v["minus_b"], 2),
                                   share(v["gap_recovered"]), f"{v['logit_spread']:.2f}",
                                   f"{v['seconds']:.0f}"] for k, v in r["distilled"].items()]),
                  f"Logit spread (std over the classes): teacher "
                  f"{cap['teacher']['logit_spread']:.2f}.", ""]
    figure = None
    if r["budget"]:
        teacher = cap["teacher"]["test"]["mean"]
        alone = {n: v["test"]["mean"] for n, v in r["budget"].get("alone", {}).items()}
        rows = [[kind, n, v["steps"], pct(v["train"]), pct(v["test"]),
                 share(gap(alone[n], v["test"]["mean"], teacher)) if n in alone else "",
                 f"{v['seconds']:.0f}"]
                for kind, by_n in r["budget"].items() for n, v in by_n.items()]
        lines += ["# Budget curve, all labels (smallest student)", "",
                  "Budget: the fused arm's steps; alone-matched is the student alone for as many "
                  "steps as fit in the fused arm's wall-clock time. Gap recovered: (arm − alone) / "
                  "(teacher − alone) at the same budget. First seed.", "",
                  markdown_table(["arm", "budget", "steps", "train episodes (%)", "test (%)",
                                  "gap recovered", "seconds"], rows)]
        lines += [budget_reading(r), ""]
        figure = budget_plot(r["budget"])
    if r["held_out"]:
        held = sorted(r["held_out"].items(), key=lambda item: HELD_OUT_ORDER.index(item[0]))
        lines += ["# The teacher at test time (held-out queries only)", "",
                  "The fused student (b), first seed, adapts on each test task's support and an "
                  "adaptation pool of its queries (their labels never read) and is scored on the "
                  "other, held-out queries only; 20-way 1-shot, paired over the same episodes.", "",
                  markdown_table(["model", "held-out accuracy (%)", "minus the student, points"],
                                 [[k, pct(v), pct(v["minus_student"], 2) if "minus_student" in v
                                   else ""] for k, v in held])]
    tg = r["targets"]
    verdict = lambda ok: "met" if ok else "not met"  # noqa: E731
    best = arms[tg["best_arm"]]
    lines += ["# Targets", "",
              f"- ≥ 50 % of the gap by (b) or (c): {verdict(tg['gap_recovered_at_least_half'])} "
              f"(best: {ARM_NAMES[tg['best_arm']]}, {share(best['gap_recovered_pooled'])}).",
              f"- Its gain over (a), seed-level CI above 0: "
              f"{verdict(tg['gain_over_a_seed_ci_above_zero'])} "
              f"({pct(best['gain_over_a_seeds'], 2)} points).",
              f"- (c) beats (d), paired CI excluding 0: {verdict(tg['c_beats_d_paired'])}.",
              f"- Moonshot, (c) beats (e): {verdict(tg['moonshot_c_beats_e_paired'])} over test "
              f"episodes{moonshot_over_seeds(r['paired'])}.", "",
              f"Whole run: {r['seconds'] / 60:.1f} min of wall clock, {r['workers']} worker "
              "processes of one torch thread each; the seconds columns are that run's wall clock, "
              "so they grow when other work shares the CPU (the step counts do not)."
              + ("" if r["held_out"] else " The teacher-at-test-time rows did not run: the "
                 "budget was spent before them."), ""]
    return "\n".join(lines), figure


def budget_reading(r: dict) -> str:
    """What the budget curve says, from its own numbers: is training alone for the fused arm's
    time ahead, and does the student underfit (the capacity diagnosis)?"""
    budget, width = r["budget"], r.get("budget_width", 8)
    matched, fused = budget.get("alone-matched", {}), budget.get("fused", {})
    ahead = sum(matched[n]["test"]["mean"] > fused[n]["test"]["mean"] for n in fused if n in matched)
    text = (f"The student alone for the fused arm's wall-clock time is ahead of the fused arm at "
            f"{ahead} of {len(fused)} budgets.")
    student, teacher = r["capacity"].get(f"w{width}"), r["capacity"]["teacher"]
    if student:
        text += (f" The Conv4-{width} underfits (capacity diagnosis): {pct(student['train'])} % on "
                 f"its own training episodes against the teacher's {pct(teacher['train'])} %, with "
                 f"a train − test gap of "
                 f"{100 * (student['train']['mean'] - student['test']['mean']):.1f} points; it is "
                 "short of capacity and steps, not of data, so soft targets add little that more "
                 "steps would not.")
    return text


def moonshot_over_seeds(paired: dict) -> str:
    """How the moonshot fares over training seeds too: a win over episodes alone is fragile."""
    if "c − e" not in paired:
        return ""
    seeds = paired["c − e"]["seeds"]
    holds = "holds" if low(seeds) > 0 else "does not hold (its CI includes 0)"
    return f"; over the {seeds['n']} training seeds ({pct(seeds, 2)} points) it {holds}"


def budget_plot(budget: dict):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axis = plt.subplots(figsize=(5, 3))
    for kind, by_n in budget.items():
        xs = [int(n) for n in by_n]
        axis.errorbar(xs, [100 * v["test"]["mean"] for v in by_n.values()],
                      yerr=[100 * (v["test"]["half_width"] or 0) for v in by_n.values()],
                      marker="o", capsize=3, label=kind)
    axis.set(xscale="log", xlabel="budget (steps of the fused arm)", ylabel="test accuracy (%)")
    axis.legend()
    figure.tight_layout()
    return figure
