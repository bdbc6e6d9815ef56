"""Label-free transfer episodes: more images for a student, with a guide's soft targets as their
only labels (notebook 03, "The data-limited student").

A student short of labelled data can still look at images it has no labels for. Each labelled
training episode gets a *transfer episode* appended: ``n_way`` random images as pseudo-classes
(each image is its own prototype) and ``n_transfer_queries`` other random images to classify
among them. No label is read. The guide (the teacher, or a trained copy of the student for the
self-training control) classifies the transfer queries the same way; the student learns to match
it with the KD term alone (α = 1 on the transfer episode):

    L_i = ½ · [ labelled loss of task i + T² · KL( softmax(g_i / T) ‖ softmax(s_i / T) ) ]

with ``g_i``/``s_i`` the guide's/student's transfer-query logits ``[n_transfer_queries, n_way]``.

How it differs from its neighbours: ``fused`` distils on the labelled episode only (the
labelled part here is any learner's task loss, usually ``fused.task_loss``); ``guided`` uses a
teacher at test time.

Example:
    A fused ProtoNet student with a transfer episode drawn from every image of ``pool``:

    >>> import torch
    >>> from kdmeta_lib import Conv4, EpisodeSampler, fused, transfer
    >>> from kdmeta_lib.meta_training import meta_train
    >>> labelled = EpisodeSampler(torch.rand(10, 4, 1, 28, 28), n_way=5, k_shot=1, n_query=2)
    >>> pool = torch.rand(30, 4, 1, 28, 28)  # its labels are never read
    >>> sampler = transfer.TransferSampler(labelled, pool, n_transfer_queries=6, seed=0)
    >>> teacher = Conv4(16)
    >>> config = transfer.TransferConfig(guide=teacher, n_way=5, n_transfer_queries=6,
    ...                                  labelled_loss=fused.task_loss,
    ...                                  labelled_config=fused.FusedConfig(teacher, alpha=0.5))
    >>> history = meta_train(Conv4(8), transfer.task_loss, config, sampler, n_iterations=2)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from . import protonet
from .distillation import check_alpha_and_temperature, kd_loss
from .episodes import Episode, EpisodeSampler
from .functional import Params, TaskLoss
from .fused import frozen_query_logits
from .support.validation import check_integer


class TransferSampler:
    """Labelled episodes from ``sampler``, each with a label-free transfer episode appended.

    Args:
        sampler: draws the labelled episodes.
        images: ``[n_classes, n_per_class, C, H, W]``; only the images are used, never which
            class they belong to.
        n_transfer_queries: images to classify in each transfer episode.
        seed: the same seed gives the same transfer images.

    A batch's ``support_x`` is ``[T, N·K + N, C, H, W]``: the labelled support, then the ``N``
    pseudo-class images; ``query_x`` is ``[T, N·Q + n_transfer_queries, C, H, W]``. The
    transfer queries' labels are placeholders (0, 1, …) that no loss reads.
    """

    def __init__(self, sampler: EpisodeSampler, images: Tensor, n_transfer_queries: int,
                 seed: int = 0):
        check_integer("n_transfer_queries", n_transfer_queries, hint="about as many as the "
                      "labelled queries")
        check_integer("seed", seed, minimum=0)
        self.sampler, self.n_way = sampler, sampler.n_way
        self.n_transfer_queries = n_transfer_queries
        self.pool = images.reshape(-1, *images.shape[2:])  # [all images, C, H, W], no labels
        if len(self.pool) < self.n_way + n_transfer_queries:
            raise ValueError(f"a transfer episode needs {self.n_way + n_transfer_queries} images "
                             f"but the pool has {len(self.pool)}")
        self.generator = torch.Generator().manual_seed(seed)

    def sample_batch(self, n_tasks: int) -> Episode:
        episode = self.sampler.sample_batch(n_tasks)
        picks = torch.randint(len(self.pool), (n_tasks, self.n_way + self.n_transfer_queries),
                              generator=self.generator)
        images = self.pool[picks]
        if images.dtype == torch.uint8:
            images = images.float().div_(255)  # as EpisodeSampler does
        pseudo = torch.arange(self.n_way).expand(n_tasks, -1)
        placeholder = (torch.arange(self.n_transfer_queries) % self.n_way).expand(n_tasks, -1)
        return Episode(torch.cat([episode.support_x, images[:, :self.n_way]], 1),
                       torch.cat([episode.support_y, pseudo], 1),
                       torch.cat([episode.query_x, images[:, self.n_way:]], 1),
                       torch.cat([episode.query_y, placeholder], 1))


@dataclass(frozen=True)
class TransferConfig:
    """The transfer objective's settings.

    Attributes:
        guide: the frozen model whose soft targets are the transfer episode's only signal: the
            teacher, or a trained copy of the student (the self-training control).
        n_way, n_transfer_queries: as in the :class:`TransferSampler`.
        labelled_loss, labelled_config: the labelled episode's task loss and its config, e.g.
            ``fused.task_loss`` with a ``fused.FusedConfig``.
        temperature: T > 0 of the transfer KD term.
    """

    guide: nn.Module
    n_way: int
    n_transfer_queries: int
    labelled_loss: TaskLoss
    labelled_config: Any
    temperature: float = 4.0

    def __post_init__(self):
        check_alpha_and_temperature(1.0, self.temperature)
        check_integer("n_way", self.n_way, minimum=2)
        check_integer("n_transfer_queries", self.n_transfer_queries)
        if not isinstance(self.guide, nn.Module):
            raise ValueError(f"guide must be an nn.Module, got {type(self.guide).__name__}")

    def check_episode(self, model: nn.Module, n_way: int) -> None:
        if hasattr(self.labelled_config, "check_episode"):
            self.labelled_config.check_episode(model, n_way)


def transfer_kd_loss(params: Params, buffers: Params, model: nn.Module, guide: nn.Module,
                     pseudo_x: Tensor, query_x: Tensor, temperature: float) -> Tensor:
    """T²·KL(guide ‖ student) on one transfer episode; each of the ``N`` images of ``pseudo_x``
    ``[N, C, H, W]`` is its own class, ``query_x`` is ``[n_transfer_queries, C, H, W]``."""
    n_way = pseudo_x.shape[0]
    pseudo_y = torch.arange(n_way, device=pseudo_x.device)
    config = protonet.ProtoNetConfig(n_way)
    student = protonet.query_logits(params, buffers, model, pseudo_x, pseudo_y, query_x,
                                    config=config)
    guide_logits = frozen_query_logits(guide, protonet.query_logits, config, pseudo_x, pseudo_y,
                                       query_x)
    return kd_loss(student, guide_logits, temperature)


def task_loss(params: Params, buffers: Params, model: nn.Module, support_x: Tensor,
              support_y: Tensor, query_x: Tensor, query_y: Tensor, *,
              config: TransferConfig) -> tuple[Tensor, Tensor]:
    """½ · (labelled task loss + transfer KD loss) and the labelled queries' accuracy.

    A :data:`~kdmeta_lib.functional.TaskLoss` for episodes of a :class:`TransferSampler`.
    """
    n_support = support_x.shape[0] - config.n_way          # the labelled part comes first
    n_query = query_x.shape[0] - config.n_transfer_queries
    loss, acc = config.labelled_loss(params, buffers, model, support_x[:n_support],
                                     support_y[:n_support], query_x[:n_query], query_y[:n_query],
                                     config=config.labelled_config)
    transfer = transfer_kd_loss(params, buffers, model, config.guide, support_x[n_support:],
                                query_x[n_query:], config.temperature)
    return (loss + transfer) / 2, acc
