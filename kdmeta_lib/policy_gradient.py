"""Gaussian policies, rollouts and REINFORCE, written for many tasks at once with ``torch.func``.

A policy π_θ(a | s) = N(μ_θ(s), σ²) picks continuous actions. REINFORCE (Williams 1992) raises
the log-probability of actions that did better than average:

    L(θ) = − mean over episodes and steps of  log π_θ(aₜ | sₜ) · Âₜ
    Âₜ = (Gₜ − b_t) / scale,   Gₜ = Σ_{t' ≥ t} r_t'   (reward-to-go),   b_t = mean of Gₜ over episodes

The baseline b_t and the scale (the std of Gₜ − b_t) change no expected direction but cut the
variance, and keep one learning rate good for every task. One *adaptation step* = play
``n_episodes`` with the current weights, then θ ← θ − inner_lr · ∇L(θ): the inner loop of MAML
for RL (Finn et al. 2017). Weights are dicts (``Params``); a stack of per-task weights carries a
leading ``n_tasks`` dimension and runs through ``vmap``. Taught in notebook 04c.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from .functional import Params, adapt, check_inner_loop, stack_params
from .rl_envs import PointNavigation
from .support.runtime import progress
from .support.validation import check_integer, check_real


class GaussianPolicy(nn.Module):
    """μ(s) = max_action · tanh(MLP(s)), with one learnt log σ per action dimension.

    The tanh keeps the mean inside the actions the environment accepts, so a mean never
    "hides" beyond the clip where changing it changes nothing.

    Shapes: ``[..., observation_dim]`` → means ``[..., action_dim]``.
    """

    def __init__(self, hidden: int = 64, observation_dim: int = 2, action_dim: int = 2,
                 max_action: float = 0.1, init_std: float = 0.1):
        super().__init__()
        for name, value in (("hidden", hidden), ("observation_dim", observation_dim),
                            ("action_dim", action_dim)):
            check_integer(name, value)
        check_real("max_action", max_action, above=0, hint="match the environment's max_step")
        check_real("init_std", init_std, above=0, hint="0.1 is typical")
        self.net = nn.Sequential(nn.Linear(observation_dim, hidden), nn.Tanh(),
                                 nn.Linear(hidden, hidden), nn.Tanh(),
                                 nn.Linear(hidden, action_dim))
        self.log_std = nn.Parameter(torch.full((action_dim,), math.log(init_std)))
        self.max_action = max_action

    def forward(self, observations: Tensor) -> Tensor:
        return self.max_action * torch.tanh(self.net(observations))


@dataclass(frozen=True)
class Trajectories:
    """What ``n_episodes`` per task produced. ``observations [n_tasks, n_episodes, horizon, 2]``,
    ``actions`` the same, ``rewards [n_tasks, n_episodes, horizon]``."""

    observations: Tensor
    actions: Tensor
    rewards: Tensor

    def returns(self) -> Tensor:
        """Mean return (sum of rewards) of each task's episodes: ``[n_tasks]``."""
        return self.rewards.sum(-1).mean(-1)


def detached(params: Params) -> Params:
    """The same weights, cut from the autograd graph."""
    return {name: value.detach() for name, value in params.items()}


def policy_means(policy: nn.Module, task_params: Params, observations: Tensor) -> Tensor:
    """Means of each task's policy: ``[n_tasks, ..., obs_dim]`` → ``[n_tasks, ..., act_dim]``."""
    return vmap(lambda params, obs: functional_call(policy, params, (obs,)))(task_params,
                                                                          observations)


@torch.no_grad()
def rollout(policy: nn.Module, task_params: Params, env: PointNavigation,
            generator: torch.Generator) -> Trajectories:
    """Play one episode in each of the env's ``n_tasks × n_episodes`` copies, task i with the
    weights ``task_params[...][i]``. The action noise comes from ``generator`` (reproducible)."""
    observation, steps = env.reset(), []
    std = task_params["log_std"].exp()[:, None, :]                   # [n_tasks, 1, act_dim]
    done = False
    while not done:
        mean = policy_means(policy, task_params, observation)        # [n_tasks, n_episodes, 2]
        action = mean + std * torch.randn(mean.shape, generator=generator)
        next_observation, reward, done = env.step(action)
        steps.append((observation, action, reward))
        observation = next_observation
    observations, actions, rewards = (torch.stack(x, dim=2) for x in zip(*steps))
    return Trajectories(observations, actions, rewards)


def gaussian_log_prob(means: Tensor, log_std: Tensor, actions: Tensor) -> Tensor:
    """log N(actions; means, σ²) summed over action dimensions: ``[..., act_dim]`` → ``[...]``."""
    z = (actions - means) / log_std.exp()
    return (-0.5 * z**2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)


