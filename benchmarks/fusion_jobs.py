"""The fusion benchmark's work list: which models to train, in which order, and how to test them.

Each job trains (or loads) one ProtoNet and returns its predictions on the shared test episodes,
its accuracy on training episodes and its wall-clock time. Jobs run in worker processes of one
torch thread each (``Pool``), so two cores train two models at once; a job that needs another
job's student (the self-training control, the equal-time alone arm) waits for a later phase.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass
from typing import Any

import torch

from fusion_arms import ArmConfig, arm_loss
from kdmeta_lib import Conv4, EpisodeSampler, guided, load_fewshot_data, protonet, transfer
from kdmeta_lib.meta_training import episode_accuracies, meta_train
from kdmeta_lib.support.runtime import cpu_friendly, seed_everything

N_WAY = 20
TEST_SEED, TRAIN_EPISODE_SEED, HELD_OUT_SEED = 1234, 4321, 2468
HELD_OUT_QUERIES = 10  # per class: the first half is the adaptation pool, the rest is scored


@dataclass
class Plan:
    """What every worker needs: the settings and the trained teacher's weights."""

    settings: dict[str, Any]
    teacher_state: dict[str, torch.Tensor]


STATE: dict[str, Any] = {}  # per process: data, teacher, settings


def init_worker(plan: Plan, device: str) -> None:
    torch.set_num_threads(1)
    teacher = cpu_friendly(Conv4(plan.settings["teacher_width"]), device)
    teacher.load_state_dict(plan.teacher_state)
    teacher.requires_grad_(False).eval()
    data = load_fewshot_data(verbose=False)
    STATE.update(data=data, teacher=teacher, settings=plan.settings, device=device,
                 subset=data.train[plan.settings["subset"]])


class Pool:
    """``workers`` spawned processes (or this one, for 1 worker) running :func:`run_job`."""

    def __init__(self, plan: Plan, workers: int, device: str):
        self.plan, self.workers, self.device, self.pool = plan, max(1, workers), device, None

    def __enter__(self) -> "Pool":
        if self.workers > 1:
            context = multiprocessing.get_context("spawn")
            self.pool = context.Pool(self.workers, init_worker, (self.plan, self.device))
        else:
            init_worker(self.plan, self.device)
        return self

    def map(self, job_list: list[dict]) -> dict[str, dict]:
        ordered = sorted(job_list, key=lambda job: -job.get("cost", 0))  # longest first
        if self.pool is None:
            return {job["name"]: run_job(job) for job in ordered}
        return {result["name"]: result for result in self.pool.imap_unordered(run_job, ordered)}

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool.join()


def student(width: int, state: dict | None = None) -> torch.nn.Module:
    model = cpu_friendly(Conv4(width), STATE["device"])
    if state is not None:
        model.load_state_dict(state)
        model.requires_grad_(False).eval()
    return model


def predictions(model: torch.nn.Module, images: torch.Tensor, n_episodes: int, n_query: int,
                seed: int) -> tuple[torch.Tensor, float]:
    """Predicted class of every query ``[n_episodes, N·Q]`` and the mean spread of the logits.

    Tested with ``protonet.test_logits``: batch norm normalises with the statistics of 1,000
    random images of the episodes' classes, not of each episode, so each image is embedded once.
    """
    logits = protonet.test_logits(model, images, N_WAY, 1, n_query, n_episodes, seed)
    return logits.argmax(-1).to(torch.int16), logits.std(-1).mean().item()


def accuracy_of(predicted: torch.Tensor, n_query: int) -> torch.Tensor:
    """Per-episode accuracy of predictions on episodes labelled class-major (0…0, 1…1, …)."""
    labels = torch.arange(N_WAY).repeat_interleave(n_query)
    return (predicted == labels).float().mean(1)


