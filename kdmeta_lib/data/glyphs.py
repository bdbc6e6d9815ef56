"""Offline few-shot data: procedurally generated classes of handwriting-like glyphs.

When no Omniglot is available (no network, no local copy) the course still needs *many* classes
with a few drawings each. Each class here is a random "character" made of 1–4 pen strokes (cubic
Bézier curves); each drawing of it is a new attempt by a slightly shaky hand: the control points
jitter, and the whole glyph is rotated, scaled, sheared and shifted a little. The strokes are then
rendered at 28×28 with ink = 1, like Omniglot after the standard preprocessing.

Everything is vectorised, so 1,200 classes × 20 drawings take about a second, and the output is
a pure function of the seed.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..support.validation import check_integer

GLYPH_CLASSES = 1200  # ≥ 1,000 classes, as the course's offline default
GLYPH_TRAIN_CLASSES = 900  # the first 900 for meta-training, the last 300 for meta-testing
_MAX_STROKES = 4
_POINTS_PER_STROKE = 40  # dense enough that a stroke renders without gaps at 28×28
_CLASS_SPREAD = 0.65  # how far control points of a class spread from the centre
_DRAWING_JITTER = 0.12  # how much a drawing's control points move from the class's ones
# How far a drawing is tilted, rescaled and shifted. These set the difficulty: ProtoNet 5-way
# 1-shot lands clearly below 100% (pixel-space 1-NN at about 0.76, Omniglot's is 0.47). Much
# harder glyphs blur the gap between a large and a small network that notebook 03 is about.
_MAX_TILT_DEGREES = 15
_SCALE_RANGE = 0.12  # scale in [0.88, 1.12]
_MAX_SHIFT = 0.15  # in units of the half canvas


def generate_glyphs(n_classes: int = GLYPH_CLASSES, n_per_class: int = 20, seed: int = 0,
                    size: int = 28) -> Tensor:
    """Generate ``n_classes`` glyph classes with ``n_per_class`` drawings each.

    Args:
        n_classes: number of distinct characters.
        n_per_class: drawings per character (Omniglot has 20).
        seed: the same seed always gives the same tensor.
        size: output height and width in pixels.
    Returns:
        float ``[n_classes, n_per_class, size, size]`` in [0, 1], ink = 1.
    """
    check_integer("n_classes", n_classes)
    check_integer("n_per_class", n_per_class, hint="Omniglot has 20")
    check_integer("seed", seed, minimum=0)
    check_integer("size", size, minimum=8, hint="28 as Omniglot")
    generator = torch.Generator().manual_seed(seed)
    controls, stroke_used = _class_strokes(n_classes, generator)
    controls = _drawings_of(controls, n_per_class, generator)
    points = _bezier_points(controls)  # [C, S, strokes, points, 2]
    points = points * stroke_used[:, None, :, None, None]  # unused strokes collapse...
    weight = stroke_used[:, None, :, None].expand(points.shape[:-1])  # ...and carry no ink
    return _render(points, weight, size)


def _class_strokes(n_classes: int, generator: Tensor) -> tuple[Tensor, Tensor]:
    """Each class: control points ``[C, strokes, 4, 2]`` and which strokes exist ``[C, strokes]``."""
    n_strokes = torch.randint(1, _MAX_STROKES + 1, (n_classes,), generator=generator)
    stroke_used = (torch.arange(_MAX_STROKES) < n_strokes[:, None]).float()
    start = (torch.rand(n_classes, _MAX_STROKES, 1, 2, generator=generator) * 2 - 1) * _CLASS_SPREAD
    # Later control points wander from the start, so strokes are curves rather than scribbles.
    steps = torch.randn(n_classes, _MAX_STROKES, 3, 2, generator=generator) * 0.6
    controls = torch.cat([start, start + steps.cumsum(dim=2)], dim=2).clamp(-0.9, 0.9)
    # Like real characters, a stroke often starts where the previous one ended.
    joined = torch.rand(n_classes, _MAX_STROKES, generator=generator) < 0.5
    joined[:, 0] = False
    shifted = controls[:, :-1, 3] - controls[:, 1:, 0]  # end of stroke s-1 minus start of s
    controls[:, 1:] += torch.where(joined[:, 1:, None], shifted, 0.0)[:, :, None]
    return controls.clamp(-0.9, 0.9), stroke_used


def _drawings_of(controls: Tensor, n_per_class: int, generator: Tensor) -> Tensor:
    """Jitter and affinely distort each class's strokes: ``[C, strokes, 4, 2]`` → ``[C, S, ...]``."""
    n_classes = controls.shape[0]
    drawings = controls[:, None].repeat(1, n_per_class, 1, 1, 1)
    drawings = drawings + torch.randn(drawings.shape, generator=generator) * _DRAWING_JITTER
    shape = (n_classes, n_per_class)
    angle = (torch.rand(shape, generator=generator) * 2 - 1) * math.radians(_MAX_TILT_DEGREES)
    scale = 1 + _SCALE_RANGE * (2 * torch.rand(shape, generator=generator) - 1)
    shear = (torch.rand(shape, generator=generator) * 2 - 1) * 0.15
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    matrix = torch.stack([torch.stack([cos, -sin + shear], -1), torch.stack([sin, cos], -1)], -2)
    shift = (torch.rand(*shape, 1, 1, 2, generator=generator) * 2 - 1) * _MAX_SHIFT
    # [C, S, strokes, 4, 2] @ [C, S, 1, 2, 2]ᵀ: the same affine map for every point of a drawing.
    return drawings @ matrix[:, :, None].transpose(-1, -2) + shift


