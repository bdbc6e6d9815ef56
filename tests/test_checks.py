"""Every exercise check accepts the reference and names typical mistakes precisely."""

import pytest
import torch
import torch.nn.functional as F

from kdmeta_lib import checks
from kdmeta_lib.checks import ExerciseError


EXERCISES = [checks.kd_loss, checks.distillation_loss, checks.split_episode,
             checks.prototype_logits, checks.inner_step, checks.fused_loss,
             checks.gap_recovered, checks.encode_name, checks.gaussian_policy_kl]


def stub(*args):
    raise NotImplementedError


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.title)
def test_every_check_accepts_its_reference_and_prints_one_verdict_line(exercise, capsys):
    assert exercise.check(exercise.reference) is None  # no stray `True` under a check cell
    printed = capsys.readouterr().out
    assert printed.startswith("Correct") and printed.count("\n") == 1


def test_a_stub_is_reported_as_not_attempted_without_stopping_the_notebook(capsys):
    assert checks.kd_loss.check(stub) is None
    assert "Not attempted" in capsys.readouterr().out


def test_an_unwritten_exercise_runs_on_the_reference_and_says_so_once(capsys):
    student_logits, teacher_logits = torch.randn(2, 4, 5, generator=torch.Generator().manual_seed(0))
    my_kd_loss = checks.kd_loss.or_reference(stub)
    checks.kd_loss.check(my_kd_loss)
    first = my_kd_loss(student_logits, teacher_logits, 2.0)
    my_kd_loss(student_logits, teacher_logits, 2.0)
    printed = capsys.readouterr().out
    assert printed.count("not written yet; using the reference") == 1
    assert "Not attempted" in printed
    assert torch.equal(first, checks.reference_kd_loss(student_logits, teacher_logits, 2.0))


def test_a_written_exercise_is_checked_and_used_as_written(capsys):
    def wrong(s, t, temperature):
        return checks.reference_kd_loss(s, t, temperature) / temperature**2

    my_kd_loss = checks.kd_loss.or_reference(wrong)
    with pytest.raises(ExerciseError, match="T² too small"):
        checks.kd_loss.check(my_kd_loss)
    logits = torch.randn(3, 5)
    assert torch.equal(my_kd_loss(logits, logits * 2, 4.0), wrong(logits, logits * 2, 4.0))
    assert "not written" not in capsys.readouterr().out


def test_hints_come_in_two_levels_and_the_solution_shows_the_code(capsys):
    for exercise in EXERCISES:
        assert len(exercise.hints) == 2
    checks.kd_loss.hint()
    checks.kd_loss.hint(2)
    checks.kd_loss.solution()
    printed = capsys.readouterr().out
    assert "Hint 1" in printed and "Hint 2" in printed and "def reference_kd_loss" in printed
    with pytest.raises(ValueError, match="level=3"):
        checks.kd_loss.hint(3)


KD_MISTAKES = {
    "T² too small": lambda s, t, T: F.kl_div(F.log_softmax(s / T, -1), F.softmax(t / T, -1),
                                             reduction="batchmean"),
    "reduction='mean'": lambda s, t, T: T**2 * F.kl_div(F.log_softmax(s / T, -1),
                                                        F.softmax(t / T, -1), reduction="mean"),
    "arguments are swapped": lambda s, t, T: T**2 * F.kl_div(
        F.log_softmax(t / T, -1), F.softmax(s / T, -1), reduction="batchmean"),
    "did not divide the logits": lambda s, t, T: T**2 * F.kl_div(
        F.log_softmax(s, -1), F.softmax(t, -1), reduction="batchmean"),
}


@pytest.mark.parametrize("expected_hint", KD_MISTAKES)
def test_kd_loss_check_names_each_classic_mistake(expected_hint):
    with pytest.raises(ExerciseError, match=expected_hint):
        checks.kd_loss.check(KD_MISTAKES[expected_hint])


@pytest.mark.parametrize("wrong, expected_hint", [
    (lambda s, t, y, a, T: checks.reference_distillation_loss(s, t, y, 1 - a, T), "swapped"),
    (lambda s, t, y, a, T: a * checks.reference_kd_loss(s, t, T) + F.cross_entropy(s, y),
     r"weighted by \(1 − α\)"),
    (lambda s, t, y, a, T: a * checks.reference_kd_loss(s, t, T) / T**2
     + (1 - a) * F.cross_entropy(s, y), "T² too small"),
])
def test_distillation_loss_check_names_the_mistake(wrong, expected_hint):
    with pytest.raises(ExerciseError, match=expected_hint):
        checks.distillation_loss.check(wrong)


def overlapping_split(class_images, k_shot):
    support_x, support_y, _, query_y = checks.reference_split_episode(class_images, k_shot)
    query_x = class_images[:, -3:].reshape(-1, *class_images.shape[2:])  # includes a support shot
    query_x = torch.cat([support_x[:1], query_x[1:]])
    return support_x, support_y, query_x, query_y


