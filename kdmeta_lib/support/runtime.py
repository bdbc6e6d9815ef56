"""Where code runs and how it is made reproducible: device choice, seeding, CPU threads,
progress bars.

Every notebook starts with ``device = pick_device()`` and ``seed_everything(SEED)``; every loop
that runs longer than a few seconds wraps its iterable in :func:`progress`. Notebooks that use
more than one CPU thread call :func:`use_free_cores` so that a busy laptop does not slow them
down many times over.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

import numpy as np
import torch

from .validation import check_integer, environment_choice

T = TypeVar("T")


def pick_device(prefer: str | None = None) -> torch.device:
    """Return CUDA when a GPU is present, else the CPU.

    Args:
        prefer: ``"cpu"`` or ``"cuda"`` to override the automatic choice. The environment
            variable ``KDMETA_DEVICE`` overrides it too (handy in a classroom to force the CPU).
    """
    source = "prefer" if prefer else "the environment variable KDMETA_DEVICE"
    choice = prefer or os.environ.get("KDMETA_DEVICE", "").strip()
    if not choice:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(choice)
    except (RuntimeError, TypeError):
        device = None
    if device is None or device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"{source} asks for device {choice!r}, which is not one of 'cpu', "
                         "'cuda', 'cuda:N' or 'mps'; fix it, or unset it to let pick_device() "
                         "choose")
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": torch.backends.mps.is_available()}[device.type]
    if not available or (device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count()):
        what = "no GPU" if device.type == "cuda" and not available else "no such device"
        raise ValueError(f"device {choice!r} was asked for (by {source}) but torch sees {what}; "
                         "use 'cpu' or leave the choice to pick_device()")
    return device


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and GPU) at once and return a seeded torch generator.

    The returned generator is for code that wants its own random stream (e.g. a sampler) without
    disturbing the global one.
    """
    check_integer("seed", seed, minimum=0)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)


def progress(iterable: Iterable[T], description: str = "", total: int | None = None,
             enabled: bool = True) -> Iterator[T]:
    """Wrap a long loop in a tqdm progress bar (a widget in Jupyter, text in a terminal).

    Set ``KDMETA_PROGRESS=0`` to silence every bar (e.g. in logs).
    """
    shown = environment_choice("KDMETA_PROGRESS", {"0": "no bars", "1": "bars"}, default="1")
    if not enabled or shown == "0":
        return iter(iterable)
    from tqdm.auto import tqdm  # imported here so the library imports fast

    return iter(tqdm(iterable, desc=description, total=total, leave=False, mininterval=0.5))


def cpu_friendly(model: torch.nn.Module, device: torch.device | str | None = None) -> torch.nn.Module:
    """``model`` on ``device``, in the channels-last memory layout when that is the CPU: the same
    outputs, but faster convolutions and pooling there (measured in ``benchmarks/``). On a GPU the
    layout stays as it is, because ``vmap`` over tasks cannot yet query channels-last strides on
    CUDA ("NYI: querying is_contiguous inside of vmap")."""
    model = model.to(device)
    on_cpu = next(model.parameters(), torch.empty(0)).device.type == "cpu"
    return model.to(memory_format=torch.channels_last) if on_cpu else model


def busy_cores(seconds: float = 0.5) -> float:
    """How many of this machine's cores other programs keep busy, measured over ``seconds``.

    Reads the kernel's CPU counters (``/proc/stat``: time spent busy and idle, all cores
    together) before and after a short sleep; this process sleeps meanwhile, so what was busy
    was someone else. Where ``/proc/stat`` does not exist (macOS, Windows) the one-minute load
    average stands in for it, and where that is missing too, 0.
    """
    def counters() -> tuple[int, int] | None:
        try:
            with open("/proc/stat") as stat:
                fields = [int(value) for value in stat.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + waiting for disk
        return sum(fields[:8]), idle  # user … steal; guest time is already inside user

    before = counters()
    if before is None:
        try:
            return float(os.getloadavg()[0])
        except (AttributeError, OSError):
            return 0.0
    time.sleep(seconds)
    after = counters()
    total, idle = after[0] - before[0], after[1] - before[1]
    cores = os.cpu_count() or 1  # /proc/stat counts every core of the machine
    return 0.0 if total <= 0 else cores * (total - idle) / total


def use_free_cores(verbose: bool = True) -> int:
    """Give torch one CPU thread per core that other programs leave free (at least one).

    Why: torch's threads wait for each other by spinning. When another program (a browser, a
    second notebook) keeps a core busy, a thread that loses its core makes the other spin
    through its whole time slice: one run of notebook 02 with two threads beside a CPU
    benchmark took 22.5 minutes instead of about 2.6. With this policy every notebook stayed
    within 1.5× its idle time beside one CPU-bound process
    (``benchmarks/notebook_times.py --competing-load 1``). Call it once at the top of a
    notebook; on an idle machine it keeps every core.

    Returns:
        The number of threads set (``torch.get_num_threads()`` afterwards).
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)
    busy = busy_cores()
    threads = max(1, min(cores, cores - round(busy)))
    torch.set_num_threads(threads)
    if verbose:
        print(f"torch threads: {threads} ({cores} cores, {busy:.1f} busy with other programs)")
    return threads
