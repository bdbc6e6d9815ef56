"""Policy distillation: a student policy learns to act like expert policies (Rusu et al. 2016).

Distillation for agents compares *action distributions* in the states the student meets, just as
classifier distillation compares softened class distributions:

    L_distill = mean over states s of  KL( π_expert(· | s) ‖ π_student(· | s) )

* Discrete actions (Rusu et al.'s Atari agents): both policies are softmaxes of scores; with a
  temperature T this is exactly the KD loss of notebook 01 without its T² factor.
* Gaussian actions N(μ, σ²) (our navigation agent) have a closed form per dimension:

      KL(N(μₑ, σₑ²) ‖ N(μₛ, σₛ²)) = log(σₛ/σₑ) + (σₑ² + (μₑ − μₛ)²) / (2σₛ²) − 1/2

Using the *student's* states (not the experts') teaches it to recover from its own mistakes
(Ross et al. 2011, DAgger). Taught in notebook 04c; ``meta_rl`` puts this loss inside MAML.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from .distillation import check_alpha_and_temperature
from .functional import Params


def gaussian_kl(expert_means: Tensor, expert_log_std: Tensor, student_means: Tensor,
                student_log_std: Tensor) -> Tensor:
    """KL(expert ‖ student) of diagonal Gaussians, summed over action dimensions.

    Shapes: means ``[..., act_dim]``, log σ ``[act_dim]`` (or broadcastable) → ``[...]``.
    """
    expert_var, student_var = (2 * expert_log_std).exp(), (2 * student_log_std).exp()
    per_dimension = (student_log_std - expert_log_std
                     + (expert_var + (expert_means - student_means) ** 2) / (2 * student_var)
                     - 0.5)
    return per_dimension.sum(-1)


def gaussian_kl_parts(expert_means: Tensor, expert_log_std: Tensor, student_means: Tensor,
                      student_log_std: Tensor) -> tuple[Tensor, Tensor]:
    """:func:`gaussian_kl` split into a part from the spreads σ and a part from the means μ.

        spread part = Σ_dims log(σₛ/σₑ) + σₑ²/(2σₛ²) − 1/2   (0 when σₛ = σₑ; the same in every
                                                             state when σ is state-independent)
        mean part   = Σ_dims (μₑ − μₛ)² / (2σₛ²)             (how far apart the actions aim)

    Their sum is :func:`gaussian_kl`. Shapes as there: both parts are ``[...]``.
    """
    expert_var, student_var = (2 * expert_log_std).exp(), (2 * student_log_std).exp()
    spread = student_log_std - expert_log_std + expert_var / (2 * student_var) - 0.5
    mean = (expert_means - student_means) ** 2 / (2 * student_var)
    return spread.expand_as(mean).sum(-1), mean.sum(-1)


def categorical_policy_kl(expert_logits: Tensor, student_logits: Tensor,
                          temperature: float = 1.0) -> Tensor:
    """KL(softmax(expert/T) ‖ softmax(student/T)), averaged over states: ``[B, n_actions]`` → scalar.

    Rusu et al. (2016) soften a DQN expert's Q-values with a *low* T (sharper targets); the
    classifier KD loss of notebook 01 uses a high T and multiplies by T².
    """
    check_alpha_and_temperature(None, temperature)
    log_student = F.log_softmax(student_logits / temperature, dim=-1)
    log_expert = F.log_softmax(expert_logits / temperature, dim=-1)
    return F.kl_div(log_student, log_expert, log_target=True, reduction="batchmean")


def policy_distillation_loss(student_params: Params, student: nn.Module, expert_params: Params,
                             expert: nn.Module, observations: Tensor) -> Tensor:
    """Mean Gaussian KL(expert ‖ student) over the given states of one task.

    Both policies are :class:`~kdmeta_lib.policy_gradient.GaussianPolicy`-like: they return means
    and keep a ``log_std`` parameter. The expert is a fixed target (no gradient flows into it).

    Shapes: ``observations [..., obs_dim]`` → scalar.
    """
    expert_params = {name: value.detach() for name, value in expert_params.items()}
    expert_means = functional_call(expert, expert_params, (observations,))
    student_means = functional_call(student, student_params, (observations,))
    return gaussian_kl(expert_means, expert_params["log_std"], student_means,
                       student_params["log_std"]).mean()
