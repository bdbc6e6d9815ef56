"""Check for notebook 03's exercise: the fused meta-batch loss."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import Exercise, _close, _fail

from .distillation import reference_distillation_loss, reference_kd_loss


def reference_fused_loss(student_logits: Tensor, teacher_logits: Tensor, labels: Tensor,
                         alpha: float, temperature: float) -> Tensor:
    """L = (1/N) Σ_i (α · L_KD^i + (1 − α) · L_CE^i) over the N tasks of a meta-batch.

    Shapes: logits ``[n_tasks, n_query, n_way]``, labels ``[n_tasks, n_query]`` → a scalar.
    """
    per_task = [reference_distillation_loss(s, t, y, alpha, temperature)
                for s, t, y in zip(student_logits, teacher_logits, labels)]
    return torch.stack(per_task).mean()


def _check_fused_loss(answer: Callable) -> str:
    generator = torch.Generator().manual_seed(4)
    n_tasks, n_query, n_way = 3, 6, 5
    student, teacher = torch.randn(2, n_tasks, n_query, n_way, generator=generator) * 3
    labels = torch.randint(0, n_way, (n_tasks, n_query), generator=generator)
    alpha, temperature = 0.6, 4.0
    got = torch.as_tensor(answer(student, teacher, labels, alpha, temperature))
    want = reference_fused_loss(student, teacher, labels, alpha, temperature)
    if got.dim() != 0:
        _fail(f"return one number for the whole meta-batch, got shape {tuple(got.shape)}: "
              "average the per-task losses")
    if _close(got, want):
        return "L = (1/N) Σ_i (α·L_KD^i + (1−α)·L_CE^i), averaged over the tasks."
    if _close(got, want * n_tasks):
        _fail(f"your loss is {n_tasks}× too large: you summed the task losses; the formula "
              "divides by N, the number of tasks (take the mean)")
    if _close(got, reference_fused_loss(student, teacher, labels, 1 - alpha, temperature)):
        _fail("α and 1 − α are swapped: α weights the teacher's KD term, 1 − α the labels")
    hard = F.cross_entropy(student.flatten(0, 1), labels.flatten())
    soft = torch.stack([reference_kd_loss(s, t, temperature)
                        for s, t in zip(student, teacher)]).mean()
    if _close(got, alpha * soft / temperature**2 + (1 - alpha) * hard):
        _fail("your KD term is T² too small: multiply the KL by temperature**2")
    if _close(got, reference_fused_loss(teacher, student, labels, alpha, temperature)
              - (1 - alpha) * F.cross_entropy(teacher.flatten(0, 1), labels.flatten())
              + (1 - alpha) * hard):
        _fail("your KL arguments are swapped: the teacher's probabilities are the target, "
              "the student's log-probabilities the input")
    _fail(f"got {got.item():.4f}, expected {want.item():.4f}; compute α·kd_loss + (1−α)·CE for "
          "each task's queries, then average over the tasks")


fused_loss = Exercise(
    "the fused meta-batch loss", _check_fused_loss,
    ("It is notebook 01's combined loss, computed for each task of the meta-batch on its "
     "own, and then combined over the tasks as the formula's (1/N) Σ says.",
     "Go through the tasks along the first dimension (zip the student logits, teacher logits "
     "and labels). For each task weight kd_loss by α and F.cross_entropy by 1 − α; then put "
     "the N task losses in one tensor and average it (a sum would be N times too large)."),
    reference_fused_loss)
