"""Omniglot few-shot accuracy of the kit's five meta-learners, beside the published numbers.

    python benchmarks/omniglot_accuracy.py --minutes 15 [--algorithms protonet,maml]
        [--minutes-maml 12] [--share-5way 0.6] [--episodes 1000] [--device cpu] [--threads 2]
        [--split background|vinyals]

Each algorithm is meta-trained for a wall-clock budget (``--minutes``, or ``--minutes-<name>``),
its learning rate following a half cosine over the clock, and is then tested on 5-way 1-shot,
5-way 5-shot, 20-way 1-shot and 20-way 5-shot episodes drawn from classes never trained on:
mean ± 95% CI over ``--episodes`` test episodes (the same episodes for every algorithm).
``--split`` chooses the classes:

* ``background`` (default): Lake et al.'s split, training on the *background* alphabets (964
  characters, with 90°/180°/270° rotations as extra classes) and testing on the *evaluation*
  alphabets (659 characters), which share no alphabet;
* ``vinyals``: the papers' split (Vinyals et al.; Snell et al.'s lists, ``vinyals_split``),
  training on 1,200 characters × 4 rotations and testing on 423 × 4, almost
  alphabet-disjoint (only Gurmukhi is on both sides). The comparison with the papers uses it.

Every accuracy is measured twice on the same episodes: with the kit's *transductive* batch norm
(statistics of the test batch, queries included) and *non-transductive*, each query normalised
with the support's statistics only (``support_statistics``; ProtoNet and (FO)MAML).

* ProtoNet has no head, so one model serves every setting. It trains 60-way (Snell et al.).
* MAML, FOMAML, ANIL and Reptile adapt a linear head with ``n_way`` outputs, so, as in the
  papers, a 5-way model and a 20-way model are trained; the algorithm's budget is split between
  them (``--share-5way``). Each is tested on both shot counts (the papers trained one model
  per shot count too; one per n_way halves the cost).

Before training, every algorithm's training step is timed under each speed setting (NCHW vs
channels-last, bfloat16 convolutions for ProtoNet, 1 vs all threads; ``--profile-steps``), and
the table goes into the JSON and markdown beside the accuracies.

The learners are the library's own (``kdmeta_lib.protonet``, ``maml``, ``anil``, ``reptile``) run
through ``functional.run_tasks``. The benchmark adds, each in its own module: the recipes and
published numbers (``recipes``), the clock-driven training loop (``clock_training``), the speed
settings (``fast_layouts``; what each bought is in ``benchmarks/README.md``), the step timings
(``profiling``) and the report (``accuracy_report``). This file parses the command line, trains
and tests each algorithm, and writes the results.

Caveat when comparing with the papers: use ``--split vinyals`` and the non-transductive
figures; the background / evaluation split has fewer training characters (964, not 1,200) and
fully disjoint alphabets.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

import common
from accuracy_report import ENGINEERING_NOTES, markdown, plot
from clock_training import train_for
from fast_layouts import cpu_has_bfloat16, keep_freed_memory
from kdmeta_lib.data import FewShotData, load_fewshot_data
from kdmeta_lib.episodes import EpisodeSampler
from kdmeta_lib.meta_training import evaluate
from profiling import profile
from support_statistics import evaluate_non_transductive
from vinyals_split import load_vinyals_data
from recipes import (ALGORITHMS, PUBLISHED, SETTINGS, TEST_QUERIES, Recipe, default_recipes,
                     learner, learner_config, make_model)

NAME = "omniglot_accuracy"


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
    parser.add_argument("--split", default="background", choices=("background", "vinyals"),
                        help="Omniglot classes: Lake et al.'s background/evaluation alphabets "
                             "(default) or the papers' vinyals split (1,200 trainval / 423 test "
                             "characters × 4 rotations; needs real Omniglot)")
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
    parser.add_argument("--protonet-objective", default=None, choices=("standard", "all_splits"),
                        help="ProtoNet's training loss (default: the recipe's)")
    parser.add_argument("--protonet-lr", type=float, default=None,
                        help="ProtoNet's Adam learning rate at the start of the cosine "
                             "(default: the recipe's, 3e-3)")
    parser.add_argument("--protonet-warmup", type=float, default=None,
                        help="fraction of ProtoNet's budget with a linear learning-rate "
                             "warm-up (default 0)")
    parser.add_argument("--protonet-augment", action="store_true",
                        help="move ProtoNet's training images by a small random affine map "
                             "(augmentation.py; default off)")
    parser.add_argument("--curve-episodes", type=int, default=0,
                        help="test episodes per setting for a learning-curve point halfway "
                             "through each budget, non-transductive (0: none; default 0)")
    parser.add_argument("--glibc-default-trim", action="store_true",
                        help="leave glibc's allocator as it is (to measure what "
                             "fast_layouts.keep_freed_memory buys)")
    parser.add_argument("--keep-others", action="store_true",
                        help="keep the results of the algorithms not run now from the results "
                             "file already in --out (same split and machine); each algorithm "
                             "records the command that produced it")
    parser.add_argument("--maml-width", type=int, default=None,
                        help="Conv4 width for MAML (default 32)")
    parser.add_argument("--maml-tasks", type=int, default=None,
                        help="MAML meta-batch size (default 8)")


def evaluation_sampler(data: FewShotData, n_way: int, k_shot: int, seed: int) -> EpisodeSampler:
    """Test episodes of one setting; the same seed gives every algorithm the same episodes."""
    return EpisodeSampler(data.test, n_way, k_shot, TEST_QUERIES[n_way],
                          seed=seed + 1000 * n_way + k_shot)


def run_algorithm(name: str, recipe: Recipe, data: FewShotData, *, minutes: float,
                  n_episodes: int, share_5way: float, seed: int, device: torch.device,
                  fast_layout: bool, bfloat16: bool = False,
                  curve_episodes: int = 0) -> dict[str, Any]:
    """Train one algorithm within ``minutes`` and test it on every setting.

    ``bfloat16`` applies to ProtoNet only (see :class:`fast_layouts.Bfloat16Backbone`).
    ``curve_episodes > 0`` adds a learning-curve point halfway through the budget.
    """
    bfloat16 = bfloat16 and recipe.config is None
    fast_layout = fast_layout and recipe.channels_last
    objective, test_loss = learner(name, recipe.objective)
    common.seed_everything(seed)
    models: dict[int | None, nn.Module] = {}
    training: list[dict[str, Any]] = []
    heads: tuple[int | None, ...] = recipe.heads or (None,)
    for head in heads:
        share = (1.0 if head is None or len(heads) == 1
                 else share_5way if head == 5 else 1.0 - share_5way)
        n_way = recipe.train_way if head is None else head
        sampler = EpisodeSampler(data.train, n_way, recipe.train_shot, recipe.train_query,
                                 seed=seed + (head or 0))
        model = make_model(recipe, head, device, fast_layout, bfloat16)
        config = learner_config(recipe, n_way)
        label = f"{name} {n_way}-way"
        checkpoint = None
        if curve_episodes:
            settings = [(w, s) for w, s in SETTINGS if head is None or w == head]
            checkpoint = (0.5, lambda m: curve_point(m, name, recipe, data, settings,
                                                     curve_episodes, seed, test_loss))
        stats = train_for(model, objective, config, sampler, recipe=recipe,
                          minutes=minutes * share, description=label, checkpoint=checkpoint)
        stats["ms_per_iteration"] = round(1000 * stats["train_seconds"] / stats["iterations"], 1)
        training.append({"model": label, "train_way": n_way, **stats})
        models[head] = model
    accuracy: dict[str, Any] = {}
    eval_start, cpu_start = time.perf_counter(), time.process_time()
    for n_way, k_shot in SETTINGS:
        model = models[None] if None in models else models.get(n_way)
        if model is None:  # no head of this n_way was trained (the budget went elsewhere)
            accuracy[f"{n_way}w{k_shot}s"] = None
            continue
        config = test_config(recipe, n_way)
        sampler = evaluation_sampler(data, n_way, k_shot, seed)
        start = time.perf_counter()
        result = evaluate(model, test_loss, config, sampler, n_episodes=n_episodes)
        eval_seconds = round(time.perf_counter() - start, 2)
        # the same episodes again (same seed), each query seeing only the support's statistics
        start = time.perf_counter()
        alone = evaluate_non_transductive(model, test_loss, config,
                                          evaluation_sampler(data, n_way, k_shot, seed),
                                          n_episodes=n_episodes)
        accuracy[f"{n_way}w{k_shot}s"] = {
            "mean": round(result.mean, 5), "half_width": round(result.half_width, 5),
            "n": result.n, "eval_seconds": eval_seconds,
            "inner_steps": getattr(config, "inner_steps", 0),
            "queries_per_class": TEST_QUERIES[n_way],
            "non_transductive": None if alone is None else {
                "mean": round(alone.mean, 5), "half_width": round(alone.half_width, 5),
                "n": alone.n, "eval_seconds": round(time.perf_counter() - start, 2)}}
        print(f"{name} {n_way}w{k_shot}s: {100 * result.mean:.2f} ± "
              f"{100 * result.half_width:.2f} % transductive"
              + ("" if alone is None else f", {100 * alone.mean:.2f} ± "
                 f"{100 * alone.half_width:.2f} % non-transductive"), flush=True)
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


def test_config(recipe: Recipe, n_way: int) -> Any:
    """The learner's hyperparameters on ``n_way``-way test episodes (the test inner steps)."""
    if recipe.config is None:
        return learner_config(recipe, n_way)
    return replace(recipe.config, inner_steps=recipe.test_steps[n_way])


