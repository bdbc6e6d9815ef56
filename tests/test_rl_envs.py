import pytest
import torch

from kdmeta_lib.rl_envs import PointNavigation, sample_goals


def test_goals_are_reproducible_by_seed_and_lie_in_the_square():
    goals = sample_goals(50, seed=3, goal_range=0.5)
    assert goals.shape == (50, 2)
    assert torch.equal(goals, sample_goals(50, seed=3, goal_range=0.5))
    assert not torch.equal(goals, sample_goals(50, seed=4, goal_range=0.5))
    assert goals.abs().max() <= 0.5


def test_reset_and_step_give_one_row_per_task_and_episode():
    env = PointNavigation(sample_goals(3, seed=0), n_episodes=4, horizon=5)
    observations = env.reset()
    assert observations.shape == (3, 4, 2) and observations.abs().sum() == 0
    observations, rewards, done = env.step(torch.zeros(3, 4, 2))
    assert observations.shape == (3, 4, 2) and rewards.shape == (3, 4) and not done


def test_the_reward_is_minus_the_distance_to_the_goal_after_the_move():
    goals = torch.tensor([[0.3, -0.4]])
    env = PointNavigation(goals, n_episodes=1, horizon=3, max_step=0.1)
    env.reset()
    _, rewards, _ = env.step(torch.zeros(1, 1, 2))
    assert rewards.item() == pytest.approx(-0.5)          # ‖(0.3, −0.4)‖ from the origin
    _, rewards, _ = env.step(torch.tensor([[[0.1, -0.1]]]))
    assert rewards.item() == pytest.approx(-(0.2**2 + 0.3**2) ** 0.5)


def test_actions_are_clipped_to_the_largest_step():
    env = PointNavigation(torch.zeros(1, 2), n_episodes=1, max_step=0.1)
    env.reset()
    observations, _, _ = env.step(torch.tensor([[[5.0, -5.0]]]))
    assert torch.allclose(observations, torch.tensor([[[0.1, -0.1]]]))


def test_the_same_actions_give_the_same_trajectory():
    goals = sample_goals(2, seed=1)
    actions = torch.randn(6, 2, 3, 2, generator=torch.Generator().manual_seed(0)) * 0.1

    def play() -> list[torch.Tensor]:
        env = PointNavigation(goals, n_episodes=3, horizon=6)
        env.reset()
        return [env.step(action)[1] for action in actions]

    assert all(torch.equal(a, b) for a, b in zip(play(), play()))


def test_the_episode_ends_after_the_horizon_and_must_be_reset():
    env = PointNavigation(torch.zeros(1, 2), n_episodes=1, horizon=2)
    env.reset()
    assert env.step(torch.zeros(1, 1, 2))[2] is False
    assert env.step(torch.zeros(1, 1, 2))[2] is True
    with pytest.raises(ValueError, match="reset"):
        env.step(torch.zeros(1, 1, 2))


def test_bad_shapes_and_sizes_are_refused_with_a_fix():
    with pytest.raises(ValueError, match=r"\[n_tasks, 2\]"):
        PointNavigation(torch.zeros(3), n_episodes=1)
    with pytest.raises(ValueError, match="n_episodes"):
        PointNavigation(torch.zeros(1, 2), n_episodes=0)
    env = PointNavigation(torch.zeros(2, 2), n_episodes=1)
    env.reset()
    with pytest.raises(ValueError, match="actions must have shape"):
        env.step(torch.zeros(1, 1, 2))


def test_a_subset_keeps_the_chosen_goals():
    goals = sample_goals(5, seed=0)
    env = PointNavigation(goals, n_episodes=2).subset(torch.tensor([4, 1]))
    assert torch.equal(env.goals, goals[[4, 1]]) and env.n_episodes == 2