def run_job(job: dict) -> dict:
    """Train (or load) one model and test it; see the module docstring."""
    s = STATE["settings"]
    if job["kind"] == "held_out":
        return held_out_job(job)
    seconds, steps = 0.0, 0
    if job["kind"] == "teacher":
        model, classes = STATE["teacher"], STATE["data"].train
    else:
        classes = STATE["subset"] if job["labels"] == "subset" else STATE["data"].train
        guide = STATE["teacher"] if job.get("guide") != "self" else student(
            s["student_width"], job["guide_state"])
        shots = job.get("teacher_shots", 1)
        config = ArmConfig(N_WAY, guide if job.get("alpha") else None, job.get("alpha", 0.0),
                           job.get("temperature", s["temperature"]), job.get("target", "logits"),
                           shots)
        loss = arm_loss
        sampler = EpisodeSampler(classes, N_WAY, shots, s["train_query"], seed=job["seed"])
        if job.get("transfer"):  # arms (c) and (d): label-free episodes from every class
            sampler = transfer.TransferSampler(sampler, STATE["data"].train,
                                               s["transfer_queries"], seed=1000 + job["seed"])
            config = transfer.TransferConfig(guide, N_WAY, s["transfer_queries"], arm_loss,
                                             config, s["temperature"])
            loss = transfer.task_loss
        seed_everything(job["seed"])
        model = student(job["width"])
        history = meta_train(model, loss, config, sampler, n_iterations=job["steps"],
                             n_tasks=1, outer_lr=s["outer_lr"], cosine_decay=True,
                             description=job["name"])
        seconds, steps = history.seconds, job["steps"]
    test, spread = predictions(model, STATE["data"].test, s["episodes"], s["test_query"],
                               TEST_SEED)
    train, _ = predictions(model, classes, s["train_episodes"], s["test_query"],
                           TRAIN_EPISODE_SEED)
    result = {"name": job["name"], "seconds": seconds, "steps": steps, "test": test,
              "spread": spread, "train_accuracy": accuracy_of(train, s["test_query"]),
              "parameters": sum(p.numel() for p in model.parameters())}
    if job.get("keep_state"):
        result["state"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return result


def held_out_job(job: dict) -> dict:
    """Test-time adaptation of a trained student (or the teacher itself), held-out queries only."""
    s = STATE["settings"]
    model = STATE["teacher"] if job["model"] == "teacher" else student(s["student_width"],
                                                                       job["state"])
    guide = {"teacher": STATE["teacher"], "self": model, None: None}[job.get("guide")]
    config = guided.GuidedConfig(guide, N_WAY, HELD_OUT_QUERIES // 2, inner_lr=0.02,
                                 inner_steps=job["inner_steps"], alpha=0.9)
    sampler = EpisodeSampler(STATE["data"].test, N_WAY, 1, HELD_OUT_QUERIES, seed=HELD_OUT_SEED)
    return {"name": job["name"], "accuracy": episode_accuracies(
        model, guided.task_loss, config, sampler, s["held_out_episodes"], batch_size=10)}


def run_all(pool: Pool, plan: Plan, args, budget) -> dict[str, dict]:
    """Phase 1: independent arms; phase 2: arms built on phase 1; phase 3: test-time rows."""
    s, width, subset_steps = plan.settings, args.student_width, args.steps
    arm = {"width": width, "labels": "subset", "steps": subset_steps}
    fused = {"alpha": args.alpha}
    first = [{"kind": "teacher", "name": "teacher", "cost": 1}]
    for w in sorted(set(args.widths + [width])):
        first.append({"kind": "train", "name": f"capacity w{w}", "width": w, "labels": "all",
                      "steps": subset_steps, "seed": args.seed, "cost": 2})
    seeds = range(args.seed, args.seed + args.seeds)
    for seed in seeds:
        first += [dict(arm, kind="train", name=f"a s{seed}", seed=seed, cost=2, keep_state=True),
                  dict(arm, **fused, kind="train", name=f"b s{seed}", seed=seed, cost=5,
                       keep_state=seed == args.seed),
                  dict(arm, **fused, kind="train", name=f"c s{seed}", seed=seed, cost=10,
                       transfer=True),
                  dict(arm, kind="train", name=f"e s{seed}", labels="all", seed=seed, cost=2)]
    if args.extras == "all":
        for target, extra in (("normalised", {"temperature": args.normalised_temperature}),
                              ("relational", {}), ("more_shots", {"teacher_shots": 5}),
                              ("per_task", {})):
            first.append(dict(arm, **fused, **extra, kind="train", target=target,
                              name=f"{target} s{args.seed}", seed=args.seed, cost=7))
        for n in args.budget_steps:
            base = {"kind": "train", "width": args.budget_width, "labels": "all", "steps": n,
                    "seed": args.seed, "cost": n / subset_steps * 4}
            first += [dict(base, name=f"budget alone {n}"),
                      dict(base, **fused, name=f"budget fused {n}")]
    done = pool.map(first)
    second = []
    for seed in seeds:
        per_step = done[f"a s{seed}"]["seconds"] / subset_steps
        second += [dict(arm, **fused, kind="train", name=f"d s{seed}", seed=seed, cost=8,
                        transfer=True, guide="self", guide_state=done[f"a s{seed}"]["state"]),
                   ]
        if seed == args.seed:  # one seed: it costs as much as (c)
            second.append(dict(arm, kind="train", name=f"a at c's time s{seed}", seed=seed,
                               cost=9, steps=max(1, round(done[f"c s{seed}"]["seconds"]
                                                          / per_step))))
    if args.extras == "all":
        per_step = done[f"budget alone {max(args.budget_steps)}"]["seconds"] / max(args.budget_steps)
        for n in args.budget_steps:
            matched = max(1, round(done[f"budget fused {n}"]["seconds"] / per_step))
            second.append({"kind": "train", "name": f"budget alone-matched {n}", "seed": args.seed,
                           "width": args.budget_width, "labels": "all", "steps": matched,
                           "cost": matched / subset_steps * 2})
    done.update(pool.map(second))
    if args.extras == "all" and args.held_out_episodes and not budget.spent():
        state, steps = done[f"b s{args.seed}"]["state"], args.held_out_steps
        rows = [("student as trained", "student", None, 0),
                ("+ adapted on the support alone", "student", None, steps),
                ("+ self-training on the pool", "student", "self", steps),
                ("+ teacher-guided on the pool", "student", "teacher", steps),
                ("the teacher itself", "teacher", None, 0)]
        done.update(pool.map([{"kind": "held_out", "name": f"held-out: {name}", "model": model,
                               "state": state, "guide": guide, "inner_steps": n, "cost": n}
                              for name, model, guide, n in rows]))
    for result in done.values():
        result.pop("state", None)
    return done
