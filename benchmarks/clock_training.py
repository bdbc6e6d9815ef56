"""Meta-training for a wall-clock budget, the learning rate following a half cosine over it.

The same outer step as ``kdmeta_lib.meta_training.meta_train`` (mean task loss over a
meta-batch, one optimizer step), but driven by a :class:`common.Budget` instead of a step
count, so that every algorithm gets the same minutes and every run ends with small steps.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

import common
from augmentation import augment_episode
from kdmeta_lib.episodes import EpisodeSampler
from kdmeta_lib.functional import TaskLoss, meta_backward
from recipes import Recipe, make_optimizer


def cosine_lr(start: float, fraction: float, warmup: float = 0.0) -> float:
    """Half-cosine decay from ``start`` to 0 as ``fraction`` (of the clock) goes 0 → 1.

    ``warmup > 0`` scales the first ``warmup`` of the clock by ``fraction / warmup`` (a linear
    rise from 0), which protects Adam's first, poorly estimated steps.
    """
    rise = min(1.0, fraction / warmup) if warmup > 0 else 1.0
    return rise * start * 0.5 * (1.0 + math.cos(math.pi * fraction))


def training_step(model: nn.Module, objective: TaskLoss, config: Any, sampler: EpisodeSampler,
                  optimizer: torch.optim.Optimizer, *, n_tasks: int, device: torch.device,
                  augment: torch.Generator | None = None) -> float:
    """One outer step on a fresh meta-batch; returns its mean query accuracy.

    ``augment``: a generator to move every image with ``augmentation.augment_episode``.
    """
    episode = sampler.sample_batch(n_tasks).to(device)  # tensor indexing, no Python loop
    if augment is not None:
        episode = augment_episode(episode, augment)
    optimizer.zero_grad(set_to_none=True)
    # one backward per task (on a CPU), so MAML holds one task's second-order graph at a time
    _, accuracies = meta_backward(objective, model, episode, config=config)
    optimizer.step()
    return accuracies.mean().item()


def train_for(model: nn.Module, objective: TaskLoss, config: Any, sampler: EpisodeSampler, *,
              recipe: Recipe, minutes: float, description: str,
              checkpoint: tuple[float, Callable[[nn.Module], Any]] | None = None
              ) -> dict[str, Any]:
    """Meta-train ``model`` in place until ``minutes`` of wall clock are spent.

    The learning rate follows ``cosine_lr`` over the *clock*, so a run of any length ends with
    small, precise steps.

    Args:
        checkpoint: ``(fraction, measure)``: once ``fraction`` of the budget is spent, call
            ``measure(model)`` with the clock stopped (a learning-curve point; its result is
            returned under ``"checkpoint"``). The model is mid-schedule there: its learning
            rate has not decayed to 0, so this point is an under-estimate of a run that ends at
            that time.
    Returns:
        ``{"train_seconds", "iterations", "tasks_seen", "cpu_seconds", "final_train_accuracy",
        "step_ms"}``: ``step_ms`` holds the median and 90th/99th percentiles and maximum of the
        steps' wall times, so a slow step shows up.
    """
    device = next(model.parameters()).device
    optimizer = make_optimizer(model, recipe)
    # its own generator, seeded from the run's seed, so the episodes match a run without it
    augment = torch.Generator().manual_seed(torch.initial_seed()) if recipe.augment else None
    recent: list[float] = []
    budget, cpu_start = common.Budget(minutes), time.process_time()
    n_iterations = 0
    model.train()
    step_seconds: list[float] = []
    measured: dict[str, Any] = {}
    for n_iterations in common.progress(itertools.count(1), description):
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(recipe.outer_lr, budget.fraction(), recipe.warmup)
        start = time.perf_counter()
        accuracy = training_step(model, objective, config, sampler, optimizer,
                                 n_tasks=recipe.n_tasks, device=device, augment=augment)
        step_seconds.append(time.perf_counter() - start)
        recent = (recent + [accuracy])[-50:]
        if checkpoint is not None and not measured and budget.fraction() >= checkpoint[0]:
            with budget.paused():
                cpu_before = time.process_time()
                measured = {"fraction": checkpoint[0], "iterations": n_iterations,
                            "train_seconds": round(budget.elapsed(), 2),
                            "result": checkpoint[1](model)}
                measured["cpu_seconds"] = round(time.process_time() - cpu_before, 2)
            model.train()
        if budget.spent():
            break
    cpu_seconds = time.process_time() - cpu_start - measured.get("cpu_seconds", 0)
    stats = {"train_seconds": round(budget.elapsed(), 2), "iterations": n_iterations,
             "tasks_seen": n_iterations * recipe.n_tasks, "cpu_seconds": round(cpu_seconds, 2),
             "final_train_accuracy": round(sum(recent) / max(1, len(recent)), 4),
             "step_ms": step_percentiles(step_seconds)}
    if measured:
        stats["checkpoint"] = measured
    return stats


def step_percentiles(seconds: list[float]) -> dict[str, float]:
    """Median, 90th and 99th percentiles and maximum of the step times, in milliseconds."""
    ordered = sorted(seconds)

    def at(q: float) -> float:
        return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {"median": at(0.5), "p90": at(0.9), "p99": at(0.99),
            "max": round(1000 * ordered[-1], 1), "mean": round(1000 * sum(ordered) / len(ordered), 1)}
