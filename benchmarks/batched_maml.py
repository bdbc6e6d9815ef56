"""Every task of a meta-batch in one network call: per-task weights through grouped convolutions.

MAML adapts a *separate* copy of the weights for each task, so a meta-batch of ``T`` tasks is
``T`` different networks. ``functional.run_tasks`` runs them one by one (a Python loop) or with
``torch.func.vmap``. This module runs them as *one* network whose layers are ``T`` times wider,
with the tasks kept apart by grouped convolutions:

    input        [T, B, C, H, W]          → [B, T·C, H, W]     (task t: channels t·C … t·C+C−1)
    conv weight  [T, O, C, k, k]          → [T·O, C, k, k], conv2d(..., groups=T)
                                             group t sees only task t's channels and weights
    batch norm   statistics per channel of [B, T·O, H, W]  =  per task and channel   (exact)
    ReLU, pool   element- or channel-wise, so the tasks never mix
    linear       [T, n, F] weights, [T, B, F] features → torch.baddbmm → [T, B, n]

The sum of the tasks' losses has, with respect to task t's slice of the stacked weights,
exactly task t's gradient (the other terms do not depend on it), so one ``autograd.grad`` call
gives every task's inner step. The result is the same MAML, up to float rounding (tested against
the loop in ``tests/test_bench_batched_maml.py``), with far fewer, larger operations.

One more exact saving: ReLU and max-pooling commute (``max`` of ReLUs = ReLU of the ``max``,
ReLU being monotone), so the pool runs first and the ReLU sees 4× fewer values.

Not used: channels-last memory layout. With grouped convolutions it gave *wrong* gradients on
torch 2.14 CPU (oneDNN; errors of 1–25% of the gradient's scale), though it is exact per task.

What it buys (``benchmarks/maml_speed.py``): on a 2-core CPU about the speed of the loop,
because there the time goes into the large convolutions, poolings and batch norms, not into
per-operation overhead; about twice the speed of ``vmap``, which pays for its batching rules and
the elementary batch norm it needs. It holds every task's graph at once, so its peak memory is
that of the loop over tasks, not of one task.

``bf16=True`` runs the network in bfloat16 autocast (fast on CPUs with AMX/AVX512-BF16 and on
GPUs) but changes the numbers: keep it opt-in and check the accuracy it reaches.

This is a speed experiment, used only by ``maml_speed.py``: the course's MAML is
``kdmeta_lib.maml``, with the one inner loop ``functional.adapt``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fast_layouts import bfloat16_autocast
from kdmeta_lib.episodes import Episode
from kdmeta_lib.functional import Params, stack_params
from kdmeta_lib.maml import MamlConfig
from kdmeta_lib.models import Conv4

SUPPORTED_LAYERS = (nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d, nn.Flatten, nn.Linear,
                    nn.Identity)


def layers_of(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model's leaf layers in the order its ``forward`` applies them, with their names.

    Only plain feed-forward stacks are supported: an ``nn.Sequential`` or a model whose
    ``forward`` applies its children in registration order (such as ``models.Conv4``).

    Raises:
        ValueError: a layer this module cannot batch (see :func:`supports`).
    """
    layers = [(name, module) for name, module in model.named_modules()
              if not list(module.children())]
    for name, module in layers:
        if not isinstance(module, SUPPORTED_LAYERS):
            raise ValueError(f"batched_maml cannot batch layer {name!r} "
                             f"({type(module).__name__}); use functional.run_tasks instead")
        if isinstance(module, nn.BatchNorm2d) and module.running_mean is not None:
            raise ValueError(f"batch norm {name!r} keeps running statistics; batched_maml needs "
                             f"BatchNorm2d(track_running_stats=False) as in models.Conv4")
        if isinstance(module, nn.Conv2d) and (module.groups != 1
                                              or module.padding_mode != "zeros"):
            raise ValueError(f"conv {name!r} must have groups=1 and zero padding")
    return layers


def supports(model: nn.Module) -> bool:
    """True when :func:`maml_task_losses` can run ``model`` (e.g. any ``Conv4`` with a head)."""
    # Conv4 is the one model class whose forward is known to be a plain stack.
    if not isinstance(model, (Conv4, nn.Sequential)):
        return False
    try:
        layers_of(model)
    except ValueError:
        return False
    return True


