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
Arms (c) and (d) append label-free transfer episodes with the library's ``transfer`` module
(its ``task_loss`` wraps :func:`arm_loss` as the labelled part); the teacher at test time is the
library's ``guided`` module (adaptation pool and held-out queries).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from kdmeta_lib import protonet
from kdmeta_lib.distillation import kd_loss, relational_loss
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
        relational_weight: scale of the RKD term (Park et al. use 25 for the distance loss).
        teacher_inner_lr, teacher_inner_steps: the per-task teacher's fine-tuning.
    """

    n_way: int
    teacher: nn.Module | None = None
    alpha: float = 0.0
    temperature: float = 4.0
    target: str = "logits"
    teacher_shots: int = 1
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
    """A ``TaskLoss``: the arm's loss on one labelled episode, and the query accuracy."""
    return labelled_loss(params, buffers, model, support_x, query_x, query_y, config)
