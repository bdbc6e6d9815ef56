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


# ---------------------------------------------------------------- notebook 03: the fused loss
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
    "loop over the tasks: for task i, alpha * kd_loss(s_i, t_i, T) + (1 - alpha) * "
    "F.cross_entropy(s_i, y_i); then torch.stack(the losses).mean().",
    reference_fused_loss)


# ------------------------------------------------------ notebook 04a: image recognition
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
    "how far the fused student moved (fused − alone), divided by how far it could go "
    "(teacher − alone).",
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
    "[ord(c) if ord(c) < 0x250 else 0x250 for c in name[:max_len]], then append zeros up to "
    "max_len and make a torch.long tensor.",
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
    "σ = log_std.exp(); per dimension log(σₛ/σₑ) + (σₑ² + (μₑ − μₛ)²) / (2σₛ²) − 0.5; "
    ".sum(-1) over actions, then .mean() over states.",
    reference_gaussian_policy_kl)
