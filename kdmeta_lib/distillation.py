"""Knowledge-distillation losses: soft targets, the KD loss and a feature (hint) loss.

Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural Network":

    L_KD = T² · KL( softmax(teacher_logits / T) ‖ softmax(student_logits / T) )
    L    = α · L_KD + (1 − α) · CE(student_logits, labels)

A temperature T > 1 softens both distributions so that the small probabilities the teacher gives
to wrong classes ("this 3 looks a bit like an 8") carry weight. The gradient of the KL term with
respect to the student's logits shrinks like 1/T², so the T² factor keeps its scale independent of
T and lets you change T without retuning α.

Romero et al. 2015, "FitNets: Hints for Thin Deep Nets", match hidden features instead of outputs;
:func:`hint_loss` and :func:`cosine_feature_loss` are the two usual ways. Park et al. 2019,
"Relational Knowledge Distillation", match the *relations* between examples instead:
:func:`relational_loss` needs no regressor, whatever the two widths.

Every function here is pure and works under ``torch.func.vmap`` and ``torch.func.grad``: the
argument checks look at shapes and numbers, never at the values of a transformed tensor.
Taught in notebook 01, sections "Soft targets" and "The KD loss".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .support.validation import check_real


def check_alpha_and_temperature(alpha: float | Tensor | None, temperature: float | Tensor) -> None:
    """The one check of α and T for every loss and config in the library.

    α weights the teacher and must lie in [0, 1]; the temperature T must be finite and > 0.
    Python numbers, NumPy scalars and 0-d tensors (e.g. a learned temperature) are checked;
    ``alpha=None`` skips α. Only a tensor that ``vmap`` or ``grad`` is transforming goes
    unchecked, since its value cannot be read there.
    """
    check_real("temperature", temperature, above=0,
               hint="use 1 for the ordinary softmax, 2 to 20 to soften the teacher")
    if alpha is not None:
        check_real("alpha", alpha, minimum=0, maximum=1,
                   hint="it weights the KD term: 0 trains on labels only, 1 on the teacher only")


def _check_logits(student_logits: Tensor, teacher_logits: Tensor) -> None:
    """Both ``[batch, n_classes]`` with the same shape."""
    for name, logits in (("student_logits", student_logits), ("teacher_logits", teacher_logits)):
        if logits.dim() != 2:
            raise ValueError(f"{name} must have shape [batch, n_classes], got {tuple(logits.shape)}; "
                             "flatten extra dimensions or vmap over them")
    if student_logits.shape[1] != teacher_logits.shape[1]:
        raise ValueError(f"teacher and student disagree on the number of classes: teacher "
                         f"{teacher_logits.shape[1]}, student {student_logits.shape[1]}; "
                         "give both models the same output layer size")
    if student_logits.shape[0] != teacher_logits.shape[0]:
        raise ValueError(f"batch sizes differ: student {student_logits.shape[0]}, teacher "
                         f"{teacher_logits.shape[0]}; feed both models the same images")


def soft_targets(logits: Tensor, temperature: float | Tensor = 1.0) -> Tensor:
    """``softmax(logits / T)``: the teacher's answer as a distribution, softened by T.

    Args:
        logits: ``[..., n_classes]``.
        temperature: T > 0; T = 1 is the ordinary softmax, larger T is flatter.
    Returns:
        Probabilities with the shape of ``logits``, summing to 1 over the last dimension.
    """
    check_alpha_and_temperature(None, temperature)
    return F.softmax(logits / temperature, dim=-1)


def kd_loss(student_logits: Tensor, teacher_logits: Tensor,
            temperature: float | Tensor = 4.0) -> Tensor:
    """``T² · KL(softmax(teacher/T) ‖ softmax(student/T))``, summed over classes, mean over the batch.

    The teacher's distribution comes first: the student is pulled towards the teacher's soft
    targets. This equals ``T² · F.kl_div(log_softmax(student/T), log_softmax(teacher/T),
    reduction="batchmean", log_target=True)``; ``reduction="mean"`` would also divide by the
    number of classes. Gradients flow into both arguments: detach the teacher (or compute it
    under ``torch.no_grad()``) when it must stay fixed.

    Args:
        student_logits: ``[batch, n_classes]``.
        teacher_logits: ``[batch, n_classes]``.
        temperature: T > 0.
    Returns:
        A scalar ≥ 0, zero exactly when both give the same softmax.
    """
    check_alpha_and_temperature(None, temperature)
    _check_logits(student_logits, teacher_logits)
    log_p_teacher = F.log_softmax(teacher_logits / temperature, dim=-1)
    log_p_student = F.log_softmax(student_logits / temperature, dim=-1)  # never log(softmax(...))
    kl_per_example = (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(dim=-1)
    return temperature**2 * kl_per_example.mean()


def distillation_loss(student_logits: Tensor, teacher_logits: Tensor, labels: Tensor,
                      alpha: float | Tensor = 0.9, temperature: float | Tensor = 4.0) -> Tensor:
    """Hinton's combined objective ``α · L_KD + (1 − α) · CE(student_logits, labels)``.

    Here ``alpha`` weights the *teacher* term, as in Hinton et al. and in the course's formula: ``alpha=0`` trains on labels alone, ``alpha=1`` on the teacher alone. Beware:
    torchdistill (and some other libraries) use the opposite convention, with α on the hard-label
    cross-entropy.

    Args:
        student_logits: ``[batch, n_classes]``.
        teacher_logits: ``[batch, n_classes]``, from a frozen teacher (no gradient needed).
        labels: ``[batch]`` int64 class indices.
        alpha: weight of the KD term, in [0, 1].
        temperature: T > 0, used by the KD term only (the CE term uses T = 1).
    Returns:
        A scalar.
    """
    check_alpha_and_temperature(alpha, temperature)
    _check_logits(student_logits, teacher_logits)
    if labels.dim() != 1 or labels.shape[0] != student_logits.shape[0]:
        raise ValueError(f"labels must have shape [batch] = [{student_logits.shape[0]}], "
                         f"got {tuple(labels.shape)}")
    hard = F.cross_entropy(student_logits, labels)
    return alpha * kd_loss(student_logits, teacher_logits, temperature) + (1 - alpha) * hard


def hint_loss(student_features: Tensor, teacher_features: Tensor, regressor: nn.Module) -> Tensor:
    """FitNets hint: ``½ · ‖regressor(student_features) − teacher_features‖²``, mean over the batch.

    The student's hidden layer is usually narrower than the teacher's, so a small learned
    ``regressor`` (train it with the student) maps it to the teacher's width, e.g.
    ``nn.Linear(student_width, teacher_width)`` for flat features or a 1×1 ``nn.Conv2d`` for maps.

    Args:
        student_features: ``[batch, ...]`` hidden activations of the student.
        teacher_features: ``[batch, ...]`` the teacher's hidden activations (detached).
        regressor: maps student features to the teacher's feature shape.
    Returns:
        A scalar ≥ 0.
    """
    mapped = regressor(student_features)
    if mapped.shape != teacher_features.shape:
        raise ValueError(f"the regressor maps the student's features to {tuple(mapped.shape)} but "
                         f"the teacher's are {tuple(teacher_features.shape)}; change its output size")
    return 0.5 * (mapped - teacher_features).pow(2).flatten(1).sum(dim=1).mean()


def cosine_feature_loss(student_features: Tensor, teacher_features: Tensor) -> Tensor:
    """``1 − cos(student, teacher)`` per example, mean over the batch: matches directions only.

    Unlike :func:`hint_loss` it ignores feature scale, so no regressor is needed when the widths
    agree. Args and returns: ``[batch, ...]`` each (same shape) → a scalar in [0, 2].
    """
    if student_features.shape != teacher_features.shape:
        raise ValueError(f"feature shapes differ: student {tuple(student_features.shape)}, teacher "
                         f"{tuple(teacher_features.shape)}; map one onto the other first (hint_loss)")
    cosine = F.cosine_similarity(student_features.flatten(1), teacher_features.flatten(1), dim=1)
    return (1 - cosine).mean()


def relational_loss(student_embeddings: Tensor, teacher_embeddings: Tensor) -> Tensor:
    """RKD distance loss (Park et al. 2019): match the pairwise distances within a batch.

        ψ(e)_ij = ‖e_i − e_j‖ / mean_{k≠l} ‖e_k − e_l‖,   loss = Huber(ψ(student), ψ(teacher))

    Dividing by the mean distance makes the two models' scales irrelevant, so a Conv4-8 can
    match a Conv4-64. Args: ``[batch, D_s]`` and ``[batch, D_t]`` (batch ≥ 2; the teacher's
    detached). Returns a scalar ≥ 0, zero when one embedding is a scaled copy of the other.
    """
    if student_embeddings.dim() != 2 or teacher_embeddings.dim() != 2 or (
            student_embeddings.shape[0] != teacher_embeddings.shape[0]
            or student_embeddings.shape[0] < 2):
        raise ValueError(f"need [batch ≥ 2, D] embeddings of the same batch, got "
                         f"{tuple(student_embeddings.shape)} and {tuple(teacher_embeddings.shape)}")
    off_diagonal = ~torch.eye(student_embeddings.shape[0], dtype=torch.bool,
                              device=student_embeddings.device)

    def scaled_distances(embeddings: Tensor) -> Tensor:  # [batch·(batch − 1)]
        squared = (embeddings[:, None] - embeddings[None]).pow(2).sum(-1)[off_diagonal]
        distances = squared.clamp_min(1e-12).sqrt()  # the clamp keeps the gradient finite at 0
        return distances / distances.mean()

    return F.smooth_l1_loss(scaled_distances(student_embeddings),
                            scaled_distances(teacher_embeddings))
