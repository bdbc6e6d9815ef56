"""MAML for reinforcement learning, with per-task experts distilled into the meta-learner.

MAML-RL (Finn, Abbeel & Levine 2017) meta-learns policy weights θ from which *one* REINFORCE
step on a new task's episodes already gives a good policy for that task:

    θ'ᵢ = θ − inner_lr · ∇θ L_REINFORCE(θ; episodes played with θ on task i)

The outer loss is measured on new episodes played with θ'ᵢ. This module fuses the two signals
of the course into that outer loss, as the fused formula of notebook 03 does for classifiers:

    L(θ) = (1/N) Σᵢ [ α · KL(π_expertᵢ ‖ π_θ'ᵢ) + (1 − α) · L_REINFORCE(θ'ᵢ) ]

* α = 0: plain MAML-RL, which learns from rewards only (noisy policy-gradient estimates);
* α = 1: the adapted student imitates task i's expert (Guided Meta-Policy Search, Mendonca et
  al. 2019): a supervised, low-variance signal, but it needs a trained expert per training task.

At test time there is no expert: the student adapts with rewards only (the inner step). The
per-task experts come from ``policy_gradient.train_per_task``. Taught in notebook 04c.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.func import vmap

from .distillation import check_alpha_and_temperature
from .functional import Params, check_inner_loop, stack_params
from .policy_distillation import policy_distillation_loss
from .policy_gradient import adaptation_step, reinforce_loss, rollout
from .rl_envs import PointNavigation
from .support.runtime import progress
from .support.validation import check_integer, check_real


def fused_policy_loss(adapted_params: Params, policy: nn.Module, expert_params: Params,
                      expert: nn.Module, observations: Tensor, actions: Tensor, rewards: Tensor,
                      alpha: float) -> Tensor:
    """α · KL(expert ‖ adapted student) + (1 − α) · REINFORCE, for one task.

    The tensors are the episodes played by the *adapted* student: ``[E, H, ·]``.
    """
    loss = observations.new_zeros(())
    if alpha > 0:  # a Python float, not a tensor: this branch is fine under vmap
        loss = loss + alpha * policy_distillation_loss(adapted_params, policy, expert_params,
                                                       expert, observations)
    if alpha < 1:
        loss = loss + (1 - alpha) * reinforce_loss(adapted_params, policy, observations,
                                                   actions, rewards)
    return loss


def meta_train_policy(policy: nn.Module, train_env: PointNavigation, *, n_iterations: int,
                      n_tasks: int, inner_lr: float, outer_lr: float, alpha: float = 0.0,
                      expert: nn.Module | None = None, expert_params: Params | None = None,
                      seed: int = 0, description: str = "") -> list[float]:
    """Meta-train ``policy`` (second-order MAML) on the tasks of ``train_env``.

    Args:
        train_env: the meta-training tasks (one goal each) and episodes per task.
        n_tasks: tasks per outer step (the meta-batch), drawn from ``train_env``'s tasks.
        alpha: weight of the distillation term; > 0 needs ``expert`` and ``expert_params``
            (weights stacked per training task, in ``train_env``'s task order).
    Returns:
        The mean return of the adapted policies at every outer step (a learning curve).
    """
    check_alpha_and_temperature(alpha, temperature=1.0)  # no temperature here: T = 1 passes
    if alpha > 0 and (expert is None or expert_params is None):
        raise ValueError(f"alpha={alpha} distils experts: pass expert= and expert_params=")
    check_integer("n_iterations", n_iterations)
    check_integer("n_tasks", n_tasks)
    check_inner_loop(inner_lr, 1)
    check_real("outer_lr", outer_lr, above=0, hint="try 1e-3")
    if not 1 <= n_tasks <= train_env.n_tasks:
        raise ValueError(f"n_tasks must be in 1..{train_env.n_tasks} (the training tasks), "
                         f"got {n_tasks}")

    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(policy.parameters(), lr=outer_lr)
    inner = vmap(adaptation_step, in_dims=(None, None, 0, 0, 0, None))  # θ shared by the tasks
    outer = vmap(fused_policy_loss, in_dims=(0, None, 0, None, 0, 0, 0, None))
    curve = []
    for _ in progress(range(n_iterations), description or "meta-training the policy"):
        tasks = torch.randperm(train_env.n_tasks, generator=generator)[:n_tasks]
        env = train_env.subset(tasks)
        params = dict(policy.named_parameters())
        before = rollout(policy, stack_params(params, n_tasks), env, generator)
        adapted = inner(policy, params, before.observations, before.actions, before.rewards,
                        inner_lr)                        # per task, differentiable in θ
        after = rollout(policy, adapted, env, generator)
        experts = ({name: value[tasks] for name, value in expert_params.items()}
                   if alpha > 0 else stack_params(params, n_tasks))  # unused when α = 0
        loss = outer(adapted, policy, experts, expert or policy, after.observations,
                     after.actions, after.rewards, alpha).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        curve.append(after.returns().mean().item())
    return curve
