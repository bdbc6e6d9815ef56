import math

import pytest
import torch
from torch.distributions import Independent, Normal, kl_divergence

from kdmeta_lib.policy_distillation import (categorical_policy_kl, gaussian_kl,
                                            gaussian_kl_parts, policy_distillation_loss)
from kdmeta_lib.policy_gradient import GaussianPolicy


def random_gaussians(seed: int = 0) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(seed)
    expert_means, student_means = torch.randn(2, 8, 3, generator=generator)
    expert_log_std, student_log_std = torch.randn(2, 3, generator=generator) * 0.5
    return expert_means, expert_log_std, student_means, student_log_std


def test_gaussian_kl_matches_torch_distributions():
    expert_means, expert_log_std, student_means, student_log_std = random_gaussians()
    expert = Independent(Normal(expert_means, expert_log_std.exp()), 1)
    student = Independent(Normal(student_means, student_log_std.exp()), 1)
    ours = gaussian_kl(expert_means, expert_log_std, student_means, student_log_std)
    assert ours.shape == (8,)
    assert torch.allclose(ours, kl_divergence(expert, student), atol=1e-5)


def test_the_spread_part_and_the_mean_part_add_up_to_the_kl():
    expert_means, expert_log_std, student_means, student_log_std = random_gaussians(2)
    spread, mean = gaussian_kl_parts(expert_means, expert_log_std, student_means, student_log_std)
    total = gaussian_kl(expert_means, expert_log_std, student_means, student_log_std)
    assert spread.shape == mean.shape == (8,) and torch.allclose(spread + mean, total, atol=1e-6)
    assert torch.allclose(spread, spread[0].expand(8))        # σ does not depend on the state
    same_spread, _ = gaussian_kl_parts(expert_means, expert_log_std, student_means, expert_log_std)
    _, same_mean = gaussian_kl_parts(expert_means, expert_log_std, expert_means, student_log_std)
    assert same_spread.abs().max() < 1e-6 and same_mean.abs().max() < 1e-6


def test_gaussian_kl_is_positive_and_zero_only_for_equal_policies():
    expert_means, expert_log_std, student_means, student_log_std = random_gaussians(1)
    assert (gaussian_kl(expert_means, expert_log_std, student_means, student_log_std) > 0).all()
    same = gaussian_kl(expert_means, expert_log_std, expert_means, expert_log_std)
    assert torch.allclose(same, torch.zeros(8), atol=1e-6)


def test_gaussian_kl_is_not_symmetric_when_the_spreads_differ():
    means = torch.zeros(1, 1)
    wide, narrow = torch.tensor([math.log(2.0)]), torch.tensor([0.0])
    assert gaussian_kl(means, wide, means, narrow) != pytest.approx(
        gaussian_kl(means, narrow, means, wide).item())


def test_categorical_kl_matches_the_definition_and_vanishes_for_equal_logits():
    generator = torch.Generator().manual_seed(0)
    expert_logits, student_logits = torch.randn(2, 5, 4, generator=generator)
    temperature = 2.0
    p = torch.softmax(expert_logits / temperature, -1)
    q = torch.softmax(student_logits / temperature, -1)
    want = (p * (p.log() - q.log())).sum(-1).mean()
    got = categorical_policy_kl(expert_logits, student_logits, temperature)
    assert got.item() == pytest.approx(want.item(), rel=1e-5)
    assert categorical_policy_kl(expert_logits, expert_logits).abs().item() < 1e-6
    with pytest.raises(ValueError, match="temperature"):
        categorical_policy_kl(expert_logits, student_logits, temperature=0)


def test_the_distillation_loss_trains_the_student_and_never_the_expert():
    torch.manual_seed(0)
    expert, student = GaussianPolicy(hidden=8), GaussianPolicy(hidden=4)
    expert_params = dict(expert.named_parameters())
    student_params = {name: value.detach().requires_grad_()
                      for name, value in student.named_parameters()}
    observations = torch.randn(6, 2)
    loss = policy_distillation_loss(student_params, student, expert_params, expert, observations)
    assert loss.dim() == 0 and loss.item() >= 0
    loss.backward()
    assert all(value.grad is not None for value in student_params.values())
    assert all(value.grad is None for value in expert.parameters())
    itself = policy_distillation_loss(expert_params, expert, expert_params, expert, observations)
    assert itself.abs().item() < 1e-6
