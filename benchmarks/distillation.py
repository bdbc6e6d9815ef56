"""Distillation benchmark: MNIST teacher, student alone and distilled student over seeds.

Issue 8, part 3. The recipe is notebook 01's "function matching" section, reused from the
library (``kdmeta_lib.distill_training``):

- teacher: a CNN (``MnistCNN(width=16)``) trained on the training images with random shifts of
  up to 2 pixels; the seed-``--seed`` teacher is cached under ``KDMETA_CACHE`` with the very file
  name notebook 01 uses, so the two share it;
- students: an MLP 784-200-200-10 that learns from a transfer set of 50 images per digit, seen
  as 40 shifted views each; "alone" trains on the hard labels, "distilled" on
  ``α · L_KD + (1 − α) · CE`` with the teacher's logits on the very same views (α = 0.9, T = 4).

Every student seed gets the same views and the same teacher; only its initial weights and its
batch order change. The teacher row is over independently trained teachers (``--teacher-seeds``).
Reported: test error rates, mean ± 95% CI over the seeds, and the ratio distilled / alone.

Run ``python benchmarks/distillation.py --minutes 4``.
"""

from __future__ import annotations

import time

import common  # noqa: F401 - puts the repository on sys.path
import torch

from common import Budget, markdown_table, parse_args, progress, seed_everything, write_results
from kdmeta_lib import MLP, MnistCNN, cache_dir, load_mnist, mean_ci
from kdmeta_lib.data.storage import load_or_train
from kdmeta_lib.distill_training import (TrainConfig, distill, model_accuracy, predict_logits,
                                         shifted_views, train_alone)

# Notebook 01's hyperparameters (section "Teacher → student").
N_TRAIN = 4000
TEACHER_WIDTH, TEACHER_EPOCHS, TEACHER_LR, TEACHER_BATCH = 16, 12, 3e-3, 64
MAX_SHIFT = 2
TRANSFER_PER_DIGIT, N_VIEWS = 50, 40
STUDENT_SIZES = (784, 200, 200, 10)
STUDENT_EPOCHS, STUDENT_LR, BATCH_SIZE = 8, 2e-3, 128
ALPHA, TEMPERATURE = 0.9, 4.0


def add_arguments(parser) -> None:
    parser.add_argument("--seeds", type=int, default=5, help="student seeds per method (≥ 2)")
    parser.add_argument("--teacher-seeds", type=int, default=5,
                        help="independently trained teachers for the teacher's row (≥ 2)")
    parser.add_argument("--student-epochs", type=int, default=STUDENT_EPOCHS,
                        help="passes over the shifted views (smoke tests use 1)")
    parser.add_argument("--views", type=int, default=N_VIEWS, help="shifted views per image")
    parser.add_argument("--teacher-epochs", type=int, default=TEACHER_EPOCHS)


