"""Smoke tests of REINFORCE adaptation and MAML-RL: shapes, determinism, and that they learn."""

import pytest
import torch

from kdmeta_lib.meta_rl import meta_train_policy
from kdmeta_lib.policy_gradient import (GaussianPolicy, advantages, gaussian_log_prob,
                                        play_while_adapting, returns_while_adapting,
                                        rollout, stack_params,
                                        train_per_task)
from kdmeta_lib.rl_envs import PointNavigation, sample_goals


def test_gaussian_log_prob_matches_torch_distributions():
    means, actions = torch.randn(2, 5, 2, generator=torch.Generator().manual_seed(0))
    log_std = torch.tensor([-1.0, 0.5])
    want = torch.distributions.Normal(means, log_std.exp()).log_prob(actions).sum(-1)
    assert torch.allclose(gaussian_log_prob(means, log_std, actions), want, atol=1e-5)


def test_advantages_are_centred_per_step():
    rewards = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(advantages(rewards).mean(0), torch.zeros(4), atol=1e-6)


def test_rollouts_have_one_row_per_task_and_episode_and_repeat_by_seed():
    torch.manual_seed(0)
    policy = GaussianPolicy(hidden=8)
    env = PointNavigation(sample_goals(3, seed=0), n_episodes=4, horizon=5)
    params = stack_params(dict(policy.named_parameters()), 3)
    first = rollout(policy, params, env, torch.Generator().manual_seed(1))
    again = rollout(policy, params, env, torch.Generator().manual_seed(1))
    assert first.observations.shape == (3, 4, 5, 2) and first.rewards.shape == (3, 4, 5)
    assert torch.equal(first.rewards, again.rewards) and first.returns().shape == (3,)


def test_per_task_training_improves_the_return():
    torch.manual_seed(0)
    policy = GaussianPolicy(hidden=8)
    env = PointNavigation(sample_goals(4, seed=0), n_episodes=8, horizon=10)
    before = returns_while_adapting(policy, dict(policy.named_parameters()), env,
                                    inner_steps=0, inner_lr=0.0)[0]
    experts = train_per_task(policy, env, n_iterations=15, lr=0.03)
    after = rollout(policy, experts, env, torch.Generator().manual_seed(0)).returns()
    assert after.mean() > before.mean() + 0.5


def test_the_episodes_played_while_adapting_give_the_returns_while_adapting():
    torch.manual_seed(0)
    policy = GaussianPolicy(hidden=8)
    env = PointNavigation(sample_goals(3, seed=0), n_episodes=4, horizon=5)
    params = dict(policy.named_parameters())
    played = play_while_adapting(policy, params, env, inner_steps=2, inner_lr=0.1, seed=3)
    returns = returns_while_adapting(policy, params, env, inner_steps=2, inner_lr=0.1, seed=3)
    assert sorted(played) == sorted(returns) == [0, 1, 2]
    assert played[1].observations.shape == (3, 4, 5, 2)
    assert all(torch.equal(played[k].returns(), returns[k]) for k in returns)
    assert not torch.equal(played[0].actions, played[1].actions)


@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_meta_training_runs_and_changes_the_weights(alpha):
    torch.manual_seed(0)
    policy, expert = GaussianPolicy(hidden=8), GaussianPolicy(hidden=8)
    env = PointNavigation(sample_goals(4, seed=0), n_episodes=5, horizon=5)
    experts = stack_params(dict(expert.named_parameters()), 4)
    before = [value.clone() for value in policy.parameters()]
    curve = meta_train_policy(policy, env, n_iterations=2, n_tasks=2, inner_lr=0.1, outer_lr=0.01,
                              alpha=alpha, expert=expert, expert_params=experts)
    assert len(curve) == 2
    assert any(not torch.equal(a, b) for a, b in zip(before, policy.parameters()))


def test_meta_training_refuses_distillation_without_experts():
    env = PointNavigation(sample_goals(4, seed=0), n_episodes=2)
    with pytest.raises(ValueError, match="expert"):
        meta_train_policy(GaussianPolicy(), env, n_iterations=1, n_tasks=2, inner_lr=0.1,
                          outer_lr=0.01, alpha=0.5)
    with pytest.raises(ValueError, match="n_tasks"):
        meta_train_policy(GaussianPolicy(), env, n_iterations=1, n_tasks=9, inner_lr=0.1,
                          outer_lr=0.01)
