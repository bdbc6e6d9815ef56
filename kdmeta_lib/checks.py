"""Self-checks for the notebooks' exercises: accept a right answer, name the mistake in a wrong one.

Each exercise is an :class:`Exercise` with three methods a learner calls in a notebook::

    checks.kd_loss.check(my_kd_loss)   # "Correct: ..." or an ExerciseError with a specific hint
    checks.kd_loss.hint()              # a nudge, without the answer
    checks.kd_loss.solution()          # the reference code

A check runs the learner's function on small random inputs, compares it with the library's own
implementation, and, when they differ, tests the typical mistakes one by one (a missing T², the KL
arguments swapped, support and query overlapping, ...) so that the message says *which* one.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


class ExerciseError(AssertionError):
    """A wrong answer; the message says what is wrong and how to fix it."""


@dataclass(frozen=True)
class Exercise:
    """One coded exercise: a checker, a hint and a reference solution."""

    title: str
    checker: Callable[[Callable], str]
    hint_text: str
    reference: Callable

    def check(self, answer: Callable) -> bool:
        """Run the checks; print a confirmation, or raise :class:`ExerciseError` with a hint."""
        try:
            message = self.checker(answer)
        except NotImplementedError:
            raise ExerciseError(f"{self.title}: not written yet — replace the "
                                "`raise NotImplementedError` with your code.") from None
        print(f"Correct: {self.title}. {message}")
        return True

    def hint(self) -> None:
        print(f"Hint for {self.title}: {self.hint_text}")

    def solution(self) -> None:
        print(inspect.getsource(self.reference))


def _fail(message: str) -> None:
    raise ExerciseError(message)


def _close(a: Tensor, b: Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a, b, rtol=1e-4, atol=1e-6)


# ------------------------------------------------------------------ notebook 01: distillation
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
    "soften both logits with /T, take log_softmax of the student and softmax of the teacher, "
    "F.kl_div(student_log_probs, teacher_probs, reduction='batchmean'), then multiply by T².",
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
    "alpha * kd_loss(student, teacher, T) + (1 - alpha) * F.cross_entropy(student, labels).",
    reference_distillation_loss)


# ------------------------------------------------------------- notebook 02: meta-learning
def reference_split_episode(class_images: Tensor, k_shot: int
                            ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``[n_way, k_shot + n_query, C, H, W]`` → support_x, support_y, query_x, query_y.

    Row ``c`` of ``class_images`` becomes label ``c``: labels are always 0..n_way−1, whatever the
    classes' ids in the data set.
    """
    n_way, n_examples = class_images.shape[:2]
    n_query = n_examples - k_shot
    labels = torch.arange(n_way)
    support_x = class_images[:, :k_shot].reshape(n_way * k_shot, *class_images.shape[2:])
    query_x = class_images[:, k_shot:].reshape(n_way * n_query, *class_images.shape[2:])
    return support_x, labels.repeat_interleave(k_shot), query_x, labels.repeat_interleave(n_query)


