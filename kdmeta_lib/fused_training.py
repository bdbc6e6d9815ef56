"""Meta-training a student with a frozen teacher, and keeping trained teachers on disk.

* :func:`meta_train_with_teacher`: check that teacher, student and episodes fit together, then
  run the ordinary ``meta_training.meta_train`` loop on the fused objective
  (:func:`kdmeta_lib.fused.task_loss`), task by task or through ``vmap``.
* :func:`episode_accuracies`: one accuracy per test episode, so that two models can be compared
  on the very same tasks (a paired comparison).
* :func:`load_or_train_teacher`: a meta-trained teacher is cached atomically under
  ``paths.cache_dir()``, keyed by the data and the training recipe, and reloaded with
  ``weights_only=True``. A missing, corrupt or mismatching file is retrained, never a crash.

Taught in notebook 03, "The fused loss".
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from . import protonet
from .episodes import EpisodeSampler
from .functional import TaskLoss, run_tasks
from .fused import FusedConfig, QueryLogits, task_loss
from .meta_training import History, meta_train
from .paths import cache_dir
from .storage import load_or_train


def check_n_way(model: nn.Module | None, learner_config: Any, n_way: int, role: str) -> None:
    """Raise ValueError when a learner cannot classify ``n_way`` classes.

    A ProtoNet config names its ``n_way``; a model with a head (MAML, ANIL) has ``n_classes``.
    """
    configured = getattr(learner_config, "n_way", None)
    if configured is not None and configured != n_way:
        raise ValueError(f"the {role}'s config has n_way={configured} but the episodes are "
                         f"{n_way}-way; use the sampler's n_way for both teacher and student")
    outputs = getattr(model, "n_classes", None)
    if outputs is not None and outputs != n_way:
        raise ValueError(f"the {role} has a head with {outputs} outputs but the episodes are "
                         f"{n_way}-way; build it with n_classes={n_way}")


def meta_train_with_teacher(student: nn.Module, sampler: EpisodeSampler, *,
                            teacher: nn.Module | None, alpha: float = 0.5,
                            temperature: float = 4.0,
                            student_query_logits: QueryLogits = protonet.query_logits,
                            student_config: Any = None,
                            teacher_query_logits: QueryLogits | None = None,
                            teacher_config: Any = None, n_iterations: int, n_tasks: int = 4,
                            outer_lr: float = 1e-3, vectorize: bool | None = None,
                            description: str = "fused meta-training") -> History:
    """Meta-train ``student`` in place on ``(1/N) Σ_i [α·L_KD^i + (1 − α)·L_CE^i]``.

    Args:
        student: the model being meta-trained.
        sampler: training episodes; its ``n_way`` must match both learners.
        teacher: a meta-trained model, used frozen; None (with ``alpha=0``) trains alone, so
            both arms of a comparison run through this very function.
        alpha, temperature: the KD weight in [0, 1] and T > 0.
        student_query_logits, student_config: the student's learner (default: ProtoNet with
            the sampler's ``n_way``); e.g. ``maml.query_logits`` with ``MamlConfig()``.
        teacher_query_logits, teacher_config: the teacher's learner; None: as the student.
        n_iterations, n_tasks, outer_lr, vectorize, description: as in ``meta_training.meta_train``.
    Returns:
        The :class:`~kdmeta_lib.meta_training.History`; ``loss`` is the fused loss.
    """
    if student_config is None:
        student_config = protonet.ProtoNetConfig(sampler.n_way)
    config = FusedConfig(teacher, student_query_logits, student_config, teacher_query_logits,
                         teacher_config, alpha=alpha, temperature=temperature)
    check_n_way(student, student_config, sampler.n_way, "student")
    if teacher is not None:
        if teacher is student:
            raise ValueError("teacher and student are the same model; the teacher must be a "
                             "separate, already trained model")
        check_n_way(teacher, config.teacher_learner()[1], sampler.n_way, "teacher")
        teacher.eval()  # frozen: fused.task_loss detaches its weights, eval() fixes dropout
    return meta_train(student, task_loss, config, sampler, n_iterations=n_iterations,
                      n_tasks=n_tasks, outer_lr=outer_lr, vectorize=vectorize,
                      description=description)


@torch.no_grad()
def episode_accuracies(model: nn.Module, task_loss_fn: TaskLoss, config: Any,
                       sampler: EpisodeSampler, n_episodes: int, batch_size: int = 50,
                       vectorize: bool | None = None) -> Tensor:
    """Query accuracy of each of ``n_episodes`` test episodes: ``[n_episodes]``.

    Unlike ``meta_training.evaluate`` (a mean ± CI), this keeps one number per episode, so two
    models run on samplers with the same seed can be compared task by task.
    """
    if not isinstance(n_episodes, int) or n_episodes < 1:
        raise ValueError(f"n_episodes must be a positive integer, got {n_episodes!r}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    accuracies = []
    for first in range(0, n_episodes, batch_size):
        episode = sampler.sample_batch(min(batch_size, n_episodes - first)).to(device)
        _, batch = run_tasks(task_loss_fn, model, episode, config=config, vectorize=vectorize)
        accuracies.append(batch.cpu())
    model.train(was_training)
    return torch.cat(accuracies)


def cache_key_digest(key: dict[str, Any]) -> str:
    """A short, stable name for a training recipe (JSON with sorted keys, SHA-256)."""
    try:
        text = json.dumps(key, sort_keys=True)
    except TypeError as error:
        raise ValueError(f"the cache key must hold plain numbers and strings only: {error}") from None
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def load_or_train_teacher(build: Callable[[], nn.Module], train: Callable[[nn.Module], Any],
                          key: dict[str, Any], name: str = "teacher",
                          verbose: bool = True) -> tuple[nn.Module, bool]:
    """Load a cached trained teacher, or train it and cache it.

    Args:
        build: makes the untrained model, e.g. ``lambda: Conv4(64)``.
        train: trains that model in place (its return value is ignored).
        key: everything the result depends on: the data source and the training recipe
            (width, steps, learning rate, seed, ...). A different key is a different file.
        name: start of the file name under ``paths.cache_dir()``.
    Returns:
        ``(model, from_cache)``.
    """
    path = cache_dir() / f"{name}-{cache_key_digest(key)}.pt"  # the recipe is in the name
    model, start = build(), time.perf_counter()
    from_cache = load_or_train(model, path, train)
    if verbose:
        print(f"Teacher: loaded from the cache {path}" if from_cache else
              f"Teacher: trained in {time.perf_counter() - start:.0f} s, cached at {path}")
    return model, from_cache
