"""The arms of the fusion benchmark as per-task losses on the library's ``TaskLoss`` signature.

One :func:`arm_loss` covers every training arm of ``fusion.py``, so ``meta_training.meta_train``
runs each of them in the same loop:

* the course's fused objective α · L_KD + (1 − α) · L_CE on a labelled episode (``target`` =
  ``"logits"``), or with both models' logits divided by their spread over the classes first
  (``"normalised"``: one temperature then suits a Conv4-8 and a Conv4-64 alike), or the RKD
  distance between the episode's embeddings instead of the logits (``"relational"``);
* a teacher that sees more shots than the student (``"more_shots"``: the episode carries K
  drawings per class; the student's prototypes use the first, the teacher's all K);
* a per-task teacher (``"per_task"``): a copy of the teacher fine-tuned on the task's support
  set (``functional.adapt``) before it gives its soft targets, as in "each task has its own
  teacher";
* label-free *transfer* episodes (:class:`TransferSampler`): random training images, never
  their labels. Each image of the transfer support is its own pseudo-class and the guide's
  soft targets over them are the only signal (α = 1 there). The guide is the teacher (arm c)
  or arm (a)'s trained student (the self-training control, arm d).

:func:`held_out_loss` is the teacher at test time with an honest score: the student adapts on an
*adaptation pool* of a test task's queries (their guide's soft targets, never their labels) and
is scored on the other, held-out queries only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from kdmeta_lib import protonet
from kdmeta_lib.distillation import kd_loss, relational_loss
from kdmeta_lib.episodes import Episode, EpisodeSampler
from kdmeta_lib.functional import Params, accuracy, adapt, params_and_buffers
from kdmeta_lib.fused import frozen_query_logits

TARGETS = ("logits", "normalised", "relational", "more_shots", "per_task")


@dataclass(frozen=True)
class ArmConfig:
    """One training arm. ``teacher=None`` with ``alpha=0`` trains on labels alone.

    Attributes:
        n_way, teacher_shots: classes per episode and drawings per class in its support (the
            student always uses the first drawing of each class: 1-shot).
        teacher, alpha, temperature, target: the guide of the labelled episode and how.
        transfer_guide: the guide of the label-free transfer episode, or None (no such part).
        transfer_queries: queries of the transfer episode, in all.
        relational_weight: scale of the RKD term (Park et al. use 25 for the distance loss).
        teacher_inner_lr, teacher_inner_steps: the per-task teacher's fine-tuning.
    """

    n_way: int
    teacher: nn.Module | None = None
    alpha: float = 0.0
    temperature: float = 4.0
    target: str = "logits"
    teacher_shots: int = 1
    transfer_guide: nn.Module | None = None
    transfer_queries: int = 20
    relational_weight: float = 25.0
    teacher_inner_lr: float = 0.01
    teacher_inner_steps: int = 1

    def __post_init__(self):
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {self.target!r}")
        if self.alpha and self.teacher is None:
            raise ValueError(f"alpha={self.alpha} needs a teacher")


def frozen(model: nn.Module) -> Params:
    return {name: value.detach() for name, value in params_and_buffers(model)[0].items()}


def spread_normalised(logits: Tensor) -> Tensor:
    """Logits divided by their standard deviation over the classes (softmax ignores shifts)."""
    return logits / logits.std(-1, keepdim=True).clamp_min(1e-6)


def teacher_logits(config: ArmConfig, support_x: Tensor, student_support: Tensor,
                   labels: Tensor, query_x: Tensor) -> Tensor:
    """The teacher's soft-target logits on the queries, for the config's target."""
    teacher, protonet_config = config.teacher, protonet.ProtoNetConfig(config.n_way)
    if config.target == "more_shots":
        shots = labels.repeat_interleave(config.teacher_shots)
        return frozen_query_logits(teacher, protonet.query_logits, protonet_config,
                                   support_x, shots, query_x)
    if config.target == "per_task":
        buffers = params_and_buffers(teacher)[1]

        def support_loss(weights: Params) -> Tensor:  # each support image is its own prototype
            logits = protonet.query_logits(weights, buffers, teacher, student_support, labels,
                                           student_support, config=protonet_config)
            return F.cross_entropy(logits, labels)

        with torch.enable_grad():
            weights = adapt(support_loss, frozen(teacher), inner_lr=config.teacher_inner_lr,
                            inner_steps=config.teacher_inner_steps, first_order=True)
        weights = {name: value.detach() for name, value in weights.items()}
        return protonet.query_logits(weights, buffers, teacher, student_support, labels,
                                     query_x, config=protonet_config).detach()
    return frozen_query_logits(teacher, protonet.query_logits, protonet_config,
                               student_support, labels, query_x)


def labelled_loss(params: Params, buffers: Params, model: nn.Module, support_x: Tensor,
                  query_x: Tensor, query_y: Tensor, config: ArmConfig) -> tuple[Tensor, Tensor]:
    """The arm's loss on one labelled episode, and the student's query accuracy."""
    n_way, shots = config.n_way, config.teacher_shots
    labels = torch.arange(n_way, device=query_y.device)
    student_support = support_x.reshape(n_way, shots, *support_x.shape[1:])[:, 0]
    if config.target == "relational" and config.alpha:
        inputs = torch.cat([student_support, query_x])
        embeddings = functional_call(model, (params, buffers), (inputs,))
        centres = protonet.prototypes(embeddings[:n_way], labels, n_way)
        logits = -protonet.squared_distances(embeddings[n_way:], centres)
        guide = functional_call(config.teacher, (frozen(config.teacher),
                                                 params_and_buffers(config.teacher)[1]),
                                (inputs,)).detach()
        hint = config.relational_weight * relational_loss(embeddings, guide)
        loss = config.alpha * hint + (1 - config.alpha) * F.cross_entropy(logits, query_y)
        return loss, accuracy(logits, query_y)
    logits = protonet.query_logits(params, buffers, model, student_support, labels, query_x,
                                   config=protonet.ProtoNetConfig(n_way))
    hard = F.cross_entropy(logits, query_y)
    if not config.alpha:
        return hard, accuracy(logits, query_y)
    targets = teacher_logits(config, support_x, student_support, labels, query_x)
    if config.target == "normalised":
        soft = kd_loss(spread_normalised(logits), spread_normalised(targets), config.temperature)
    else:
        soft = kd_loss(logits, targets, config.temperature)
    return config.alpha * soft + (1 - config.alpha) * hard, accuracy(logits, query_y)


def arm_loss(params: Params, buffers: Params, model: nn.Module, support_x: Tensor,
             support_y: Tensor, query_x: Tensor, query_y: Tensor, *,
             config: ArmConfig) -> tuple[Tensor, Tensor]:
    """A ``TaskLoss``: the labelled episode's arm loss, averaged with the transfer episode's
    KD loss when the episode carries one (:class:`TransferSampler`)."""
    n_support, n_query = config.n_way * config.teacher_shots, query_x.shape[0]
    if config.transfer_guide is not None:
        n_query -= config.transfer_queries
    loss, acc = labelled_loss(params, buffers, model, support_x[:n_support], query_x[:n_query],
                              query_y[:n_query], config)
    if config.transfer_guide is None:
        return loss, acc
    pseudo = torch.arange(config.n_way, device=query_y.device)
    transfer = (support_x[n_support:], pseudo, query_x[n_query:])
    student_logits = protonet.query_logits(params, buffers, model, *transfer,
                                           config=protonet.ProtoNetConfig(config.n_way))
    guide_logits = frozen_query_logits(config.transfer_guide, protonet.query_logits,
                                       protonet.ProtoNetConfig(config.n_way), *transfer)
    if config.target == "normalised":
        student_logits, guide_logits = map(spread_normalised, (student_logits, guide_logits))
    return (loss + kd_loss(student_logits, guide_logits, config.temperature)) / 2, acc


class TransferSampler:
    """Labelled episodes from ``sampler`` with a label-free transfer episode appended to each.

    The transfer episode is ``n_way`` random images as pseudo-class supports and
    ``n_transfer_queries`` other random images, all drawn from ``images`` (every training
    class) without looking at their labels. Its query labels are dummies (0 … n_way − 1) that
    no loss reads.
    """

    def __init__(self, sampler: EpisodeSampler, images: Tensor, n_transfer_queries: int,
                 seed: int):
        self.sampler, self.n_way, self.n_transfer_queries = sampler, sampler.n_way, n_transfer_queries
        self.pool = images.reshape(-1, *images.shape[2:])  # [all images, C, H, W], no labels
        self.generator = torch.Generator().manual_seed(seed)

    def sample_batch(self, n_tasks: int) -> Episode:
        episode = self.sampler.sample_batch(n_tasks)
        picks = torch.randint(len(self.pool), (n_tasks, self.n_way + self.n_transfer_queries),
                              generator=self.generator)
        images = self.pool[picks].float()
        dummy = torch.arange(self.n_transfer_queries) % self.n_way
        return Episode(torch.cat([episode.support_x, images[:, :self.n_way]], 1),
                       torch.cat([episode.support_y, torch.arange(self.n_way).expand(n_tasks, -1)], 1),
                       torch.cat([episode.query_x, images[:, self.n_way:]], 1),
                       torch.cat([episode.query_y, dummy.expand(n_tasks, -1)], 1))


@dataclass(frozen=True)
class HeldOutConfig:
    """Test-time adaptation scored on held-out queries.

    Attributes:
        n_way, pool_queries: classes, and queries per class in the adaptation pool (the rest
            of each class's queries are held out and scored).
        guide: the model whose soft targets on the pool guide adaptation (the teacher, or a
            frozen copy of the student for self-training), or None: support only.
        inner_lr, inner_steps, alpha, temperature: the adaptation (0 steps: no adaptation).
    """

    n_way: int
    pool_queries: int
    guide: nn.Module | None = None
    inner_lr: float = 0.02
    inner_steps: int = 10
    alpha: float = 0.9
    temperature: float = 4.0


def held_out_loss(params: Params, buffers: Params, model: nn.Module, support_x: Tensor,
                  support_y: Tensor, query_x: Tensor, query_y: Tensor, *,
                  config: HeldOutConfig) -> tuple[Tensor, Tensor]:
    """A ``TaskLoss`` for ``meta_training.episode_accuracies``: adapt on the pool, score the rest."""
    n_way, pool = config.n_way, config.pool_queries
    per_class = query_x.shape[0] // n_way  # queries are class-major: class 0's, class 1's, ...
    shaped_x = query_x.reshape(n_way, per_class, *query_x.shape[1:])
    pool_x = shaped_x[:, :pool].reshape(-1, *query_x.shape[1:])
    held_x = shaped_x[:, pool:].reshape(-1, *query_x.shape[1:])
    held_y = query_y.reshape(n_way, per_class)[:, pool:].reshape(-1)
    learner = protonet.ProtoNetConfig(n_way)
    guide_logits = None
    if config.guide is not None and config.inner_steps:
        guide_logits = frozen_query_logits(config.guide, protonet.query_logits, learner,
                                           support_x, support_y, pool_x)

    def adaptation_loss(weights: Params) -> Tensor:
        inputs = torch.cat([support_x, pool_x])
        embeddings = functional_call(model, (weights, buffers), (inputs,))
        centres = protonet.prototypes(embeddings[:len(support_x)], support_y, n_way)
        logits = -protonet.squared_distances(embeddings, centres)
        support_loss = F.cross_entropy(logits[:len(support_x)], support_y)
        if guide_logits is None:
            return support_loss
        guidance = kd_loss(logits[len(support_x):], guide_logits, config.temperature)
        return (1 - config.alpha) * support_loss + config.alpha * guidance

    with torch.enable_grad():
        adapted = adapt(adaptation_loss, params, inner_lr=config.inner_lr,
                        inner_steps=config.inner_steps, first_order=True)
    logits = protonet.query_logits(adapted, buffers, model, support_x, support_y, held_x,
                                   config=learner)
    return F.cross_entropy(logits, held_y), accuracy(logits, held_y)
