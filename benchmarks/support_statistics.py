"""Non-transductive test-time batch norm: every query normalised with the support's statistics.

Conv4's batch norm keeps no running statistics (``track_running_stats=False``, so that
``torch.func`` sees no buffers change): in training and at test time alike it normalises with
the mean and variance of the batch it is given. The kit's ProtoNet embeds support and queries
in one batch, and its MAML classifies all queries in one batch, so a query's prediction depends
on the *other queries* of its episode: transductive inference. MAML's code does the same
(Nichol et al. call Finn et al.'s figures transductive); Snell et al. tested with running
statistics, which is not transductive.

With no running statistics in the model, the only statistics a query may use without seeing
another query are the support set's. While :func:`support_statistics` is active, each batch
norm without running statistics normalises its whole input with the first ``n_support`` rows:

    μ_c = mean of x[:n_support, c, :, :],   σ²_c = biased variance of the same,
    y = (x − μ_c) / √(σ²_c + eps) · weight_c + bias_c       for every row of x

so each query goes through a fixed per-channel affine map and its logits depend only on itself
and the support. A batch of the support alone is normalised exactly as without the hooks.
Embedding each query *with* the support (one batch per query) would also hide the other
queries, but lets each query shift its own statistics and costs one forward pass per query.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from kdmeta_lib import maml, protonet
from kdmeta_lib.episodes import EpisodeSampler
from kdmeta_lib.functional import Params, TaskLoss, accuracy
from kdmeta_lib.meta_training import evaluate
from kdmeta_lib.support.stats import MeanCI


def uses_batch_statistics(module: nn.Module) -> bool:
    """True for a batch norm that normalises with the current batch even in eval mode."""
    return isinstance(module, nn.modules.batchnorm._BatchNorm) and module.running_mean is None


@contextmanager
def support_statistics(model: nn.Module, n_support: int) -> Iterator[None]:
    """Within the block, ``model``'s batch norms normalise every batch with its first
    ``n_support`` rows' statistics (the support set, which must come first in each batch).

    Works with ``functional_call`` (the hooks read the weights the call substituted), but not
    with ``run_tasks(vectorize=True)``, which runs a copy of the model; evaluate task by task.

    Raises:
        ValueError: a batch has fewer than ``n_support`` rows (it cannot hold the support).
    """
    def normalise_with_support(module: nn.Module, inputs: tuple[Tensor, ...],
                               output: Tensor) -> Tensor:
        x = inputs[0]
        if x.shape[0] < n_support:
            raise ValueError(f"a batch of {x.shape[0]} rows cannot start with the {n_support} "
                             "support examples; put the support set first in every batch")
        dims = [0, *range(2, x.dim())]         # all but the channels: [N·K, C, H, W] → C
        shape = [1, -1] + [1] * (x.dim() - 2)  # [C] → broadcastable [1, C, 1, 1]
        support = x[:n_support].float()  # float32 statistics, also under bfloat16 autocast
        mean = support.mean(dims, keepdim=True)
        variance = support.var(dims, unbiased=False, keepdim=True)
        # written out rather than F.batch_norm, which refuses statistics that carry a gradient
        # (they do inside MAML's adaptation and in a differentiable test)
        y = (x.float() - mean) * torch.rsqrt(variance + module.eps)
        if module.weight is not None:
            y = y * module.weight.view(shape) + module.bias.view(shape)
        return y.to(output.dtype)

    handles = [module.register_forward_hook(normalise_with_support)
               for module in model.modules() if uses_batch_statistics(module)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def maml_support_first_logits(params: Params, buffers: Params, model: nn.Module,
                              support_x: Tensor, support_y: Tensor, query_x: Tensor, *,
                              config: maml.MamlConfig) -> Tensor:
    """``maml.query_logits`` with the support set in front of the queries' batch.

    Adaptation is unchanged (its batches hold the support only). The adapted model then runs on
    ``[support; queries]`` and keeps the query rows, so that under :func:`support_statistics`
    the queries are normalised with the support's statistics.

    Returns:
        ``[N·Q, n_way]`` logits of the adapted model.
    """
    adapted = maml.adapt_to_support(params, buffers, model, support_x, support_y, config=config)
    both = torch.cat([support_x, query_x])  # [N·K + N·Q, C, H, W], support first
    return functional_call(model, (adapted, buffers), (both,))[support_x.shape[0]:]


def maml_support_first_loss(params: Params, buffers: Params, model: nn.Module,
                            support_x: Tensor, support_y: Tensor, query_x: Tensor,
                            query_y: Tensor, *, config: maml.MamlConfig) -> tuple[Tensor, Tensor]:
    """``maml.task_loss`` through :func:`maml_support_first_logits`: ``(query_loss,
    query_accuracy)``, two scalars."""
    logits = maml_support_first_logits(params, buffers, model, support_x, support_y, query_x,
                                       config=config)
    return F.cross_entropy(logits, query_y), accuracy(logits, query_y)


# Test-time task loss of each learner whose batches can be made to start with the support set
# (ProtoNet's already do: it embeds [support; queries] in one batch).
SUPPORT_FIRST: dict[TaskLoss, TaskLoss] = {protonet.task_loss: protonet.task_loss,
                                           maml.task_loss: maml_support_first_loss}


def evaluate_non_transductive(model: nn.Module, test_loss: TaskLoss, config: Any,
                              sampler: EpisodeSampler, *, n_episodes: int) -> MeanCI | None:
    """:func:`kdmeta_lib.meta_training.evaluate` with support-only batch-norm statistics.

    Returns:
        The accuracy as mean ± 95% CI, or ``None`` for a learner without a support-first test
        loss (ANIL, Reptile: not measured).
    """
    if test_loss not in SUPPORT_FIRST:
        return None
    with support_statistics(model, sampler.n_way * sampler.k_shot):
        return evaluate(model, SUPPORT_FIRST[test_loss], config, sampler,
                        n_episodes=n_episodes, vectorize=False)
