"""Confidence intervals for accuracies measured over seeds or episodes.

A result in this course is always reported as ``mean ± half-width of the 95% CI``:

    half_width = t_{0.975, n-1} · s / √n

with ``s`` the sample standard deviation. For n ≥ 30 the t quantile is close to 1.96; for a
handful of seeds it is much larger (4.30 for 3 seeds), which is why 3 seeds give wide intervals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

# Two-sided 95% quantiles of Student's t for 1..30 degrees of freedom.
_T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
          2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
          2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t_quantile_975(degrees_of_freedom: int) -> float:
    """The 97.5% quantile of Student's t (so that ±t covers 95%); 1.96 beyond 30 d.o.f."""
    if degrees_of_freedom < 1:
        raise ValueError(f"need at least 1 degree of freedom, got {degrees_of_freedom}")
    if degrees_of_freedom <= len(_T_975):
        return _T_975[degrees_of_freedom - 1]
    return 1.96 + 2.4 / degrees_of_freedom  # smooth approach to the normal quantile


@dataclass(frozen=True)
class MeanCI:
    """A mean with the half-width of its 95% confidence interval."""

    mean: float
    half_width: float
    n: int

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    def overlaps(self, other: "MeanCI") -> bool:
        """True when the two intervals share any point."""
        return self.low <= other.high and other.low <= self.high

    def __str__(self) -> str:
        return f"{self.mean:.4g} ± {self.half_width:.2g}"

    def percent(self) -> str:
        """Format a fraction in [0, 1] as a percentage, e.g. ``'97.31 ± 0.42 %'``."""
        return f"{100 * self.mean:.2f} ± {100 * self.half_width:.2f} %"


def mean_ci(values: Sequence[float] | torch.Tensor) -> MeanCI:
    """Mean and 95% CI half-width (Student's t) of independent measurements.

    Args:
        values: shape ``[n]``, e.g. one accuracy per test episode or per seed (n ≥ 2).
    """
    data = torch.as_tensor(values, dtype=torch.float64).flatten()
    n = data.numel()
    if n < 2:
        raise ValueError(f"a confidence interval needs at least 2 values, got {n}")
    if not bool(torch.isfinite(data).all()):
        index = int((~torch.isfinite(data)).nonzero()[0])
        raise ValueError(f"values must be finite, but value {index} is {data[index].item()}; "
                         "a NaN usually means a loss or accuracy diverged upstream")
    std = data.std(unbiased=True).item()
    return MeanCI(data.mean().item(), t_quantile_975(n - 1) * std / math.sqrt(n), n)


def gap_recovered(alone: float, arm: float, teacher: float) -> float:
    """The share of the teacher–student gap that a training method closes.

        gap recovered = (arm − alone) / (teacher − alone)

    0 means no better than the student trained alone, 1 means as good as the teacher. Returns
    ``math.nan`` when teacher and student score the same (there is no gap to recover).
    Taught in notebook 03.
    """
    gap = teacher - alone
    return math.nan if gap == 0 else (arm - alone) / gap
