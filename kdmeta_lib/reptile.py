"""Reptile (Nichol, Achiam & Schulman, "On First-Order Meta-Learning Algorithms", 2018).

Reptile needs no query loss and no second derivatives. For each task it runs plain SGD on the
support set from θ to get φ, then moves θ *towards* φ:

    φ = adapt(θ) = θ − α Σ_s ∇L_S(θ'_s)                 (``inner_steps`` SGD steps, α = inner_lr)
    θ ← θ + ε · mean_τ (φ_τ − θ)                         (outer step, ε = the outer step size)

The outer step is a gradient step on the surrogate ``½‖θ − stop_gradient(φ)‖²``, whose gradient
is exactly θ − φ. :func:`meta_loss` returns that surrogate, so Reptile trains with the same loop
as every other learner (``meta_training.meta_train``); plain SGD with learning rate ε is the
paper's update, Adam a common variant. At test time Reptile adapts like first-order MAML
(:func:`task_loss`). Taught in notebook 02, section "ANIL and Reptile".

Example:
    Reptile trains on :func:`meta_loss` with plain SGD as the outer optimizer:

    >>> import torch
    >>> from kdmeta_lib import Conv4, EpisodeSampler, reptile
    >>> model = Conv4(8, n_classes=5)
    >>> outer_sgd = torch.optim.SGD(model.parameters(), lr=1.0)  # ε = 1: θ jumps to mean φ

    Two outer steps on episodes from ten random classes, then the test-time loss:

    >>> from kdmeta_lib.functional import run_tasks
    >>> from kdmeta_lib.meta_training import meta_train
    >>> sampler = EpisodeSampler(torch.rand(10, 4, 1, 28, 28), n_way=5, k_shot=1, n_query=2)
    >>> config = reptile.ReptileConfig(inner_lr=0.4, inner_steps=5)
    >>> history = meta_train(model, reptile.meta_loss, config, sampler, n_iterations=2,
    ...                      optimizer=outer_sgd)
    >>> run_tasks(reptile.task_loss, model, sampler.sample_batch(2), config=config)[1].shape
    torch.Size([2])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from .functional import Params, accuracy, check_episode, check_inner_loop
from .maml import MamlConfig, adapt_to_support
from .maml import query_logits as maml_query_logits


@dataclass(frozen=True)
class ReptileConfig:
    """Hyperparameters of Reptile's inner loop (the outer step size is the optimizer's lr).

    Attributes:
        inner_lr: SGD step size α on the support set.
        inner_steps: SGD steps per task, in training and at test time. Reptile needs more than
            one: with a single step, θ − φ is just the support gradient (joint training).
    """

    inner_lr: float = 0.4
    inner_steps: int = 5

    def __post_init__(self):
        check_inner_loop(self.inner_lr, self.inner_steps)

    def check_episode(self, model: nn.Module, n_way: int, role: str = "model") -> None:
        """Raise ValueError unless ``model`` has a head with ``n_way`` outputs, as for MAML."""
        self.as_first_order_maml().check_episode(model, n_way, role)

    def as_first_order_maml(self) -> MamlConfig:
        """The same inner loop expressed as a first-order MAML config."""
        return MamlConfig(self.inner_lr, self.inner_steps, first_order=True)


def meta_loss(params: Params, buffers: Params, model: nn.Module, support_x: Tensor,
              support_y: Tensor, query_x: Tensor, query_y: Tensor, *,
              config: ReptileConfig) -> tuple[Tensor, Tensor]:
    """Reptile's training objective for one task: ``½‖θ − φ‖²`` with φ held constant.

    Returns:
        ``(surrogate, query_accuracy)``: the surrogate's gradient with respect to ``params`` is
        the Reptile direction θ − φ; the accuracy of φ on the queries is for monitoring only.
    """
    check_episode(model, support_y, query_y, config)  # a no-op under vmap (see there)
    adapted = adapt_to_support(params, buffers, model, support_x, support_y,
                               config=config.as_first_order_maml())
    surrogate = sum(0.5 * (params[name] - adapted[name].detach()).pow(2).sum() for name in params)
    with torch.no_grad():  # monitoring only: no graph for the outer step
        logits = functional_call(model, (adapted, buffers), (query_x,))
    return surrogate, accuracy(logits, query_y)


def task_loss(params: Params, buffers: Params, model: nn.Module, support_x: Tensor,
              support_y: Tensor, query_x: Tensor, query_y: Tensor, *,
              config: ReptileConfig) -> tuple[Tensor, Tensor]:
    """Reptile at test time: adapt on the support set (first-order), score the queries.

    Returns:
        ``(query_loss, query_accuracy)``, two scalars.
    """
    check_episode(model, support_y, query_y, config)
    logits = maml_query_logits(params, buffers, model, support_x, support_y, query_x,
                               config=config.as_first_order_maml())
    return F.cross_entropy(logits, query_y), accuracy(logits, query_y)