def batched_forward(model: nn.Module, weights: Params, x: Tensor) -> Tensor:
    """Run ``model`` for ``T`` tasks at once, task t with its own weights ``weights[name][t]``.

    Args:
        model: a supported feed-forward model (see :func:`supports`); only its structure is
            used, never its own weights.
        weights: parameter name → stacked tensor ``[T, *parameter.shape]``.
        x: inputs ``[T, B, C, H, W]`` (B examples for each task).
    Returns:
        ``[T, B, n_out]``: the outputs, task by task.
    """
    n_tasks, batch = x.shape[:2]
    h = x.transpose(0, 1).reshape(batch, n_tasks * x.shape[2], *x.shape[3:])  # [B, T·C, H, W]
    layers = layers_of(model)
    index = 0
    while index < len(layers):
        name, layer = layers[index]

        def weight(field: str) -> Tensor | None:
            return weights.get(f"{name}.{field}" if name else field)

        if isinstance(layer, nn.Conv2d):
            w, b = weight("weight"), weight("bias")
            h = F.conv2d(h, w.reshape(-1, *w.shape[2:]), None if b is None else b.reshape(-1),
                         stride=layer.stride, padding=layer.padding, dilation=layer.dilation,
                         groups=n_tasks)
        elif isinstance(layer, nn.BatchNorm2d):
            w, b = weight("weight"), weight("bias")
            h = F.batch_norm(h, None, None, None if w is None else w.reshape(-1),
                             None if b is None else b.reshape(-1), training=True, eps=layer.eps)
        elif isinstance(layer, nn.ReLU):
            following = layers[index + 1][1] if index + 1 < len(layers) else None
            if isinstance(following, nn.MaxPool2d):  # pool first: ReLU on 4× fewer values
                h = F.relu(_pool(h, following))
                index += 1
            else:
                h = F.relu(h)
        elif isinstance(layer, nn.MaxPool2d):
            h = _pool(h, layer)
        elif isinstance(layer, nn.Flatten):
            h = h.reshape(batch, n_tasks, -1).transpose(0, 1)            # [T, B, features]
        elif isinstance(layer, nn.Linear):
            w, b = weight("weight"), weight("bias")                      # [T, n, F], [T, n]
            if h.dim() != 3:
                raise ValueError("a Linear layer must follow a Flatten in batched_maml")
            h = (torch.bmm(h, w.transpose(1, 2)) if b is None
                 else torch.baddbmm(b[:, None, :], h, w.transpose(1, 2)))
        index += 1  # nn.Identity: nothing to do
    if h.dim() != 3:
        raise ValueError("batched_maml needs a model that ends with Flatten (+ Linear)")
    return h


def _pool(h: Tensor, layer: nn.MaxPool2d) -> Tensor:
    return F.max_pool2d(h, layer.kernel_size, layer.stride, layer.padding, layer.dilation,
                        ceil_mode=layer.ceil_mode)


def per_task_cross_entropy(logits: Tensor, labels: Tensor) -> Tensor:
    """Cross-entropy of each task, averaged over its examples.

    Shapes: ``[T, B, n]`` logits, ``[T, B]`` labels → ``[T]``.
    """
    # bf16 logits (autocast) are raised to float32 for the softmax; float64 stays float64.
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    losses = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="none")
    return losses.view(labels.shape).mean(dim=1)


def maml_task_losses(model: nn.Module, episode: Episode, config: MamlConfig, *,
                     params: Params | None = None, bf16: bool = False) -> tuple[Tensor, Tensor]:
    """MAML on every task of a meta-batch at once; the same numbers as
    ``functional.run_tasks(maml.task_loss, ...)``.

    For each task τ, with weights θ stacked ``T`` times:

        θ'_τ ← θ'_τ − α ∇ L_support,τ(θ'_τ)   (``inner_steps`` times, all τ in one call)
        returns L_query,τ(θ'_τ) and the query accuracy

    The inner gradients are taken with ``torch.autograd.grad(create_graph=True)`` (or without
    the graph for first-order MAML), so ``losses.mean().backward()`` gives the meta-gradient.
    Under ``torch.no_grad()`` (evaluation) it adapts on detached weights and keeps no graph.

    Args:
        model: a supported model (:func:`supports`), e.g. ``Conv4(64, n_classes=n_way)``.
        episode: a batch of tasks: ``support_x [T, N·K, C, H, W]``, ``query_x [T, N·Q, ...]``.
        config: inner-loop settings (``inner_lr``, ``inner_steps``, ``first_order``).
        params: the weights θ (default: the model's own parameters).
        bf16: bfloat16 autocast for the network (faster on AMX/BF16 CPUs and GPUs; not exact).
    Returns:
        ``(query_losses, query_accuracies)``, each ``[T]``.
    """
    if not episode.is_batch:
        raise ValueError("maml_task_losses needs a batch of tasks (EpisodeSampler.sample_batch)")
    params = dict(model.named_parameters()) if params is None else params
    outer = torch.is_grad_enabled()
    n_tasks = episode.support_x.shape[0]
    autocast = bfloat16_autocast(episode.support_x.device.type, enabled=bf16)
    with torch.enable_grad(), autocast:  # the inner loop needs gradients even when evaluating
        start = params if outer else {n: p.detach().requires_grad_() for n, p in params.items()}
        weights = stack_params(start, n_tasks)  # views: their gradients sum over tasks
        second_order = outer and not config.first_order
        for _ in range(config.inner_steps):
            logits = batched_forward(model, weights, episode.support_x)
            support_loss = per_task_cross_entropy(logits, episode.support_y).sum()
            grads = torch.autograd.grad(support_loss, list(weights.values()),
                                        create_graph=second_order)
            weights = {name: value - config.inner_lr * g
                       for (name, value), g in zip(weights.items(), grads)}
    with autocast:
        logits = batched_forward(model, weights, episode.query_x)
        losses = per_task_cross_entropy(logits, episode.query_y)
    accuracies = (logits.argmax(dim=-1) == episode.query_y).float().mean(dim=1)
    if not outer:
        losses = losses.detach()
    return losses, accuracies