def advantages(rewards: Tensor) -> Tensor:
    """Normalised reward-to-go minus a per-step baseline, for one task: ``[E, H]`` → ``[E, H]``."""
    reward_to_go = rewards.flip(-1).cumsum(-1).flip(-1)
    centred = reward_to_go - reward_to_go.mean(0, keepdim=True)   # baseline: mean over episodes
    return centred / (centred.std() + 1e-8)


def reinforce_loss(params: Params, policy: nn.Module, observations: Tensor, actions: Tensor,
                   rewards: Tensor) -> Tensor:
    """REINFORCE loss of one task (see the module docstring): ``[E, H, ·]`` tensors → scalar."""
    means = functional_call(policy, params, (observations,))
    log_probs = gaussian_log_prob(means, params["log_std"], actions)
    return -(log_probs * advantages(rewards)).mean()


def adaptation_step(policy: nn.Module, params: Params, observations: Tensor, actions: Tensor,
                    rewards: Tensor, inner_lr: float) -> Params:
    """θ' = θ − inner_lr · ∇L_REINFORCE(θ) for one task; differentiable in θ (MAML's inner step).

    The same ``functional.adapt`` as the classifiers' MAML, with REINFORCE as the task's loss.
    """
    def task_loss(weights: Params) -> Tensor:
        return reinforce_loss(weights, policy, observations, actions, rewards)

    return adapt(task_loss, params, inner_lr=inner_lr, inner_steps=1)


def play_while_adapting(policy: nn.Module, params: Params, env: PointNavigation, *,
                        inner_steps: int, inner_lr: float,
                        seed: int = 0) -> dict[int, Trajectories]:
    """The episodes played after 0, 1, …, ``inner_steps`` REINFORCE steps from ``params``.

    Each step plays ``env.n_episodes`` episodes per task and updates that task's own weights on
    them (``adaptation_step``), so the episodes after k steps were played by the adapted weights.

    Returns:
        ``{steps: Trajectories}`` (``observations [n_tasks, n_episodes, horizon, 2]``, …).
    """
    check_inner_loop(inner_lr, inner_steps)
    generator = torch.Generator().manual_seed(seed)
    task_params = stack_params(detached(params), env.n_tasks)
    step = vmap(adaptation_step, in_dims=(None, 0, 0, 0, 0, None))
    played = {}
    for steps in range(inner_steps + 1):
        played[steps] = trajectories = rollout(policy, task_params, env, generator)
        if steps < inner_steps:  # the episodes just played are the experience to learn from
            task_params = detached(step(policy, task_params, trajectories.observations,
                                        trajectories.actions, trajectories.rewards, inner_lr))
    return played


def returns_while_adapting(policy: nn.Module, params: Params, env: PointNavigation, *,
                           inner_steps: int, inner_lr: float,
                           seed: int = 0) -> dict[int, Tensor]:
    """Return of each task after 0, 1, …, ``inner_steps`` REINFORCE steps from ``params``.

    Returns:
        ``{steps: returns [n_tasks]}`` (mean return over the episodes played with those weights),
        from :func:`play_while_adapting`'s episodes.
    """
    played = play_while_adapting(policy, params, env, inner_steps=inner_steps,
                                 inner_lr=inner_lr, seed=seed)
    return {steps: trajectories.returns() for steps, trajectories in played.items()}


def train_per_task(policy: nn.Module, env: PointNavigation, *, n_iterations: int, lr: float,
                   seed: int = 0, description: str = "") -> Params:
    """Train one independent policy per task with REINFORCE and Adam: the per-task *experts*.

    All tasks start from ``policy``'s weights and learn in parallel (one ``vmap``); their losses
    are summed, which keeps every task's gradient its own.

    Returns:
        The trained weights stacked per task (leading ``n_tasks`` dimension).
    """
    check_integer("n_iterations", n_iterations)
    check_real("lr", lr, above=0, hint="try 1e-2")
    generator = torch.Generator().manual_seed(seed)
    task_params = {name: value.clone().requires_grad_() for name, value in  # independent copies
                   stack_params(detached(dict(policy.named_parameters())), env.n_tasks).items()}
    optimizer = torch.optim.Adam(task_params.values(), lr=lr)
    loss_of_task = vmap(reinforce_loss, in_dims=(0, None, 0, 0, 0))
    for _ in progress(range(n_iterations), description or "training per-task policies"):
        trajectories = rollout(policy, task_params, env, generator)
        loss = loss_of_task(task_params, policy, trajectories.observations,
                            trajectories.actions, trajectories.rewards).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return detached(task_params)