def ci_dict(values: list[float]) -> dict:
    ci = mean_ci(values)
    return {"mean": ci.mean, "half_width": ci.half_width, "n": ci.n, "values": list(values)}


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], 4.0, add_arguments)
    if args.seeds < 2 or args.teacher_seeds < 2:
        raise ValueError("--seeds and --teacher-seeds must be at least 2 (a CI needs 2 values)")
    if args.threads is None:
        torch.set_num_threads(1)  # as notebook 01: these models are too small for more threads
    budget = Budget(args.minutes)
    device = args.device
    mnist = load_mnist()
    keep = torch.randperm(len(mnist.train_y),
                          generator=torch.Generator().manual_seed(args.seed))[:N_TRAIN]
    train_x, train_y = mnist.train_x[keep], mnist.train_y[keep]
    test_x, test_y = mnist.test_x, mnist.test_y

    def test_error(model) -> float:
        return 1 - model_accuracy(model, test_x, test_y)

    def teacher_of(seed: int) -> tuple[torch.nn.Module, bool, float]:
        """The seed's teacher, trained once and cached (notebook 01's file name and recipe)."""
        def train(model):
            config = TrainConfig(epochs=args.teacher_epochs, batch_size=TEACHER_BATCH,
                                 lr=TEACHER_LR, max_shift=MAX_SHIFT, seed=seed)
            train_alone(model, train_x, train_y, config, description=f"teacher, seed {seed}")

        seed_everything(seed)
        model = MnistCNN(width=TEACHER_WIDTH).to(device)
        path = (cache_dir() / f"teacher_01_{mnist.source}_{len(train_x)}_w{TEACHER_WIDTH}"
                f"_e{args.teacher_epochs}_lr{TEACHER_LR}_s{MAX_SHIFT}_seed{seed}.pt")
        start = time.perf_counter()
        from_cache = load_or_train(model, path, train)
        model.eval()
        return model, from_cache, time.perf_counter() - start

    # ---- teachers: the first distils every student; the others only measure the teacher's spread
    teacher_errors, teacher_seconds, skipped = [], 0.0, []
    teacher, teacher_cached, _ = None, False, 0.0
    for seed in progress(range(args.seed, args.seed + args.teacher_seeds), "teachers",
                         total=args.teacher_seeds):
        if len(teacher_errors) >= 2 and budget.fraction() > 0.4:
            skipped.append(f"teacher seed {seed}")
            continue
        model, from_cache, seconds = teacher_of(seed)
        teacher_seconds += seconds
        teacher_errors.append(test_error(model))
        if teacher is None:
            teacher, teacher_cached = model, from_cache

    # ---- the transfer set and its shifted views, labelled once by the teacher (notebook 01)
    order = torch.randperm(len(train_y), generator=torch.Generator().manual_seed(args.seed))
    transfer_index = torch.cat([order[train_y[order] == digit][:TRANSFER_PER_DIGIT]
                                for digit in range(10)])
    transfer_x, transfer_y = train_x[transfer_index], train_y[transfer_index]
    views = shifted_views(transfer_x, args.views, MAX_SHIFT, seed=args.seed)
    view_y = transfer_y.repeat(args.views)
    view_logits = predict_logits(teacher, views)

    # ---- students: alone and distilled, the same seeds
    errors = {"alone": [], "distilled": []}
    seconds = {"alone": 0.0, "distilled": 0.0}
    for seed in progress(range(args.seed, args.seed + args.seeds), "students", total=args.seeds):
        if len(errors["alone"]) >= 2 and budget.spent():
            skipped.append(f"student seed {seed}")
            continue
        config = TrainConfig(epochs=args.student_epochs, batch_size=BATCH_SIZE, lr=STUDENT_LR,
                             seed=seed)
        for name in ("alone", "distilled"):
            seed_everything(seed)
            student = MLP(STUDENT_SIZES).to(device)
            if name == "alone":
                history = train_alone(student, views, view_y, config, description=f"alone {seed}")
            else:
                history = distill(student, views, view_y, config, teacher_logits=view_logits,
                                  alpha=ALPHA, temperature=TEMPERATURE,
                                  description=f"distilled {seed}")
            seconds[name] += history.seconds
            errors[name].append(test_error(student))

    results = {
        "data": mnist.source, "data_description": mnist.description,
        "train_images": len(train_x), "test_images": len(test_x),
        "transfer_images": len(transfer_y), "views": args.views,
        "teacher": {**ci_dict(teacher_errors), "model": f"MnistCNN(width={TEACHER_WIDTH})",
                    "epochs": args.teacher_epochs, "seconds": teacher_seconds,
                    "distilling_teacher_error": teacher_errors[0],
                    "distilling_teacher_from_cache": teacher_cached},
        "alone": {**ci_dict(errors["alone"]), "seconds": seconds["alone"]},
        "distilled": {**ci_dict(errors["distilled"]), "seconds": seconds["distilled"]},
        "student": {"model": f"MLP{STUDENT_SIZES}", "epochs": args.student_epochs,
                    "alpha": ALPHA, "temperature": TEMPERATURE, "lr": STUDENT_LR},
        "ratio_distilled_over_alone": (sum(errors["distilled"]) / sum(errors["alone"])),
        "distilled_beats_alone": bool(mean_ci(errors["distilled"]).high
                                      < mean_ci(errors["alone"]).low),
        "skipped": skipped, "seconds": budget.elapsed(),
    }
    pct = lambda d: f"{100 * d['mean']:.2f} ± {100 * d['half_width']:.2f}"  # noqa: E731
    rows = [[f"teacher CNN ({len(teacher_errors)} seeds)", pct(results["teacher"])],
            [f"student MLP alone ({len(errors['alone'])} seeds)", pct(results["alone"])],
            [f"student MLP distilled ({len(errors['distilled'])} seeds)",
             pct(results["distilled"])]]
    markdown = (f"MNIST ({mnist.source}: {len(train_x):,} train / {len(test_x):,} test images), "
                f"students on {len(transfer_y)} transfer images × {args.views} shifted views. "
                "Test error, mean ± 95% CI over seeds.\n\n"
                + markdown_table(["model", "test error (%)"], rows)
                + f"\nDistilled / alone error ratio: {results['ratio_distilled_over_alone']:.2f} "
                  "(Hinton et al. 2015 on full MNIST: 0.51).\n")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axis = plt.subplots(figsize=(6, 2.6))
    names = ["teacher", "student alone", "student distilled"]
    shown = [results["teacher"], results["alone"], results["distilled"]]
    axis.barh(names, [100 * d["mean"] for d in shown], xerr=[100 * d["half_width"] for d in shown],
              capsize=4, color=["tab:green", "tab:gray", "tab:blue"])
    axis.invert_yaxis()
    axis.set(xlabel="test error (%), mean ± 95% CI", title=f"MNIST distillation ({mnist.source})")
    figure.tight_layout()
    write_results("distillation", args, results, markdown, figure)


if __name__ == "__main__":
    main()
