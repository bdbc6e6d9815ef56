"""N-way K-shot episodes: the unit of work in meta-learning.

An *episode* (or task) picks ``n_way`` classes at random, relabels them ``0..n_way-1``, and gives
``k_shot`` labelled *support* examples per class to learn from and ``n_query`` *query* examples
per class to be tested on. Support and query never share an example.

The sampler works on an in-memory tensor ``[n_classes, n_per_class, C, H, W]`` and draws whole
batches of tasks with a few tensor indexing operations, so there is no per-episode Python loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from .support.validation import check_integer


@dataclass(frozen=True)
class Episode:
    """Support and query sets of one task, or of a batch of tasks.

    Shapes for one task (``N = n_way``, ``K = k_shot``, ``Q = n_query``); a batch of tasks has an
    extra leading ``n_tasks`` dimension on every tensor:

    Attributes:
        support_x: ``[N·K, C, H, W]``, class-major: class 0's K shots, then class 1's, ...
        support_y: ``[N·K]`` int64 in ``0..N-1``.
        query_x: ``[N·Q, C, H, W]``.
        query_y: ``[N·Q]`` int64 in ``0..N-1``.
    """

    support_x: Tensor
    support_y: Tensor
    query_x: Tensor
    query_y: Tensor

    @property
    def n_way(self) -> int:
        return int(self.support_y.max()) + 1

    @property
    def is_batch(self) -> bool:
        return self.support_y.dim() == 2

    def to(self, device: torch.device | str) -> "Episode":
        """The same episode on another device."""
        return Episode(*(t.to(device, non_blocking=True) for t in
                         (self.support_x, self.support_y, self.query_x, self.query_y)))

    def task(self, index: int) -> "Episode":
        """Task ``index`` of a batch of tasks."""
        if not self.is_batch:
            raise ValueError("task(index) needs a batch of tasks; this episode is a single task")
        return Episode(self.support_x[index], self.support_y[index],
                       self.query_x[index], self.query_y[index])


class EpisodeSampler:
    """Draws N-way K-shot episodes with Q queries per class from a class split.

    Args:
        images: ``[n_classes, n_per_class, C, H, W]`` (e.g. ``FewShotData.train``).
        n_way: classes per episode.
        k_shot: labelled support examples per class.
        n_query: query examples per class.
        seed: the same seed gives the same sequence of episodes.

    Raises:
        ValueError: a size is not positive, ``n_way`` exceeds the classes available, or
            ``k_shot + n_query`` exceeds the examples per class.
    """

    def __init__(self, images: Tensor, n_way: int, k_shot: int, n_query: int, seed: int = 0):
        if images.dim() < 3:
            raise ValueError(f"images must be [n_classes, n_per_class, ...], got shape "
                             f"{tuple(images.shape)}")
        for name, value in (("n_way", n_way), ("k_shot", k_shot), ("n_query", n_query)):
            check_integer(name, value)
        check_integer("seed", seed, minimum=0)
        n_classes, n_per_class = images.shape[:2]
        if n_way > n_classes:
            raise ValueError(f"a {n_way}-way episode needs {n_way} classes but this split has only "
                             f"{n_classes}; use n_way ≤ {n_classes}")
        if k_shot + n_query > n_per_class:
            raise ValueError(f"k_shot + n_query = {k_shot} + {n_query} examples per class, but each "
                             f"class has only {n_per_class}; keep k_shot + n_query ≤ {n_per_class}")
        self.images = images
        self.n_way, self.k_shot, self.n_query = n_way, k_shot, n_query
        self.generator = torch.Generator().manual_seed(seed)

    def sample(self) -> Episode:
        """One task: tensors without a task dimension."""
        return self.sample_batch(1).task(0)

    def sample_batch(self, n_tasks: int) -> Episode:
        """``n_tasks`` independent tasks stacked on a leading dimension (for ``vmap``)."""
        check_integer("n_tasks", n_tasks, hint="4 tasks per meta-batch is typical")
        n_classes, n_per_class = self.images.shape[:2]
        n_way, k_shot, n_query = self.n_way, self.k_shot, self.n_query
        # Random permutations by argsort of uniform noise: one row per task, no Python loop.
        classes = torch.rand(n_tasks, n_classes, generator=self.generator).argsort(1)[:, :n_way]
        examples = torch.rand(n_tasks, n_way, n_per_class,
                              generator=self.generator).argsort(2)[..., :k_shot + n_query]
        chosen = self.images[classes[..., None], examples]  # [T, N, K+Q, C, H, W]
        if chosen.dtype == torch.uint8:
            chosen = chosen.float().div_(255)
        image_shape = chosen.shape[3:]
        labels = torch.arange(n_way)  # remap the chosen classes to 0..N-1
        support_y = labels.repeat_interleave(k_shot).expand(n_tasks, -1)
        query_y = labels.repeat_interleave(n_query).expand(n_tasks, -1)
        return Episode(
            support_x=chosen[:, :, :k_shot].reshape(n_tasks, n_way * k_shot, *image_shape),
            support_y=support_y.contiguous(),
            query_x=chosen[:, :, k_shot:].reshape(n_tasks, n_way * n_query, *image_shape),
            query_y=query_y.contiguous(),
        )

    def __iter__(self) -> Iterator[Episode]:
        """An endless stream of single tasks."""
        while True:
            yield self.sample()
