"""Timing and memory measurements shared by the benchmarks.

- :func:`timed` and :func:`peak_rss_mb`: the clock and the memory gauge every script uses;
- :func:`seconds_per_step`: calibrate a training loop before planning a budget (``fusion.py``);
- :func:`profile`: one training step of each Omniglot learner under each speed setting
  (``omniglot_accuracy.py``), the measurements behind the engineering notes in the README.
"""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from clock_training import training_step
from kdmeta_lib.data import FewShotData
from kdmeta_lib.episodes import EpisodeSampler
from recipes import Recipe, learner, learner_config, make_model, make_optimizer


def timed(function: Callable[[], object], device: torch.device) -> float:
    """Wall seconds of ``function()``; on a GPU, queued work is waited for before and after."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    function()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    """Resident memory of this process now (Linux's /proc; the peak so far elsewhere)."""
    return status_field_mb("VmRSS") or peak_rss_mb()


def reset_peak_rss() -> None:
    """Restart the kernel's peak-resident-memory counter of this process (Linux: writing 5 to
    /proc/self/clear_refs), so a later peak excludes what came before (e.g. compiling)."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        pass  # not Linux: the peak then covers the whole process


def peak_rss_since_reset_mb() -> float:
    """Peak resident memory since :func:`reset_peak_rss` (the whole run where it cannot reset)."""
    return status_field_mb("VmHWM") or peak_rss_mb()


def status_field_mb(field: str) -> float | None:
    """A memory field of /proc/self/status in MB, or None where it does not exist."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        return None
    return None


def seconds_per_step(train_some_steps: Callable[[int], object], device: torch.device,
                     n_steps: int = 5) -> float:
    """Seconds per outer step: time ``n_steps`` steps of ``train_some_steps(n)`` after one
    warm-up step."""
    train_some_steps(1)
    return timed(lambda: train_some_steps(n_steps), device) / n_steps


def time_training_step(name: str, recipe: Recipe, data: FewShotData, *, fast_layout: bool,
                       bfloat16: bool, device: torch.device, repeats: int) -> float:
    """Median milliseconds of one training step of ``name`` (a fresh model, real episodes).

    Only the first model (5-way for head-based learners) is timed. The first step is a warm-up
    and is not counted.
    """
    objective, _ = learner(name)
    head = recipe.heads[0] if recipe.heads else None
    n_way = head or recipe.train_way
    model = make_model(recipe, head, device, fast_layout, bfloat16 and recipe.config is None)
    config = learner_config(recipe, n_way)
    sampler = EpisodeSampler(data.train, n_way, recipe.train_shot, recipe.train_query, seed=0)
    optimizer = make_optimizer(model, recipe)
    seconds = [timed(lambda: training_step(model, objective, config, sampler, optimizer,
                                           n_tasks=recipe.n_tasks, device=device), device)
               for _ in range(repeats + 1)]
    return round(1000 * statistics.median(seconds[1:]), 1)


def profile(names: list[str], recipes: dict[str, Recipe], data: FewShotData, *,
            device: torch.device, bfloat16: bool, repeats: int) -> list[dict[str, Any]]:
    """Time one training step per algorithm under each speed setting, on this machine.

    Variants: the default NCHW layout in float32, channels-last weights, channels-last with
    bfloat16 convolutions (ProtoNet, where the CPU has bfloat16 units), and channels-last with
    a single thread (to show what the second core buys). These re-measure, in the same run as
    the accuracies, what the engineering notes in ``benchmarks/README.md`` describe.
    """
    threads = torch.get_num_threads()
    variants = [("NCHW float32", False, False, threads),
                ("channels-last float32", True, False, threads)]
    if bfloat16:
        variants.append(("channels-last bfloat16", True, True, threads))
    if threads > 1:
        variants.append(("channels-last, 1 thread", True, bfloat16, 1))
    rows = []
    for name in names:
        for label, fast_layout, use_bf16, n_threads in variants:
            is_protonet = recipes[name].config is None
            if use_bf16 and not is_protonet and not label.endswith("1 thread"):
                continue  # bfloat16 is for ProtoNet only
            if label.endswith("1 thread"):
                use_bf16 = use_bf16 and is_protonet
                label = f"channels-last {'bfloat16' if use_bf16 else 'float32'}, 1 thread"
            torch.set_num_threads(n_threads)
            milliseconds = time_training_step(name, recipes[name], data, fast_layout=fast_layout,
                                              bfloat16=use_bf16, device=device, repeats=repeats)
            torch.set_num_threads(threads)
            rows.append({"algorithm": name, "variant": label, "threads": n_threads,
                         "ms_per_step": milliseconds})
            print(f"profile {name}, {label}: {milliseconds:.0f} ms per training step", flush=True)
    return rows
