"""A workaround for a torch bug: batch norm written out so that ``vmap`` differentiates it twice.

In torch 2.x the *second* derivative of the fused batch-norm kernel is wrong under ``vmap``
(pytorch/functorch#534: its batched backward rule), which silently corrupts second-order MAML on a
meta-batch of tasks. :func:`vmap_safe` swaps each batch norm for :class:`BatchStatisticsNorm`, the
same computation from elementary operations, which differentiate correctly.
``functional.run_tasks`` applies it whenever it runs tasks through ``vmap``. Nothing to learn
here about meta-learning: this is plumbing.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn


class BatchStatisticsNorm(nn.Module):
    """Batch normalisation written out from its mean and variance, with the same weights.

        y = (x − mean) / √(var + eps) · weight + bias     (statistics over all but the channels)

    It computes exactly what ``nn.BatchNorm2d(track_running_stats=False)`` computes, but from
    elementary operations. Why: in torch 2.x the *second* derivative of the fused batch norm is
    wrong under ``vmap`` (pytorch/functorch#534: its batched backward rule), which silently
    corrupts second-order MAML on a meta-batch. Elementary operations differentiate correctly.
    """

    def __init__(self, norm: nn.modules.batchnorm._BatchNorm):
        super().__init__()
        self.weight, self.bias, self.eps = norm.weight, norm.bias, norm.eps  # shared Parameters

    def forward(self, x: Tensor) -> Tensor:
        dims = [0, *range(2, x.dim())]                  # every dimension but the channels
        shape = [1, -1] + [1] * (x.dim() - 2)           # [C] → broadcastable [1, C, 1, 1]
        mean = x.mean(dims, keepdim=True)
        variance = x.var(dims, unbiased=False, keepdim=True)
        y = (x - mean) * torch.rsqrt(variance + self.eps)
        if self.weight is not None:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def vmap_safe(model: nn.Module) -> nn.Module:
    """``model`` itself, or a copy whose batch norms are :class:`BatchStatisticsNorm`.

    Parameter names stay the same, so the parameter dicts of ``model`` work with the copy in
    ``functional_call``. Only batch norms without running statistics are replaced (with running
    statistics ``vmap`` refuses them anyway).
    """
    def replaceable(module: nn.Module) -> bool:
        return (isinstance(module, nn.modules.batchnorm._BatchNorm)
                and module.running_mean is None)

    if not any(replaceable(module) for module in model.modules()):
        return model
    safe = copy.deepcopy(model)
    for name, module in list(safe.named_modules()):
        if replaceable(module):
            parent_name, _, child_name = name.rpartition(".")
            setattr(safe.get_submodule(parent_name), child_name, BatchStatisticsNorm(module))
    return safe
