"""The fused objective: knowledge distillation inside meta-learning (notebook 03).

Every task of a meta-batch is seen by a frozen, meta-trained *teacher* and by the *student*.
Each first uses the task's support set in its own way (ProtoNet averages prototypes, MAML and
ANIL take inner gradient steps) and then classifies the task's queries. The student minimises

    L = (1/N) · Σ_i [ α · L_KD^i + (1 − α) · L_CE^i ]
    L_KD^i = T² · KL( softmax(t_i / T) ‖ softmax(s_i / T) )      (mean over task i's queries)
    L_CE^i = CE(s_i, y_i)                                        (mean over task i's queries)

with ``t_i``/``s_i`` the teacher's/student's query logits ``[N·Q, n_way]`` on task i and ``y_i``
its query labels. α = 0 is plain meta-learning; α = 1 learns from the teacher alone.

* :func:`fused_loss` computes L from stacked logits; :func:`task_loss` is the per-task objective
  with the :data:`~kdmeta_lib.functional.TaskLoss` signature, so ``functional.run_tasks`` runs it
  task by task or through ``vmap`` and ``meta_training.meta_train`` trains with it.
* :func:`guided_task_loss` uses the teacher at *meta-test* time: the student adapts to a new task
  with the teacher's predictions on the unlabelled queries as extra soft targets.
* :func:`episode_logits`, :func:`train_protonet` and :func:`evaluate_protonet` are the ProtoNet
  short-cuts that notebooks 04a and 04b use with any embedding backbone.

Taught in notebook 03, "The fused loss".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, vmap

from . import protonet
from .distillation import distillation_loss, kd_loss
from .episodes import Episode, EpisodeSampler
from .functional import Params, accuracy, adapt, params_and_buffers

QueryLogits = Callable[..., Tensor]
"""A learner's ``query_logits(params, buffers, model, support_x, support_y, query_x, *, config)``
→ ``[N·Q, n_way]``: its predictions on the queries after it has used the support set."""


def check_alpha_and_temperature(alpha: float, temperature: float) -> None:
    """α weights the teacher and must lie in [0, 1]; the temperature T must be positive."""
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1] (0: labels only, 1: teacher only), got {alpha}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}; distance logits of "
                         "ProtoNet usually want 4 to 16")


def check_logits(student_logits: Tensor, teacher_logits: Tensor, query_y: Tensor) -> None:
    """Same class count and same queries for teacher and student; one label per query.

    Shape checks only, so they are safe under ``vmap``. Works for one task (``[N·Q, n_way]``) or
    a meta-batch (``[n_tasks, N·Q, n_way]``).
    """
    if student_logits.shape[-1] != teacher_logits.shape[-1]:
        raise ValueError(f"teacher and student disagree on the number of classes: teacher "
                         f"{teacher_logits.shape[-1]}, student {student_logits.shape[-1]}; give "
                         "both the episode's n_way (ProtoNetConfig(n_way=) or Conv4(n_classes=))")
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"teacher and student must see the same episodes: logits of shape "
                         f"{tuple(teacher_logits.shape)} (teacher) and "
                         f"{tuple(student_logits.shape)} (student)")
    if query_y.shape != student_logits.shape[:-1]:
        raise ValueError(f"query_y must have one label per query, shape "
                         f"{tuple(student_logits.shape[:-1])}, got {tuple(query_y.shape)}")


def task_fused_loss(student_logits: Tensor, teacher_logits: Tensor, query_y: Tensor, *,
                    alpha: float, temperature: float) -> Tensor:
    """One task's ``α · L_KD + (1 − α) · L_CE``: ``[N·Q, n_way]`` (×2), ``[N·Q]`` → a scalar."""
    # distillation.distillation_loss is exactly this formula for one batch of examples.
    return distillation_loss(student_logits, teacher_logits.detach(), query_y, alpha=alpha,
                             temperature=temperature)


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
                         f"{tuple(student_logits.shape)}; use task_fused_loss for a single task")
    if teacher_logits is None:
        if alpha != 0:
            raise ValueError(f"alpha={alpha} weights a distillation term but there are no "
                             "teacher_logits; pass them, or alpha=0")
        teacher_logits = student_logits  # the KD term is multiplied by α = 0 below
    check_logits(student_logits, teacher_logits, query_y)
    if int(query_y.max()) >= student_logits.shape[-1]:  # values may be read: we are not in vmap
        raise ValueError(f"labels go up to {int(query_y.max())} but the logits have only "
                         f"{student_logits.shape[-1]} classes; match n_way to the sampler")
    per_task = vmap(task_fused_loss, in_dims=(0, 0, 0))  # one loss per task: [n_tasks]
    return per_task(student_logits, teacher_logits, query_y, alpha=alpha,
                    temperature=temperature).mean()


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
    config, sampler, ...)`` minimises its meta-batch mean, exactly the seed's (1/N) Σ_i.

    Returns:
        ``(fused_loss, query_accuracy)``, two scalars; the loss is differentiable in ``params``.
    """
    student_logits = config.student_query_logits(params, buffers, model, support_x, support_y,
                                                 query_x, config=config.student_config)
    if config.teacher is None or config.alpha == 0:
        # Plain meta-learning: the KD term would be multiplied by 0, so skip the teacher's work.
        return F.cross_entropy(student_logits, query_y), accuracy(student_logits, query_y)
    teacher_logits = frozen_query_logits(config.teacher, *config.teacher_learner(), support_x,
                                         support_y, query_x)
    check_logits(student_logits, teacher_logits, query_y)
    loss = task_fused_loss(student_logits, teacher_logits, query_y, alpha=config.alpha,
                           temperature=config.temperature)
    return loss, accuracy(student_logits, query_y)


# ------------------------------------------------------------ the teacher at meta-test time

@dataclass(frozen=True)
class GuidedConfig:
    """Test-time adaptation of a ProtoNet student, optionally guided by a teacher.

    The student takes ``inner_steps`` gradient steps on *all* its weights for the new task,
    minimising

        (1 − α) · CE(support) + α · T² · KL(teacher ‖ student)   on the unlabelled queries,

    with both sets classified by their distance to the support prototypes. Without a teacher only
    the support term is left (at 1 shot it is almost zero: each support example is its own
    prototype, so the student alone has little to adapt on).

    Attributes:
        teacher: a ProtoNet teacher, or None for the student adapting alone (α is then unused).
        n_way, inner_lr, inner_steps, alpha, temperature: as named.
    """

    teacher: nn.Module | None
    n_way: int = 5
    inner_lr: float = 0.01
    inner_steps: int = 10
    alpha: float = 0.5
    temperature: float = 4.0

    def __post_init__(self):
        check_alpha_and_temperature(self.alpha, self.temperature)
        if not self.inner_lr > 0 or not isinstance(self.inner_steps, int) or self.inner_steps < 0:
            raise ValueError(f"need inner_lr > 0 and an integer inner_steps ≥ 0, got "
                             f"{self.inner_lr}, {self.inner_steps!r}")


def guided_task_loss(params: Params, buffers: Params, model: nn.Module, support_x: Tensor,
                     support_y: Tensor, query_x: Tensor, query_y: Tensor, *,
                     config: GuidedConfig) -> tuple[Tensor, Tensor]:
    """Adapt the student to one task (teacher-guided or alone), then score the queries.

    A :data:`~kdmeta_lib.functional.TaskLoss`, for ``meta_training.evaluate``. The query labels
    are used for the returned loss and accuracy only, never for adaptation.
    """
    n_support = support_x.shape[0]
    inputs = torch.cat([support_x, query_x])  # one batch, as in protonet.query_logits

    def all_logits(weights: Params) -> Tensor:  # [N·K + N·Q, n_way]: support rows, then queries
        embeddings = functional_call(model, (weights, buffers), (inputs,))
        centres = protonet.prototypes(embeddings[:n_support], support_y, config.n_way)
        return -protonet.squared_distances(embeddings, centres)

    teacher_logits = None
    if config.teacher is not None and config.alpha > 0:
        teacher_logits = frozen_query_logits(config.teacher, protonet.query_logits,
                                             protonet.ProtoNetConfig(config.n_way), support_x,
                                             support_y, query_x)

    def adaptation_loss(weights: Params) -> Tensor:
        logits = all_logits(weights)
        support_loss = F.cross_entropy(logits[:n_support], support_y)
        if teacher_logits is None:
            return support_loss
        guidance = kd_loss(logits[n_support:], teacher_logits, config.temperature)
        return (1 - config.alpha) * support_loss + config.alpha * guidance

    adapted = adapt(adaptation_loss, params, inner_lr=config.inner_lr,
                    inner_steps=config.inner_steps)
    logits = all_logits(adapted)[n_support:]
    return F.cross_entropy(logits, query_y), accuracy(logits, query_y)


# ------------------------------------------------- ProtoNet short-cuts (notebooks 04a and 04b)

def prototype_logits(support_embeddings: Tensor, support_y: Tensor, query_embeddings: Tensor,
                     n_way: int) -> Tensor:
    """ProtoNet's logits, −‖query − prototype‖²: ``[N·K, D]``, ``[N·K]``, ``[N·Q, D]`` → ``[N·Q, n_way]``."""
    centres = protonet.prototypes(support_embeddings, support_y, n_way)
    return -protonet.squared_distances(query_embeddings, centres)


