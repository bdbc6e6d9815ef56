"""Fusion benchmark: how much of the teacher–student gap does the fused loss recover?

Omniglot 20-way 1-shot (issue 8, part 4). Three ProtoNets share the data, the training
episodes and the test episodes:

- the *teacher*, a Conv4-64 meta-trained alone (cached under ``KDMETA_CACHE``);
- the *student alone*, a small Conv4 meta-trained on the labels (α = 0);
- the *fused student*, the same Conv4 from the same initial weights, meta-trained on
  ``(1/N) Σ_i [α · L_KD^i + (1 − α) · L_CE^i]`` with the frozen teacher (``kdmeta_lib.fused``).

Both students get the same number of steps on the same task sequence, for each seed. Reported:
mean ± 95% CI over the test episodes, and the fraction of the gap recovered,

    recovered = (fused − alone) / (teacher − alone).

Optionally (``--guided-steps``) the fused student also adapts to each test task with the
teacher's soft targets on the unlabelled queries (notebook 03, last section). That needs the
teacher at test time, so it is reported separately: it is not a compressed model on its own.

Run ``python benchmarks/fusion.py --minutes 10``; see ``--help`` for the knobs.
"""

from __future__ import annotations

import math
import time

import common  # noqa: F401 - puts the repository on sys.path
import torch
from torch import Tensor

from common import Budget, markdown_table, parse_args, seed_everything, write_results
from kdmeta_lib import Conv4, EpisodeSampler, fused, guided, load_fewshot_data, mean_ci, protonet
from kdmeta_lib.data.storage import load_or_train_teacher
from kdmeta_lib.fused_training import meta_train_with_teacher
from kdmeta_lib.meta_training import episode_accuracies, meta_train
from kdmeta_lib.support.runtime import cpu_friendly
from kdmeta_lib.support.stats import gap_recovered
from profiling import seconds_per_step

N_WAY = 20          # 20-way 1-shot, for training and for testing
TEST_SEED = 1234    # every model is tested on the very same episodes


def add_arguments(parser) -> None:
    parser.add_argument("--teacher-width", type=int, default=64)
    parser.add_argument("--student-width", type=int, default=8)
    parser.add_argument("--teacher-steps", dest="teacher_iterations", type=int, default=1500,
                        help="outer steps of the teacher (fewer when --minutes cannot afford them)")
    parser.add_argument("--student-steps", dest="student_iterations", type=int, default=1500,
                        help="outer steps of each student (fewer when --minutes cannot "
                             "afford them)")
    parser.add_argument("--train-query", type=int, default=2, help="queries per class in training")
    parser.add_argument("--n-tasks", type=int, default=1, help="tasks per outer step")
    parser.add_argument("--lr", dest="outer_lr", type=float, default=2e-3,
                        help="peak Adam learning rate (cosine to 0)")
    parser.add_argument("--alpha", type=float, default=0.5, help="weight of the KD term")
    parser.add_argument("--temperature", type=float, default=4.0)
    parser.add_argument("--seeds", type=int, default=1, help="student seeds (each: alone + fused)")
    parser.add_argument("--episodes", type=int, default=1000, help="20-way 1-shot test episodes")
    parser.add_argument("--test-query", type=int, default=5, help="queries per class in testing")
    parser.add_argument("--guided-steps", dest="guided_inner_steps", type=int, default=20,
                        help="test-time teacher-guided steps (0: skip that measurement)")
    parser.add_argument("--guided-episodes", type=int, default=200,
                        help="test episodes of the guided measurement (the first of the 1,000)")
    parser.add_argument("--guided-lr", type=float, default=0.02)
    parser.add_argument("--guided-alpha", type=float, default=0.9)


def share_of_gap(alone: Tensor, arm: Tensor, teacher: Tensor) -> float | None:
    """``gap_recovered`` of mean accuracies, None when there is no gap (JSON has no NaN)."""
    recovered = gap_recovered(alone.mean().item(), arm.mean().item(), teacher.mean().item())
    return None if math.isnan(recovered) else recovered


