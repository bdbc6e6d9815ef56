"""Fusion benchmark: when does distillation inside meta-learning help, and by how much?

Omniglot 20-way 1-shot (issue 13). A Conv4-64 ProtoNet teacher is meta-trained on every training
class (cached). Then, on the same test episodes for every model:

1. *Capacity diagnosis*: Conv4 students of several widths alone on all labels; accuracy on
   training and test episodes, and fidelity (how often a student agrees with the teacher).
2. *The data-limited student*: labels on a random subset of the training classes only. Arms
   (a) alone, (b) fused, (c) fused + label-free transfer episodes taught by the teacher,
   (d) as (c) with arm (a)'s student as its own "teacher" (self-training control), (e) alone
   with all labels, and arm (a) again at (c)'s wall-clock time. Several seeds; paired CIs.
3. *What is distilled* (first seed): normalised logits, a relational target (RKD), a teacher
   with 5 shots, and a per-task teacher fine-tuned on each task's support.
4. *Budget curve* with all labels: the smallest student at 100/300/1,500 steps, alone, fused,
   and alone at the fused arm's compute.
5. *Teacher at test time*: adaptation on a pool of each test task's queries, scored on held-out
   queries, with support-only and self-training controls and the teacher itself.

Run ``python benchmarks/fusion.py --minutes 15``; ``--help`` lists the knobs. Arms run in
``--workers`` processes of one torch thread each (each core trains its own model).
"""

from __future__ import annotations

import time

import common  # noqa: F401 - puts the repository on sys.path
import torch

import fusion_jobs as jobs
import fusion_report as report
from common import Budget, parse_args, seed_everything, write_results
from kdmeta_lib import load_fewshot_data
from kdmeta_lib.fused_training import TEACHER_RECIPE, course_teacher


def add_arguments(parser) -> None:
    add = parser.add_argument
    add("--teacher-width", type=int, default=TEACHER_RECIPE["width"])
    add("--teacher-steps", type=int, default=TEACHER_RECIPE["steps"],
        help="outer steps of the cached teacher (fused_training.TEACHER_RECIPE)")
    add("--student-width", type=int, default=24, help="the data-limited student's width")
    add("--widths", type=int, nargs="+", default=[8, 16, 32],
        help="other widths in the capacity diagnosis (the student's width is always in it)")
    add("--subset-classes", type=int, default=200, help="classes the student has labels for")
    add("--steps", type=int, default=800, help="outer steps of every data-limited arm")
    add("--budget-steps", type=int, nargs="+", default=[100, 300, 1500])
    add("--budget-width", type=int, default=8, help="the budget curve's student (the kit's)")
    add("--seeds", type=int, default=3)
    add("--train-query", type=int, default=2)
    add("--lr", dest="outer_lr", type=float, default=2e-3, help="Adam, cosine to 0")
    add("--alpha", type=float, default=0.5)
    add("--temperature", type=float, default=4.0)
    add("--normalised-temperature", type=float, default=1.0)
    add("--transfer-queries", type=int, default=20, help="queries of a transfer episode")
    add("--episodes", type=int, default=600, help="20-way 1-shot test episodes")
    add("--test-query", type=int, default=5)
    add("--train-episodes", type=int, default=200, help="episodes to score on training classes")
    add("--extras", choices=["all", "none"], default="all", help="steps 3-5 (none: smoke)")
    add("--held-out-episodes", type=int, default=100)
    add("--held-out-steps", type=int, default=10)
    add("--workers", type=int, default=2)


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], 15.0, add_arguments)
    budget = Budget(args.minutes)
    data = load_fewshot_data()
    seed_everything(args.seed)
    start = time.perf_counter()
    teacher, from_cache = course_teacher(data, args.device, width=args.teacher_width,
                                         steps=args.teacher_steps)  # notebook 03's, cached
    teacher_seconds = time.perf_counter() - start
    n_train = data.train.shape[0]
    subset = torch.randperm(n_train, generator=torch.Generator().manual_seed(args.seed))
    subset = sorted(subset[:min(args.subset_classes, n_train)].tolist())
    settings = {key: getattr(args, key) for key in (
        "student_width", "steps", "train_query", "outer_lr",
        "alpha", "temperature", "normalised_temperature", "transfer_queries", "episodes",
        "test_query", "train_episodes", "held_out_episodes", "held_out_steps", "seed")}
    settings["subset"] = subset
    settings["teacher_width"] = args.teacher_width
    plan = jobs.Plan(settings, {k: v.detach().clone() for k, v in teacher.state_dict().items()})
    with jobs.Pool(plan, args.workers, str(args.device)) as pool:
        measured = jobs.run_all(pool, plan, args, budget)
    results = report.summarise(measured, args, data, subset, teacher, teacher_seconds,
                               from_cache, budget.elapsed())
    markdown, figure = report.render(results)
    write_results("fusion", args, results, markdown, figure)


if __name__ == "__main__":
    main()