def curve_point(model: nn.Module, name: str, recipe: Recipe, data: FewShotData,
                settings: list[tuple[int, int]], n_episodes: int, seed: int,
                test_loss: Any) -> dict[str, Any]:
    """Non-transductive accuracy on ``n_episodes`` test episodes per setting, mid-training
    (a learning-curve point; the episodes are the first ones of the final test)."""
    point = {}
    for n_way, k_shot in settings:
        config, sampler = test_config(recipe, n_way), evaluation_sampler(data, n_way, k_shot, seed)
        result = evaluate_non_transductive(model, test_loss, config, sampler,
                                           n_episodes=n_episodes)
        protocol = "non-transductive"
        if result is None:  # ANIL and Reptile have no non-transductive evaluation
            result = evaluate(model, test_loss, config, sampler, n_episodes=n_episodes)
            protocol = "transductive"
        point[f"{n_way}w{k_shot}s"] = {"mean": round(result.mean, 5),
                                       "half_width": round(result.half_width, 5),
                                       "n": result.n, "protocol": protocol}
        print(f"{name} mid-training {n_way}w{k_shot}s: {100 * result.mean:.2f} ± "
              f"{100 * result.half_width:.2f} % {protocol}", flush=True)
    return point


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
                     "train_shot": args.protonet_shot, "objective": args.protonet_objective,
                     "outer_lr": args.protonet_lr, "warmup": args.protonet_warmup,
                     "augment": args.protonet_augment or None},
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


