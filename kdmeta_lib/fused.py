"""The fused objective: knowledge distillation inside meta-learning (notebook 03).

Every task of a meta-batch is seen by a frozen, meta-trained *teacher* and by the *student*.
Each first uses the task's support set in its own way (ProtoNet averages prototypes, MAML and
ANIL take inner gradient steps) and then classifies the task's queries. The student minimises

    L = (1/N) · Σ_i [ α · L_KD^i + (1 − α) · L_CE^i ]
    L_KD^i = T² · KL( softmax(t_i / T) ‖ softmax(s_i / T) )      (mean over task i's queries)
    L_CE^i = CE(s_i, y_i)                                        (mean over task i's queries)

with ``t_i``/``s_i`` the teacher's/student's query logits ``[N·Q, n_way]`` on task i and ``y_i``
its query labels. α = 0 is plain meta-learning; α = 1 learns from the teacher alone.

One formula, three entry points:

* ``distillation.distillation_loss`` is the bracket, α · L_KD + (1 − α) · L_CE, for one batch of
  examples: here one task's queries (notebook 01 uses it on ordinary mini-batches);
* :func:`fused_loss` is the whole L, from stacked logits ``[n_tasks, N·Q, n_way]``;
* :func:`task_loss` is one task's bracket with the :data:`~kdmeta_lib.functional.TaskLoss`
  signature that every learner shares, so ``meta_training.meta_train`` trains with it.

How it differs from its neighbours: ``guided`` uses the teacher at *test* time instead, and
``fused_training`` wraps :func:`task_loss` in one training call with its argument checks.

Example:
    A teacher (any trained backbone; an untrained one here) and a smaller student:

    >>> import torch
    >>> from kdmeta_lib import Conv4, EpisodeSampler, fused
    >>> config = fused.FusedConfig(teacher=Conv4(16), alpha=0.5, temperature=4.0)
    >>> student = Conv4(8)  # both are ProtoNets: FusedConfig's default learner

    The fused loss of 3 tasks, then two outer steps of the student on it:

    >>> from kdmeta_lib.functional import run_tasks
    >>> sampler = EpisodeSampler(torch.rand(10, 4, 1, 28, 28), n_way=5, k_shot=1, n_query=2)
    >>> losses, accuracies = run_tasks(fused.task_loss, student, sampler.sample_batch(3),
    ...                                config=config)
    >>> from kdmeta_lib.meta_training import meta_train
    >>> history = meta_train(student, fused.task_loss, config, sampler, n_iterations=2)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import vmap

from . import protonet
from .distillation import check_alpha_and_temperature, distillation_loss
from .functional import Params, accuracy, check_episode, params_and_buffers
from .support.validation import check_labels

QueryLogits = Callable[..., Tensor]
"""A learner's ``query_logits(params, buffers, model, support_x, support_y, query_x, *, config)``
→ ``[N·Q, n_way]``: its predictions on the queries after it has used the support set."""


def fused_loss(student_logits: Tensor, teacher_logits: Tensor | None, query_y: Tensor,
               alpha: float, temperature: float) -> Tensor:
    """The meta-batch fused loss ``(1/N) Σ_i [α · L_KD^i + (1 − α) · L_CE^i]``.

    Args:
        student_logits: ``[n_tasks, N·Q, n_way]``, differentiable.
        teacher_logits: ``[n_tasks, N·Q, n_way]`` (detached here), or None to train alone
            (then ``alpha`` must be 0).
        query_y: ``[n_tasks, N·Q]`` labels in ``0..n_way-1``.
        alpha, temperature: weight of the KD term in [0, 1], and T > 0.
    Returns:
        A scalar: the mean over tasks of the per-task fused losses.
    """
    check_alpha_and_temperature(alpha, temperature)
    if student_logits.dim() != 3:
        raise ValueError(f"student_logits must be [n_tasks, N·Q, n_way], got "
                         f"{tuple(student_logits.shape)}; for a single task use "
                         "distillation.distillation_loss")
    if teacher_logits is None:
        if alpha != 0:
            raise ValueError(f"alpha={alpha} weights a distillation term but there are no "
                             "teacher_logits; pass them, or alpha=0")
        teacher_logits = student_logits  # the KD term is multiplied by α = 0 below
    if teacher_logits.shape[:-1] != student_logits.shape[:-1]:
        raise ValueError(f"teacher and student must see the same episodes: logits of shape "
                         f"{tuple(teacher_logits.shape)} (teacher) and "
                         f"{tuple(student_logits.shape)} (student)")
    if query_y.shape != student_logits.shape[:-1]:
        raise ValueError(f"query_y must have one label per query, shape "
                         f"{tuple(student_logits.shape[:-1])}, got {tuple(query_y.shape)}")
    # Values may be read: we are not in vmap. Cross-entropy would skip -100 ("ignore"), so a
    # task made only of such labels would give 0/0.
    check_labels("query_y", query_y, student_logits.shape[-1],
                 hint="match n_way to the sampler; every query needs a class label")
    per_task = vmap(distillation_loss, in_dims=(0, 0, 0, None, None))  # one loss per task
    return per_task(student_logits, teacher_logits.detach(), query_y, alpha, temperature).mean()


@dataclass(frozen=True)
class FusedConfig:
    """Everything the fused :func:`task_loss` needs besides the student's weights.

    Attributes:
        teacher: the frozen, meta-trained teacher (its weights get no gradient here), or None
            to meta-train the student alone (then ``alpha`` must be 0).
        student_query_logits, student_config: how the student uses a task's support set, e.g.
            ``protonet.query_logits`` with ``ProtoNetConfig(n_way=5)``, or ``maml.query_logits``
            with ``MamlConfig()`` (then the student is ``Conv4(width, n_classes=n_way)``).
        teacher_query_logits, teacher_config: the same for the teacher; None means "as the
            student" (the usual case: both are ProtoNets, or both MAMLs).
        alpha: weight of the KD term, in [0, 1].
        temperature: T > 0 of the KD term.
    """

    teacher: nn.Module | None
    student_query_logits: QueryLogits = protonet.query_logits
    student_config: Any = protonet.ProtoNetConfig()
    teacher_query_logits: QueryLogits | None = None
    teacher_config: Any = None
    alpha: float = 0.5
    temperature: float = 4.0

    def __post_init__(self):
        check_alpha_and_temperature(self.alpha, self.temperature)
        if self.teacher is None and self.alpha != 0:
            raise ValueError(f"alpha={self.alpha} weights a distillation term but teacher is None; "
                             "pass a trained teacher, or alpha=0 to train alone")
        if self.teacher is not None and not isinstance(self.teacher, nn.Module):
            raise ValueError(f"teacher must be an nn.Module, got {type(self.teacher).__name__}")

    def check_episode(self, model: nn.Module, n_way: int) -> None:
        """Raise ValueError unless student and teacher both fit ``n_way``-way episodes."""
        for role, learner, config in (("student", model, self.student_config),
                                      ("teacher", self.teacher, self.teacher_learner()[1])):
            if learner is not None and hasattr(config, "check_episode"):
                config.check_episode(learner, n_way, role)

    def teacher_learner(self) -> tuple[QueryLogits, Any]:
        """The teacher's ``(query_logits, config)``, defaulting to the student's."""
        return (self.teacher_query_logits or self.student_query_logits,
                self.student_config if self.teacher_config is None else self.teacher_config)


def frozen_query_logits(model: nn.Module, query_logits: QueryLogits, config: Any,
                        support_x: Tensor, support_y: Tensor, query_x: Tensor) -> Tensor:
    """A frozen model's query logits after it has used the support set; no gradient leaves them.

    MAML and ANIL teachers still take their inner steps: ``torch.func.grad`` differentiates
    through detached weights, but the outer autograd graph records nothing.
    """
    params, buffers = params_and_buffers(model)
    frozen = {name: value.detach() for name, value in params.items()}
    return query_logits(frozen, buffers, model, support_x, support_y, query_x,
                        config=config).detach()


def task_loss(params: Params, buffers: Params, model: nn.Module, support_x: Tensor,
              support_y: Tensor, query_x: Tensor, query_y: Tensor, *,
              config: FusedConfig) -> tuple[Tensor, Tensor]:
    """The fused per-task objective ``α · L_KD^i + (1 − α) · L_CE^i`` and the query accuracy.

    A :data:`~kdmeta_lib.functional.TaskLoss`: ``meta_training.meta_train(student, task_loss,
    config, sampler, ...)`` minimises its meta-batch mean, exactly the course's (1/N) Σ_i.

    Returns:
        ``(fused_loss, query_accuracy)``, two scalars; the loss is differentiable in ``params``.
    """
    check_episode(model, support_y, query_y, config)  # a no-op under vmap (see there)
    student_logits = config.student_query_logits(params, buffers, model, support_x, support_y,
                                                 query_x, config=config.student_config)
    if config.teacher is None or config.alpha == 0:
        # Plain meta-learning: the KD term would be multiplied by 0, so skip the teacher's work.
        return F.cross_entropy(student_logits, query_y), accuracy(student_logits, query_y)
    teacher_logits = frozen_query_logits(config.teacher, *config.teacher_learner(), support_x,
                                         support_y, query_x)
    loss = distillation_loss(student_logits, teacher_logits, query_y, alpha=config.alpha,
                             temperature=config.temperature)
    return loss, accuracy(student_logits, query_y)
