"""ProtoNet with an optional teacher: the fused loss of notebook 03, packaged for the applications.

For a meta-batch of N tasks, the teacher and the student each classify every task's queries by
their distance to the class prototypes (Snell et al. 2017), and the student minimises

    L = (1/N) · Σ_i [ α · T² · KL(softmax(t_i/T) ‖ softmax(s_i/T)) + (1 − α) · CE(s_i, y_i) ]

with ``t_i``/``s_i`` the teacher's/student's query logits on task i. With ``teacher=None`` (or
α = 0) this is plain ProtoNet. Because every task has the same number of queries, averaging the
per-task losses equals one ``distillation_loss`` over all the queries of the meta-batch.

This small module serves notebooks 04a and 04b (images and text: any backbone that maps a batch to
``[B, D]`` embeddings works). Notebook 03's fused-objective module is the general version.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, vmap

from .episodes import Episode, EpisodeSampler


def prototype_logits(support_embeddings: Tensor, support_y: Tensor, query_embeddings: Tensor,
                     n_way: int) -> Tensor:
    """ProtoNet's logits: minus the squared distance of each query to each class mean.

    Shapes: ``[N·K, D]``, ``[N·K]``, ``[N·Q, D]`` → ``[N·Q, n_way]``.
    """
    one_hot = F.one_hot(support_y, n_way).to(support_embeddings.dtype)       # [N·K, N]
    prototypes = one_hot.T @ support_embeddings / one_hot.sum(0)[:, None]    # [N, D]
    return -torch.cdist(query_embeddings, prototypes).pow(2)


def episode_logits(model: nn.Module, episode: Episode, n_way: int) -> Tensor:
    """Query logits of a batch of tasks, one task at a time through ``vmap``.

    ``vmap`` keeps each task separate, so a backbone with batch statistics (Conv4's BatchNorm)
    normalises within one task, exactly as at test time.

    Shapes: an episode with a leading ``n_tasks`` dimension → ``[n_tasks, N·Q, n_way]``.
    """
    params, buffers = dict(model.named_parameters()), dict(model.named_buffers())

    def one_task(support_x: Tensor, support_y: Tensor, query_x: Tensor) -> Tensor:
        inputs = torch.cat([support_x, query_x])  # one forward pass for the whole task
        embeddings = functional_call(model, (params, buffers), (inputs,))
        n_support = support_x.shape[0]
        return prototype_logits(embeddings[:n_support], support_y, embeddings[n_support:], n_way)

    return vmap(one_task)(episode.support_x, episode.support_y, episode.query_x)


def fused_loss(student_logits: Tensor, teacher_logits: Tensor | None, query_y: Tensor,
               alpha: float, temperature: float) -> Tensor:
    """The meta-batch fused loss above. Shapes: ``[n_tasks, N·Q, n_way]`` (×2), ``[n_tasks, N·Q]``."""
    from .distillation import distillation_loss

    flat_student, flat_y = student_logits.flatten(0, 1), query_y.flatten()
    if teacher_logits is None or alpha == 0:
        return F.cross_entropy(flat_student, flat_y)
    return distillation_loss(flat_student, teacher_logits.flatten(0, 1), flat_y,
                             alpha=alpha, temperature=temperature)


def train_protonet(model: nn.Module, sampler: EpisodeSampler, *, steps: int, n_tasks: int,
                   outer_lr: float, teacher: nn.Module | None = None, alpha: float = 0.0,
                   temperature: float = 4.0, description: str = "") -> list[float]:
    """Meta-train ``model`` with Adam on ``steps`` meta-batches of ``n_tasks`` tasks.

    Args:
        teacher: a trained embedding network, kept frozen, or None to train alone.
        alpha, temperature: weight and temperature of the distillation term (ignored alone).
    Returns:
        The loss of every step.
    """
    if teacher is None and alpha != 0:
        raise ValueError(f"alpha={alpha} weights a distillation term but no teacher was given; "
                         "pass teacher=... or alpha=0")
    if not 0 <= alpha <= 1 or temperature <= 0:
        raise ValueError(f"need 0 ≤ alpha ≤ 1 and temperature > 0, got {alpha}, {temperature}")
    from .runtime import progress

    optimizer = torch.optim.Adam(model.parameters(), lr=outer_lr)
    losses = []
    for _ in progress(range(steps), description or "meta-training"):
        episode = sampler.sample_batch(n_tasks)
        teacher_logits = None
        if teacher is not None and alpha > 0:
            with torch.no_grad():
                teacher_logits = episode_logits(teacher, episode, sampler.n_way)
        student_logits = episode_logits(model, episode, sampler.n_way)
        loss = fused_loss(student_logits, teacher_logits, episode.query_y, alpha, temperature)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@torch.no_grad()
def evaluate_protonet(model: nn.Module, sampler: EpisodeSampler, n_episodes: int,
                      batch_size: int = 50) -> Tensor:
    """Query accuracy of each of ``n_episodes`` test tasks: ``[n_episodes]`` (for ``mean_ci``)."""
    accuracies = []
    for start in range(0, n_episodes, batch_size):
        episode = sampler.sample_batch(min(batch_size, n_episodes - start))
        predictions = episode_logits(model, episode, sampler.n_way).argmax(-1)
        accuracies.append((predictions == episode.query_y).float().mean(1))
    return torch.cat(accuracies)