def fraction(value: float | None) -> str:
    """A gap fraction as a percentage, or n/a."""
    return "n/a" if value is None else f"{100 * value:.0f} %"


def ci_dict(values) -> dict:
    ci = mean_ci(values)
    return {"mean": ci.mean, "half_width": ci.half_width, "n": ci.n}


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], 10.0, add_arguments)
    if args.seeds < 1 or args.episodes < 2:
        raise ValueError("--seeds must be ≥ 1 and --episodes ≥ 2")
    budget = Budget(args.minutes)
    device = args.device
    data = load_fewshot_data()
    seed_everything(args.seed)

    def sampler(seed: int) -> EpisodeSampler:
        return EpisodeSampler(data.train, N_WAY, 1, args.train_query, seed=seed)

    def new_conv4(width: int, seed: int) -> torch.nn.Module:
        seed_everything(seed)
        return cpu_friendly(Conv4(width), device)

    # ---- plan the steps: the budget keeps ~30% for the teacher, ~30% for the students, the
    # rest for testing (1,000 episodes × 3 models, then the guided adaptation). Calibrate each
    # arm on a throw-away model, then cap the requested steps.
    config20 = protonet.ProtoNetConfig(N_WAY)
    probe_teacher = new_conv4(args.teacher_width, args.seed)
    probe_student = new_conv4(args.student_width, args.seed)
    t_teacher = seconds_per_step(lambda n: meta_train(
        probe_teacher, protonet.task_loss, config20, sampler(99), n_iterations=n,
        n_tasks=args.n_tasks, outer_lr=args.outer_lr, description="calibrating"), device)
    t_alone = seconds_per_step(lambda n: meta_train_with_teacher(
        probe_student, sampler(99), teacher=None, alpha=0.0, n_iterations=n,
        n_tasks=args.n_tasks, outer_lr=args.outer_lr, description="calibrating"), device)
    t_fused = seconds_per_step(lambda n: meta_train_with_teacher(
        probe_student, sampler(99), teacher=probe_teacher, alpha=args.alpha,
        temperature=args.temperature, n_iterations=n, n_tasks=args.n_tasks,
        outer_lr=args.outer_lr, description="calibrating"), device)
    seconds = budget.seconds - budget.elapsed()
    n_teacher_iterations = max(1, min(args.teacher_iterations, int(0.3 * seconds / t_teacher)))
    n_student_iterations = max(1, min(args.student_iterations,
                                      int(0.3 * seconds / (args.seeds * (t_alone + t_fused)))))
    print(f"plan: teacher {n_teacher_iterations} steps ({1000 * t_teacher:.0f} ms each), "
          f"students {n_student_iterations} steps (alone {1000 * t_alone:.0f} ms, fused "
          f"{1000 * t_fused:.0f} ms) × {args.seeds} seed(s)")

    # ---- the teacher (cached by recipe)
    def build_teacher():
        return new_conv4(args.teacher_width, args.seed)

    def train_teacher(model):
        return meta_train(model, protonet.task_loss, config20, sampler(args.seed),
                          n_iterations=n_teacher_iterations, n_tasks=args.n_tasks,
                          outer_lr=args.outer_lr, cosine_decay=True, description="teacher")

    recipe = {"benchmark": "fusion", "data": data.source, "classes": list(data.train.shape[:2]),
              "width": args.teacher_width, "way": N_WAY, "query": args.train_query,
              "steps": n_teacher_iterations, "tasks": args.n_tasks, "lr": args.outer_lr,
              "cosine": True, "seed": args.seed}
    start = time.perf_counter()
    teacher, from_cache = load_or_train_teacher(build_teacher, train_teacher, recipe)
    teacher = cpu_friendly(teacher, device)
    teacher_seconds = time.perf_counter() - start
    for parameter in teacher.parameters():
        parameter.requires_grad_(False)

    def test_sampler() -> EpisodeSampler:
        return EpisodeSampler(data.test, N_WAY, 1, args.test_query, seed=TEST_SEED)

    def test(model) -> torch.Tensor:
        return episode_accuracies(model, protonet.task_loss, config20, test_sampler(),
                                  args.episodes)

    start = time.perf_counter()
    teacher_acc = test(teacher)
    test_seconds = time.perf_counter() - start

    # ---- the students: same seed → same initial weights and same training tasks in both arms
    per_seed, alone_all, fused_all, guided_rows = [], [], [], []
    train_seconds = {"alone": 0.0, "fused": 0.0}
    for seed in range(args.seed, args.seed + args.seeds):
        arms = {}
        for arm, alpha in (("alone", 0.0), ("fused", args.alpha)):
            student = new_conv4(args.student_width, seed)
            # meta_train_with_teacher has no cosine flag: call meta_train on the fused loss
            history = meta_train(
                student, fused.task_loss,
                fused.FusedConfig(teacher if alpha else None, protonet.query_logits,
                                  config20, alpha=alpha, temperature=args.temperature),
                sampler(seed), n_iterations=n_student_iterations, n_tasks=args.n_tasks,
                outer_lr=args.outer_lr, cosine_decay=True, description=f"{arm}, seed {seed}")
            train_seconds[arm] += history.seconds
            start = time.perf_counter()
            arms[arm] = (student, test(student))
            test_seconds += time.perf_counter() - start
        alone_acc, fused_acc = arms["alone"][1], arms["fused"][1]
        alone_all.append(alone_acc)
        fused_all.append(fused_acc)
        row = {"seed": seed, "alone": ci_dict(alone_acc), "fused": ci_dict(fused_acc),
               "fused_minus_alone_paired": ci_dict(fused_acc - alone_acc),
               "gap_recovered": share_of_gap(alone_acc, fused_acc, teacher_acc)}
        if args.guided_inner_steps and budget.spent():
            row["guided"] = {"skipped": f"--minutes {args.minutes:g} spent before it"}
        elif args.guided_inner_steps:
            start = time.perf_counter()
            n_guided = min(args.guided_episodes, args.episodes)
            guided_accuracies = {}
            for name, guide in (("alone_adapted", None), ("teacher_guided", teacher)):
                config = guided.GuidedConfig(guide, n_way=N_WAY, inner_lr=args.guided_lr,
                                             inner_steps=args.guided_inner_steps,
                                             alpha=args.guided_alpha,
                                             temperature=args.temperature)
                guided_accuracies[name] = episode_accuracies(arms["fused"][0], guided.task_loss,
                                                             config, test_sampler(), n_guided)
            same = {"alone": alone_acc[:n_guided], "teacher": teacher_acc[:n_guided]}
            row["guided"] = {
                "episodes": n_guided, "inner_steps": args.guided_inner_steps,
                "fused_adapted_alone": ci_dict(guided_accuracies["alone_adapted"]),
                "fused_teacher_guided": ci_dict(guided_accuracies["teacher_guided"]),
                "alone_same_episodes": ci_dict(same["alone"]),
                "teacher_same_episodes": ci_dict(same["teacher"]),
                "gap_recovered": share_of_gap(same["alone"], guided_accuracies["teacher_guided"],
                                              same["teacher"]),
                "seconds": time.perf_counter() - start}
            guided_rows.append(row["guided"])
        per_seed.append(row)
        print(f"seed {seed}: alone {mean_ci(alone_acc).percent()}, fused "
              f"{mean_ci(fused_acc).percent()}, teacher {mean_ci(teacher_acc).percent()}, "
              f"gap recovered {fraction(row['gap_recovered'])}")

    # ---- pooled over seeds: every seed's episodes are the same test tasks, so average per task
    alone_mean = torch.stack(alone_all).mean(0)
    fused_mean = torch.stack(fused_all).mean(0)
    recovered = share_of_gap(alone_mean, fused_mean, teacher_acc)
    recovered_per_seed = [row["gap_recovered"] for row in per_seed]
    results = {
        "data": data.source, "setting": "20-way 1-shot", "test_query": args.test_query,
        "episodes": args.episodes, "seeds": args.seeds,
        "teacher": {"width": args.teacher_width, "steps": n_teacher_iterations,
                    "parameters": sum(p.numel() for p in teacher.parameters()),
                    "from_cache": from_cache, "seconds": teacher_seconds,
                    "accuracy": ci_dict(teacher_acc)},
        "student": {"width": args.student_width, "steps": n_student_iterations,
                    "parameters": sum(p.numel() for p in Conv4(args.student_width).parameters()),
                    "alpha": args.alpha, "temperature": args.temperature,
                    "train_query": args.train_query, "n_tasks": args.n_tasks, "lr": args.outer_lr,
                    "seconds": train_seconds},
        "alone": ci_dict(alone_mean), "fused": ci_dict(fused_mean),
        "fused_minus_alone_paired": ci_dict(fused_mean - alone_mean),
        "gap_recovered": recovered,
        "gap_recovered_per_seed": recovered_per_seed,
        "target_gap_recovered": 0.5, "target_met": recovered is not None and recovered >= 0.5,
        "per_seed": per_seed, "test_seconds": test_seconds,
        "seconds": budget.elapsed(),
    }
    if guided_rows:
        recovered_guided = [g["gap_recovered"] for g in guided_rows
                            if g["gap_recovered"] is not None]
        results["guided_gap_recovered"] = (sum(recovered_guided) / len(recovered_guided)
                                           if recovered_guided else None)
    pct = lambda d: f"{100 * d['mean']:.2f} ± {100 * d['half_width']:.2f}"  # noqa: E731
    rows = [[f"teacher Conv4-{args.teacher_width}", pct(results["teacher"]["accuracy"]),
             n_teacher_iterations, ""],
            [f"student Conv4-{args.student_width} alone", pct(results["alone"]),
             n_student_iterations, ""],
            [f"student Conv4-{args.student_width} fused (α={args.alpha:g}, T={args.temperature:g})",
             pct(results["fused"]), n_student_iterations, fraction(recovered)]]
    for row in per_seed:
        if "gap_recovered" in row.get("guided", {}):
            g = row["guided"]
            rows.append([f"fused + {g['inner_steps']} steps on the support alone, seed "
                         f"{row['seed']} ({g['episodes']} episodes; control)",
                         pct(g["fused_adapted_alone"]), n_student_iterations, ""])
            rows.append([f"fused + {g['inner_steps']} teacher-guided steps at test time, seed "
                         f"{row['seed']} ({g['episodes']} episodes; needs the teacher)",
                         pct(g["fused_teacher_guided"]), n_student_iterations,
                         fraction(g["gap_recovered"])])
    markdown = (f"Omniglot 20-way 1-shot ({data.source}), mean ± 95% CI over {args.episodes} "
                f"test episodes, {args.seeds} student seed(s).\n\n"
                + markdown_table(["model", "accuracy (%)", "steps", "gap recovered"], rows)
                + f"\nTarget: ≥ 50 % of the gap recovered by the fused student: "
                  f"{'met' if results['target_met'] else 'not met'} ({fraction(recovered)}).\n"
                + ("\nThe teacher-guided row adapts the fused student to each test task with the "
                   "teacher's soft targets on the unlabelled queries: the teacher is needed at "
                   "test time, so it is not a compressed model on its own. Its gap recovered is "
                   "measured against the student alone on the same episodes.\n"
                   if guided_rows else ""))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axis = plt.subplots(figsize=(6, 2.8))
    names = ["alone", "fused", "teacher"]
    cis = [results["alone"], results["fused"], results["teacher"]["accuracy"]]
    axis.barh(names, [100 * c["mean"] for c in cis], xerr=[100 * c["half_width"] for c in cis],
              capsize=3, color=["tab:gray", "tab:blue", "tab:green"])
    axis.set(xlabel="test accuracy (%) ± 95% CI",
             title=f"Omniglot 20-way 1-shot: gap recovered {fraction(recovered)}")
    figure.tight_layout()
    write_results("fusion", args, results, markdown, figure)


if __name__ == "__main__":
    main()
