"""Light affine augmentation of training episodes (a data-efficiency lever of issue 17).

Each training image gets its own small random rotation, scale and shift, drawn afresh at every
step, so the learner never sees exactly the same drawing twice. Test episodes are not touched.
Measured against no augmentation in ``benchmarks/README.md`` (engineering notes).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from kdmeta_lib.episodes import Episode

DEGREES, SCALE, SHIFT = 10.0, 0.1, 0.08  # ±10°, ±10 % size, ±8 % of the width (about 2 pixels)


def random_affine(images: Tensor, generator: torch.Generator) -> Tensor:
    """Rotate, scale and shift every image by its own random amount.

    The inverse map ``θ`` of each image (``F.affine_grid`` maps output to input coordinates in
    [−1, 1]) is ``[[cos a / s, −sin a / s, t_x], [sin a / s, cos a / s, t_y]]`` with
    ``a ~ U(±DEGREES)``, ``s ~ U(1 ± SCALE)`` and ``t ~ U(±2·SHIFT)`` (the image spans 2 units).
    Pixels that come from outside the image repeat the border, which is Omniglot's background.

    Shapes: ``[..., C, H, W]`` → the same.
    """
    flat = images.reshape(-1, *images.shape[-3:])
    n = flat.shape[0]

    def uniform(*shape: int) -> Tensor:  # U(−1, 1), drawn on the CPU for reproducibility
        return (2 * torch.rand(*shape, generator=generator) - 1).to(images.device)

    angle, size = uniform(n) * math.radians(DEGREES), 1 + uniform(n) * SCALE
    cos, sin = torch.cos(angle) / size, torch.sin(angle) / size
    theta = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], 1)
    theta = torch.cat([theta, (2 * SHIFT * uniform(n, 2)).unsqueeze(-1)], -1)   # [n, 2, 3]
    grid = F.affine_grid(theta.to(flat.dtype), list(flat.shape), align_corners=False)
    moved = F.grid_sample(flat, grid, padding_mode="border", align_corners=False)
    return moved.reshape(images.shape)


def augment_episode(episode: Episode, generator: torch.Generator) -> Episode:
    """The episode with every support and query image moved by ``random_affine`` (labels kept)."""
    return Episode(random_affine(episode.support_x, generator), episode.support_y,
                   random_affine(episode.query_x, generator), episode.query_y)