def misaligned_split(class_images, k_shot):
    support_x, support_y, query_x, query_y = checks.reference_split_episode(class_images, k_shot)
    return support_x, support_y.view(-1, k_shot).T.flatten(), query_x, query_y  # repeat, not r_i


@pytest.mark.parametrize("wrong, expected_hint", [
    (overlapping_split, "support and query overlap"),
    (misaligned_split, "does not match support_x"),
])
def test_split_episode_check_names_the_mistake(wrong, expected_hint):
    with pytest.raises(ExerciseError, match=expected_hint):
        checks.split_episode.check(wrong)


@pytest.mark.parametrize("wrong, expected_hint", [
    (lambda s, y, q, n: -checks.reference_prototype_logits(s, y, q, n), "wrong sign"),
    (lambda s, y, q, n: -(-checks.reference_prototype_logits(s, y, q, n)).sqrt(), "squared"),
    (lambda s, y, q, n: -torch.cdist(q, F.one_hot(y, n).float().T @ s).pow(2), "sums"),
])
def test_prototype_logits_check_names_the_mistake(wrong, expected_hint):
    with pytest.raises(ExerciseError, match=expected_hint):
        checks.prototype_logits.check(wrong)


def gradient_ascent(loss_fn, params, inner_lr):
    grads = torch.func.grad(loss_fn)(params)
    return {n: p + inner_lr * grads[n] for n, p in params.items()}


def detached_step(loss_fn, params, inner_lr):
    grads = torch.func.grad(loss_fn)(params)
    return {n: (p - inner_lr * grads[n]).detach() for n, p in params.items()}


def first_order_step(loss_fn, params, inner_lr):
    grads = torch.func.grad(loss_fn)(params)
    return {n: p - inner_lr * grads[n].detach() for n, p in params.items()}


@pytest.mark.parametrize("wrong, expected_hint", [
    (gradient_ascent, "climbed the loss"),
    (detached_step, "cut the graph"),
    (first_order_step, "second-order term"),
    (lambda loss_fn, params, inner_lr: dict(params), "did not move"),
])
def test_inner_step_check_names_the_mistake(wrong, expected_hint):
    with pytest.raises(ExerciseError, match=expected_hint):
        checks.inner_step.check(wrong)


def summed_fused_loss(s, t, y, a, T):
    return checks.reference_fused_loss(s, t, y, a, T) * s.shape[0]


def fused_loss_without_t_squared(s, t, y, a, T):
    per_task = [a * checks.reference_kd_loss(si, ti, T) / T**2 + (1 - a) * F.cross_entropy(si, yi)
                for si, ti, yi in zip(s, t, y)]
    return torch.stack(per_task).mean()


@pytest.mark.parametrize("wrong, expected_hint", [
    (summed_fused_loss, "summed the task losses"),
    (lambda s, t, y, a, T: checks.reference_fused_loss(s, t, y, 1 - a, T), "swapped"),
    (fused_loss_without_t_squared, "T² too small"),
])
def test_fused_loss_check_names_the_mistake(wrong, expected_hint):
    with pytest.raises(ExerciseError, match=expected_hint):
        checks.fused_loss.check(wrong)


@pytest.mark.parametrize("wrong, expected_hint", [
    (lambda alone, fused, teacher: 100 * (fused - alone) / (teacher - alone), "percentage"),
    (lambda alone, fused, teacher: (fused - alone) / teacher, "divided by the teacher"),
    (lambda alone, fused, teacher: (teacher - fused) / (teacher - alone), "remains"),
])
def test_gap_recovered_check_names_the_mistake(wrong, expected_hint):
    with pytest.raises(ExerciseError, match=expected_hint):
        checks.gap_recovered.check(wrong)


def left_padded(name, max_len):
    codes = checks.reference_encode_name(name, max_len)
    length = int((codes != 0).sum())
    return torch.cat([codes.new_zeros(max_len - length), codes[:length]])


def unknown_kept(name, max_len):
    codes = [ord(char) for char in name[:max_len]]
    return torch.tensor(codes + [0] * (max_len - len(codes)))


@pytest.mark.parametrize("wrong, expected_hint", [
    (left_padded, "padded on the left"),
    (unknown_kept, "UNKNOWN"),
    (lambda name, max_len: torch.tensor([ord(c) for c in name]), "shape"),
])
def test_encode_name_check_names_the_mistake(wrong, expected_hint):
    with pytest.raises(ExerciseError, match=expected_hint):
        checks.encode_name.check(wrong)


@pytest.mark.parametrize("wrong, expected_hint", [
    (lambda me, le, ms, ls: checks.reference_gaussian_policy_kl(ms, ls, me, le), "reversed"),
    (lambda me, le, ms, ls: checks.reference_gaussian_policy_kl(me, le, ms, ls) / 2,
     "averaged over the action"),
    (lambda me, le, ms, ls: checks.reference_gaussian_policy_kl(me, le, ms, ls) * me.shape[0],
     "summed over states"),
])
def test_gaussian_policy_kl_check_names_the_mistake(wrong, expected_hint):
    with pytest.raises(ExerciseError, match=expected_hint):
        checks.gaussian_policy_kl.check(wrong)
