"""ProtoNet training with every image of the episode as the support in turn.

A 1-shot training episode holds ``1 + Q`` images per class. The usual loss picks one image per
class as the support and scores the other ``Q``. Embedding the images is nearly all the work,
while the distances are cheap, so this objective embeds the ``N·(1+Q)`` images once and
averages the usual 1-shot loss over all ``1 + Q`` choices of the support image:

    L = (1/(1+Q)) · Σ_r CE(−‖f(x_q) − f(x_{n,r})‖², y_q)     over queries q ≠ (n, r)

Every image is a query ``Q`` times and a prototype once, so one forward pass gives ``1+Q``
times as many training signals (a lever of issue 17's data efficiency; measured in
``benchmarks/README.md``). Batch norm sees the whole episode, as in ``protonet.task_loss``.
Test episodes use the library's own ``protonet.task_loss``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from kdmeta_lib.functional import Params, accuracy
from kdmeta_lib.protonet import ProtoNetConfig, squared_distances


def task_loss(params: Params, buffers: Params, model: nn.Module, support_x: Tensor,
              support_y: Tensor, query_x: Tensor, query_y: Tensor, *,
              config: ProtoNetConfig) -> tuple[Tensor, Tensor]:
    """The 1-shot ProtoNet loss averaged over every choice of support image.

    Shapes: ``support_x [N, C, H, W]`` (one shot per class), ``query_x [N·Q, C, H, W]``.
    Returns:
        ``(loss, accuracy)``, two scalars; the accuracy is the usual split's (support as given).
    Raises:
        ValueError: more than one shot per class (this objective is for 1-shot training).
    """
    n_way = config.n_way
    if support_x.shape[0] != n_way:
        raise ValueError(f"all-splits training takes 1-shot episodes; got {support_x.shape[0]} "
                         f"support images for {n_way} classes")
    embeddings = functional_call(model, (params, buffers), (torch.cat([support_x, query_x]),))
    # by_class[n, r]: the r-th image of class n (r = 0 is the given support image)
    order = torch.argsort(query_y, stable=True)
    by_class = torch.cat([embeddings[:n_way][support_y.argsort()].unsqueeze(1),
                          embeddings[n_way:][order].view(n_way, -1, embeddings.shape[-1])], 1)
    n_images = by_class.shape[1]
    labels = torch.arange(n_way, device=support_x.device).repeat_interleave(n_images - 1)
    losses, first_accuracy = [], None
    for r in range(n_images):
        centres = by_class[:, r]                                              # [N, D]
        others = torch.cat([by_class[:, :r], by_class[:, r + 1:]], 1).flatten(0, 1)
        logits = -squared_distances(others, centres)
        losses.append(F.cross_entropy(logits, labels))
        if r == 0:
            first_accuracy = accuracy(logits, labels)
    return torch.stack(losses).mean(), first_accuracy
