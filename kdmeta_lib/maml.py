"""MAML: Model-Agnostic Meta-Learning (Finn, Abbeel & Levine, ICML 2017).

MAML learns an *initialisation* θ from which a few gradient steps on a new task's support set
already give a good classifier. For one task with support loss L_S and query loss L_Q:

    θ' = θ − α ∇θ L_S(θ)          (inner loop, ``inner_steps`` times; α = ``inner_lr``)
    meta-loss = L_Q(θ')           (averaged over a meta-batch of tasks, minimised over θ)

The meta-gradient ∇θ L_Q(θ') = (I − α ∇²L_S(θ)) ∇L_Q(θ') contains a Hessian: that is
*second-order* MAML. First-order MAML (FOMAML) drops the Hessian term and uses ∇L_Q(θ') directly.

Unlike ProtoNet (``protonet``), MAML adapts *every* weight, including a linear head with
``n_way`` outputs: build the model as ``Conv4(width, n_classes=n_way)``. ANIL (``anil``) adapts the
head only. Taught in notebook 02, sections "MAML on sine waves" and "MAML on Omniglot".

Example:
    MAML needs a head with one output per class of the episode:

    >>> import torch
    >>> from kdmeta_lib import Conv4, EpisodeSampler, maml
    >>> model = Conv4(8, n_classes=5)
    >>> config = maml.MamlConfig(inner_lr=0.4, inner_steps=1)

    Episodes from ten random classes; one meta-batch of 4 tasks, then two outer steps:

    >>> sampler = EpisodeSampler(torch.rand(10, 4, 1, 28, 28), n_way=5, k_shot=1, n_query=2)
    >>> from kdmeta_lib.functional import run_tasks
    >>> losses, accuracies = run_tasks(maml.task_loss, model, sampler.sample_batch(4),
    ...                                config=config)
    >>> from kdmeta_lib.meta_training import meta_train
    >>> history = meta_train(model, maml.task_loss, config, sampler, n_iterations=2, n_tasks=4)
    >>> len(history.accuracy)
    2
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from .functional import Params, accuracy, adapt, check_episode, check_inner_loop
from .support.validation import check_flag


@dataclass(frozen=True)
class MamlConfig:
    """Hyperparameters of the inner loop (shared by MAML and ANIL).

    Attributes:
        inner_lr: step size α of the inner gradient steps (0.4 is Finn et al.'s Omniglot value).
        inner_steps: gradient steps on the support set, in training and at test time.
        first_order: ``True`` for first-order MAML (no Hessian-vector products).
    """

    inner_lr: float = 0.4
    inner_steps: int = 1
    first_order: bool = False

    def __post_init__(self):
        check_inner_loop(self.inner_lr, self.inner_steps)
        check_flag("first_order", self.first_order)

    def check_episode(self, model: nn.Module, n_way: int, role: str = "model") -> None:
        """Raise ValueError unless ``model`` ends in a head with one output per class."""
        check_head(model, n_way, role)


def check_head(model: nn.Module, n_way: int, role: str = "model") -> None:
    """Raise ValueError unless ``model`` outputs ``n_way`` logits (MAML, ANIL and Reptile).

    The width is read from ``model.n_classes`` (``Conv4``: None means no head) or else from a
    final ``nn.Linear``; a model that shows neither is trusted.
    """
    leaves = [module for module in model.modules() if not list(module.children())]
    last_linear = leaves[-1].out_features if leaves and isinstance(leaves[-1], nn.Linear) else 0
    outputs = getattr(model, "n_classes", last_linear or -1)
    if outputs is None:
        raise ValueError(f"the {role} ({type(model).__name__}) has no classifier head, so its "
                         f"outputs are an embedding, not {n_way} logits; build it as "
                         f"Conv4(width, n_classes={n_way}), or use ProtoNet for a headless model")
    if outputs not in (-1, n_way):
        raise ValueError(f"the {role} has a head with {outputs} outputs but the episodes are "
                         f"{n_way}-way; build it with n_classes={n_way}")


def adapt_to_support(params: Params, buffers: Params, model: nn.Module, support_x: Tensor,
                     support_y: Tensor, *, config: MamlConfig) -> Params:
    """The weights θ' after ``config.inner_steps`` steps on the support cross-entropy.

    Shapes: ``support_x [N·K, C, H, W]``, ``support_y [N·K]``.
    """
    def support_loss(weights: Params) -> Tensor:
        return F.cross_entropy(functional_call(model, (weights, buffers), (support_x,)), support_y)

    return adapt(support_loss, params, inner_lr=config.inner_lr,
                 inner_steps=config.inner_steps, first_order=config.first_order)


def query_logits(params: Params, buffers: Params, model: nn.Module, support_x: Tensor,
                 support_y: Tensor, query_x: Tensor, *, config: MamlConfig) -> Tensor:
    """Adapt on the support set, then classify the queries.

    Returns:
        ``[N·Q, n_way]`` logits of the adapted model; differentiable with respect to ``params``.
    """
    adapted = adapt_to_support(params, buffers, model, support_x, support_y, config=config)
    return functional_call(model, (adapted, buffers), (query_x,))


def task_loss(params: Params, buffers: Params, model: nn.Module, support_x: Tensor,
              support_y: Tensor, query_x: Tensor, query_y: Tensor, *,
              config: MamlConfig) -> tuple[Tensor, Tensor]:
    """MAML's per-task objective: the query cross-entropy and accuracy after adaptation.

    Returns:
        ``(query_loss, query_accuracy)``, two scalars. Backpropagating ``query_loss`` gives the
        second-order meta-gradient (first-order with ``config.first_order``).
    """
    check_episode(model, support_y, query_y, config)  # a no-op under vmap (see there)
    logits = query_logits(params, buffers, model, support_x, support_y, query_x, config=config)
    return F.cross_entropy(logits, query_y), accuracy(logits, query_y)
