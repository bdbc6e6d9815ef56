"""Second-order MAML: meta-iterations per second and peak memory, the kit against its peers.

Every method trains the same Conv4-64 on the same 5-way 1-shot tasks (15 queries per class),
4 tasks per meta-batch, with the same inner steps (1 and 5) and inner learning rate, and takes
one Adam step per meta-iteration:

- ``plain``: a plain-PyTorch reference written here: ``torch.autograd.grad(create_graph=True)``
  in a Python loop over tasks, one ``backward`` per task (the usual tutorial code);
- ``higher``: the same with the ``higher`` library (``pip install higher``; skipped if absent);
- ``plain_bf16``: the plain loop in bfloat16 autocast, the fair baseline for a bfloat16 row;
- ``kit_loop`` / ``kit_vmap``: ``functional.meta_backward(maml.task_loss, vectorize=False/True)``
  (the loop back-propagates each task as soon as it is computed, freeing its graph);
- ``kit_compiled``: the kit's eager inner loop with the query pass compiled by
  ``torch.compile`` (compile time reported apart);
- ``kit_batched``: ``batched_maml.maml_task_losses`` (in this folder): all tasks in one network
  call through grouped convolutions (exact: same gradients as the loop, tested);
- ``kit_batched_bf16``: the same in bfloat16 autocast (faster on AMX/BF16 CPUs, not exact).

Each method runs in its own subprocess, so its peak memory is its own: on a CPU the growth of
the peak resident memory over the process's baseline after set-up (every library imported in
every worker, so baselines compare), the peak counter reset after the warm-up; on a GPU
``torch.cuda.max_memory_allocated``. The methods are interleaved: ``--rounds`` rounds (3 by
default), each running every method once. The time of a meta-iteration is the median, with
quartiles, over all timed iterations of all rounds (two warm-up iterations per worker are not
timed). Ratios are against the faster of ``higher`` and ``plain`` (the "reference").

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
from kdmeta_lib.functional import adapt, meta_backward
from kdmeta_lib.models import Conv4
from fast_layouts import keep_freed_memory
from profiling import current_rss_mb, peak_rss_since_reset_mb, reset_peak_rss, timed

METHODS = ("plain", "plain_bf16", "higher", "kit_loop", "kit_vmap", "kit_compiled",
           "kit_batched", "kit_batched_bf16")
REFERENCES = ("plain", "higher")
N_WAY, K_SHOT, N_QUERY, N_TASKS, INNER_LR, OUTER_LR = 5, 1, 15, 4, 0.4, 1e-3
STARTUP_SECONDS = 4.0  # a worker's python + torch start, set aside from each method's share
WARMUP = 2
SKIPPED_HIGHER = {"skipped": "higher is not installed (pip install higher)"}


def add_arguments(parser) -> None:
    parser.add_argument("--methods", default=",".join(METHODS),
                        help=f"comma-separated subset of {','.join(METHODS)}")
    parser.add_argument("--inner-steps", default="1,5", help="inner steps to test, e.g. 1,5")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved repetitions of every method (default 3)")
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


def plain_bf16_step(model, episode, config) -> None:
    """The plain loop in bfloat16 autocast: the fair baseline for any bfloat16 speed-up."""
    with torch.autocast(episode.support_x.device.type, dtype=torch.bfloat16):
        plain_step(model, episode, config)


def kit_step(vectorize: bool):
    def step(model, episode, config) -> None:
        # one backward per task on the loop path: each task's graph is freed before the next
        meta_backward(maml.task_loss, model, episode, config=config, vectorize=vectorize)
    return step


def compiled_step():
    """The kit's inner loop (``functional.adapt``, eager: it needs second derivatives) and a
    query pass compiled with ``torch.compile`` (its backward is first order), one backward per
    task. The first call compiles; the worker reports that time as ``compile_seconds``."""
    compiled = {}

    def step(model, episode, config) -> None:
        if "query" not in compiled:
            def query_loss(weights, images, labels):
                return F.cross_entropy(functional_call(model, weights, (images,)), labels)
            compiled["query"] = torch.compile(query_loss, dynamic=False)
        params = dict(model.named_parameters())
        for t in range(N_TASKS):
            def support_loss(weights, t=t):
                logits = functional_call(model, weights, (episode.support_x[t],))
                return F.cross_entropy(logits, episode.support_y[t])
            adapted = adapt(support_loss, params, inner_lr=config.inner_lr,
                            inner_steps=config.inner_steps)
            query = compiled["query"](adapted, episode.query_x[t], episode.query_y[t])
            (query / N_TASKS).backward()
    return step


def batched_step(bf16: bool):
    def step(model, episode, config) -> None:
        losses, _ = maml_task_losses(model, episode, config, bf16=bf16)
        losses.mean().backward()
    return step


STEPS = {"plain": plain_step, "plain_bf16": plain_bf16_step, "higher": higher_step,
         "kit_loop": kit_step(False), "kit_vmap": kit_step(True),
         "kit_compiled": compiled_step(), "kit_batched": batched_step(False),
         "kit_batched_bf16": batched_step(True)}


# --- one method in its own process -----------------------------------------------------------

def import_everything() -> None:
    """Import what any method uses, so that every worker's memory baseline holds the same
    libraries (``higher`` and the compiler are large)."""
    if importlib.util.find_spec("higher") is not None:
        import higher  # noqa: F401
    import torch._dynamo  # noqa: F401
    import torch._inductor  # noqa: F401


def run_worker(args) -> dict:
    """Time one method for ``args.seconds``; print and return its figures.

    Memory is the growth of the process's resident memory over its baseline (after set-up and
    imports): the peak over the timed iterations, the kernel's peak counter being reset after
    the warm-up (which holds ``torch.compile``'s work; reported as ``compile_seconds``).
    """
    method, inner_steps = args.worker.split(":")
    device = args.device
    if method == "higher" and importlib.util.find_spec("higher") is None:
        return SKIPPED_HIGHER
    import_everything()
    keep_freed_memory()  # the benchmarks' allocator setting, the same for every method
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

    baseline_rss = current_rss_mb()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        baseline_gpu = torch.cuda.memory_allocated(device) / 2**20
    warmup = [iteration() for _ in range(WARMUP)]
    reset_peak_rss()
    budget_start = time.perf_counter()
    times: list[float] = []
    while (len(times) < 3 or time.perf_counter() - budget_start < args.seconds) \
            and len(times) < args.max_iterations:
        times.append(iteration())
    peak = peak_rss_since_reset_mb()
    result = {
        "median_ms": 1000 * statistics.median(times), "times_ms": [1000 * t for t in times],
        "n_iterations": len(times), "warmup_ms": [1000 * w for w in warmup],
        "compile_seconds": warmup[0] - statistics.median(times) if method == "kit_compiled"
        else None,
        "seconds": time.perf_counter() - budget_start,
        "peak_rss_mb": peak, "baseline_rss_mb": baseline_rss,
        "peak_memory_mb": peak - baseline_rss, "memory_measure": "peak resident memory growth",
    }
    if device.type == "cuda":
        result["peak_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20 - baseline_gpu
        result["memory_measure"] = "torch.cuda.max_memory_allocated growth"
    return result


def pooled(rounds: list[dict]) -> dict:
    """One method's rounds together: the median and quartiles of every timed iteration, the
    median peak memory, and each round's median (so drift between rounds shows)."""
    done = [r for r in rounds if "median_ms" in r]
    if not done:
        return rounds[0]
    times = sorted(t for r in done for t in r["times_ms"])
    quartiles = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    return {"median_ms": statistics.median(times), "quartiles_ms": [quartiles[0], quartiles[2]],
            "iterations_per_second": 1000 / statistics.median(times),
            "round_medians_ms": [r["median_ms"] for r in done], "rounds": len(done),
            "n_iterations": len(times),
            "peak_memory_mb": statistics.median(r["peak_memory_mb"] for r in done),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in done),
            "compile_seconds": done[0]["compile_seconds"],
            "memory_measure": done[0]["memory_measure"]}


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
        if name.startswith("kit") and not name.endswith("bf16"):  # exact (fp32) paths only
            r["moonshot_met"] = bool(r["speedup_vs_reference"] >= 2.0 and
                                     r["memory_vs_reference"] is not None and
                                     r["memory_vs_reference"] <= 1.0)
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
    # interleaved: every method once per round, so drift in the machine's speed hits all alike
    jobs = [(r, s, m) for r in range(args.rounds) for s in inner_step_counts for m in methods]
    seconds = max(0.5, 60 * args.minutes / len(jobs) - STARTUP_SECONDS)
    results: dict = {"settings": {
        "model": f"Conv4-{args.width}", "n_way": N_WAY, "k_shot": K_SHOT, "n_query": N_QUERY,
        "meta_batch": N_TASKS, "inner_lr": INNER_LR, "outer_optimizer": f"Adam lr={OUTER_LR}",
        "second_order": True, "seconds_per_method": seconds, "warmup_iterations": WARMUP,
        "timing": "median wall time of one meta-iteration (forward, backward, Adam step), "
                  "pooled over the rounds, with quartiles",
        "rounds": args.rounds, "interleaved": True,
        "data": "random 28x28 images (speed does not depend on pixel values)"},
        "inner_steps": {}}
    rounds: dict[tuple[int, str], list[dict]] = {(s, m): [] for _, s, m in jobs}
    for _, s, m in common.progress(jobs, "maml speed", total=len(jobs)):
        rounds[(s, m)].append(SKIPPED_HIGHER if m == "higher" and higher_missing
                              else spawn(args, m, s, seconds))
    by_steps: dict[int, dict[str, dict]] = {s: {} for s in inner_step_counts}
    for (s, m), measured in rounds.items():
        by_steps[s][m] = pooled(measured)
    rows = []
    for s in inner_step_counts:
        summary = compare(by_steps[s])
        results["inner_steps"][str(s)] = {"methods": by_steps[s], **summary}
        for m, r in by_steps[s].items():
            if "median_ms" not in r:
                rows.append([s, m, r.get("skipped", r.get("failed", "?")), "", "", "", "", ""])
                continue
            quartiles = r.get("quartiles_ms", [r["median_ms"]] * 2)
            rows.append([s, m, f"{r['median_ms']:.0f} ({quartiles[0]:.0f}–{quartiles[1]:.0f})",
                         f"{r['iterations_per_second']:.2f}",
                         f"{r['peak_memory_mb']:.0f}", f"{r['speedup_vs_reference']:.2f}×",
                         "" if r["memory_vs_reference"] is None
                         else f"{r['memory_vs_reference']:.2f}×",
                         "" if r.get("compile_seconds") is None else f"{r['compile_seconds']:.1f}"])
    markdown = (f"Second-order MAML, Conv4-{args.width}, {N_WAY}-way {K_SHOT}-shot, "
                f"{N_QUERY} queries, {N_TASKS} tasks per meta-batch, {args.rounds} interleaved "
                f"rounds of every method (median and quartiles over all their iterations). "
                f"Ratios against the faster of `higher` and the plain `autograd.grad` loop; "
                f"peak memory is the growth of resident memory over the worker's baseline "
                f"(after importing every library).\n\n" + common.markdown_table(
                    ["inner steps", "method", "ms / meta-iteration, median (quartiles)",
                     "meta-it/s", "peak memory (MB)", "speed-up", "memory ratio",
                     "compile (s)"], rows))
    markdown += ("\n`plain_bf16` and `kit_batched_bf16` run in bfloat16 autocast: faster on "
                 "AMX/BF16 CPUs but not exact (opt-in); compare a bfloat16 kit row with "
                 "`plain_bf16`. The other kit paths give the loop's meta-gradients; "
                 "`kit_compiled` compiles the query pass (compile time in its own column).\n")
    for s in inner_step_counts:
        entry = results["inner_steps"][str(s)]
        met = [m for m, r in entry["methods"].items() if r.get("target_met")]
        entry["target_met_by"] = met
        fastest = max((m for m, r in entry["methods"].items() if "target_met" in r),
                      key=lambda m: entry["methods"][m]["speedup_vs_reference"], default=None)
        markdown += (f"\n{s} inner step(s): target (an exact kit path ≥ 1.5× the reference at "
                     f"≤ its peak memory) {'met by ' + ', '.join(met) if met else 'not met'}"
                     + ("" if fastest is None else
                        f"; fastest exact kit path {fastest}, "
                        f"{entry['methods'][fastest]['speedup_vs_reference']:.2f}× at "
                        f"{entry['methods'][fastest]['memory_vs_reference'] or 0:.2f}× the memory")
                     + f"; moonshot (2×) {'met' if any(r.get('moonshot_met') for r in entry['methods'].values()) else 'not met'}.")
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