def episode_logits(model: nn.Module, episode: Episode, n_way: int) -> Tensor:
    """ProtoNet query logits of a batch of tasks, one task at a time through ``vmap``.

    ``vmap`` keeps each task separate, so a backbone with batch statistics (Conv4's BatchNorm)
    normalises within one task, exactly as at test time.

    Shapes: an episode with a leading ``n_tasks`` dimension → ``[n_tasks, N·Q, n_way]``.
    """
    params, buffers = params_and_buffers(model)
    config = protonet.ProtoNetConfig(n_way)

    def one_task(support_x: Tensor, support_y: Tensor, query_x: Tensor) -> Tensor:
        return protonet.query_logits(params, buffers, model, support_x, support_y, query_x,
                                     config=config)

    return vmap(one_task)(episode.support_x, episode.support_y, episode.query_x)


def train_protonet(model: nn.Module, sampler: EpisodeSampler, *, steps: int, n_tasks: int,
                   outer_lr: float, teacher: nn.Module | None = None, alpha: float = 0.0,
                   temperature: float = 4.0, description: str = "") -> list[float]:
    """Meta-train a ProtoNet ``model`` with Adam, alone or with the fused loss of a ``teacher``.

    Args:
        teacher: a trained embedding network, kept frozen, or None to train alone.
        alpha, temperature: weight and temperature of the distillation term (alone: alpha = 0).
    Returns:
        The loss of every step.
    """
    from .fused_training import meta_train_with_teacher

    history = meta_train_with_teacher(
        model, sampler, teacher=teacher, alpha=alpha, temperature=temperature,
        n_iterations=steps, n_tasks=n_tasks, outer_lr=outer_lr,
        description=description or "meta-training")
    return history.loss


def evaluate_protonet(model: nn.Module, sampler: EpisodeSampler, n_episodes: int,
                      batch_size: int = 50) -> Tensor:
    """Query accuracy of each of ``n_episodes`` test tasks: ``[n_episodes]`` (for ``mean_ci``)."""
    from .fused_training import episode_accuracies

    return episode_accuracies(model, protonet.task_loss, protonet.ProtoNetConfig(sampler.n_way),
                              sampler, n_episodes, batch_size)