def _bezier_points(controls: Tensor) -> Tensor:
    """Sample points along cubic Bézier curves: ``[..., 4, 2]`` → ``[..., points, 2]``."""
    t = torch.linspace(0, 1, _POINTS_PER_STROKE)[:, None]
    basis = torch.cat([(1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t**2 * (1 - t), t**3], dim=1)
    return basis @ controls  # [points, 4] @ [..., 4, 2] → [..., points, 2]


def _render(points: Tensor, weight: Tensor, size: int) -> Tensor:
    """Splat pen positions onto a canvas with bilinear weights, then thicken and clip.

    Args:
        points: ``[C, S, strokes, points, 2]`` in roughly [-1, 1].
        weight: ``[C, S, strokes, points]``, 0 for points that must not draw.
    """
    n_classes, n_per_class = points.shape[:2]
    n_images = n_classes * n_per_class
    pixel = (points.reshape(n_images, -1, 2) + 1) / 2 * (size - 4) + 1.5  # 2-pixel margin
    weight = weight.reshape(n_images, -1)
    corner = pixel.floor()
    fraction = pixel - corner
    canvas = torch.zeros(n_images, size * size)
    for dx in (0, 1):
        for dy in (0, 1):
            column = (corner[..., 0] + dx).clamp(0, size - 1).long()
            row = (corner[..., 1] + dy).clamp(0, size - 1).long()
            share = (fraction[..., 0] if dx else 1 - fraction[..., 0]) * \
                    (fraction[..., 1] if dy else 1 - fraction[..., 1])
            canvas.scatter_add_(1, row * size + column, share * weight)
    # Clip before thickening: many pen positions land on one pixel, and ink does not add up.
    canvas = canvas.clamp_(0, 1).view(n_images, 1, size, size)
    pen = torch.tensor([[0.05, 0.35, 0.05], [0.35, 1.0, 0.35], [0.05, 0.35, 0.05]]).view(1, 1, 3, 3)
    canvas = torch.nn.functional.conv2d(canvas, pen, padding=1)  # a pen about 2 pixels wide
    return canvas.mul_(1.3).clamp_(0, 1).view(n_classes, n_per_class, size, size)