def load_data(split: str, source: str) -> FewShotData:
    """The few-shot data of ``--split`` (the vinyals split needs real Omniglot)."""
    if split == "background":
        return load_fewshot_data(source)
    if source == "glyphs":
        raise ValueError("--split vinyals needs real Omniglot, not --data glyphs; drop --data "
                         "or use --split background")
    data = load_vinyals_data()
    print(f"Data: {data.description}")
    return data


def main() -> None:
    args = common.parse_args(__doc__.split("\n\n")[0], default_minutes=15,
                             add_arguments=add_arguments)
    names = chosen_algorithms(args.algorithms)
    if args.episodes < 2:
        raise ValueError(f"--episodes must be at least 2 (1000 for the table), got {args.episodes}")
    if not 0 < args.share_5way < 1:
        raise ValueError(f"--share-5way must be between 0 and 1, got {args.share_5way}")
    if args.protonet_warmup is not None and not 0 <= args.protonet_warmup < 1:
        raise ValueError(f"--protonet-warmup is a fraction of the budget in [0, 1), "
                         f"got {args.protonet_warmup}")
    freed_memory_kept = not args.glibc_default_trim and keep_freed_memory()
    data = load_data(args.split, args.data)
    recipes = default_recipes()
    apply_overrides(recipes, args)
    fast_layout = not args.standard_layout
    bfloat16 = not args.no_bf16 and cpu_has_bfloat16(args.device)
    results: dict[str, Any] = {"data_source": data.source, "data": data.description,
                               "split": args.split, "machine": common.machine(args.device),
                               "accuracy_unit": "fraction in [0, 1] (the markdown shows %)",
                               "episodes": args.episodes,
                               "test_queries_per_class": {f"{way}-way": queries for way, queries
                                                          in TEST_QUERIES.items()},
                               "engineering": ENGINEERING_NOTES,
                               "glibc_keeps_freed_memory": freed_memory_kept, "algorithms": {}}
    results["profile"] = (profile(names, recipes, data, device=args.device, bfloat16=bfloat16,
                                  repeats=args.profile_steps) if args.profile_steps else [])
    stem = NAME if args.split == "background" else f"{NAME}_{args.split}"
    kept = earlier_results(args.out / f"{stem}.json", results, names) if args.keep_others else {}
    for name in names:
        minutes = getattr(args, f"minutes_{name}") or args.minutes
        results["algorithms"][name] = run_algorithm(
            name, recipes[name], data, minutes=minutes, n_episodes=args.episodes,
            share_5way=args.share_5way, seed=args.seed, device=args.device,
            fast_layout=fast_layout, bfloat16=bfloat16, curve_episodes=args.curve_episodes)
        results["algorithms"][name].update(minutes=minutes, command=args.command)
        # written after every algorithm, so a long run that stops late keeps what it measured
        # (one results file per split: the papers' comparison never overwrites the other table)
        results["algorithms"] = {other: results["algorithms"].get(other) or kept[other]
                                 for other in ALGORITHMS
                                 if other in results["algorithms"] or other in kept}
        common.write_results(stem, args, results, markdown(results, data), plot(results))


def earlier_results(path: Path, results: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """The algorithms of an earlier results file that this run does not train (``--keep-others``),
    each with the command that produced it; the file must come from the same split and machine."""
    if not path.exists():
        raise FileNotFoundError(f"--keep-others: no earlier results at {path}; run every "
                                f"algorithm once without it, or point --out at that folder")
    earlier = json.loads(path.read_text())
    for key in ("split", "machine"):
        if earlier["results"].get(key) != results[key]:
            raise ValueError(f"--keep-others: {path} has {key} {earlier['results'].get(key)}, "
                             f"this run {results[key]}; its results would not be comparable")
    return {name: {"command": earlier["command"], **result}
            for name, result in earlier["results"]["algorithms"].items() if name not in names}


if __name__ == "__main__":
    main()
