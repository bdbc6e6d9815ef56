"""What each throughput lever buys ProtoNet's training step (issue 17), measured in one process.

    python benchmarks/protonet_levers.py [--repeats 15] [--threads 2]

The step is the accuracy benchmark's: Conv4-64, a 60-way 1-shot episode with 5 queries per
class (360 images of 28×28), ProtoNet's loss, backward, Adam. Each variant builds a fresh model
and times ``--repeats`` steps after 3 warm-up steps (median and quartiles). Rows 4–6 each add
one lever to row 3; the process-wide settings cannot be undone, so they come last and
accumulate:

1. ``nchw``: the textbook Conv4 in the default layout;
2. ``channels-last``: the same weights in the channels-last layout (``fast_layouts``);
3. ``fast blocks``: no conv bias, max-pool before ReLU (``Conv4(fast=True)``: the same function);
4. ``all splits``: the all-splits loss (``all_splits``: more signal per step, the same images);
5. ``compiled``: ``torch.compile`` of the model (compile time reported apart);
6. ``bfloat16``: autocast (pays only on CPUs with bfloat16 units);
7. ``flush denormals``: ``torch.set_flush_denormal(True)``;
8. ``glibc keeps freed memory``: ``fast_layouts.keep_freed_memory()``.

Run alone on an idle machine.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

import all_splits
import common
from fast_layouts import keep_freed_memory, with_speed_settings
from kdmeta_lib import protonet
from kdmeta_lib.episodes import EpisodeSampler
from kdmeta_lib.functional import meta_backward
from kdmeta_lib.models import Conv4

N_WAY, N_QUERY = 60, 5


def add_arguments(parser) -> None:
    parser.add_argument("--repeats", type=int, default=15, help="timed steps per variant")
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--no-compile", action="store_true",
                        help="skip the torch.compile row (its compile takes a while)")


def time_variant(make_model: Callable[[], torch.nn.Module], objective, sampler: EpisodeSampler,
                 repeats: int, bfloat16: bool = False) -> dict[str, float]:
    """Median and quartiles (ms) of ``repeats`` training steps, and the first step's time."""
    model = make_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    config = protonet.ProtoNetConfig(N_WAY)

    def step() -> float:
        episode = sampler.sample_batch(1)
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
            meta_backward(objective, model, episode, config=config)
        optimizer.step()
        return 1000 * (time.perf_counter() - start)

    first = step()
    for _ in range(2):
        step()
    times = sorted(step() for _ in range(repeats))
    quartiles = statistics.quantiles(times, n=4)
    return {"median_ms": round(statistics.median(times), 1),
            "quartiles_ms": [round(quartiles[0], 1), round(quartiles[2], 1)],
            "first_step_ms": round(first, 1)}


def main() -> None:
    args = common.parse_args(__doc__.splitlines()[0], default_minutes=3,
                             add_arguments=add_arguments)
    images = torch.rand(200, 20, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    sampler = EpisodeSampler(images, N_WAY, 1, N_QUERY, seed=0)
    cpu = args.device

    def conv4(fast: bool, channels_last: bool, compiled: bool = False):
        def make():
            torch.manual_seed(0)
            model = with_speed_settings(Conv4(args.width, fast=fast), cpu,
                                        channels_last=channels_last)
            return torch.compile(model) if compiled else model
        return make

    variants: list[tuple[str, Callable, object, bool, Callable[[], object] | None]] = [
        ("nchw", conv4(False, False), protonet.task_loss, False, None),
        ("channels-last", conv4(False, True), protonet.task_loss, False, None),
        ("channels-last + fast blocks", conv4(True, True), protonet.task_loss, False, None),
        ("… + all-splits loss", conv4(True, True), all_splits.task_loss, False, None),
        ("… + torch.compile", conv4(True, True, compiled=True), protonet.task_loss, False, None),
        ("… + bfloat16 autocast", conv4(True, True), protonet.task_loss, True, None),
        ("… + flush denormals", conv4(True, True), protonet.task_loss, False,
         lambda: torch.set_flush_denormal(True)),
        ("… + glibc keeps freed memory", conv4(True, True), protonet.task_loss, False,
         keep_freed_memory),
    ]
    if args.no_compile:
        variants = [v for v in variants if "compile" not in v[0]]
    rows, measured = [], {}
    for name, make, objective, bfloat16, setting in common.progress(variants, "levers"):
        applied = setting() if setting is not None else None
        figures = time_variant(make, objective, sampler, args.repeats, bfloat16)
        figures["setting_applied"] = applied
        measured[name] = figures
        print(f"{name}: {figures['median_ms']:.0f} ms", flush=True)
    base = measured["channels-last + fast blocks"]["median_ms"]
    for name, figures in measured.items():
        rows.append([name, f"{figures['median_ms']:.0f} ({figures['quartiles_ms'][0]:.0f}–"
                           f"{figures['quartiles_ms'][1]:.0f})",
                     f"{figures['first_step_ms']:.0f}",
                     f"{measured['nchw']['median_ms'] / figures['median_ms']:.2f}×"])
    markdown = (f"ProtoNet training step, Conv4-{args.width}, {N_WAY}-way 1-shot, {N_QUERY} "
                f"queries per class, fp32 unless stated; median (quartiles) of {args.repeats} "
                "steps after 3 warm-up steps, in one process. \"…\" is the third row "
                "(channels-last + fast blocks) plus one lever; the last two are process-wide "
                "settings that stay on, so the last row has both. The first step includes "
                "torch.compile's compile time.\n\n"
                + common.markdown_table(["variant", "ms / step", "first step (ms)",
                                         "speed vs nchw"], rows))
    common.write_results("protonet_levers", args, {"variants": measured,
                                                   "reference_ms": base}, markdown)


if __name__ == "__main__":
    main()
