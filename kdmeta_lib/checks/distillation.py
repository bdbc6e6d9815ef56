"""Checks for notebook 01's exercises: the KD loss and the combined distillation loss."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import Exercise, _close, _fail


def reference_kd_loss(student_logits: Tensor, teacher_logits: Tensor, temperature: float) -> Tensor:
    """T² · KL(softmax(teacher/T) ‖ softmax(student/T)), averaged over the batch."""
    log_student = F.log_softmax(student_logits / temperature, dim=-1)
    log_teacher = F.log_softmax(teacher_logits / temperature, dim=-1)
    kl = F.kl_div(log_student, log_teacher, log_target=True, reduction="batchmean")
    return temperature**2 * kl


def _check_kd_loss(answer: Callable) -> str:
    generator = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(2, 8, 10, generator=generator) * 3
    temperature = 4.0
    got = torch.as_tensor(answer(student, teacher, temperature), dtype=torch.float32)
    want = reference_kd_loss(student, teacher, temperature)
    if got.dim() != 0:
        _fail(f"kd_loss must return one number (a 0-dim tensor), got shape {tuple(got.shape)}: "
              "average over the batch")
    if _close(got, want):
        return "Your loss equals T²·KL(teacher ‖ student) with batchmean reduction."
    if _close(got * temperature**2, want):
        _fail("your loss is T² too small: multiply by temperature**2, or the soft-target "
              "gradients shrink as 1/T² when T grows")
    if _close(got * 10, want):
        _fail("your loss is 10× (the number of classes) too small: reduction='mean' averages over "
              "every element; use reduction='batchmean' to average over the batch only")
    if _close(got, reference_kd_loss(teacher, student, temperature)):
        _fail("your KL arguments are swapped: kl_div(input, target) wants the *student's* "
              "log-probabilities as input and the *teacher's* probabilities as target")
    if _close(got, reference_kd_loss(student * temperature, teacher * temperature, temperature)):
        _fail("you did not divide the logits by the temperature before the softmax")
    _fail(f"your loss is {got.item():.4f}, expected {want.item():.4f}; compare log_softmax of both "
          "logits divided by T, KL(teacher ‖ student) with batchmean, times T²")


kd_loss = Exercise(
    "the KD loss", _check_kd_loss,
    ("F.kl_div(input, target) computes KL(target ‖ input) and wants its input as "
     "log-probabilities. Which distribution is the target here, and which one needs the log?",
     "Soften both sets of logits by the temperature before any softmax. The student goes in "
     "as log-probabilities, the teacher as probabilities. Pick the reduction that averages "
     "over the batch only (F.kl_div's documentation lists them), then undo the 1/T² "
     "shrinkage of the gradients that the section 'Why the T²' explains."),
    reference_kd_loss)


def reference_distillation_loss(student_logits: Tensor, teacher_logits: Tensor, labels: Tensor,
                                alpha: float, temperature: float) -> Tensor:
    """α · L_KD + (1 − α) · L_CE: α weights the teacher, 1 − α the true labels."""
    soft = reference_kd_loss(student_logits, teacher_logits, temperature)
    hard = F.cross_entropy(student_logits, labels)
    return alpha * soft + (1 - alpha) * hard


def _check_distillation_loss(answer: Callable) -> str:
    generator = torch.Generator().manual_seed(1)
    student, teacher = torch.randn(2, 8, 10, generator=generator) * 3
    labels = torch.randint(0, 10, (8,), generator=generator)
    alpha, temperature = 0.7, 3.0
    got = torch.as_tensor(answer(student, teacher, labels, alpha, temperature))
    want = reference_distillation_loss(student, teacher, labels, alpha, temperature)
    if _close(got, want):
        return "α weights the teacher's soft targets, 1 − α the labels."
    if _close(got, reference_distillation_loss(student, teacher, labels, 1 - alpha, temperature)):
        _fail("α and 1 − α are swapped: in this course α weights the KD term (torchdistill uses "
              "the opposite convention)")
    soft = reference_kd_loss(student, teacher, temperature)
    hard = F.cross_entropy(student, labels)
    if _close(got, alpha * soft / temperature**2 + (1 - alpha) * hard):
        _fail("your KD term is T² too small: use the kd_loss with the T² factor")
    if _close(got, alpha * soft + hard):
        _fail("the cross-entropy term must be weighted by (1 − α)")
    _fail(f"got {got.item():.4f}, expected {want.item():.4f} = α·L_KD + (1−α)·L_CE")


distillation_loss = Exercise(
    "the combined distillation loss", _check_distillation_loss,
    ("Two terms, each with its own weight, the two weights summing to 1. In this course, "
     "which term does α weight: the teacher's or the labels'?",
     "The soft term is the KD loss (reuse kd_loss: it already holds the T²); the hard term "
     "is the ordinary cross-entropy of the raw student logits with the labels, at T = 1. α "
     "goes on the soft term, the rest of the weight on the hard one."),
    reference_distillation_loss)
