"""The teacher at test time: a ProtoNet student adapted to a new task with the teacher's guidance.

The fused objective (``fused``) uses the teacher during *meta-training* only. Here the teacher
also helps at *test* time: for a new task, the student takes ``inner_steps`` gradient steps on
all its weights, minimising

    (1 − α) · CE(support) + α · T² · KL(teacher ‖ student)   on the task's unlabelled queries,

with both sets classified by their distance to the support prototypes. The query labels are
never used for adapting. Without a teacher only the support term is left (at 1 shot it is almost
zero: each support example is its own prototype, so the student alone has little to adapt on).

How it differs from its neighbours: like MAML (``maml``) it adapts with ``functional.adapt``,
but on a ProtoNet (``protonet``) and with soft targets from a teacher; unlike ``fused`` it needs
the teacher at test time, so the student is no longer a compressed model on its own.
Taught in notebook 03, section "A teacher at test time".

Example:
    Evaluate a student adapted with a teacher's guidance on every test task:

    >>> import torch
    >>> from kdmeta_lib import Conv4, EpisodeSampler, guided
    >>> from kdmeta_lib.meta_training import evaluate
    >>> config = guided.GuidedConfig(teacher=Conv4(16), n_way=5, inner_steps=2)
    >>> sampler = EpisodeSampler(torch.rand(10, 4, 1, 28, 28), n_way=5, k_shot=1, n_query=2)
    >>> 0 <= evaluate(Conv4(8), guided.task_loss, config, sampler, n_episodes=4).mean <= 1
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from . import protonet
from .distillation import check_alpha_and_temperature, kd_loss
from .functional import Params, accuracy, adapt, check_episode, check_inner_loop
from .support.validation import check_integer
from .fused import frozen_query_logits


@dataclass(frozen=True)
class GuidedConfig:
    """Test-time adaptation of a ProtoNet student, optionally guided by a teacher.

    Attributes:
        teacher: a ProtoNet teacher, or None for the student adapting alone (α is then unused).
        n_way: classes per test task.
        inner_lr, inner_steps: the inner loop's step size and number of steps.
        alpha, temperature: the weight of the teacher's term in [0, 1], and its T > 0.
    """

    teacher: nn.Module | None
    n_way: int = 5
    inner_lr: float = 0.01
    inner_steps: int = 10
    alpha: float = 0.5
    temperature: float = 4.0

    def __post_init__(self):
        check_alpha_and_temperature(self.alpha, self.temperature)
        check_inner_loop(self.inner_lr, self.inner_steps)
        check_integer("n_way", self.n_way, minimum=2, hint="use the sampler's n_way")
        if self.teacher is not None and not isinstance(self.teacher, nn.Module):
            raise ValueError(f"teacher must be an nn.Module or None, got "
                             f"{type(self.teacher).__name__}")

    def check_episode(self, model: nn.Module, n_way: int, role: str = "learner") -> None:
        """Raise ValueError unless the episodes are ``self.n_way``-way, as for ProtoNet."""
        protonet.ProtoNetConfig(self.n_way).check_episode(model, n_way, role)


def task_loss(params: Params, buffers: Params, model: nn.Module, support_x: Tensor,
              support_y: Tensor, query_x: Tensor, query_y: Tensor, *,
              config: GuidedConfig) -> tuple[Tensor, Tensor]:
    """Adapt the student to one task (teacher-guided or alone), then score the queries.

    A :data:`~kdmeta_lib.functional.TaskLoss`, for ``meta_training.evaluate``. The query labels
    are used for the returned loss and accuracy only, never for adaptation.

    Returns:
        ``(query_loss, query_accuracy)``, two scalars, after adaptation.
    """
    check_episode(model, support_y, query_y, config)  # a no-op under vmap (see there)
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
