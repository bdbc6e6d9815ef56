"""Where code runs and how it is made reproducible: device choice, seeding, progress bars.

Every notebook starts with ``device = pick_device()`` and ``seed_everything(SEED)``; every loop
that runs longer than a few seconds wraps its iterable in :func:`progress`.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterable, Iterator
from typing import TypeVar

import numpy as np
import torch

T = TypeVar("T")


def pick_device(prefer: str | None = None) -> torch.device:
    """Return CUDA when a GPU is present, else the CPU.

    Args:
        prefer: ``"cpu"`` or ``"cuda"`` to override the automatic choice. The environment
            variable ``KDMETA_DEVICE`` overrides it too (handy in a classroom to force the CPU).
    """
    choice = prefer or os.environ.get("KDMETA_DEVICE")
    if choice:
        if choice.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(
                f"device {choice!r} was asked for but torch sees no GPU; "
                "use 'cpu' or leave the choice to pick_device()"
            )
        return torch.device(choice)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and GPU) at once and return a seeded torch generator.

    The returned generator is for code that wants its own random stream (e.g. a sampler) without
    disturbing the global one.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)


def progress(iterable: Iterable[T], description: str = "", total: int | None = None,
             enabled: bool = True) -> Iterator[T]:
    """Wrap a long loop in a tqdm progress bar (a widget in Jupyter, text in a terminal).

    Set ``KDMETA_PROGRESS=0`` to silence every bar (e.g. in logs).
    """
    if not enabled or os.environ.get("KDMETA_PROGRESS", "1") == "0":
        return iter(iterable)
    from tqdm.auto import tqdm  # imported here so the library imports fast

    return iter(tqdm(iterable, desc=description, total=total, leave=False, mininterval=0.5))


def cpu_friendly(model: torch.nn.Module, device: torch.device | str | None = None) -> torch.nn.Module:
    """``model`` on ``device`` in the channels-last memory layout: the same outputs, but faster
    convolutions and pooling on a CPU (measured in ``benchmarks/``)."""
    return model.to(device, memory_format=torch.channels_last)
