"""The teacher at test time: a ProtoNet student adapted to a new task with the teacher's guidance.

The fused objective (``fused``) uses the teacher during *meta-training* only. Here the teacher
also helps at *test* time: for a new task, the student takes ``inner_steps`` gradient steps on
all its weights, minimising

    (1 − α) · CE(support) + α · T² · KL(teacher ‖ student)   on an adaptation pool,

the pool being some of the task's unlabelled queries, with both sets classified by their
distance to the support prototypes. Only the *other* queries, held out, are scored: scoring the
pool would reward the student for copying the teacher's answers on the very images it was shown.
The query labels are never used for adapting. Without a teacher only the support term is left
(at 1 shot it is almost zero: each support example is its own prototype, so the student alone
has little to adapt on). With the student itself as the "teacher" it is self-training, the
control that says how much of a gain is the teacher's knowledge.

How it differs from its neighbours: like MAML (``maml``) it adapts with ``functional.adapt``,
but on a ProtoNet (``protonet``) and with soft targets from a teacher; unlike ``fused`` it needs
the teacher at test time, so the student is no longer a compressed model on its own.
Taught in notebook 03, section "The teacher at test time, scored honestly".

Example:
    Evaluate a student adapted with a teacher's guidance on every test task:

    >>> import torch
    >>> from kdmeta_lib import Conv4, EpisodeSampler, guided
    >>> from kdmeta_lib.meta_training import evaluate
    >>> config = guided.GuidedConfig(teacher=Conv4(16), n_way=5, pool_queries=1, inner_steps=2)
    >>> sampler = EpisodeSampler(torch.rand(10, 4, 1, 28, 28), n_way=5, k_shot=1, n_query=3)
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
        teacher: the model whose soft targets guide adaptation: a ProtoNet teacher, or the
            student itself (self-training: its own predictions before adapting, a control), or
            None for the student adapting on its support alone (α is then unused).
        n_way: classes per test task.
        pool_queries: queries per class in the *adaptation pool*: the first ``pool_queries`` of
            each class's queries may be looked at (never their labels); the rest are held out
            and are the only ones scored. The sampler must draw more queries than this.
        inner_lr, inner_steps: the inner loop's step size and number of steps.
        alpha, temperature: the weight of the teacher's term in [0, 1], and its T > 0.
    """

    teacher: nn.Module | None
    n_way: int = 5
    pool_queries: int = 5
    inner_lr: float = 0.01
    inner_steps: int = 10
    alpha: float = 0.5
    temperature: float = 4.0

    def __post_init__(self):
        check_alpha_and_temperature(self.alpha, self.temperature)
        check_inner_loop(self.inner_lr, self.inner_steps)
        check_integer("n_way", self.n_way, minimum=2, hint="use the sampler's n_way")
        check_integer("pool_queries", self.pool_queries, hint="half of the sampler's n_query")
        if self.teacher is not None and not isinstance(self.teacher, nn.Module):
            raise ValueError(f"teacher must be an nn.Module or None, got "
                             f"{type(self.teacher).__name__}")

    def check_episode(self, model: nn.Module, n_way: int, role: str = "learner") -> None:
        """Raise ValueError unless the episodes are ``self.n_way``-way, as for ProtoNet."""
        protonet.ProtoNetConfig(self.n_way).check_episode(model, n_way, role)


def split_queries(query_x: Tensor, query_y: Tensor, n_way: int,
                  pool_queries: int) -> tuple[Tensor, Tensor, Tensor]:
    """Split class-major queries ``[N·Q, ...]`` into the adaptation pool ``[N·P, ...]`` and the
    held-out queries ``[N·(Q−P), ...]`` with their labels: ``(pool_x, held_x, held_y)``."""
    per_class = query_x.shape[0] // n_way  # queries are class-major: class 0's, class 1's, ...
    if per_class <= pool_queries:
        raise ValueError(f"the adaptation pool takes {pool_queries} queries per class, so at "
                         f"least {pool_queries + 1} are needed (some must stay held out to be "
                         f"scored); got {per_class}. Sample more queries per class or lower "
                         "pool_queries")
    shaped = query_x.reshape(n_way, per_class, *query_x.shape[1:])
    pool_x = shaped[:, :pool_queries].reshape(-1, *query_x.shape[1:])
    held_x = shaped[:, pool_queries:].reshape(-1, *query_x.shape[1:])
    held_y = query_y.reshape(n_way, per_class)[:, pool_queries:].reshape(-1)
    return pool_x, held_x, held_y


def task_loss(params: Params, buffers: Params, model: nn.Module, support_x: Tensor,
              support_y: Tensor, query_x: Tensor, query_y: Tensor, *,
              config: GuidedConfig) -> tuple[Tensor, Tensor]:
    """Adapt the student to one task on its support and adaptation pool, then score the
    held-out queries only.

    A :data:`~kdmeta_lib.functional.TaskLoss`, for ``meta_training.evaluate``. No query label is
    used for adaptation, and no query the teacher's soft targets were shown on is scored: a
    score on the adaptation pool would reward copying the teacher's answers on those very images.

    Returns:
        ``(held_out_loss, held_out_accuracy)``, two scalars, after adaptation.
    """
    check_episode(model, support_y, query_y, config)  # a no-op under vmap (see there)
    pool_x, held_x, held_y = split_queries(query_x, query_y, config.n_way, config.pool_queries)
    n_support = support_x.shape[0]
    inputs = torch.cat([support_x, pool_x])  # one batch, as in protonet.query_logits

    def all_logits(weights: Params) -> Tensor:  # [N·K + N·P, n_way]: support rows, then pool
        embeddings = functional_call(model, (weights, buffers), (inputs,))
        centres = protonet.prototypes(embeddings[:n_support], support_y, config.n_way)
        return -protonet.squared_distances(embeddings, centres)

    teacher_logits = None
    if config.teacher is not None and config.alpha > 0:
        teacher_logits = frozen_query_logits(config.teacher, protonet.query_logits,
                                             protonet.ProtoNetConfig(config.n_way), support_x,
                                             support_y, pool_x)

    def adaptation_loss(weights: Params) -> Tensor:
        logits = all_logits(weights)
        support_loss = F.cross_entropy(logits[:n_support], support_y)
        if teacher_logits is None:
            return support_loss
        guidance = kd_loss(logits[n_support:], teacher_logits, config.temperature)
        return (1 - config.alpha) * support_loss + config.alpha * guidance

    # First order: nothing is differentiated through the adaptation at test time.
    adapted = adapt(adaptation_loss, params, inner_lr=config.inner_lr,
                    inner_steps=config.inner_steps, first_order=True)
    logits = protonet.query_logits(adapted, buffers, model, support_x, support_y, held_x,
                                   config=protonet.ProtoNetConfig(config.n_way))
    return F.cross_entropy(logits, held_y), accuracy(logits, held_y)
