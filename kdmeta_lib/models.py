"""Backbones used throughout the course.

* :class:`Conv4`: the standard few-shot backbone (Vinyals et al. 2016; Snell et al. 2017;
  Finn et al. 2017): four blocks of conv 3×3 → BatchNorm → ReLU → max-pool 2×2. A 28×28 input
  ends as ``width`` features. ``width`` scales it: Conv4-64 is the usual teacher, Conv4-16 or
  Conv4-32 a cheap student. Its BatchNorm keeps *no running statistics*: it always normalises
  with the current batch, so the model holds no buffers that change under ``torch.func``.
* :class:`StridedConv4`: Finn et al.'s MAML network for Omniglot (stride-2 convolutions, no
  max-pool), cheaper than Conv4.
* :class:`MLP`: fully connected nets for MNIST, e.g. Hinton et al.'s 784-800-800-10.
* :class:`MnistCNN`: a larger convolutional MNIST teacher.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .support.validation import check_integer, check_real


def conv_block(in_channels: int, out_channels: int, fast: bool = False) -> nn.Sequential:
    """conv 3×3 → BatchNorm (batch statistics only) → ReLU → max-pool 2×2 (halves H and W).

    ``fast=True`` computes the same function with less work: the convolution has no bias (the
    batch norm subtracts the batch mean, which removes any constant shift), and the max-pool
    comes before the ReLU (both are monotone, so max(relu(x)) = relu(max(x)), and the ReLU then
    touches a quarter of the values). About 20 % faster per step on a 2-core CPU
    (``benchmarks/README.md``, engineering notes).
    """
    if fast:
        return nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels, track_running_stats=False),
            nn.MaxPool2d(2),
            nn.ReLU(),
        )
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
        nn.BatchNorm2d(out_channels, track_running_stats=False),
        nn.ReLU(),
        nn.MaxPool2d(2),
    )


def check_conv_sizes(width: int, in_channels: int, n_classes: int | None) -> None:
    """The size checks that :class:`Conv4` and :class:`StridedConv4` share."""
    check_integer("width", width, hint="64 in the papers; 16 or 32 for a cheap student")
    check_integer("in_channels", in_channels)
    if n_classes is not None:
        check_integer("n_classes", n_classes, hint="the episodes' n_way, or None for no head")


class Conv4(nn.Module):
    """Four conv blocks, then optionally a linear classifier.

    Args:
        width: channels in every block (64 in the papers).
        in_channels: 1 for Omniglot and MNIST.
        n_classes: if given, add a linear head with this many outputs (MAML, ANIL); if None the
            model returns the embedding (ProtoNet).
        fast: blocks without conv bias and with the max-pool before the ReLU: the same function
            class, faster (see :func:`conv_block`); the default keeps the textbook order.

    Shapes:
        ``[B, in_channels, 28, 28]`` → ``[B, width]`` (no head) or ``[B, n_classes]``.
    """

    def __init__(self, width: int = 64, in_channels: int = 1, n_classes: int | None = None,
                 fast: bool = False):
        super().__init__()
        check_conv_sizes(width, in_channels, n_classes)
        self.width, self.n_classes = width, n_classes
        self.features = nn.Sequential(
            conv_block(in_channels, width, fast), conv_block(width, width, fast),
            conv_block(width, width, fast), conv_block(width, width, fast),
            nn.Flatten(),  # 28 → 14 → 7 → 3 → 1, so [B, width, 1, 1] → [B, width]
        )
        self.head = nn.Linear(width, n_classes) if n_classes else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


class StridedConv4(nn.Module):
    """Finn et al.'s (2017) Omniglot network for MAML: four stride-2 conv blocks, no max-pool.

    Each block is conv 3×3 with stride 2 (no bias: the batch norm removes it) → BatchNorm
    (batch statistics only, as in :class:`Conv4`) → ReLU. A 28×28 input shrinks
    28 → 14 → 7 → 4 → 2; the features are the mean over the last 2×2 map. The strides do the
    down-sampling that :class:`Conv4`'s max-pools do, at about 3.5× fewer multiply-adds.

    Args:
        width: channels in every block (64 in the paper).
        in_channels: 1 for Omniglot.
        n_classes: the linear head's outputs (the episodes' n_way), or None for the embedding.

    Shapes:
        ``[B, in_channels, 28, 28]`` → ``[B, width]`` (no head) or ``[B, n_classes]``.
    """

    def __init__(self, width: int = 64, in_channels: int = 1, n_classes: int | None = None):
        super().__init__()
        check_conv_sizes(width, in_channels, n_classes)
        self.width, self.n_classes = width, n_classes
        blocks = []
        for fan_in in (in_channels, width, width, width):
            blocks += [nn.Conv2d(fan_in, width, kernel_size=3, stride=2, padding=1, bias=False),
                       nn.BatchNorm2d(width, track_running_stats=False), nn.ReLU()]
        self.features = nn.Sequential(*blocks)
        self.head = nn.Linear(width, n_classes) if n_classes else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x).mean(dim=(2, 3)))


class MLP(nn.Module):
    """A fully connected ReLU network on flattened images.

    Args:
        sizes: layer widths including input and output, e.g. ``(784, 800, 800, 10)``.
        dropout: dropout after each hidden layer (Hinton et al. 2015 used it for the teacher).

    Shapes:
        ``[B, 1, 28, 28]`` (or ``[B, 784]``) → ``[B, sizes[-1]]``.
    """

    def __init__(self, sizes: Sequence[int] = (784, 800, 800, 10), dropout: float = 0.0):
        super().__init__()
        if len(sizes) < 2:
            raise ValueError(f"sizes needs at least an input and an output width, got {sizes}")
        for size in sizes:
            check_integer("each of sizes", size)
        check_real("dropout", dropout, minimum=0, maximum=0.99, hint="0.5 is Hinton's")
        layers: list[nn.Module] = [nn.Flatten()]
        for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(fan_in, fan_out))
            if index < len(sizes) - 2:  # no ReLU after the output layer
                layers += [nn.ReLU(), nn.Dropout(dropout)] if dropout else [nn.ReLU()]
        self.net, self.sizes = nn.Sequential(*layers), tuple(sizes)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class MnistCNN(nn.Module):
    """A small LeNet-style CNN: the MNIST teacher (about 99% on full MNIST).

    Shapes:
        ``[B, 1, 28, 28]`` → ``[B, n_classes]``.
    """

    def __init__(self, n_classes: int = 10, width: int = 32, dropout: float = 0.25):
        super().__init__()
        check_integer("n_classes", n_classes)
        check_integer("width", width)
        check_real("dropout", dropout, minimum=0, maximum=0.99, hint="0.25 is typical")
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),           # → 14×14
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # → 7×7
            nn.Flatten(),
        )
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(2 * width * 7 * 7, 128), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(128, n_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def summarize(model: nn.Module, input_shape: Sequence[int] = (1, 1, 28, 28)) -> str:
    """One line: class name, parameter count and output shape, e.g. for a results table."""
    with torch.no_grad():
        was_training = model.training
        model.eval()
        output = model(torch.zeros(*input_shape, device=next(model.parameters()).device))
        model.train(was_training)
    return (f"{type(model).__name__}: {count_parameters(model):,} parameters, "
            f"{tuple(input_shape)} → {tuple(output.shape)}")


def count_multiply_adds(model: nn.Module, input_shape: Sequence[int] = (1, 1, 28, 28)) -> int:
    """Multiply-adds (MACs) for one input: the cost of running the model, counted layer by layer.

    Only ``nn.Linear`` and ``nn.Conv2d`` are counted; activations, pooling and normalisation are
    cheap next to them. One MAC is about two FLOPs.

    Args:
        input_shape: ``[1, channels, H, W]``: one example (the count is per example).
    """
    total = 0

    def count(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Linear):
            total += module.in_features * module.out_features
        elif isinstance(module, nn.Conv2d):  # every output value costs in_channels·k_h·k_w MACs
            kernel = module.kernel_size[0] * module.kernel_size[1]
            total += output[0].numel() * (module.in_channels // module.groups) * kernel

    hooks = [m.register_forward_hook(count) for m in model.modules()
             if isinstance(m, (nn.Linear, nn.Conv2d))]
    try:
        with torch.no_grad():
            was_training = model.training
            model.eval()
            model(torch.zeros(*input_shape, device=next(model.parameters()).device))
            model.train(was_training)
    finally:
        for hook in hooks:
            hook.remove()
    return total
