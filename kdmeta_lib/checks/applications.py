"""Checks for notebooks 04a–04c: the gap recovered, name encoding, the policy KL."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .base import Exercise, _close, _fail


def reference_gap_recovered(alone_accuracy: float, fused_accuracy: float,
                            teacher_accuracy: float) -> float:
    """Fraction of the teacher–student gap that fusion closes: (fused − alone) / (teacher − alone).

    0 means no gain over the student alone, 1 means the student matches the teacher.
    """
    return (fused_accuracy - alone_accuracy) / (teacher_accuracy - alone_accuracy)


def _check_gap_recovered(answer: Callable) -> str:
    alone, fused, teacher = 0.80, 0.86, 0.95
    got = float(answer(alone, fused, teacher))
    want = reference_gap_recovered(alone, fused, teacher)
    if abs(got - want) < 1e-6:
        return "The gap is measured from the student alone (0) to the teacher (1)."
    if abs(got - 100 * want) < 1e-4:
        _fail("you returned a percentage; return the fraction (0.4, not 40)")
    if abs(got - (fused - alone) / teacher) < 1e-6:
        _fail("you divided by the teacher's accuracy; divide by the gap, teacher − alone")
    if abs(got - (teacher - fused) / (teacher - alone)) < 1e-6:
        _fail("you computed the gap that *remains* (teacher − fused); the recovered part is "
              "fused − alone")
    if abs(got - (fused - alone) / alone) < 1e-6:
        _fail("you computed the relative gain over the student alone; divide by the gap "
              "teacher − alone instead")
    _fail(f"got {got:.4f}, expected {want:.4f} = (fused − alone) / (teacher − alone)")


gap_recovered = Exercise(
    "the fraction of the gap recovered", _check_gap_recovered,
    ("The measure is 0 when the fused student is no better than the student alone, and 1 "
     "when it is as accurate as the teacher. Which ratio of two accuracy differences behaves "
     "like that?",
     "Numerator: how much accuracy the fused student gained over the student alone. "
     "Denominator: how far ahead of the student alone the teacher is. Return a fraction, not "
     "a percentage."),
    reference_gap_recovered)


# ------------------------------------------------------------ notebook 04b: text tasks
def reference_encode_name(name: str, max_len: int) -> Tensor:
    """Character codes ``[max_len]``: Unicode code points below 0x250, else 0x250; 0 pads."""
    codes = [ord(char) if ord(char) < 0x250 else 0x250 for char in name[:max_len]]
    return torch.tensor(codes + [0] * (max_len - len(codes)), dtype=torch.long)


def _check_encode_name(answer: Callable) -> str:
    cases = [("ana", 6), ("ß çedilla", 12), ("ωmega", 8), ("a very long name", 5)]
    for name, max_len in cases:
        got = torch.as_tensor(answer(name, max_len))
        want = reference_encode_name(name, max_len)
        if got.shape != want.shape:
            _fail(f"encode({name!r}, max_len={max_len}) has shape {tuple(got.shape)}, expected "
                  f"({max_len},): pad short names with 0 and cut long ones to max_len")
        if torch.equal(got, want):
            continue
        codes = [ord(char) for char in name[:max_len]]
        if got.tolist()[-len(codes):] == [min(c, 0x250) for c in codes] and got[0] == 0:
            _fail("you padded on the left; put the characters first and the 0 padding after them")
        if got.tolist()[:len(codes)] == codes:
            _fail(f"{name!r}: a character outside Latin (code point ≥ 0x250, like 'ω') must "
                  "become the UNKNOWN code 0x250")
        if (got == 0).sum() < (want == 0).sum():
            _fail("padding must be the code 0, which no character uses")
        _fail(f"encode({name!r}, {max_len}) gave {got.tolist()}, expected {want.tolist()}")
    return "Latin characters keep their code point, others become UNKNOWN, 0 pads on the right."


encode_name = Exercise(
    "encoding a name as character codes", _check_encode_name,
    ("One integer per character: Python's ord gives a character's code point. Then handle "
     "the two special cases the text names: characters outside Latin, and names that are not "
     "max_len long.",
     "Cut the name to max_len characters first; keep a code point below UNKNOWN as it is and "
     "map any other to UNKNOWN itself; add zeros on the right up to max_len; return a "
     "torch.long tensor."),
    reference_encode_name)


# ------------------------------------------------------ notebook 04c: policy distillation
def reference_gaussian_policy_kl(expert_means: Tensor, expert_log_std: Tensor,
                                 student_means: Tensor, student_log_std: Tensor) -> Tensor:
    """Mean over states of Σ_actions KL(N(μₑ, σₑ²) ‖ N(μₛ, σₛ²)).

    Per dimension: log(σₛ/σₑ) + (σₑ² + (μₑ − μₛ)²) / (2σₛ²) − 1/2.
    Shapes: means ``[B, A]``, log σ ``[A]`` → a scalar.
    """
    expert_var, student_var = (2 * expert_log_std).exp(), (2 * student_log_std).exp()
    per_dimension = (student_log_std - expert_log_std
                     + (expert_var + (expert_means - student_means) ** 2) / (2 * student_var)
                     - 0.5)
    return per_dimension.sum(-1).mean()


def _check_gaussian_policy_kl(answer: Callable) -> str:
    generator = torch.Generator().manual_seed(5)
    expert_means, student_means = torch.randn(2, 7, 2, generator=generator)
    expert_log_std, student_log_std = torch.tensor([-0.5, 0.2]), torch.tensor([0.1, -0.3])
    arguments = (expert_means, expert_log_std, student_means, student_log_std)
    got = torch.as_tensor(answer(*arguments))
    want = reference_gaussian_policy_kl(*arguments)
    if got.dim() != 0:
        _fail(f"return one number, got shape {tuple(got.shape)}: sum over action dimensions, "
              "then average over states")
    if _close(got, want):
        return "KL(expert ‖ student) summed over actions, averaged over states."
    if _close(got, reference_gaussian_policy_kl(student_means, student_log_std, expert_means,
                                                expert_log_std)):
        _fail("the direction is reversed: distillation uses KL(expert ‖ student), with the "
              "expert's distribution first (it weights the states' actions)")
    if _close(got, want / 2):
        _fail("you averaged over the action dimensions; the KL of independent dimensions is "
              "their *sum*")
    if _close(got, want * expert_means.shape[0]):
        _fail("you summed over states; average over them instead")
    _fail(f"got {got.item():.4f}, expected {want.item():.4f}: per dimension "
          "log(σₛ/σₑ) + (σₑ² + (μₑ − μₛ)²)/(2σₛ²) − 1/2")


gaussian_policy_kl = Exercise(
    "the Gaussian policy-distillation KL", _check_gaussian_policy_kl,
    ("Use the closed form above for one action dimension, with σ = exp(log σ). Then reduce "
     "it: the KL of independent dimensions is a sum, and the loss averages over states.",
     "Get the variances from the log-stds (σ² = exp(2 · log σ); shape [A], which broadcasts "
     "against the [B, A] means), write the three terms of the formula elementwise for a [B, "
     "A] tensor, sum over the last dimension and average what is left. The expert is the "
     "first distribution."),
    reference_gaussian_policy_kl)
