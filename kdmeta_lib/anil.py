"""ANIL: Almost No Inner Loop (Raghu, Raghu, Bengio & Vinyals, ICLR 2020).

Raghu et al. found that MAML's inner loop barely changes the convolutional body: what MAML
learns is mostly *features*, and the adaptation happens in the final linear layer. ANIL therefore
adapts the head only and keeps the body θ_body fixed inside the inner loop:

    z = f_body(x)                                              (computed once per task)
    w' = w − α ∇_w L_S(w; z)                                   (inner loop on the head w only)
    meta-loss = L_Q(w'; f_body(x_query))                       (outer step updates body and head)

The meta-gradient still reaches the body through z, and second order is cheap because the
Hessian is only that of a linear layer. Hyperparameters are MAML's (:class:`MamlConfig`). The
model must have a ``features`` body and a ``head``: ``Conv4(width, n_classes=n_way)``.
Taught in notebook 02, section "ANIL and Reptile".

Example:
    ANIL takes MAML's config; its inner loop only touches ``model.head``:

    >>> import torch
    >>> from kdmeta_lib import Conv4, EpisodeSampler, anil
    >>> from kdmeta_lib.maml import MamlConfig
    >>> model, config = Conv4(8, n_classes=5), MamlConfig(inner_lr=0.4, inner_steps=3)

    Train for two outer steps on episodes drawn from ten random classes, then test:

    >>> from kdmeta_lib.meta_training import evaluate, meta_train
    >>> sampler = EpisodeSampler(torch.rand(10, 4, 1, 28, 28), n_way=5, k_shot=1, n_query=2)
    >>> history = meta_train(model, anil.task_loss, config, sampler, n_iterations=2)
    >>> 0 <= evaluate(model, anil.task_loss, config, sampler, n_episodes=4).mean <= 1
    True
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from .functional import Params, accuracy, adapt, check_episode, sub_params
from .maml import MamlConfig

BODY, HEAD = "features", "head"  # submodule names, as in models.Conv4


def check_body_and_head(model: nn.Module, params: Params) -> None:
    """Raise ValueError unless ``model`` splits into a ``features`` body and a trainable ``head``."""
    if not hasattr(model, BODY) or not sub_params(params, HEAD):
        raise ValueError(f"ANIL needs a model with a '{BODY}' body and a '{HEAD}' with weights, "
                         f"got {type(model).__name__}; use Conv4(width, n_classes=n_way)")
    unknown = [name for name in params if not name.startswith((BODY + ".", HEAD + "."))]
    if unknown:
        raise ValueError(f"ANIL only knows '{BODY}.*' and '{HEAD}.*' weights, got {unknown[:3]}")


def query_logits(params: Params, buffers: Params, model: nn.Module, support_x: Tensor,
                 support_y: Tensor, query_x: Tensor, *, config: MamlConfig) -> Tensor:
    """Embed once, adapt the head on the support features, classify the query features.

    Returns:
        ``[N·Q, n_way]`` logits; differentiable with respect to body and head weights.
    """
    check_body_and_head(model, params)  # a structural check: safe under vmap
    body = (sub_params(params, BODY), sub_params(buffers, BODY))
    head, head_buffers = sub_params(params, HEAD), sub_params(buffers, HEAD)
    body_module, head_module = getattr(model, BODY), getattr(model, HEAD)
    support_features = functional_call(body_module, body, (support_x,))  # [N·K, width]

    def support_loss(head_weights: Params) -> Tensor:
        logits = functional_call(head_module, (head_weights, head_buffers), (support_features,))
        return F.cross_entropy(logits, support_y)

    adapted_head = adapt(support_loss, head, inner_lr=config.inner_lr,
                         inner_steps=config.inner_steps, first_order=config.first_order)
    query_features = functional_call(body_module, body, (query_x,))  # [N·Q, width]
    return functional_call(head_module, (adapted_head, head_buffers), (query_features,))


def task_loss(params: Params, buffers: Params, model: nn.Module, support_x: Tensor,
              support_y: Tensor, query_x: Tensor, query_y: Tensor, *,
              config: MamlConfig) -> tuple[Tensor, Tensor]:
    """ANIL's per-task objective: query cross-entropy and accuracy after adapting the head.

    Returns:
        ``(query_loss, query_accuracy)``, two scalars.
    """
    check_episode(model, support_y, query_y, config)  # a no-op under vmap (see there)
    logits = query_logits(params, buffers, model, support_x, support_y, query_x, config=config)
    return F.cross_entropy(logits, query_y), accuracy(logits, query_y)
