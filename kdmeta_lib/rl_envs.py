"""A family of small reinforcement-learning environments: 2-D navigation to a hidden goal.

Finn, Abbeel & Levine (2017, §5.3) test fast adaptation in RL with a point that must walk to a
goal it cannot see. Each *task* is one goal; the agent only feels its reward, minus its distance
to the goal, so it must find out where the goal is from experience:

    position₀ = (0, 0)
    positionₜ₊₁ = positionₜ + clip(actionₜ, −max_step, max_step)      (each coordinate)
    rewardₜ = −‖positionₜ₊₁ − goal‖                                    (t = 0 … horizon − 1)

The observation is the position only. A return near 0 means "walked straight to the goal and
stayed there"; standing still at the origin earns about ``−horizon · ‖goal‖``.

:class:`PointNavigation` runs ``n_tasks`` goals × ``n_episodes`` copies at once as tensors, with
the usual ``reset()``/``step(actions)`` interface; everything is deterministic given the goals
(the randomness is in the policy). Taught in notebook 04c.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .support.validation import check_integer, check_real


def sample_goals(n_tasks: int, seed: int, goal_range: float = 0.5) -> Tensor:
    """Goals drawn uniformly from the square ``[−goal_range, goal_range]²``: ``[n_tasks, 2]``."""
    check_integer("n_tasks", n_tasks)
    check_integer("seed", seed, minimum=0)
    check_real("goal_range", goal_range, above=0, hint="0.5 keeps goals inside the unit square")
    generator = torch.Generator().manual_seed(seed)
    return (2 * torch.rand(n_tasks, 2, generator=generator) - 1) * goal_range


class PointNavigation:
    """``n_tasks`` navigation tasks (one goal each), each played ``n_episodes`` times in parallel.

    Args:
        goals: ``[n_tasks, 2]``, e.g. from :func:`sample_goals`.
        n_episodes: parallel episodes per task.
        horizon: steps per episode.
        max_step: largest move per coordinate and step.

    Shapes:
        observations ``[n_tasks, n_episodes, 2]``, actions ``[n_tasks, n_episodes, 2]``,
        rewards ``[n_tasks, n_episodes]``.
    """

    observation_dim = 2
    action_dim = 2

    def __init__(self, goals: Tensor, n_episodes: int, horizon: int = 20, max_step: float = 0.1):
        if goals.dim() != 2 or goals.shape[1] != 2:
            raise ValueError(f"goals must have shape [n_tasks, 2], got {tuple(goals.shape)}")
        check_integer("n_episodes", n_episodes)
        check_integer("horizon", horizon, hint="20 steps is typical")
        check_real("max_step", max_step, above=0, hint="0.1 is typical")
        self.goals, self.n_episodes = goals, n_episodes
        self.horizon, self.max_step = horizon, max_step
        self.positions: Tensor | None = None
        self.t = 0

    @property
    def n_tasks(self) -> int:
        return self.goals.shape[0]

    def subset(self, task_indices: Tensor) -> "PointNavigation":
        """The same kind of environment for some of the tasks (e.g. a meta-batch)."""
        return PointNavigation(self.goals[task_indices], self.n_episodes, self.horizon,
                               self.max_step)

    def reset(self) -> Tensor:
        """Put every copy back at the origin and return the first observations."""
        self.positions = self.goals.new_zeros(self.n_tasks, self.n_episodes, 2)
        self.t = 0
        return self.positions.clone()

    def step(self, actions: Tensor) -> tuple[Tensor, Tensor, bool]:
        """Move every copy by its (clipped) action.

        Returns:
            ``(observations, rewards, done)``; ``done`` is True after ``horizon`` steps.
        """
        if self.positions is None or self.t >= self.horizon:
            raise ValueError("the episode is over (or never started): call reset() first")
        if actions.shape != self.positions.shape:
            raise ValueError(f"actions must have shape {tuple(self.positions.shape)} "
                             f"[n_tasks, n_episodes, 2], got {tuple(actions.shape)}")
        self.positions = self.positions + actions.clamp(-self.max_step, self.max_step)
        rewards = -(self.positions - self.goals[:, None]).norm(dim=-1)
        self.t += 1
        return self.positions.clone(), rewards, self.t == self.horizon
