"""Omniglot few-shot accuracy of the kit's five meta-learners, beside the published numbers.

    python benchmarks/omniglot_accuracy.py --minutes 15 [--algorithms protonet,maml]
        [--minutes-maml 12] [--share-5way 0.6] [--episodes 1000] [--device cpu] [--threads 2]

Each algorithm is meta-trained on the Omniglot *background* alphabets (with 90°/180°/270°
rotations as extra classes) for a wall-clock budget (``--minutes``, or ``--minutes-<name>``),
its learning rate following a half cosine over the clock, and is then tested on 5-way 1-shot,
5-way 5-shot, 20-way 1-shot and 20-way 5-shot episodes drawn from the *evaluation* alphabets:
mean ± 95% CI over ``--episodes`` test episodes (the same episodes for every algorithm).

* ProtoNet has no head, so one model serves every setting. It trains 60-way (Snell et al.).
* MAML, FOMAML, ANIL and Reptile adapt a linear head with ``n_way`` outputs, so, as in the
  papers, a 5-way model and a 20-way model are trained; the algorithm's budget is split between
  them (``--share-5way``). Each is tested on both shot counts (the papers trained one model
  per shot count too; one per n_way halves the cost).

Before training, every algorithm's training step is timed under each speed setting (NCHW vs
channels-last, bfloat16 convolutions for ProtoNet, 1 vs all threads; ``--profile-steps``), and
the table goes into the JSON and markdown beside the accuracies.

The learners are the library's own (``kdmeta_lib.protonet``, ``maml``, ``anil``, ``reptile``) run
through ``functional.run_tasks``; this script only adds the clock-driven training loop and the
speed settings (channels-last, bfloat16, threads) that the engineering notes below measured.

Caveat when comparing with the papers: they split Omniglot 1,200 / 423 characters at random
(Vinyals et al.), so test characters share alphabets with training ones. Here training and test
use disjoint *alphabets* (Lake et al.'s background / evaluation split), which is harder.
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch
from torch import Tensor, nn

import common
from kdmeta_lib import anil, maml, protonet, reptile
from kdmeta_lib.data import FewShotData, load_fewshot_data
from kdmeta_lib.episodes import EpisodeSampler
from kdmeta_lib.functional import TaskLoss, run_tasks
from kdmeta_lib.meta_training import evaluate
from kdmeta_lib.models import Conv4

NAME = "omniglot_accuracy"
ALGORITHMS = ("protonet", "maml", "fomaml", "anil", "reptile")
SETTINGS = ((5, 1), (5, 5), (20, 1), (20, 5))  # (n_way, k_shot) of the test episodes
# Queries per class in test episodes, by n_way: 20 drawings per character leave 15 beside 5 shots;
# 20-way episodes use 10 (200 queries per episode already), which keeps MAML's test time in check.
TEST_QUERIES = {5: 15, 20: 10}

# Published Omniglot accuracies (%) for 5w1s, 5w5s, 20w1s, 20w5s; None where the paper gives none.
PUBLISHED: dict[str, tuple[float | None, ...]] = {
    "protonet": (98.8, 99.7, 96.0, 98.9),   # Snell et al. 2017, Table 1
    "maml": (98.7, 99.9, 95.8, 98.9),       # Finn et al. 2017, Table 1
    "fomaml": (98.3, 99.2, None, None),     # Finn et al. 2017, first-order approximation
    "anil": (None, None, None, None),       # Raghu et al. 2020 report no Omniglot table
    "reptile": (95.4, 98.9, 88.1, 96.7),    # Nichol et al. 2018, Table 1 (transductive)
}

# What each speed change bought, measured while developing this script on the shared 2-core CPU
# (load 5-7 from other jobs, so absolute times are inflated 5-20x and ratios are noisy). The
# ``profile`` table that every run writes re-measures the layout, bfloat16 and thread choices on
# the machine and in the run that produced the accuracies.
ENGINEERING = [
    "data pipeline: episodes are drawn by tensor indexing from the in-memory "
    "[classes, 20, 1, 28, 28] tensor, rotations precomputed once (EpisodeSampler.sample_batch): "
    "no per-episode Python loop, no DataLoader",
    "channels-last weights (a 1-channel input batch is already channels-last): ProtoNet "
    "60-way 1-shot 5-query training step, 1 thread, Conv4-32 806 -> 341 ms (2.4x) and "
    "2270 -> 1626 ms (1.4x) in two contended dev runs; Conv4-64 1757 -> 826 ms (2.1x) and "
    "4691 -> 3472 ms (1.35x); earlier, less contended session: 104 -> 58 ms at 1 thread, "
    "57 -> 44 ms at 2 threads (dev, contended)",
    "channels-last for second-order MAML (5-way 1-shot 5-query, 8 tasks, Conv4-32): 915 -> 667 "
    "ms in one contended run, 1611 -> 1982 ms in another: no clear gain, see this run's profile "
    "table (dev, contended)",
    "bfloat16 autocast for ProtoNet's convolutions (the CPU reports avx512_bf16 and amx_bf16), "
    "on top of channels-last, 1 thread: Conv4-32 1626 -> 830 ms (2.0x), Conv4-64 3472 -> 2124 ms "
    "(1.6x) per 60-way step; distances and prototypes stay float32 (dev, contended)",
    "bfloat16 vs float32 ProtoNet Conv4-64 at the same 2.5 min contended budget, 300 test "
    "episodes: 5w1s 87.8 vs 82.7 %, 5w5s 95.3 vs 92.6 % (the bfloat16 run took more steps; "
    "no equal-step comparison was made) (dev, contended)",
    "threads: on an oversubscribed CPU two torch threads are disastrous (a MAML step took "
    "15 s with 2 threads vs 0.5 s with 1 while other jobs ran), so use --threads 1 on a busy "
    "machine and the default 2 threads only on an idle one (dev, contended)",
    "learning rate: half cosine over the wall clock (budget.fraction()), so every budget ends "
    "with small steps",
    "test cost: 20-way test episodes use 10 queries per class and 3 (MAML, FOMAML) or 5 "
    "(Reptile) inner steps; with 15 queries and 5/20 steps MAML's 1,000 20w5s episodes alone "
    "took 15 min and Reptile's 21 min (dev, contended, 1 thread)",
    "not adopted: vmap over MAML tasks on CPU (the library's loop is faster there, see "
    "functional.run_tasks); torch.compile (not tried: the functional_call + torch.func.grad "
    "inner loop recompiles per episode shape, and compile time eats short budgets)",
]


@dataclass
class Recipe:
    """How one algorithm is trained and tested.

    Attributes:
        width: Conv4 channels.
        train_way, train_shot, train_query: composition of the training episodes (for head-based
            learners ``train_way`` is replaced by each head's n_way).
        n_tasks: tasks per outer step (meta-batch).
        outer_lr: start of the cosine learning-rate schedule.
        optimizer: ``"adam"`` or ``"sgd"`` (Reptile's outer step is plain SGD on θ − φ).
        config: the learner's training hyperparameters (``None`` for ProtoNet: built per way).
        test_steps: inner steps at test time, per test n_way (head-based learners).
        heads: the n_way of each trained model (head-based learners); ``()`` for ProtoNet.
    """

    width: int
    train_way: int
    train_shot: int
    train_query: int
    n_tasks: int
    outer_lr: float
    optimizer: str = "adam"
    config: Any = None
    test_steps: dict[int, int] = field(default_factory=dict)
    heads: tuple[int, ...] = ()


def default_recipes() -> dict[str, Recipe]:
    """The settings used for the published table (chosen in short dev runs; see the report)."""
    return {
        # Snell et al.: 60-way training episodes with 5 queries per class, shots as at test.
        "protonet": Recipe(width=64, train_way=60, train_shot=1, train_query=5, n_tasks=1,
                           outer_lr=1e-3),
        # Finn et al.: one inner step of 0.4 in training, more at test; meta-batch 32 (5-way).
        "maml": Recipe(width=32, train_way=5, train_shot=1, train_query=5, n_tasks=8,
                       outer_lr=1e-3, config=maml.MamlConfig(inner_lr=0.4, inner_steps=1),
                       test_steps={5: 3, 20: 3}, heads=(5, 20)),
        "fomaml": Recipe(width=32, train_way=5, train_shot=1, train_query=5, n_tasks=8,
                         outer_lr=1e-3,
                         config=maml.MamlConfig(inner_lr=0.4, inner_steps=1, first_order=True),
                         test_steps={5: 3, 20: 3}, heads=(5, 20)),
        "anil": Recipe(width=32, train_way=5, train_shot=1, train_query=5, n_tasks=8,
                       outer_lr=1e-3, config=maml.MamlConfig(inner_lr=0.4, inner_steps=3),
                       test_steps={5: 10, 20: 10}, heads=(5, 20)),
        # Nichol et al.: several SGD steps per task, outer step size 1 annealed to 0.
        # Their Omniglot runs train on 10 shots per class ("train-shots") and test with 1 or 5.
        "reptile": Recipe(width=32, train_way=5, train_shot=10, train_query=1, n_tasks=5,
                          outer_lr=1.0, optimizer="sgd",
                          config=reptile.ReptileConfig(inner_lr=0.1, inner_steps=5),
                          test_steps={5: 5, 20: 5}, heads=(5, 20)),
    }


def learner(name: str) -> tuple[TaskLoss, TaskLoss]:
    """``(training objective, test-time task loss)`` of an algorithm."""
    if name == "protonet":
        return protonet.task_loss, protonet.task_loss
    if name in ("maml", "fomaml"):
        return maml.task_loss, maml.task_loss
    if name == "anil":
        return anil.task_loss, anil.task_loss
    if name == "reptile":
        return reptile.meta_loss, reptile.task_loss
    raise ValueError(f"unknown algorithm {name!r}; choose from {', '.join(ALGORITHMS)}")


def cosine_lr(start: float, fraction: float) -> float:
    """Half-cosine decay from ``start`` to 0 as ``fraction`` (of the clock) goes 0 → 1."""
    return start * 0.5 * (1.0 + math.cos(math.pi * fraction))


def make_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    """Adam, or plain SGD for Reptile (whose outer step is θ ← θ − lr · (θ − φ))."""
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=recipe.outer_lr)
    return torch.optim.Adam(model.parameters(), lr=recipe.outer_lr)


def training_step(model: nn.Module, objective: TaskLoss, config: Any, sampler: EpisodeSampler,
                  optimizer: torch.optim.Optimizer, *, n_tasks: int,
                  device: torch.device) -> float:
    """One outer step on a fresh meta-batch; returns its mean query accuracy."""
    episode = sampler.sample_batch(n_tasks).to(device)  # tensor indexing, no Python loop
    losses, accuracies = run_tasks(objective, model, episode, config=config)
    optimizer.zero_grad(set_to_none=True)
    losses.mean().backward()
    optimizer.step()
    return accuracies.mean().item()


def train_for(model: nn.Module, objective: TaskLoss, config: Any, sampler: EpisodeSampler, *,
              recipe: Recipe, minutes: float, description: str) -> dict[str, Any]:
    """Meta-train ``model`` in place until ``minutes`` of wall clock are spent.

    The same outer step as ``meta_training.meta_train`` (mean task loss over a meta-batch, one
    optimizer step), but driven by a :class:`common.Budget`: the learning rate follows
    ``cosine_lr`` over the *clock*, so a run of any length ends with small, precise steps.

    Returns:
        ``{"train_seconds", "iterations", "tasks_seen", "cpu_seconds", "final_train_accuracy"}``.
    """
    device = next(model.parameters()).device
    optimizer = make_optimizer(model, recipe)
    recent: list[float] = []
    budget, cpu_start = common.Budget(minutes), time.process_time()
    iterations = 0
    model.train()
    for iterations in common.progress(itertools.count(1), description):
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(recipe.outer_lr, budget.fraction())
        accuracy = training_step(model, objective, config, sampler, optimizer,
                                 n_tasks=recipe.n_tasks, device=device)
        recent = (recent + [accuracy])[-50:]
        if budget.spent():
            break
    return {"train_seconds": round(budget.elapsed(), 2), "iterations": iterations,
            "tasks_seen": iterations * recipe.n_tasks,
            "cpu_seconds": round(time.process_time() - cpu_start, 2),
            "final_train_accuracy": round(sum(recent) / max(1, len(recent)), 4)}


def evaluation_sampler(data: FewShotData, n_way: int, k_shot: int, seed: int) -> EpisodeSampler:
    """Test episodes of one setting; the same seed gives every algorithm the same episodes."""
    return EpisodeSampler(data.test, n_way, k_shot, TEST_QUERIES[n_way],
                          seed=seed + 1000 * n_way + k_shot)


class Bfloat16Backbone(nn.Module):
    """A backbone whose convolutions run in bfloat16 (autocast), returning float32 embeddings.

    On CPUs with bfloat16 units (avx512_bf16 / AMX) the convolutions run about 1.4-2x faster;
    the prototypes and distances are still computed in float32 from the returned embeddings.
    Used for ProtoNet only: MAML's second-order inner loop stays in float32.
    """

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone

    def forward(self, x: Tensor) -> Tensor:
        with torch.autocast(x.device.type, dtype=torch.bfloat16):
            embeddings = self.backbone(x)
        return embeddings.float()


def make_model(recipe: Recipe, n_classes: int | None, device: torch.device,
               fast_layout: bool, bfloat16: bool = False) -> nn.Module:
    """A Conv4 backbone (with a head for head-based learners), channels-last when asked.

    Only the weights need converting: a one-channel image batch ``[B, 1, 28, 28]`` is already
    channels-last in memory, and the convolutions then keep that layout from layer to layer.
    """
    model: nn.Module = Conv4(recipe.width, n_classes=n_classes).to(device)
    if fast_layout:
        model = model.to(memory_format=torch.channels_last)
    return Bfloat16Backbone(model) if bfloat16 else model


def run_algorithm(name: str, recipe: Recipe, data: FewShotData, *, minutes: float,
                  n_episodes: int, share_5way: float, seed: int, device: torch.device,
                  fast_layout: bool, bfloat16: bool = False) -> dict[str, Any]:
    """Train one algorithm within ``minutes`` and test it on every setting.

    ``bfloat16`` applies to ProtoNet only (see :class:`Bfloat16Backbone`).
    """
    bfloat16 = bfloat16 and recipe.config is None
    objective, test_loss = learner(name)
    common.seed_everything(seed)
    models: dict[int | None, nn.Module] = {}
    training: list[dict[str, Any]] = []
    heads: tuple[int | None, ...] = recipe.heads or (None,)
    for head in heads:
        share = 1.0 if head is None else (share_5way if head == 5 else 1.0 - share_5way)
        n_way = recipe.train_way if head is None else head
        sampler = EpisodeSampler(data.train, n_way, recipe.train_shot, recipe.train_query,
                                 seed=seed + (head or 0))
        model = make_model(recipe, head, device, fast_layout, bfloat16)
        config = protonet.ProtoNetConfig(n_way) if recipe.config is None else recipe.config
        label = f"{name} {n_way}-way"
        stats = train_for(model, objective, config, sampler, recipe=recipe,
                          minutes=minutes * share, description=label)
        stats["ms_per_iteration"] = round(1000 * stats["train_seconds"] / stats["iterations"], 1)
        training.append({"model": label, "train_way": n_way, **stats})
        models[head] = model
    accuracy: dict[str, Any] = {}
    eval_start, cpu_start = time.perf_counter(), time.process_time()
    for n_way, k_shot in SETTINGS:
        model = models[None] if None in models else models[n_way]
        if recipe.config is None:
            config: Any = protonet.ProtoNetConfig(n_way)
        else:
            config = replace(recipe.config, inner_steps=recipe.test_steps[n_way])
        sampler = evaluation_sampler(data, n_way, k_shot, seed)
        start = time.perf_counter()
        result = evaluate(model, test_loss, config, sampler, n_episodes=n_episodes)
        accuracy[f"{n_way}w{k_shot}s"] = {
            "mean": round(result.mean, 5), "half_width": round(result.half_width, 5),
            "n": result.n, "eval_seconds": round(time.perf_counter() - start, 2),
            "inner_steps": getattr(config, "inner_steps", 0),
            "queries_per_class": TEST_QUERIES[n_way]}
        print(f"{name} {n_way}w{k_shot}s: {100 * result.mean:.2f} ± "
              f"{100 * result.half_width:.2f} %", flush=True)
    eval_seconds = time.perf_counter() - eval_start
    eval_cpu = time.process_time() - cpu_start
    train_seconds = sum(t["train_seconds"] for t in training)
    config_record = {**{k: v for k, v in asdict(recipe).items() if k != "config"},
                     "learner_config": (asdict(recipe.config) if recipe.config is not None
                                        else {"n_way": recipe.train_way}),
                     "channels_last": fast_layout,
                     "bfloat16": bfloat16}
    return {
        "accuracy": accuracy,
        "published": {f"{w}w{s}s": None if paper is None else paper / 100
                      for (w, s), paper in zip(SETTINGS, PUBLISHED[name])},
        "train_seconds": round(train_seconds, 2),
        "iterations": sum(t["iterations"] for t in training),
        "tasks_seen": sum(t["tasks_seen"] for t in training),
        "eval_seconds": round(eval_seconds, 2),
        # process CPU time of training and testing, all threads together (about 2x the wall
        # time when torch uses both cores)
        "cpu_minutes": round((sum(t["cpu_seconds"] for t in training) + eval_cpu) / 60, 3),
        "training": training,
        "config": config_record,
    }


def time_training_step(name: str, recipe: Recipe, data: FewShotData, *, fast_layout: bool,
                       bfloat16: bool, device: torch.device, repeats: int) -> float:
    """Median milliseconds of one training step of ``name`` (a fresh model, real episodes).

    Only the first model (5-way for head-based learners) is timed. The first step is a warm-up
    and is not counted.
    """
    objective, _ = learner(name)
    head = recipe.heads[0] if recipe.heads else None
    n_way = head or recipe.train_way
    model = make_model(recipe, head, device, fast_layout, bfloat16 and recipe.config is None)
    config = protonet.ProtoNetConfig(n_way) if recipe.config is None else recipe.config
    sampler = EpisodeSampler(data.train, n_way, recipe.train_shot, recipe.train_query, seed=0)
    optimizer = make_optimizer(model, recipe)
    seconds = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        training_step(model, objective, config, sampler, optimizer, n_tasks=recipe.n_tasks,
                      device=device)
        seconds.append(time.perf_counter() - start)
    return round(1000 * statistics.median(seconds[1:]), 1)


def profile(names: list[str], recipes: dict[str, Recipe], data: FewShotData, *,
            device: torch.device, bfloat16: bool, repeats: int) -> list[dict[str, Any]]:
    """Time one training step per algorithm under each speed setting, on this machine.

    Variants: the default NCHW layout in float32, channels-last weights, channels-last with
    bfloat16 convolutions (ProtoNet, where the CPU has bfloat16 units), and channels-last with
    a single thread (to show what the second core buys). These are the figures behind the
    "engineering" list, measured in the same run as the accuracies.
    """
    threads = torch.get_num_threads()
    variants = [("NCHW float32", False, False, threads),
                ("channels-last float32", True, False, threads)]
    if bfloat16:
        variants.append(("channels-last bfloat16", True, True, threads))
    if threads > 1:
        variants.append(("channels-last, 1 thread", True, bfloat16, 1))
    rows = []
    for name in names:
        for label, fast_layout, use_bf16, n_threads in variants:
            is_protonet = recipes[name].config is None
            if use_bf16 and not is_protonet and not label.endswith("1 thread"):
                continue  # bfloat16 is for ProtoNet only
            if label.endswith("1 thread"):
                use_bf16 = use_bf16 and is_protonet
                label = f"channels-last {'bfloat16' if use_bf16 else 'float32'}, 1 thread"
            torch.set_num_threads(n_threads)
            milliseconds = time_training_step(name, recipes[name], data, fast_layout=fast_layout,
                                              bfloat16=use_bf16, device=device, repeats=repeats)
            torch.set_num_threads(threads)
            rows.append({"algorithm": name, "variant": label, "threads": n_threads,
                         "ms_per_step": milliseconds})
            print(f"profile {name}, {label}: {milliseconds:.0f} ms per training step", flush=True)
    return rows


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
    text += "\n## Engineering (what each speed change bought)\n\n"
    text += "".join(f"- {line}\n" for line in results["engineering"])
    if results["profile"]:
        text += ("\n### Training step time in this run (median ms, first step excluded)\n\n"
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--algorithms", default=",".join(ALGORITHMS),
                        help=f"comma-separated subset of {','.join(ALGORITHMS)}")
    parser.add_argument("--episodes", type=int, default=1000,
                        help="test episodes per setting (default 1000)")
    parser.add_argument("--share-5way", type=float, default=0.6,
                        help="share of a head-based learner's budget for its 5-way model "
                             "(the rest trains the 20-way model; default 0.6)")
    parser.add_argument("--standard-layout", action="store_true",
                        help="keep the default NCHW layout (to measure what channels-last buys)")
    parser.add_argument("--profile-steps", type=int, default=5,
                        help="time this many training steps per algorithm and speed setting "
                             "before training (0: skip; default 5)")
    parser.add_argument("--data", default="auto", choices=("auto", "omniglot", "glyphs"),
                        help="few-shot data source (default: real Omniglot when present)")
    for name in ALGORITHMS:
        parser.add_argument(f"--minutes-{name}", type=float, default=None,
                            help=f"training budget of {name} (default: --minutes)")
    parser.add_argument("--width", type=int, default=None,
                        help="Conv4 width for every algorithm (overrides the defaults; a tiny "
                             "width such as 8 makes a fast smoke test)")
    parser.add_argument("--test-steps", type=int, default=None,
                        help="test-time inner steps for every head-based learner (default: "
                             "per algorithm, 3 to 10)")
    parser.add_argument("--no-bf16", action="store_true",
                        help="run ProtoNet in float32 (default: bfloat16 convolutions on a CPU "
                             "with bfloat16 units, float32 elsewhere)")
    parser.add_argument("--protonet-width", type=int, default=None,
                        help="Conv4 width for ProtoNet (default 64)")
    parser.add_argument("--protonet-way", type=int, default=None,
                        help="ProtoNet training n_way (default 60)")
    parser.add_argument("--protonet-shot", type=int, default=None,
                        help="ProtoNet training k_shot (default 1)")
    parser.add_argument("--maml-width", type=int, default=None,
                        help="Conv4 width for MAML (default 32)")
    parser.add_argument("--maml-tasks", type=int, default=None,
                        help="MAML meta-batch size (default 8)")


def cpu_has_bfloat16(device: torch.device) -> bool:
    """True on a CPU with bfloat16 arithmetic units (avx512_bf16 or AMX), where it pays."""
    if device.type != "cpu":
        return False
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = cpuinfo.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def chosen_algorithms(text: str) -> list[str]:
    """Parse ``--algorithms`` and check every name."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in ALGORITHMS]
    if unknown or not names:
        raise ValueError(f"--algorithms: unknown {unknown or 'empty list'}; "
                         f"choose from {','.join(ALGORITHMS)}")
    return names


def apply_overrides(recipes: dict[str, Recipe], args: argparse.Namespace) -> None:
    """Replace default recipe fields by the command-line overrides that were given."""
    overrides: dict[str, dict[str, Any]] = {
        "protonet": {"width": args.protonet_width, "train_way": args.protonet_way,
                     "train_shot": args.protonet_shot},
        "maml": {"width": args.maml_width, "n_tasks": args.maml_tasks},
    }
    for name, fields in overrides.items():
        given = {key: value for key, value in fields.items() if value is not None}
        if given:
            recipes[name] = replace(recipes[name], **given)
    for name, recipe in recipes.items():
        if args.width is not None and (name not in overrides
                                       or overrides[name].get("width") is None):
            recipe = replace(recipe, width=args.width)
        if args.test_steps is not None and recipe.test_steps:
            recipe = replace(recipe, test_steps={way: args.test_steps for way in recipe.test_steps})
        recipes[name] = recipe


def main() -> None:
    args = common.parse_args(__doc__.split("\n\n")[0], default_minutes=15,
                             add_arguments=add_arguments)
    names = chosen_algorithms(args.algorithms)
    if args.episodes < 2:
        raise ValueError(f"--episodes must be at least 2 (1000 for the table), got {args.episodes}")
    if not 0 < args.share_5way < 1:
        raise ValueError(f"--share-5way must be between 0 and 1, got {args.share_5way}")
    data = load_fewshot_data(args.data)
    recipes = default_recipes()
    apply_overrides(recipes, args)
    fast_layout = not args.standard_layout
    bfloat16 = not args.no_bf16 and cpu_has_bfloat16(args.device)
    results: dict[str, Any] = {"data_source": data.source, "data": data.description,
                               "accuracy_unit": "fraction in [0, 1] (the markdown shows %)",
                               "episodes": args.episodes,
                               "test_queries_per_class": {f"{way}-way": queries for way, queries
                                                          in TEST_QUERIES.items()},
                               "engineering": ENGINEERING, "algorithms": {}}
    results["profile"] = (profile(names, recipes, data, device=args.device, bfloat16=bfloat16,
                                  repeats=args.profile_steps) if args.profile_steps else [])
    for name in names:
        minutes = getattr(args, f"minutes_{name}") or args.minutes
        results["algorithms"][name] = run_algorithm(
            name, recipes[name], data, minutes=minutes, n_episodes=args.episodes,
            share_5way=args.share_5way, seed=args.seed, device=args.device,
            fast_layout=fast_layout, bfloat16=bfloat16)
        results["algorithms"][name]["minutes"] = minutes
    common.write_results(NAME, args, results, markdown(results, data), plot(results))


if __name__ == "__main__":
    main()
