"""Properties of the distillation losses: sign, zeros, gradients, temperature scaling, errors."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from kdmeta_lib.distillation import (
    cosine_feature_loss,
    distillation_loss,
    hint_loss,
    kd_loss,
    soft_targets,
)


def random_logits(*shape: int, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype) * 3


def test_soft_targets_are_distributions_that_flatten_as_temperature_grows():
    logits = random_logits(5, 10)
    cold, hot = soft_targets(logits, 1.0), soft_targets(logits, 10.0)
    assert torch.allclose(cold.sum(-1), torch.ones(5))
    assert (hot.max(-1).values < cold.max(-1).values).all()


def test_kd_loss_is_non_negative_for_random_logits():
    for seed in range(20):
        student, teacher = random_logits(8, 10, seed=seed), random_logits(8, 10, seed=seed + 100)
        assert kd_loss(student, teacher, 3.0) >= 0


def test_kd_loss_is_zero_when_the_student_equals_the_teacher():
    logits = random_logits(8, 10)
    assert kd_loss(logits, logits.clone(), 4.0).abs() < 1e-6
    # softmax ignores a constant shift, so shifted logits are the same distribution
    assert kd_loss(logits + 5.0, logits, 4.0).abs() < 1e-5


def test_kd_loss_matches_torch_kl_div_with_batchmean_times_t_squared():
    student, teacher, temperature = random_logits(8, 10), random_logits(8, 10, seed=1), 3.0
    expected = temperature**2 * F.kl_div(F.log_softmax(student / temperature, -1),
                                         F.softmax(teacher / temperature, -1), reduction="batchmean")
    assert torch.allclose(kd_loss(student, teacher, temperature), expected, atol=1e-6)


def test_kd_loss_gradient_passes_a_finite_difference_check():
    student = random_logits(4, 5, dtype=torch.float64).requires_grad_()
    teacher = random_logits(4, 5, seed=1, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda s, t: kd_loss(s, t, 2.5), (student, teacher))
    labels = torch.tensor([0, 1, 2, 3])
    assert torch.autograd.gradcheck(
        lambda s: distillation_loss(s, teacher.detach(), labels, 0.7, 2.5), (student,))


def gradient_norm(temperature: float, times_t_squared: bool) -> float:
    student = random_logits(64, 10).requires_grad_()
    loss = kd_loss(student, random_logits(64, 10, seed=1), temperature)
    if not times_t_squared:
        loss = loss / temperature**2
    loss.backward()
    return student.grad.norm().item()


def test_t_squared_keeps_the_gradient_scale_roughly_independent_of_temperature():
    temperatures = [4.0, 8.0, 16.0, 32.0]
    with_t2 = [gradient_norm(t, True) for t in temperatures]
    without = [gradient_norm(t, False) for t in temperatures]
    assert max(with_t2) / min(with_t2) < 1.5
    # without T² the gradient shrinks like 1/T²: 8× the temperature, about 64× smaller
    assert 40 < without[0] / without[-1] < 90


def test_kl_is_asymmetric_in_general_but_symmetric_for_mirrored_two_class_distributions():
    a, b = random_logits(6, 10), random_logits(6, 10, seed=1)
    assert not torch.allclose(kd_loss(a, b, 1.0), kd_loss(b, a, 1.0))
    mirrored = torch.tensor([[2.0, -1.0]])
    assert torch.allclose(kd_loss(mirrored, mirrored.flip(-1), 1.0),
                          kd_loss(mirrored.flip(-1), mirrored, 1.0))


def test_kd_loss_is_unchanged_when_classes_are_permuted_in_both():
    student, teacher = random_logits(6, 10), random_logits(6, 10, seed=1)
    permutation = torch.randperm(10, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(kd_loss(student, teacher, 2.0),
                          kd_loss(student[:, permutation], teacher[:, permutation], 2.0))


def test_distillation_loss_interpolates_between_cross_entropy_and_kd():
    student, teacher = random_logits(8, 10), random_logits(8, 10, seed=1)
    labels = torch.arange(8) % 10
    cross_entropy, kd = F.cross_entropy(student, labels), kd_loss(student, teacher, 4.0)
    assert torch.allclose(distillation_loss(student, teacher, labels, 0.0, 4.0), cross_entropy)
    assert torch.allclose(distillation_loss(student, teacher, labels, 1.0, 4.0), kd)
    assert torch.allclose(distillation_loss(student, teacher, labels, 0.25, 4.0),
                          0.25 * kd + 0.75 * cross_entropy)


def test_vmapped_distillation_loss_equals_the_per_task_loop():
    students, teachers = random_logits(5, 8, 10), random_logits(5, 8, 10, seed=1)
    labels = torch.randint(0, 10, (5, 8), generator=torch.Generator().manual_seed(2))
    batched = torch.func.vmap(lambda s, t, y: distillation_loss(s, t, y, 0.5, 4.0))(
        students, teachers, labels)
    looped = torch.stack([distillation_loss(s, t, y, 0.5, 4.0)
                          for s, t, y in zip(students, teachers, labels)])
    assert torch.allclose(batched, looped, atol=1e-6)


def test_distillation_loss_works_under_grad_of_vmap_with_a_tensor_temperature():
    students, teachers = random_logits(3, 4, 10), random_logits(3, 4, 10, seed=1)
    labels = torch.zeros(3, 4, dtype=torch.long)
    temperature = torch.tensor(2.0)

    def mean_loss(s):
        return torch.func.vmap(lambda a, b, c: distillation_loss(a, b, c, 0.5, temperature))(
            s, teachers, labels).mean()

    gradient = torch.func.grad(mean_loss)(students)
    assert gradient.shape == students.shape and torch.isfinite(gradient).all()


def test_hint_loss_is_zero_for_a_perfect_regressor_and_trains_it():
    student_features = random_logits(16, 4)
    regressor = nn.Linear(4, 6)
    teacher_features = regressor(student_features).detach()
    assert hint_loss(student_features, teacher_features, regressor) < 1e-10
    fresh = nn.Linear(4, 6)
    optimizer = torch.optim.Adam(fresh.parameters(), lr=0.05)
    before = hint_loss(student_features, teacher_features, fresh).item()
    for _ in range(200):
        optimizer.zero_grad()
        hint_loss(student_features, teacher_features, fresh).backward()
        optimizer.step()
    assert hint_loss(student_features, teacher_features, fresh).item() < 0.01 * before


def test_cosine_feature_loss_ignores_scale_and_is_two_for_opposite_features():
    features = random_logits(8, 12)
    assert cosine_feature_loss(3 * features, features) < 1e-6
    assert torch.allclose(cosine_feature_loss(-features, features), torch.tensor(2.0))


@pytest.mark.parametrize("alpha", [-0.1, 1.5])
def test_alpha_outside_zero_one_raises(alpha):
    with pytest.raises(ValueError, match="alpha"):
        distillation_loss(random_logits(4, 10), random_logits(4, 10), torch.zeros(4, dtype=torch.long),
                          alpha, 4.0)


@pytest.mark.parametrize("temperature", [0.0, -2.0])
def test_non_positive_temperature_raises(temperature):
    with pytest.raises(ValueError, match="temperature"):
        kd_loss(random_logits(4, 10), random_logits(4, 10), temperature)
    with pytest.raises(ValueError, match="temperature"):
        soft_targets(random_logits(4, 10), temperature)


def test_class_count_mismatch_raises():
    with pytest.raises(ValueError, match="number of classes"):
        kd_loss(random_logits(4, 10), random_logits(4, 5), 4.0)


@pytest.mark.parametrize("shape", [(10,), (2, 4, 10)])
def test_logits_of_the_wrong_rank_raise(shape):
    with pytest.raises(ValueError, match=r"\[batch, n_classes\]"):
        kd_loss(random_logits(*shape), random_logits(*shape), 4.0)


def test_batch_size_and_label_shape_mismatches_raise():
    with pytest.raises(ValueError, match="batch sizes"):
        kd_loss(random_logits(4, 10), random_logits(5, 10), 4.0)
    with pytest.raises(ValueError, match="labels"):
        distillation_loss(random_logits(4, 10), random_logits(4, 10),
                          torch.zeros(3, dtype=torch.long), 0.5, 4.0)


def test_feature_shape_mismatches_raise():
    with pytest.raises(ValueError, match="regressor"):
        hint_loss(random_logits(4, 3), random_logits(4, 6), nn.Linear(3, 5))
    with pytest.raises(ValueError, match="feature shapes"):
        cosine_feature_loss(random_logits(4, 3), random_logits(4, 6))
