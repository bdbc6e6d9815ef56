"""Second-order MAML: meta-iterations per second and peak memory, the kit against its peers.

Every method trains the same Conv4-64 on the same 5-way 1-shot tasks (15 queries per class),
4 tasks per meta-batch, with the same inner steps (1 and 5) and inner learning rate, and takes
one Adam step per meta-iteration:

- ``plain``: a plain-PyTorch reference written here: ``torch.autograd.grad(create_graph=True)``
  in a Python loop over tasks, one ``backward`` per task (the usual tutorial code);
- ``higher``: the same with the ``higher`` library (``pip install higher``; skipped if absent);
- ``kit_loop`` / ``kit_vmap``: ``functional.run_tasks(maml.task_loss, vectorize=False/True)``;
- ``kit_batched``: ``batched_maml.maml_task_losses`` (in this folder): all tasks in one network
  call through grouped convolutions (exact: same gradients as the loop, tested);
- ``kit_batched_bf16``: the same in bfloat16 autocast (faster on AMX/BF16 CPUs, not exact).

Each method runs in its own subprocess, so its peak memory is its own: on a CPU the growth of
``ru_maxrss`` (peak resident memory) over the process's baseline after set-up, on a GPU
``torch.cuda.max_memory_allocated``. The time of a meta-iteration is the median over the
iterations after two warm-up iterations. Ratios are against the faster of ``higher`` and
``plain`` (the "reference").

Run alone on an idle machine: two jobs on 2 cores distort the ratios badly.

    python benchmarks/maml_speed.py --minutes 4 [--device cpu]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import time

import common  # noqa: F401  (puts the repository on sys.path)
import torch
import torch.nn.functional as F
from torch.func import functional_call

from batched_maml import maml_task_losses
from kdmeta_lib import maml
from kdmeta_lib.episodes import EpisodeSampler
from kdmeta_lib.functional import run_tasks
from kdmeta_lib.models import Conv4
from profiling import peak_rss_mb, timed

METHODS = ("plain", "higher", "kit_loop", "kit_vmap", "kit_batched", "kit_batched_bf16")
REFERENCES = ("plain", "higher")
N_WAY, K_SHOT, N_QUERY, N_TASKS, INNER_LR, OUTER_LR = 5, 1, 15, 4, 0.4, 1e-3
STARTUP_SECONDS = 4.0  # a worker's python + torch start, set aside from each method's share
WARMUP = 2
SKIPPED_HIGHER = {"skipped": "higher is not installed (pip install higher)"}


def add_arguments(parser) -> None:
    parser.add_argument("--methods", default=",".join(METHODS),
                        help=f"comma-separated subset of {','.join(METHODS)}")
    parser.add_argument("--inner-steps", default="1,5", help="inner steps to test, e.g. 1,5")
    parser.add_argument("--width", type=int, default=64, help="Conv4 width (64 as in the papers)")
    parser.add_argument("--max-iterations", type=int, default=1000,
                        help="timed iterations per method at most")
    # Internal: the parent re-runs this script as ``--worker METHOD:STEPS`` for each method.
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=10.0, help=argparse.SUPPRESS)


# --- the methods: one meta-iteration's forward and backward (the optimizer step is shared) ----

def plain_step(model, episode, config) -> None:
    """Reference: autograd.grad with create_graph=True, one task at a time."""
    params = dict(model.named_parameters())
    for t in range(N_TASKS):
        weights = params
        for _ in range(config.inner_steps):
            logits = functional_call(model, weights, (episode.support_x[t],))
            loss = F.cross_entropy(logits, episode.support_y[t])
            grads = torch.autograd.grad(loss, list(weights.values()), create_graph=True)
            weights = {name: w - config.inner_lr * g
                       for (name, w), g in zip(weights.items(), grads)}
        query = F.cross_entropy(functional_call(model, weights, (episode.query_x[t],)),
                                episode.query_y[t])
        (query / N_TASKS).backward()


def higher_step(model, episode, config) -> None:
    """``higher``'s documented MAML loop: a differentiable SGD inner optimizer per task."""
    import higher
    inner_optimizer = torch.optim.SGD(model.parameters(), lr=config.inner_lr)
    for t in range(N_TASKS):
        with higher.innerloop_ctx(model, inner_optimizer, copy_initial_weights=False) as (
                fmodel, diffopt):
            for _ in range(config.inner_steps):
                diffopt.step(F.cross_entropy(fmodel(episode.support_x[t]), episode.support_y[t]))
            query = F.cross_entropy(fmodel(episode.query_x[t]), episode.query_y[t])
            (query / N_TASKS).backward()


