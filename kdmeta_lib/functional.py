"""Shared ``torch.func`` plumbing for every meta-learner: parameters as dicts, one inner loop,
one task runner.

Meta-learning needs a model evaluated with weights *other than its own*: the weights after a few
gradient steps on a task's support set. ``torch.func`` makes that a pure function:

* ``functional_call(model, (params, buffers), x)`` runs ``model`` with the weights in ``params``;
* ``grad(loss_of)(params)`` returns ``∇ loss_of(params)`` as a dict shaped like ``params``;
* ``vmap(f)(...)`` runs ``f`` on a stack of tasks as if it were one call per task.

Every learner in this library (``protonet``, ``maml``, ``anil``, ``reptile``) exposes a *task
loss* with one signature, :data:`TaskLoss`::

    task_loss(params, buffers, model, support_x, support_y, query_x, query_y, *, config)
        -> (query_loss, query_accuracy)   # two scalars

so that :func:`run_tasks` can run a meta-batch of tasks one by one or through ``vmap``, and the
training and evaluation loops (``meta_training``) work for all of them. Taught in notebook 02,
section "MAML, line by line".
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import grad, vmap

from .episodes import Episode
from .support.validation import check_integer, check_labels, check_real, readable
from .support.vmap_safe import vmap_safe

Params = dict[str, Tensor]
"""Parameter (or buffer) name → tensor, e.g. ``{"features.0.0.weight": ..., "head.bias": ...}``."""

TaskLoss = Callable[..., tuple[Tensor, Tensor]]
"""``(params, buffers, model, support_x, support_y, query_x, query_y, *, config)`` →
``(query_loss, query_accuracy)``."""


def params_and_buffers(model: nn.Module) -> tuple[Params, Params]:
    """The model's own parameters and buffers as dicts.

    The parameter tensors are the model's live ``nn.Parameter`` objects, so a loss computed from
    them backpropagates into ``model.parameters()`` and an ordinary optimizer can take the outer
    step.
    """
    return dict(model.named_parameters()), dict(model.named_buffers())


def sub_params(params: Params, prefix: str) -> Params:
    """The entries of a submodule, with its prefix removed.

    Example: ``sub_params(params, "head")`` turns ``"head.weight"`` into ``"weight"``, ready for
    ``functional_call(model.head, ...)``.
    """
    start = prefix + "."
    return {name[len(start):]: value for name, value in params.items() if name.startswith(start)}


def accuracy(logits: Tensor, labels: Tensor) -> Tensor:
    """Fraction of correct predictions (a scalar tensor). Shapes: ``[B, n_way]``, ``[B]``."""
    return (logits.argmax(dim=-1) == labels).float().mean()


def stack_params(params: Params, n_tasks: int) -> Params:
    """The same weights for every task: each ``[...]`` tensor becomes ``[n_tasks, ...]``.

    ``expand`` makes views, not copies, so a gradient flowing back into the stack is summed over
    the tasks (what the meta-gradient of summed task losses needs). Call ``.clone()`` on the
    values for independent per-task copies.
    """
    return {name: value.expand(n_tasks, *value.shape) for name, value in params.items()}


def check_inner_loop(inner_lr: float, inner_steps: int) -> None:
    """Raise ValueError unless ``inner_lr`` is a finite number > 0 and ``inner_steps`` an int ≥ 0.

    Every config with an inner loop (MAML, ANIL, Reptile, test-time guidance) and :func:`adapt`
    call this. With no step to take, ``inner_lr`` = 0 is allowed too.
    """
    check_integer("inner_steps", inner_steps, minimum=0, hint="1 to 5 is typical")
    bound = {"above": 0} if inner_steps else {"minimum": 0}
    check_real("inner_lr", inner_lr, **bound, hint="try 0.1 to 0.5")


def check_episode(model: nn.Module, support_y: Tensor, query_y: Tensor, config: Any) -> int:
    """Raise ValueError unless tasks are labelled as every learner assumes; return ``n_way``.

    Support labels must be exactly ``0..n_way−1`` in every task (a class without support
    examples has a 0/0 prototype) and query labels must lie in that range. A config may add a
    method ``check_episode(model, n_way)``, e.g. to check that its ``n_way`` or the model's head
    fits the episodes. The labels' values are read here, so call it outside ``vmap``:
    :func:`run_tasks` does, and so does each learner's task loss when called on one task.

    Args:
        support_y, query_y: ``[N·K]`` and ``[N·Q]``, or ``[n_tasks, ...]`` for a batch.
    """
    if not readable(support_y) or not readable(query_y):
        return -1  # under vmap: run_tasks has checked the whole batch already
    hint = "relabel each task's classes 0..n_way−1, as EpisodeSampler does"
    n_way = check_labels("support_y", support_y, every_class=True, hint=hint)
    check_labels("query_y", query_y, n_way, hint=hint)
    if hasattr(config, "check_episode"):
        config.check_episode(model, n_way)
    return n_way


def adapt(loss_of: Callable[[Params], Tensor], params: Params, *, inner_lr: float,
          inner_steps: int, first_order: bool = False) -> Params:
    """The inner loop of MAML-style learners: a few plain gradient steps on one task.

        θ'₀ = θ,    θ'ₛ₊₁ = θ'ₛ − inner_lr · ∇ loss_of(θ'ₛ)    for s = 0 … inner_steps − 1

    The returned weights remain a differentiable function of ``params``, so the outer loss can be
    backpropagated *through* the inner steps (second order: Hessian-vector products appear). With
    ``first_order=True`` each inner gradient is treated as a constant, so ``∂θ'/∂θ = I`` (FOMAML).

    Args:
        loss_of: the task's training loss as a function of the weights, e.g. the support-set
            cross-entropy. It must be pure (no Python branching on tensor values).
        params: the weights to start from (only these are adapted; keep the rest in the closure).
        inner_lr: step size α of the inner loop.
        inner_steps: number of steps; 0 returns ``params`` unchanged.
        first_order: drop the second-order terms (cheaper, usually almost as good).
    Returns:
        The adapted weights, a dict with the same keys and shapes as ``params``.
    """
    check_inner_loop(inner_lr, inner_steps)
    for _ in range(inner_steps):
        if first_order:
            # grad() still differentiates loss_of inside no_grad (it is a function transform),
            # but the outer autograd records nothing: the gradient is a constant for the outer step.
            with torch.no_grad():
                grads = grad(loss_of)(params)
        else:
            grads = grad(loss_of)(params)
        params = {name: value - inner_lr * grads[name] for name, value in params.items()}
    return params


def run_tasks(task_loss: TaskLoss, model: nn.Module, episode: Episode, *, config: Any,
              params: Params | None = None, buffers: Params | None = None,
              vectorize: bool | None = None) -> tuple[Tensor, Tensor]:
    """Run one task loss on every task of a meta-batch.

    Args:
        task_loss: a learner's per-task function, e.g. ``maml.task_loss``.
        model: the backbone; its own weights are used unless ``params``/``buffers`` are given.
        episode: a *batch* of tasks (``EpisodeSampler.sample_batch``): tensors with a leading
            ``n_tasks`` dimension.
        config: the learner's hyperparameters, passed on as ``config=``.
        vectorize: ``True`` runs all tasks at once with ``torch.func.vmap``; ``False`` loops
            over them; ``None`` picks ``vmap`` on a GPU and the loop on a CPU, where small
            per-task batches stay in cache and ran about twice as fast in our measurements.
            Both give the same numbers (tested).
    Raises:
        ValueError: the labels or the learner do not fit the episodes (:func:`check_episode`).
    Returns:
        ``(query_losses, query_accuracies)``, each ``[n_tasks]``.
    """
    if not episode.is_batch:
        raise ValueError("run_tasks needs a batch of tasks (EpisodeSampler.sample_batch); "
                         "for a single task call the task loss directly")
    check_episode(model, episode.support_y, episode.query_y, config)
    own_params, own_buffers = params_and_buffers(model)
    params = own_params if params is None else params
    buffers = own_buffers if buffers is None else buffers
    tasks = (episode.support_x, episode.support_y, episode.query_x, episode.query_y)
    if vectorize is None:
        vectorize = episode.support_x.device.type != "cpu"
    if vectorize:
        # vmap_safe: the fused batch norm's second derivative is wrong under vmap (see there).
        one_task = partial(task_loss, params, buffers, vmap_safe(model), config=config)
        return vmap(one_task)(*tasks)
    one_task = partial(task_loss, params, buffers, model, config=config)
    results = [one_task(*(tensor[index] for tensor in tasks)) for index in range(len(tasks[0]))]
    losses, accuracies = zip(*results)
    return torch.stack(losses), torch.stack(accuracies)


def meta_backward(task_loss: TaskLoss, model: nn.Module, episode: Episode, *, config: Any,
                  vectorize: bool | None = None) -> tuple[Tensor, Tensor]:
    """Back-propagate a meta-batch's mean query loss ``(1/N)·Σ_i L_i`` into ``model``'s ``.grad``.

    The same gradients as ``run_tasks(...)[0].mean().backward()``, since the gradient of a sum
    is the sum of the gradients. On the task-by-task path each task's ``L_i / N`` is
    back-propagated as soon as it is computed, which frees that task's graph (for MAML: the
    inner loop's second-order graph) before the next task runs, so memory holds one task's
    graph instead of ``N``. With ``vmap`` the tasks run at once and are back-propagated at once.

    Args: as :func:`run_tasks` (``vectorize=None`` chooses the loop on a CPU).
    Returns:
        ``(query_losses, query_accuracies)``, each ``[n_tasks]``, detached.
    """
    if vectorize is None:
        vectorize = episode.support_x.device.type != "cpu"
    if vectorize:
        losses, accuracies = run_tasks(task_loss, model, episode, config=config, vectorize=True)
        losses.mean().backward()
        return losses.detach(), accuracies.detach()
    n_tasks = len(episode.support_x)
    losses, accuracies = [], []
    for index in range(n_tasks):
        one = Episode(*(tensor[index:index + 1] for tensor in (
            episode.support_x, episode.support_y, episode.query_x, episode.query_y)))
        loss, task_accuracy = run_tasks(task_loss, model, one, config=config, vectorize=False)
        (loss[0] / n_tasks).backward()
        losses.append(loss.detach())
        accuracies.append(task_accuracy.detach())
    return torch.cat(losses), torch.cat(accuracies)