def _check_split_episode(answer: Callable) -> str:
    n_way, k_shot, n_query = 4, 2, 3
    # Each image holds a unique id: 10·class + example, so the check can see what went where.
    ids = (10 * torch.arange(n_way)[:, None] + torch.arange(k_shot + n_query)).float()
    class_images = ids[:, :, None, None, None].expand(-1, -1, 1, 2, 2).clone()
    support_x, support_y, query_x, query_y = answer(class_images, k_shot)
    if tuple(support_x.shape) != (n_way * k_shot, 1, 2, 2):
        _fail(f"support_x should be [n_way·k_shot, C, H, W] = {(n_way * k_shot, 1, 2, 2)}, "
              f"got {tuple(support_x.shape)}")
    if tuple(query_x.shape) != (n_way * n_query, 1, 2, 2):
        _fail(f"query_x should be [n_way·n_query, C, H, W] = {(n_way * n_query, 1, 2, 2)}, "
              f"got {tuple(query_x.shape)}")
    support_ids, query_ids = support_x[:, 0, 0, 0].long(), query_x[:, 0, 0, 0].long()
    if set(support_ids.tolist()) & set(query_ids.tolist()):
        _fail("support and query overlap: the first k_shot examples of each class go to the "
              "support set, the rest to the query set")
    for x_ids, y, name in ((support_ids, support_y, "support"), (query_ids, query_y, "query")):
        if sorted(set(y.tolist())) != list(range(n_way)):
            _fail(f"{name}_y must hold exactly the labels 0..n_way−1, got {sorted(set(y.tolist()))}")
        if not torch.equal(x_ids // 10, y.long()):
            _fail(f"{name}_y does not match {name}_x: the image from row c of class_images "
                  "must get label c (check the order of repeat_interleave vs repeat)")
    return "Labels are 0..n_way−1, aligned with their images, and support ∩ query = ∅."


split_episode = Exercise(
    "splitting an episode into support and query", _check_split_episode,
    "slice class_images[:, :k_shot] and class_images[:, k_shot:], flatten the first two dims, and "
    "build labels with torch.arange(n_way).repeat_interleave(...).",
    reference_split_episode)


def reference_prototype_logits(support_embeddings: Tensor, support_y: Tensor,
                               query_embeddings: Tensor, n_way: int) -> Tensor:
    """Logits ``[n_query_total, n_way]`` = −‖query − prototype_c‖², prototype = class mean."""
    one_hot = F.one_hot(support_y, n_way).float()  # [n_support, n_way]
    prototypes = one_hot.T @ support_embeddings / one_hot.sum(0)[:, None]  # [n_way, dim]
    return -torch.cdist(query_embeddings, prototypes).pow(2)


def _check_prototype_logits(answer: Callable) -> str:
    generator = torch.Generator().manual_seed(2)
    n_way, k_shot = 3, 4
    support = torch.randn(n_way * k_shot, 5, generator=generator)
    support_y = torch.arange(n_way).repeat_interleave(k_shot)
    query = torch.randn(7, 5, generator=generator)
    got = answer(support, support_y, query, n_way)
    want = reference_prototype_logits(support, support_y, query, n_way)
    if _close(got, want):
        return "Logits are minus squared distances to the class means."
    if _close(got, -want):
        _fail("your logits have the wrong sign: a *closer* prototype must get a *larger* logit, "
              "so use minus the squared distance")
    if _close(got, -(-want).sqrt()):
        _fail("you used the plain Euclidean distance; ProtoNets use the *squared* distance, "
              "which makes the classifier linear in the query embedding")
    sum_prototypes = F.one_hot(support_y, n_way).float().T @ support
    if _close(got, -torch.cdist(query, sum_prototypes).pow(2)):
        _fail("your prototypes are sums of the support embeddings; divide by k_shot (take the mean)")
    _fail("logits differ from −‖query − mean of the class's support embeddings‖²")


prototype_logits = Exercise(
    "ProtoNet logits", _check_prototype_logits,
    "prototype c = mean of the support embeddings with label c; "
    "logits = -torch.cdist(query_embeddings, prototypes) ** 2.",
    reference_prototype_logits)


def reference_inner_step(loss_fn: Callable[[dict[str, Tensor]], Tensor],
                         params: dict[str, Tensor], inner_lr: float) -> dict[str, Tensor]:
    """One MAML inner step: θ' = θ − inner_lr · ∇_θ L_support(θ), differentiable w.r.t. θ."""
    grads = torch.func.grad(loss_fn)(params)
    return {name: value - inner_lr * grads[name] for name, value in params.items()}


def _check_inner_step(answer: Callable) -> str:
    generator = torch.Generator().manual_seed(3)
    target = torch.randn(4, generator=generator)
    params = {"w": torch.randn(4, generator=generator, requires_grad=True)}

    def loss_fn(p: dict[str, Tensor]) -> Tensor:
        return ((p["w"] - target) ** 2).sum() + (p["w"] ** 4).sum() * 0.1

    got, want = answer(loss_fn, params, 0.1), reference_inner_step(loss_fn, params, 0.1)
    if not isinstance(got, dict) or set(got) != {"w"}:
        _fail("return a dict with the same keys as params, e.g. {name: new_value}")
    if _close(got["w"].detach(), params["w"].detach()):
        _fail("the parameters did not move: subtract inner_lr × gradient")
    if _close(got["w"].detach(), (2 * params["w"] - want["w"]).detach()):
        _fail("you climbed the loss: the step is θ − inner_lr·∇L, with a minus sign")
    if not _close(got["w"].detach(), want["w"].detach()):
        _fail("the step differs from θ − inner_lr·∇L; did you use inner_lr?")
    if not got["w"].requires_grad:
        _fail("your step cut the graph (detach or no_grad): second-order MAML must backpropagate "
              "through the inner step; use torch.func.grad or autograd.grad(create_graph=True)")
    outer = torch.autograd.grad((got["w"] ** 2).sum(), params["w"])[0]
    outer_want = torch.autograd.grad((want["w"] ** 2).sum(), params["w"])[0]
    if not _close(outer, outer_want):
        _fail("the step is right but its gradient is not: you dropped the second-order term "
              "(grads treated as constants). Use torch.func.grad so the graph is kept")
    return "θ' = θ − α∇L(θ), and the outer gradient flows through it (second order)."


inner_step = Exercise(
    "one MAML inner step", _check_inner_step,
    "grads = torch.func.grad(loss_fn)(params); then a dict comprehension "
    "{name: p - inner_lr * grads[name]}.",
    reference_inner_step)
