"""One meta-training loop and one evaluation for every meta-learner.

All learners share the per-task signature of :data:`kdmeta_lib.functional.TaskLoss`, so the same
four functions train and test ProtoNet, MAML, ANIL and Reptile:

* :func:`meta_train`: sample a meta-batch of tasks, average their query losses, take one outer
  optimizer step, repeat for a number of steps or a wall-clock budget; returns a :class:`History`.
* :func:`episode_accuracies`: one accuracy per fresh test episode. It adapts exactly as training
  does (same task loss, same ``adapt``), only without the outer gradient;
* :func:`evaluate`: the same as mean ± 95% CI over ≥ 600 episodes.
* :func:`adaptation_curve`: the same evaluation for several numbers of test-time inner steps.

Taught in notebook 02, sections "ProtoNet on Omniglot" onwards.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from .episodes import EpisodeSampler
from .functional import TaskLoss, meta_backward, run_tasks
from .support.runtime import progress
from .support.stats import MeanCI, mean_ci
from .support.validation import check_integer, check_real


@dataclass
class History:
    """What happened during meta-training, one entry per outer step.

    Attributes:
        loss: mean training objective over the meta-batch (the query loss for most learners).
        accuracy: mean query accuracy over the meta-batch, a fraction in [0, 1].
        seconds: wall-clock time of the training steps (checkpoint evaluations not included).
        checkpoints: ``{training seconds: on_checkpoint(model)}`` (see :func:`meta_train`).
    """

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    seconds: float = 0.0
    checkpoints: dict[float, Any] = field(default_factory=dict)

    def smoothed_accuracy(self, window: int = 20) -> list[float]:
        """Running mean of the training accuracy over ``window`` steps, for plotting."""
        values = torch.tensor(self.accuracy)
        kernel = torch.ones(min(window, len(values))) / min(window, len(values))
        return torch.nn.functional.conv1d(values[None, None], kernel[None, None])[0, 0].tolist()


def meta_train(model: nn.Module, task_loss: TaskLoss, config: Any, sampler: EpisodeSampler, *,
               n_iterations: int | None = None, seconds: float | None = None, n_tasks: int = 4,
               outer_lr: float = 1e-3, optimizer: torch.optim.Optimizer | None = None,
               vectorize: bool | None = None, cosine_decay: bool = False,
               checkpoints: Sequence[float] = (),
               on_checkpoint: Callable[[nn.Module], Any] | None = None,
               description: str = "meta-training") -> History:
    """Meta-train ``model`` in place: minimise the mean task loss over meta-batches of tasks.

        θ ← θ − outer_lr · Adam( ∇θ (1/n_tasks) Σ_τ task_loss_τ(θ) )

    Args:
        model: the backbone; its parameters are the meta-parameters θ.
        task_loss: a learner's per-task function, e.g. ``maml.task_loss``.
        config: that learner's hyperparameters, e.g. ``MamlConfig(inner_steps=1)``.
        sampler: draws training episodes (from the *training* classes).
        n_iterations: outer steps; or else
        seconds: a wall-clock budget: train until this many seconds of training steps are spent
            (give exactly one of the two). Equal budgets make a fair race between learners.
        n_tasks: tasks per outer step (the meta-batch size).
        outer_lr: learning rate of the default Adam optimizer.
        optimizer: use this optimizer instead of Adam (e.g. plain SGD for Reptile).
        cosine_decay: lower the learning rate from its start value to 0 along a half cosine
            over the ``n_iterations`` steps (or the ``seconds``). A short run then ends with small,
            precise steps, which gains several points of accuracy when the budget is a few hundred
            steps.
        vectorize: run the tasks of a meta-batch with ``vmap`` (``True``) or a Python loop
            (``False``); ``None`` chooses for the device (see ``functional.run_tasks``).
        checkpoints, on_checkpoint: after the first step that ends at or past each checkpoint
            (in training seconds), store ``on_checkpoint(model)`` (e.g. a test accuracy) in
            ``History.checkpoints``; its run time is not counted as training time.
        description: label of the progress bar.
    Returns:
        The :class:`History` of training losses and accuracies.
    """
    if (n_iterations is None) == (seconds is None):
        raise ValueError("give meta_train either n_iterations (outer steps) or seconds (a "
                         f"wall-clock budget), not both or neither; got {n_iterations=}, {seconds=}")
    if seconds is None:
        check_integer("n_iterations", n_iterations)
    else:
        check_real("seconds", seconds, above=0, hint="a few seconds to minutes")
    check_integer("n_tasks", n_tasks, hint="4 tasks per meta-batch is typical")
    if optimizer is None:
        check_real("outer_lr", outer_lr, above=0, hint="try 1e-3")
        optimizer = torch.optim.Adam(model.parameters(), lr=outer_lr)
    start_lrs = [group["lr"] for group in optimizer.param_groups]
    device = next(model.parameters()).device
    history, pending = History(), sorted(checkpoints)
    model.train()
    steps = range(n_iterations) if seconds is None else itertools.count()
    for step in progress(steps, description, total=n_iterations):
        if seconds is not None and history.seconds >= seconds:
            break
        start = time.perf_counter()
        if cosine_decay:  # half cosine over the steps, or over the clock
            done = step / n_iterations if seconds is None else history.seconds / seconds
            for group, start_lr in zip(optimizer.param_groups, start_lrs):
                group["lr"] = start_lr * 0.5 * (1.0 + math.cos(math.pi * done))
        episode = sampler.sample_batch(n_tasks).to(device)
        optimizer.zero_grad(set_to_none=True)
        # one backward per task on a CPU, so only one task's graph is alive at a time
        losses, accuracies = meta_backward(task_loss, model, episode, config=config,
                                           vectorize=vectorize)
        optimizer.step()
        history.loss.append(losses.mean().item())
        history.accuracy.append(accuracies.mean().item())
        history.seconds += time.perf_counter() - start
        while pending and history.seconds >= pending[0]:
            history.checkpoints[pending.pop(0)] = on_checkpoint(model)
    if cosine_decay and seconds is None:
        for group in optimizer.param_groups:
            group["lr"] = 0.0  # where the half cosine ends
    return history


def episode_accuracies(model: nn.Module, task_loss: TaskLoss, config: Any,
                       sampler: EpisodeSampler, n_episodes: int = 600, batch_size: int = 50,
                       vectorize: bool | None = None) -> Tensor:
    """Query accuracy of each of ``n_episodes`` fresh test episodes: ``[n_episodes]``.

    The task loss adapts to each episode exactly as in training (inner gradients are still taken
    by ``torch.func.grad``), but no graph is kept for an outer step, which saves time and memory.
    One number per episode lets two models run on samplers with the same seed be compared task
    by task (a paired comparison); :func:`evaluate` summarises them as mean ± 95% CI.

    Args:
        sampler: draws test episodes (from classes never seen in training). Use a new sampler
            with a fixed seed to test several methods on the very same episodes.
        n_episodes: number of test episodes; 600 or more gives a CI of about ±1% or less.
        batch_size: episodes run together, to use the CPU or GPU well.
    """
    check_integer("n_episodes", n_episodes, hint="600 for a paper-grade CI")
    check_integer("batch_size", batch_size, hint="50 episodes at a time is typical")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    accuracies = []
    with torch.no_grad():
        for first in range(0, n_episodes, batch_size):
            episode = sampler.sample_batch(min(batch_size, n_episodes - first)).to(device)
            _, batch_accuracies = run_tasks(task_loss, model, episode, config=config,
                                            vectorize=vectorize)
            accuracies.append(batch_accuracies.cpu())
    model.train(was_training)
    return torch.cat(accuracies)


def evaluate(model: nn.Module, task_loss: TaskLoss, config: Any, sampler: EpisodeSampler, *,
             n_episodes: int = 600, batch_size: int = 50, vectorize: bool | None = None) -> MeanCI:
    """Query accuracy on fresh test episodes, as mean ± 95% CI over episodes.

    :func:`episode_accuracies` summarised by ``support.stats.mean_ci``; same arguments.
    Returns:
        The accuracy (a fraction) as :class:`~kdmeta_lib.support.stats.MeanCI`.
    """
    check_integer("n_episodes", n_episodes, minimum=2, hint="a CI needs 2; 600 is paper-grade")
    return mean_ci(episode_accuracies(model, task_loss, config, sampler, n_episodes=n_episodes,
                                      batch_size=batch_size, vectorize=vectorize))


def adaptation_curve(model: nn.Module, task_loss: TaskLoss, config: Any,
                     sampler: EpisodeSampler, inner_steps: Sequence[int], *, n_episodes: int = 600,
                     batch_size: int = 50) -> dict[int, MeanCI]:
    """Test accuracy against the number of inner steps taken at test time.

    Every step count is evaluated on the *same* episodes (the sampler is rewound), so the curve
    shows the effect of adaptation alone, not episode-to-episode noise.

    Args:
        config: a config with an ``inner_steps`` field (MAML, ANIL, Reptile); each point uses
            ``dataclasses.replace(config, inner_steps=s)``.
        inner_steps: the inner-step counts to test, e.g. ``(0, 1, 2, 5, 10)``.
    Returns:
        ``{inner_steps: accuracy MeanCI}``.
    """
    if not dataclasses.is_dataclass(config) or "inner_steps" not in {
            f.name for f in dataclasses.fields(config)}:
        raise ValueError(f"adaptation_curve needs a config with inner_steps (MamlConfig, "
                         f"ReptileConfig), got {type(config).__name__}")
    start_state = sampler.generator.get_state()
    curve = {}
    for steps in inner_steps:
        sampler.generator.set_state(start_state)  # the same episodes for every point
        curve[steps] = evaluate(model, task_loss, dataclasses.replace(config, inner_steps=steps),
                                sampler, n_episodes=n_episodes, batch_size=batch_size)
    return curve
