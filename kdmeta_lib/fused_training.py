"""Meta-training a student with a frozen teacher: one call, with its argument checks.

* :func:`meta_train_with_teacher`: check that teacher, student and episodes fit together, then
  run the ordinary ``meta_training.meta_train`` loop on the fused objective
  (:func:`kdmeta_lib.fused.task_loss`), task by task or through ``vmap``. With ``teacher=None``
  and ``alpha=0`` it trains the student alone, so both arms of a comparison run the same code.
* :func:`train_protonet` and :func:`evaluate_protonet`: the same for a ProtoNet with any
  embedding backbone (a CNN for characters, a character CNN for names), as notebooks 04a and
  04b use it.

* :func:`course_teacher`: the course's Omniglot teacher, a Conv4-64 ProtoNet meta-trained on
  every training class, trained once and cached (notebook 03 and ``benchmarks/fusion.py``
  share it through ``data.storage.load_or_train_teacher``).

Taught in notebook 03, "The fused loss".
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from . import protonet
from .data.loaders import FewShotData
from .data.storage import load_or_train_teacher
from .episodes import EpisodeSampler
from .fused import FusedConfig, QueryLogits, task_loss
from .meta_training import History, episode_accuracies, meta_train
from .models import Conv4
from .support.runtime import cpu_friendly, seed_everything

TEACHER_RECIPE = {"learner": "protonet", "width": 64, "way": 20, "shot": 1, "query": 2,
                  "steps": 1500, "tasks": 1, "lr": 2e-3, "cosine": True, "seed": 0}
"""The course teacher's recipe: 20-way 1-shot episodes with 2 queries per class, one task per
outer step, Adam at 2e-3 decayed along a half cosine to 0 over 1,500 steps."""


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
    if teacher is not None and teacher is student:
        raise ValueError("teacher and student are the same model; the teacher must be a "
                         "separate, already trained model")
    config.check_episode(student, sampler.n_way)  # before training, not at the first step
    if teacher is not None:
        teacher.eval()  # frozen: fused.task_loss detaches its weights, eval() fixes dropout
    return meta_train(student, task_loss, config, sampler, n_iterations=n_iterations,
                      n_tasks=n_tasks, outer_lr=outer_lr, vectorize=vectorize,
                      description=description)


def train_protonet(model: nn.Module, sampler: EpisodeSampler, *, n_iterations: int,
                   n_tasks: int, outer_lr: float, teacher: nn.Module | None = None,
                   alpha: float = 0.0, temperature: float = 4.0,
                   description: str = "meta-training") -> list[float]:
    """Meta-train a ProtoNet ``model`` with Adam, alone or with the fused loss of a ``teacher``.

    Args:
        teacher: a trained embedding network, kept frozen, or None to train alone.
        alpha, temperature: weight and temperature of the distillation term (alone: alpha = 0).
    Returns:
        The loss of every outer step.
    """
    history = meta_train_with_teacher(
        model, sampler, teacher=teacher, alpha=alpha, temperature=temperature,
        n_iterations=n_iterations, n_tasks=n_tasks, outer_lr=outer_lr, description=description)
    return history.loss


def evaluate_protonet(model: nn.Module, sampler: EpisodeSampler, n_episodes: int,
                      batch_size: int = 50) -> Tensor:
    """Query accuracy of each of ``n_episodes`` test tasks: ``[n_episodes]`` (for ``mean_ci``)."""
    return episode_accuracies(model, protonet.task_loss, protonet.ProtoNetConfig(sampler.n_way),
                              sampler, n_episodes=n_episodes, batch_size=batch_size)


def course_teacher(data: FewShotData, device: str = "cpu", verbose: bool = True,
                   **changes: Any) -> tuple[nn.Module, bool]:
    """The course's teacher for ``data``: a ProtoNet Conv4 trained by :data:`TEACHER_RECIPE` on
    every training class, loaded from the shared cache when this data and recipe were trained
    before (else trained, about 100 s on a 2-core CPU, and cached atomically).

    Args:
        changes: recipe entries to change, e.g. ``width=8, steps=2`` for a quick test.
    Returns:
        ``(teacher, from_cache)``; the teacher is frozen (no gradients) and in eval mode (which
        matters for dropout or running statistics; Conv4's batch norm always normalises with the
        statistics of the batch it is given, eval or not).
    """
    unknown = set(changes) - set(TEACHER_RECIPE)
    if unknown:
        raise ValueError(f"unknown teacher recipe entries {sorted(unknown)}; the recipe has "
                         f"{sorted(TEACHER_RECIPE)}")
    r = {**TEACHER_RECIPE, **changes}

    def build() -> nn.Module:
        seed_everything(r["seed"])
        return cpu_friendly(Conv4(r["width"]), device)

    def train(model: nn.Module) -> History:
        sampler = EpisodeSampler(data.train, r["way"], r["shot"], r["query"], seed=r["seed"])
        return meta_train(model, protonet.task_loss, protonet.ProtoNetConfig(r["way"]), sampler,
                          n_iterations=r["steps"], n_tasks=r["tasks"], outer_lr=r["lr"],
                          cosine_decay=r["cosine"], description="teacher")

    key = dict(r, data=data.source, classes=list(data.train.shape[:2]))
    teacher, from_cache = load_or_train_teacher(build, train, key, verbose=verbose)
    teacher.requires_grad_(False).eval()
    return teacher, from_cache