def kit_step(vectorize: bool):
    def step(model, episode, config) -> None:
        losses, _ = run_tasks(maml.task_loss, model, episode, config=config, vectorize=vectorize)
        losses.mean().backward()
    return step


def batched_step(bf16: bool):
    def step(model, episode, config) -> None:
        losses, _ = maml_task_losses(model, episode, config, bf16=bf16)
        losses.mean().backward()
    return step


STEPS = {"plain": plain_step, "higher": higher_step, "kit_loop": kit_step(False),
         "kit_vmap": kit_step(True), "kit_batched": batched_step(False),
         "kit_batched_bf16": batched_step(True)}


# --- one method in its own process -----------------------------------------------------------

def run_worker(args) -> dict:
    """Time one method for ``args.seconds``; print and return its figures."""
    method, inner_steps = args.worker.split(":")
    device = args.device
    if method == "higher" and importlib.util.find_spec("higher") is None:
        return SKIPPED_HIGHER
    common.seed_everything(args.seed)
    model = Conv4(args.width, n_classes=N_WAY).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=OUTER_LR)
    config = maml.MamlConfig(inner_lr=INNER_LR, inner_steps=int(inner_steps))
    images = torch.rand(64, 20, 1, 28, 28, generator=torch.Generator().manual_seed(args.seed))
    sampler = EpisodeSampler(images, N_WAY, K_SHOT, N_QUERY, seed=args.seed)
    step = STEPS[method]

    def iteration() -> float:
        episode = sampler.sample_batch(N_TASKS).to(device)

        def meta_iteration() -> None:
            optimizer.zero_grad(set_to_none=True)
            step(model, episode, config)
            optimizer.step()

        return timed(meta_iteration, device)

    baseline_rss = peak_rss_mb()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        baseline_gpu = torch.cuda.memory_allocated(device) / 2**20
    budget_start = time.perf_counter()
    warmup = [iteration() for _ in range(WARMUP)]
    times: list[float] = []
    while (len(times) < 3 or time.perf_counter() - budget_start < args.seconds) \
            and len(times) < args.max_iterations:
        times.append(iteration())
    result = {
        "median_ms": 1000 * statistics.median(times),
        "quartiles_ms": [1000 * q for q in statistics.quantiles(times, n=4)[::2]],
        "iterations_per_second": 1 / statistics.median(times),
        "n_iterations": len(times), "warmup_ms": [1000 * w for w in warmup],
        "seconds": time.perf_counter() - budget_start,
        "peak_rss_mb": peak_rss_mb(), "baseline_rss_mb": baseline_rss,
        "peak_memory_mb": peak_rss_mb() - baseline_rss, "memory_measure": "ru_maxrss growth",
    }
    if device.type == "cuda":
        result["peak_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20 - baseline_gpu
        result["memory_measure"] = "torch.cuda.max_memory_allocated growth"
    return result


def spawn(args, method: str, inner_steps: int, seconds: float) -> dict:
    command = [sys.executable, __file__, "--worker", f"{method}:{inner_steps}",
               "--seconds", f"{seconds:.2f}", "--device", str(args.device),
               "--width", str(args.width), "--seed", str(args.seed),
               "--max-iterations", str(args.max_iterations), "--out", str(args.out)]
    if args.threads is not None:
        command += ["--threads", str(args.threads)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        return {"failed": done.stderr.strip().splitlines()[-1] if done.stderr else "no output"}
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the comparison --------------------------------------------------------------------------

def compare(methods: dict[str, dict]) -> dict:
    """Ratios against the faster reference: speed-up (>1 is faster) and memory (<1 is less)."""
    measured = {name: r for name, r in methods.items() if "median_ms" in r}
    references = [name for name in REFERENCES if name in measured]
    if not references:
        return {"reference": None}
    reference = min(references, key=lambda name: measured[name]["median_ms"])
    ref = measured[reference]
    for name, r in measured.items():
        r["speedup_vs_reference"] = ref["median_ms"] / r["median_ms"]
        r["memory_vs_reference"] = (r["peak_memory_mb"] / ref["peak_memory_mb"]
                                    if ref["peak_memory_mb"] > 0 else None)
        if name.startswith("kit"):
            r["target_met"] = bool(r["speedup_vs_reference"] >= 1.5 and
                                   r["memory_vs_reference"] is not None and
                                   r["memory_vs_reference"] <= 1.0)
    summary = {"reference": reference}
    if "kit_loop" in measured and "kit_vmap" in measured:
        summary["vmap_speedup_vs_loop"] = (measured["kit_loop"]["median_ms"]
                                           / measured["kit_vmap"]["median_ms"])
    return summary


def main() -> None:
    args = common.parse_args(__doc__.splitlines()[0], default_minutes=4.0,
                             add_arguments=add_arguments)
    if args.worker:
        print(json.dumps(run_worker(args)))
        return
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {', '.join(METHODS)}")
    inner_step_counts = [int(s) for s in args.inner_steps.split(",")]
    higher_missing = importlib.util.find_spec("higher") is None
    if "higher" in methods and higher_missing:
        print("higher is not installed: skipping it (pip install higher to compare against it)")
    jobs = [(s, m) for s in inner_step_counts for m in methods]
    seconds = max(0.5, 60 * args.minutes / len(jobs) - STARTUP_SECONDS)
    results: dict = {"settings": {
        "model": f"Conv4-{args.width}", "n_way": N_WAY, "k_shot": K_SHOT, "n_query": N_QUERY,
        "meta_batch": N_TASKS, "inner_lr": INNER_LR, "outer_optimizer": f"Adam lr={OUTER_LR}",
        "second_order": True, "seconds_per_method": seconds, "warmup_iterations": WARMUP,
        "timing": "median wall time of one meta-iteration (forward, backward, Adam step)",
        "data": "random 28x28 images (speed does not depend on pixel values)"},
        "inner_steps": {}}
    by_steps: dict[int, dict[str, dict]] = {s: {} for s in inner_step_counts}
    for s, m in common.progress(jobs, "maml speed", total=len(jobs)):
        by_steps[s][m] = (SKIPPED_HIGHER if m == "higher" and higher_missing
                          else spawn(args, m, s, seconds))
    rows = []
    for s in inner_step_counts:
        summary = compare(by_steps[s])
        results["inner_steps"][str(s)] = {"methods": by_steps[s], **summary}
        for m, r in by_steps[s].items():
            if "median_ms" not in r:
                rows.append([s, m, r.get("skipped", r.get("failed", "?")), "", "", "", ""])
                continue
            rows.append([s, m, f"{r['median_ms']:.0f}", f"{r['iterations_per_second']:.2f}",
                         f"{r['peak_memory_mb']:.0f}", f"{r['speedup_vs_reference']:.2f}×",
                         "" if r["memory_vs_reference"] is None
                         else f"{r['memory_vs_reference']:.2f}×"])
    markdown = (f"Second-order MAML, Conv4-{args.width}, {N_WAY}-way {K_SHOT}-shot, "
                f"{N_QUERY} queries, {N_TASKS} tasks per meta-batch. Ratios against the faster "
                f"of `higher` and the plain `autograd.grad` loop.\n\n" + common.markdown_table(
                    ["inner steps", "method", "ms / meta-iteration (median)", "meta-it/s",
                     "peak memory (MB)", "speed-up", "memory ratio"], rows))
    markdown += ("\n`kit_batched_bf16` runs in bfloat16 autocast: faster on AMX/BF16 CPUs but not "
                 "exact (opt-in); the other kit paths give the loop's meta-gradients.\n")
    for s in inner_step_counts:
        entry = results["inner_steps"][str(s)]
        met = [m for m, r in entry["methods"].items() if r.get("target_met")]
        entry["target_met_by"] = met
        markdown += (f"\n{s} inner step(s): target (kit ≥ 1.5× the reference at ≤ its peak "
                     f"memory) {'met by ' + ', '.join(met) if met else 'not met'}.")
        if "vmap_speedup_vs_loop" in entry:
            markdown += f"\n{s} inner step(s): kit vmap vs kit loop: " \
                        f"{entry['vmap_speedup_vs_loop']:.2f}×"
    common.write_results("maml_speed", args, results, markdown + "\n", make_figure(by_steps))


def make_figure(by_steps):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axes = plt.subplots(1, len(by_steps), figsize=(5 * len(by_steps), 3.5), squeeze=False)
    for axis, (s, methods) in zip(axes[0], by_steps.items()):
        timed = {m: r["median_ms"] for m, r in methods.items() if "median_ms" in r}
        axis.barh(list(timed), list(timed.values()), color="tab:blue")
        axis.set_xlabel("ms per meta-iteration (median)")
        axis.set_title(f"second-order MAML, {s} inner step(s)")
        axis.invert_yaxis()
    figure.tight_layout()
    return figure


if __name__ == "__main__":
    main()
