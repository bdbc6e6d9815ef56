"""Prototypical Networks (Snell, Swersky & Zemel, NeurIPS 2017).

ProtoNet meta-learns an *embedding* f_θ in which each class is summarised by the mean of its
support embeddings, its prototype, and a query belongs to the nearest prototype:

    c_n = (1/K) Σ_{i: y_i = n} f_θ(x_i)              (prototype of class n)
    logit_n(x) = −‖f_θ(x) − c_n‖²                     (negative squared Euclidean distance)
    p(y = n | x) = softmax_n(logit(x))

Unlike MAML (``maml``) there is *no inner loop*: adapting to a task is just averaging, so the
model is a backbone without a head, e.g. ``Conv4(width)``. Taught in notebook 02, section
"Prototypical Networks".

Example:
    Ten random "classes" of four 28×28 drawings are enough to run it:

    >>> import torch
    >>> from kdmeta_lib import Conv4, EpisodeSampler, protonet
    >>> sampler = EpisodeSampler(torch.rand(10, 4, 1, 28, 28), n_way=5, k_shot=1, n_query=2)
    >>> config = protonet.ProtoNetConfig(n_way=5)  # no head: Conv4 outputs embeddings

    The per-task loss on a meta-batch of 3 tasks, then two outer steps of meta-training:

    >>> from kdmeta_lib.functional import run_tasks
    >>> run_tasks(protonet.task_loss, Conv4(8), sampler.sample_batch(3), config=config)[0].shape
    torch.Size([3])
    >>> from kdmeta_lib.meta_training import meta_train
    >>> history = meta_train(Conv4(8), protonet.task_loss, config, sampler, n_iterations=2)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, vmap

from .episodes import Episode, EpisodeSampler
from .functional import Params, accuracy, check_episode, params_and_buffers
from .support.validation import check_integer


@dataclass(frozen=True)
class ProtoNetConfig:
    """What ProtoNet needs to know about a task.

    Attributes:
        n_way: classes per episode. It fixes the number of prototypes; it is not read from the
            labels because code under ``vmap`` cannot depend on tensor values. Training with a
            higher way than testing (e.g. 20-way training, 5-way testing) helps (Snell et al.).
    """

    n_way: int = 5

    def __post_init__(self):
        check_integer("n_way", self.n_way, minimum=2, hint="use the sampler's n_way")

    def check_episode(self, model: nn.Module, n_way: int, role: str = "learner") -> None:
        """Raise ValueError unless the episodes are ``self.n_way``-way (extra prototypes: 0/0)."""
        if n_way != self.n_way:
            raise ValueError(f"the {role}'s config has n_way={self.n_way} but the episodes are "
                             f"{n_way}-way; use the sampler's n_way: ProtoNetConfig(n_way={n_way})")


def prototypes(support_embeddings: Tensor, support_y: Tensor, n_way: int) -> Tensor:
    """Mean support embedding of each class.

    Args:
        support_embeddings: ``[N·K, D]``.
        support_y: ``[N·K]`` labels in ``0..n_way-1``.
    Returns:
        ``[n_way, D]``.
    """
    # One-hot by comparison rather than F.one_hot, which inspects label values (not vmap-safe).
    one_hot = (support_y[:, None] == torch.arange(n_way, device=support_y.device)).to(
        support_embeddings.dtype)                                  # [N·K, N]
    return one_hot.T @ support_embeddings / one_hot.sum(0)[:, None]  # [N, D]


def squared_distances(embeddings: Tensor, centres: Tensor) -> Tensor:
    """‖e_i − c_n‖² for every pair: ``[B, D]``, ``[N, D]`` → ``[B, N]``."""
    return (embeddings[:, None, :] - centres[None, :, :]).pow(2).sum(-1)


def query_logits(params: Params, buffers: Params, model: nn.Module, support_x: Tensor,
                 support_y: Tensor, query_x: Tensor, *, config: ProtoNetConfig) -> Tensor:
    """Negative squared distances from each query to each class prototype.

    Support and query go through the backbone in one batch, so that BatchNorm (which uses the
    statistics of the current batch) sees the same statistics for both.

    Returns:
        ``[N·Q, n_way]`` logits.
    """
    n_support = support_x.shape[0]
    embeddings = functional_call(model, (params, buffers), (torch.cat([support_x, query_x]),))
    centres = prototypes(embeddings[:n_support], support_y, config.n_way)
    return -squared_distances(embeddings[n_support:], centres)


def task_loss(params: Params, buffers: Params, model: nn.Module, support_x: Tensor,
              support_y: Tensor, query_x: Tensor, query_y: Tensor, *,
              config: ProtoNetConfig) -> tuple[Tensor, Tensor]:
    """ProtoNet's per-task objective: query cross-entropy over distance logits, and accuracy.

    Returns:
        ``(query_loss, query_accuracy)``, two scalars.
    """
    check_episode(model, support_y, query_y, config)  # a no-op under vmap (see there)
    if support_x.shape[0] % config.n_way:  # a shape check, so it is safe under vmap
        raise ValueError(f"{support_x.shape[0]} support examples cannot form "
                         f"config.n_way = {config.n_way} equal classes; set ProtoNetConfig(n_way=) "
                         "to the sampler's n_way")
    logits = query_logits(params, buffers, model, support_x, support_y, query_x, config=config)
    return F.cross_entropy(logits, query_y), accuracy(logits, query_y)


def episode_logits(model: nn.Module, episode: Episode, n_way: int) -> Tensor:
    """ProtoNet query logits of a batch of tasks with the model's own weights, one task at a
    time through ``vmap``.

    ``vmap`` keeps each task separate, so a backbone with batch statistics (Conv4's BatchNorm)
    normalises within one task, exactly as at test time.

    Shapes: an episode with a leading ``n_tasks`` dimension → ``[n_tasks, N·Q, n_way]``.
    """
    params, buffers = params_and_buffers(model)
    config = ProtoNetConfig(n_way)
    check_episode(model, episode.support_y, episode.query_y, config)  # outside vmap

    def one_task(support_x: Tensor, support_y: Tensor, query_x: Tensor) -> Tensor:
        return query_logits(params, buffers, model, support_x, support_y, query_x, config=config)

    return vmap(one_task)(episode.support_x, episode.support_y, episode.query_x)


def test_logits(model: nn.Module, images: Tensor, n_way: int, k_shot: int, n_query: int,
                n_episodes: int, seed: int, batch_size: int = 50) -> Tensor:
    """Query logits ``[n_episodes, N·Q, n_way]`` of a trained ProtoNet on fresh test episodes,
    embedding each image once: a fast test for comparing many models on 600 episodes.

    Conv4's batch norm always normalises with the statistics of the batch it is given. Testing
    episode by episode, that batch is one episode's support and queries; here it is 1,000
    random images of the episodes' classes, so each image's embedding is computed once and the
    episodes are look-ups in the table of embeddings (about 15× faster for 600 20-way
    episodes). The accuracies differ a little from episode-by-episode testing, so compare
    models tested the same way. The episodes are those that
    ``EpisodeSampler(images, n_way, k_shot, n_query, seed)`` draws, so labels are class-major
    (``arange(n_way).repeat_interleave(n_query)``).
    """
    n_classes, n_per_class = images.shape[:2]
    numbers = torch.arange(n_classes * n_per_class).reshape(n_classes, n_per_class, 1)
    episodes = EpisodeSampler(numbers, n_way, k_shot, n_query, seed=seed).sample_batch(n_episodes)
    support, query = episodes.support_x[..., 0], episodes.query_x[..., 0]  # image numbers
    used = torch.cat([support, query], 1).unique()
    used = used[torch.randperm(len(used), generator=torch.Generator().manual_seed(seed))]
    device = next(model.parameters()).device
    flat, rows = images.reshape(-1, *images.shape[2:]), []
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for first in range(0, len(used), 1000):
            batch = flat[used[first:first + 1000]].to(device)
            if batch.dtype == torch.uint8:
                batch = batch.float().div_(255)  # as EpisodeSampler does
            rows.append(model(batch).flatten(1).float().cpu())
    model.train(was_training)
    table = torch.zeros(len(flat), rows[0].shape[1])
    table[used] = torch.cat(rows)
    labels = torch.arange(n_way).repeat_interleave(k_shot)
    logits = []
    for first in range(0, n_episodes, batch_size):  # a batch of episodes at a time: less memory
        chosen = slice(first, first + batch_size)
        centres = vmap(prototypes, in_dims=(0, None, None))(table[support[chosen]], labels, n_way)
        points = table[query[chosen]]                                  # [B, N·Q, D]
        logits.append(-(points[:, :, None] - centres[:, None]).pow(2).sum(-1))
    return torch.cat(logits)
