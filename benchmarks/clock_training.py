"""Meta-training for a wall-clock budget, the learning rate following a half cosine over it.

The same outer step as ``kdmeta_lib.meta_training.meta_train`` (mean task loss over a
meta-batch, one optimizer step), but driven by a :class:`common.Budget` instead of a step
count, so that every algorithm gets the same minutes and every run ends with small steps.
"""

from __future__ import annotations

import itertools
import math
import time
from typing import Any

import torch
from torch import nn

import common
from kdmeta_lib.episodes import EpisodeSampler
from kdmeta_lib.functional import TaskLoss, run_tasks
from recipes import Recipe, make_optimizer


def cosine_lr(start: float, fraction: float) -> float:
    """Half-cosine decay from ``start`` to 0 as ``fraction`` (of the clock) goes 0 → 1."""
    return start * 0.5 * (1.0 + math.cos(math.pi * fraction))


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

    The learning rate follows ``cosine_lr`` over the *clock*, so a run of any length ends with
    small, precise steps.

    Returns:
        ``{"train_seconds", "iterations", "tasks_seen", "cpu_seconds", "final_train_accuracy"}``.
    """
    device = next(model.parameters()).device
    optimizer = make_optimizer(model, recipe)
    recent: list[float] = []
    budget, cpu_start = common.Budget(minutes), time.process_time()
    n_iterations = 0
    model.train()
    for n_iterations in common.progress(itertools.count(1), description):
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(recipe.outer_lr, budget.fraction())
        accuracy = training_step(model, objective, config, sampler, optimizer,
                                 n_tasks=recipe.n_tasks, device=device)
        recent = (recent + [accuracy])[-50:]
        if budget.spent():
            break
    return {"train_seconds": round(budget.elapsed(), 2), "iterations": n_iterations,
            "tasks_seen": n_iterations * recipe.n_tasks,
            "cpu_seconds": round(time.process_time() - cpu_start, 2),
            "final_train_accuracy": round(sum(recent) / max(1, len(recent)), 4)}
