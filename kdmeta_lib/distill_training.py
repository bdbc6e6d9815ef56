"""Training and evaluation loops for supervised distillation: a model alone, or a student and its
frozen teacher (notebook 01, section "Teacher → student").

Both loops share one recipe, so that "alone" and "distilled" differ only in the loss: Adam with a
cosine-decayed learning rate, mini-batches cut from one shuffled index tensor (no DataLoader:
the data already sits in memory as tensors), and optionally the same random shifts of the images.

The teacher is frozen three ways, one per bug of notebook 01's "A beginner's snippet, debugged":
``teacher.eval()`` (its dropout is off, so its answer is deterministic), ``torch.no_grad()`` (no
graph is built for it) and only the student's parameters go into the optimizer.

"Function matching" (Beyer et al. 2022, "Knowledge distillation: A good teacher is patient and
consistent"): the teacher labels *the same* shifted image that the student sees, and training runs
long. Pass ``teacher=`` to label fresh views in every batch, or ``teacher_logits=`` with images
shifted beforehand (:func:`shifted_views`) to pay for the teacher once (the teacher is frozen, so
its answer to a given image never changes). ``data.storage.load_or_train`` caches a teacher.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .distillation import check_alpha_and_temperature, distillation_loss
from .support.runtime import progress
from .support.validation import check_integer, check_real


@dataclass(frozen=True)
class TrainConfig:
    """How to train, shared by :func:`train_alone` and :func:`distill`.

    Attributes:
        epochs: passes over the training images.
        batch_size: images per step.
        lr: peak Adam learning rate, decayed to 0 along a cosine.
        max_shift: shift each image by up to this many pixels per step (0: no augmentation).
        seed: seeds the initial shuffle, the shifts and (via the caller) nothing else.
    """

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    max_shift: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        check_integer("epochs", self.epochs)
        check_integer("batch_size", self.batch_size, hint="128 is typical")
        check_real("lr", self.lr, above=0, hint="try 1e-3")
        check_integer("max_shift", self.max_shift, minimum=0, hint="0 to 8 pixels; 2 is typical")
        if self.max_shift > 8:
            raise ValueError(f"max_shift must be 0..8 pixels, got {self.max_shift}; 2 is typical")
        check_integer("seed", self.seed, minimum=0)


@dataclass
class EpochHistory:
    """What happened during supervised training: one entry per *epoch* (meta-training's
    ``meta_training.History`` has one per outer step instead)."""

    loss: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)  # empty without test data
    seconds: float = 0.0


def random_shift(images: Tensor, max_shift: int, generator: torch.Generator | None = None) -> Tensor:
    """Translate every image by its own random (dy, dx) in [−max_shift, max_shift], zero-filled.

    One gather for the whole batch: pad by ``max_shift`` and crop a random window per image.

    Args:
        images: ``[batch, channels, H, W]``.
    Returns:
        ``[batch, channels, H, W]``.
    """
    if max_shift == 0:
        return images
    batch, _, height, width = images.shape
    padded = F.pad(images, (max_shift,) * 4)  # [batch, channels, H + 2s, W + 2s]
    offsets = torch.randint(0, 2 * max_shift + 1, (2, batch), generator=generator)
    rows = (offsets[0, :, None] + torch.arange(height))[:, None, :, None]   # [batch, 1, H, 1]
    columns = (offsets[1, :, None] + torch.arange(width))[:, None, None, :]  # [batch, 1, 1, W]
    example = torch.arange(batch)[:, None, None, None]
    channel = torch.arange(images.shape[1])[None, :, None, None]
    return padded[example, channel, rows.to(images.device), columns.to(images.device)]


def shifted_views(images: Tensor, n_views: int, max_shift: int, seed: int = 0) -> Tensor:
    """``n_views`` randomly shifted copies of ``images``, stacked view after view.

    Paying for the teacher once: label these views with :func:`predict_logits` and hand both to
    :func:`distill` (with ``max_shift=0``); every epoch then revisits views the teacher has already
    labelled, and the student trained alone can use the very same views with their hard labels.

    Args:
        images: ``[n, channels, H, W]``.
    Returns:
        ``[n_views · n, channels, H, W]``; image ``i`` of view ``v`` sits at row ``v · n + i``, so
        the matching labels are ``labels.repeat(n_views)``.
    """
    check_integer("n_views", n_views)
    check_integer("max_shift", max_shift, minimum=0)
    generator = torch.Generator().manual_seed(seed)
    return torch.cat([random_shift(images, max_shift, generator) for _ in range(n_views)])


@torch.no_grad()
def predict_logits(model: nn.Module, images: Tensor, batch_size: int = 1000) -> Tensor:
    """The model's logits in eval mode (dropout off), without a graph; its mode is restored.

    Args:
        images: ``[n, 1, 28, 28]`` on any device (moved to the model's).
    Returns:
        ``[n, n_classes]`` on the CPU.
    """
    was_training, device = model.training, next(model.parameters()).device
    model.eval()
    logits = torch.cat([model(images[start:start + batch_size].to(device)).cpu()
                        for start in range(0, len(images), batch_size)])
    model.train(was_training)
    return logits


def model_accuracy(model: nn.Module, images: Tensor, labels: Tensor) -> float:
    """Fraction of ``images`` ``[n, 1, 28, 28]`` whose predicted class equals ``labels`` ``[n]``."""
    return (predict_logits(model, images).argmax(dim=1) == labels.cpu()).float().mean().item()


def train_alone(model: nn.Module, train_x: Tensor, train_y: Tensor, config: TrainConfig,
                test: tuple[Tensor, Tensor] | None = None, description: str = "alone") -> EpochHistory:
    """Train ``model`` on the hard labels alone (cross-entropy): the baseline and the teacher.

    Args:
        train_x: ``[n, 1, 28, 28]``; train_y: ``[n]`` int64.
        test: optional ``(test_x, test_y)`` to record the accuracy after every epoch.
    """
    def batch_loss(logits: Tensor, views: Tensor, index: Tensor) -> Tensor:
        return F.cross_entropy(logits, train_y[index].to(logits.device))

    return _fit(model, train_x, config, batch_loss, test, description)


def distill(student: nn.Module, train_x: Tensor, train_y: Tensor, config: TrainConfig, *,
            teacher: nn.Module | None = None, teacher_logits: Tensor | None = None,
            alpha: float = 0.9, temperature: float = 4.0,
            test: tuple[Tensor, Tensor] | None = None, description: str = "distil") -> EpochHistory:
    """Train ``student`` on ``α · L_KD + (1 − α) · CE`` from a frozen teacher.

    Give exactly one of:
        teacher: a trained model, run in eval mode under ``no_grad`` on the very view (shifted
            image) the student sees in each batch.
        teacher_logits: ``[n, n_classes]``, its precomputed answers on ``train_x`` (see
            :func:`predict_logits`); needs ``config.max_shift == 0``, since a shifted view
            would no longer match them. Shift the images beforehand instead.
    """
    check_alpha_and_temperature(alpha, temperature)  # now, not at the first batch
    _check_teacher(student, train_x, config, teacher, teacher_logits)
    if teacher is not None:
        teacher.eval()  # dropout off: the same image always gets the same soft targets

    def batch_loss(logits: Tensor, views: Tensor, index: Tensor) -> Tensor:
        if teacher is None:
            targets = teacher_logits[index].to(logits.device)
        else:
            with torch.no_grad():
                targets = teacher(views)
        return distillation_loss(logits, targets, train_y[index].to(logits.device),
                                 alpha, temperature)

    return _fit(student, train_x, config, batch_loss, test, description)


def _check_teacher(student: nn.Module, train_x: Tensor, config: TrainConfig,
                   teacher: nn.Module | None, teacher_logits: Tensor | None) -> None:
    if (teacher is None) == (teacher_logits is None):
        raise ValueError("give exactly one of teacher= (a model) or teacher_logits= (a tensor)")
    if teacher_logits is not None:
        if teacher_logits.shape[0] != train_x.shape[0]:
            raise ValueError(f"teacher_logits has {teacher_logits.shape[0]} rows but train_x has "
                             f"{train_x.shape[0]} images; compute them with predict_logits(teacher, train_x)")
        if config.max_shift:
            raise ValueError(f"teacher_logits were computed on unshifted images, but max_shift="
                             f"{config.max_shift} would show the student shifted ones; pass teacher= "
                             "instead, or shift train_x beforehand and use max_shift=0")
    elif {id(p) for p in teacher.parameters()} & {id(p) for p in student.parameters()}:
        raise ValueError("teacher and student share parameters; distil into a separate model")


def _fit(model: nn.Module, train_x: Tensor, config: TrainConfig,
         batch_loss: Callable[[Tensor, Tensor, Tensor], Tensor],
         test: tuple[Tensor, Tensor] | None, description: str) -> EpochHistory:
    """The loop shared by both trainers: shuffle, shift, step, record."""
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(config.seed)
    steps_per_epoch = -(-len(train_x) // config.batch_size)  # ceiling division
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)  # the model's parameters only
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.epochs * steps_per_epoch)
    history, start = EpochHistory(), time.perf_counter()
    for _ in progress(range(config.epochs), description, total=config.epochs):
        model.train()
        order, total = torch.randperm(len(train_x), generator=generator), 0.0
        for index in order.split(config.batch_size):
            views = random_shift(train_x[index], config.max_shift, generator).to(device)
            loss = batch_loss(model(views), views, index)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item()
        history.loss.append(total / steps_per_epoch)
        if test is not None:
            history.test_accuracy.append(model_accuracy(model, *test))
    history.seconds = time.perf_counter() - start
    return history
