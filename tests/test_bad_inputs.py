"""The bad-input catalogue: each bad value a user may pass, and the error it must produce.

Every row names the call, the error type, and a fragment of the message. Where the message says
what to do instead, the fragment includes that advice, so it cannot silently disappear. The
cases that once crashed deep inside torch or gave NaN silently are marked "was:".
"""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np
import pytest
import torch

from kdmeta_lib import Conv4, EpisodeSampler, MLP, data, mean_ci, pick_device, seed_everything
from kdmeta_lib import anil, distillation, fused, guided, maml, protonet, reptile
from fakes import corrupt_deflate_stream, truncate, write_omniglot_zip
from kdmeta_lib.data import DataUnavailable, load_omniglot_subset, paths, storage
from kdmeta_lib.data.glyphs import generate_glyphs
from kdmeta_lib.distill_training import TrainConfig
from kdmeta_lib.functional import adapt, run_tasks
from kdmeta_lib.meta_training import evaluate, meta_train
from kdmeta_lib.rl_envs import PointNavigation, sample_goals
from kdmeta_lib.support.runtime import progress

IMAGES = torch.rand(10, 4, 1, 28, 28)
LOGITS = torch.randn(4, 5)
LABELS = torch.zeros(4, dtype=torch.long)
TASK_LOGITS = torch.randn(2, 6, 5)
TASK_LABELS = torch.zeros(2, 6, dtype=torch.long)


def batch(n_way: int = 5, k_shot: int = 1, **changes) -> object:
    """A batch of 2 tasks from random images, with some tensors replaced."""
    episode = EpisodeSampler(IMAGES, n_way, k_shot, 2, seed=0).sample_batch(2)
    return dataclasses.replace(episode, **changes)


def protonet_on(episode, n_way: int = 5):
    return run_tasks(protonet.task_loss, Conv4(4), episode, config=protonet.ProtoNetConfig(n_way))


def maml_on(model):
    return run_tasks(maml.task_loss, model, batch(), config=maml.MamlConfig())


def environment(variable: str, value: str, call):
    """``call`` run with one environment variable set, then restored."""
    def run():
        previous = os.environ.get(variable)
        os.environ[variable] = value
        try:
            return call()
        finally:
            os.environ.pop(variable) if previous is None else os.environ.update({variable: previous})
    return run


REBUILT = "rebuilt"  # the call succeeds, and says which file it ignored and why


def background_zip():
    return write_omniglot_zip(paths.data_root(), "images_background")


def zip_with_corrupt_deflate():
    corrupt_deflate_stream(background_zip())
    return load_omniglot_subset("images_background")


def truncated_zip():
    truncate(background_zip())
    return load_omniglot_subset("images_background")


def evaluation_zip_under_the_background_name():
    write_omniglot_zip(paths.data_root(), "images_background", holds="images_evaluation")
    write_omniglot_zip(paths.data_root(), "images_evaluation")
    return data.load_fewshot_data(source="omniglot", verbose=False)


def the_same_alphabets_in_both_splits():
    write_omniglot_zip(paths.data_root(), "images_background")
    write_omniglot_zip(paths.data_root(), "images_evaluation")
    return data.load_fewshot_data(source="omniglot", verbose=False)


def omniglot_cache_holding(contents):
    """A valid zip, and a well-formed torch file with the wrong contents as its cache."""
    def run():
        background_zip()
        cache = paths.shared_cache_dir() / "omniglot_images_background_28px.pt"
        storage.save_atomically(contents() if callable(contents) else contents, cache)
        assert load_omniglot_subset("images_background").shape == (2, 20, 28, 28)
    return run


def small_images_with_a_matching_size():
    return {"images": torch.zeros(2, 20, 14, 14, dtype=torch.uint8),
            "source_bytes": (paths.data_root() / "omniglot-py/images_background.zip").stat().st_size}


def teacher_cached_with(weights):
    """A teacher checkpoint in the cache whose weights are replaced by ``weights(state)``."""
    def run():
        key, build = {"case": "bad teacher"}, lambda: Conv4(4)
        path = paths.shared_cache_dir() / f"teacher-{storage.cache_key_digest(key)}.pt"
        storage.save_atomically(weights(build().state_dict()), path)
        trained = []
        model, from_cache = storage.load_or_train_teacher(build, trained.append, key, verbose=False)
        assert not from_cache and trained == [model]
    return run


VALUE_ERRORS = {  # name: (call, fragment of the ValueError's message)
    # ---------------------------------------------------------------- sampler
    "k_shot=True (was: passed, then failed inside torch)": (
        lambda: EpisodeSampler(IMAGES, 5, True, 2), "k_shot must be a positive integer, got True"),
    "n_way as a float": (lambda: EpisodeSampler(IMAGES, 5.0, 1, 2), "n_way must be a positive integer"),
    "n_way above the classes available": (
        lambda: EpisodeSampler(IMAGES, 11, 1, 2), "use n_way ≤ 10"),
    "k_shot + n_query above the examples": (
        lambda: EpisodeSampler(IMAGES, 5, 3, 2), "keep k_shot + n_query ≤ 4"),
    "a negative seed": (lambda: EpisodeSampler(IMAGES, 5, 1, 2, seed=-1), "seed must be an integer ≥ 0"),
    "n_tasks=0": (lambda: EpisodeSampler(IMAGES, 5, 1, 2).sample_batch(0), "n_tasks must be a positive"),
    # ---------------------------------------------------------------- losses
    "temperature=inf": (lambda: distillation.kd_loss(LOGITS, LOGITS, math.inf),
                        "temperature must be a finite number > 0, got inf; use 1"),
    "temperature=NaN": (lambda: distillation.soft_targets(LOGITS, math.nan), "temperature must be a finite"),
    "temperature as a 0-d tensor inf (was: NaN)": (
        lambda: distillation.kd_loss(LOGITS, LOGITS, torch.tensor(math.inf)), "temperature must be a finite"),
    "temperature as a string": (lambda: distillation.kd_loss(LOGITS, LOGITS, "4"),
                                "temperature must be a Python number, a NumPy scalar or a 0-d tensor"),
    "temperature as a 1-d tensor": (lambda: distillation.kd_loss(LOGITS, LOGITS, torch.ones(2)),
                                    "got a torch.float32 tensor of shape (2,)"),
    "alpha=1.5 as numpy float32": (
        lambda: distillation.distillation_loss(LOGITS, LOGITS, LABELS, np.float32(1.5)),
        "alpha must be a finite number in [0, 1], got np.float32(1.5); it weights the KD term"),
    "alpha=1.5 as a 0-d tensor (was: negative label weight)": (
        lambda: distillation.distillation_loss(LOGITS, LOGITS, LABELS, torch.tensor(1.5)),
        "alpha must be a finite number in [0, 1], got tensor(1.5000)"),
    "alpha=True": (lambda: distillation.distillation_loss(LOGITS, LOGITS, LABELS, True),
                   "alpha must be a Python number"),
    "fused_loss with label -100 (was: NaN)": (
        lambda: fused.fused_loss(TASK_LOGITS, TASK_LOGITS, TASK_LABELS - 100, 0.5, 4.0),
        "query_y must lie in 0..4, got values from -100"),
    "fused_loss with label -1 (was: gather error in vmap)": (
        lambda: fused.fused_loss(TASK_LOGITS, TASK_LOGITS, TASK_LABELS - 1, 0.5, 4.0),
        "query_y must lie in 0..4, got values from -1 to -1; match n_way to the sampler"),
    "fused_loss with float labels": (
        lambda: fused.fused_loss(TASK_LOGITS, TASK_LOGITS, TASK_LABELS.float(), 0.5, 4.0),
        "query_y must hold integer class indices"),
    "mean_ci of a NaN": (lambda: mean_ci([0.5, math.nan]), "value 1 is nan"),
    # ---------------------------------------------------------------- configs
    "MamlConfig(inner_lr=inf) (was: NaN)": (
        lambda: maml.MamlConfig(inner_lr=math.inf), "inner_lr must be a finite number > 0, got inf; try"),
    "MamlConfig(inner_steps=1.5)": (lambda: maml.MamlConfig(inner_steps=1.5), "inner_steps must be an integer ≥ 0"),
    "MamlConfig(first_order='no')": (lambda: maml.MamlConfig(first_order="no"), "first_order must be True or False"),
    "ReptileConfig(inner_lr=-0.1)": (lambda: reptile.ReptileConfig(inner_lr=-0.1), "inner_lr must be"),
    "ProtoNetConfig(n_way=True)": (lambda: protonet.ProtoNetConfig(n_way=True), "n_way must be an integer ≥ 2"),
    "FusedConfig(temperature=inf)": (lambda: fused.FusedConfig(Conv4(4), temperature=math.inf),
                                     "temperature must be a finite number > 0"),
    "FusedConfig(alpha=np.float64(1.5))": (lambda: fused.FusedConfig(Conv4(4), alpha=np.float64(1.5)),
                                           "alpha must be a finite number in [0, 1]"),
    "GuidedConfig(n_way=1)": (lambda: guided.GuidedConfig(None, n_way=1), "n_way must be an integer ≥ 2"),
    "TrainConfig(lr=inf)": (lambda: TrainConfig(lr=math.inf), "lr must be a finite number > 0, got inf; try 1e-3"),
    "TrainConfig(max_shift=1.5)": (lambda: TrainConfig(max_shift=1.5), "max_shift must be an integer ≥ 0"),
    "adapt(inner_lr=NaN)": (lambda: adapt(lambda p: p["w"].sum(), {"w": torch.ones(2)}, inner_lr=math.nan,
                                          inner_steps=1), "inner_lr must be a finite number > 0"),
    # ---------------------------------------------------------------- learners
    "ProtoNet with labels 3..7 (was: NaN)": (
        lambda: protonet_on(batch(support_y=batch().support_y + 3)),
        "support_y must hold every class 0..7 in each task; task 0 has no example of class [0, 1, 2]; "
        "relabel each task's classes 0..n_way−1"),
    "ProtoNet config n_way above the episode's (was: NaN)": (
        lambda: protonet_on(batch(k_shot=2), n_way=10),
        "config has n_way=10 but the episodes are 5-way; use the sampler's n_way: ProtoNetConfig(n_way=5)"),
    "ProtoNet query label outside the support's": (
        lambda: protonet_on(batch(query_y=batch().query_y + 1)), "query_y must lie in 0..4"),
    "ProtoNet with float labels": (
        lambda: protonet_on(batch(support_y=batch().support_y.float())), "support_y must hold integer"),
    "protonet.episode_logits with a missing class": (
        lambda: protonet.episode_logits(Conv4(4), batch(support_y=batch().support_y.clamp(min=1)), 5),
        "task 0 has no example of class [0]"),
    "MAML with a headless backbone (was: trained on the embedding)": (
        lambda: maml_on(Conv4(8)), "has no classifier head, so its outputs are an embedding, not 5 logits; "
                                   "build it as Conv4(width, n_classes=5)"),
    "MAML with a head wider than n_way (was: silent)": (
        lambda: maml_on(Conv4(4, n_classes=8)),
        "the model has a head with 8 outputs but the episodes are 5-way; build it with n_classes=5"),
    "MAML with an MLP of 3 outputs": (lambda: maml_on(MLP((784, 4, 3))), "head with 3 outputs"),
    "ANIL with a head wider than n_way": (
        lambda: run_tasks(anil.task_loss, Conv4(4, n_classes=7), batch(), config=maml.MamlConfig()),
        "head with 7 outputs"),
    "Reptile with a headless backbone": (
        lambda: run_tasks(reptile.meta_loss, Conv4(4), batch(), config=reptile.ReptileConfig()),
        "has no classifier head"),
    "MAML task_loss called on one task with a label 5": (
        lambda: maml.task_loss(*maml_parts(), config=maml.MamlConfig()), "query_y must lie in 0..4"),
    "meta_train(n_tasks=True)": (
        lambda: meta_train(Conv4(4), protonet.task_loss, protonet.ProtoNetConfig(5),
                           EpisodeSampler(IMAGES, 5, 1, 2), n_iterations=1, n_tasks=True),
        "n_tasks must be a positive integer, got True"),
    "meta_train(outer_lr=inf)": (
        lambda: meta_train(Conv4(4), protonet.task_loss, protonet.ProtoNetConfig(5),
                           EpisodeSampler(IMAGES, 5, 1, 2), n_iterations=1, outer_lr=math.inf),
        "outer_lr must be a finite number > 0, got inf; try 1e-3"),
    "evaluate(n_episodes=1)": (
        lambda: evaluate(Conv4(4), protonet.task_loss, protonet.ProtoNetConfig(5),
                         EpisodeSampler(IMAGES, 5, 1, 2), n_episodes=1), "a CI needs 2"),
    # ---------------------------------------------------------------- models, data, RL
    "Conv4(width=2.5)": (lambda: Conv4(2.5), "width must be a positive integer, got 2.5"),
    "Conv4(n_classes=0)": (lambda: Conv4(4, n_classes=0), "n_classes must be a positive integer"),
    "MLP(dropout=1.5)": (lambda: MLP(dropout=1.5), "dropout must be a finite number in [0, 0.99]"),
    "generate_glyphs(size=4)": (lambda: generate_glyphs(2, size=4), "size must be an integer ≥ 8"),
    "sample_goals(goal_range=inf)": (lambda: sample_goals(3, 0, math.inf), "goal_range must be a finite"),
    "PointNavigation(horizon=0)": (lambda: PointNavigation(torch.zeros(2, 2), 1, horizon=0),
                                   "horizon must be a positive integer"),
    "seed_everything(1.5)": (lambda: seed_everything(1.5), "seed must be an integer ≥ 0"),
    "load_fewshot_data(source='imagenet')": (
        lambda: data.load_fewshot_data(source="imagenet"), "source must be 'auto', 'omniglot' or 'glyphs'"),
    "a cache key holding NaN": (lambda: storage.cache_key_digest({"lr": math.nan}),
                                "the cache key must hold plain finite numbers"),
    # ---------------------------------------------------------------- environment variables
    "KDMETA_DEVICE=gpu (was: torch's raw RuntimeError)": (
        environment("KDMETA_DEVICE", "gpu", pick_device),
        "KDMETA_DEVICE asks for device 'gpu', which is not one of 'cpu', 'cuda', 'cuda:N' or 'mps'; "
        "fix it, or unset it"),
    "pick_device('tpu')": (lambda: pick_device("tpu"), "prefer asks for device 'tpu'"),
    "KDMETA_PROGRESS=off": (environment("KDMETA_PROGRESS", "off", lambda: progress(range(2))),
                            "KDMETA_PROGRESS='off' is not understood; set it to one of: 0 (no bars), "
                            "1 (bars), or unset it"),
    "KDMETA_OFFLINE=yes": (environment("KDMETA_OFFLINE", "yes", paths.offline),
                           "KDMETA_OFFLINE='yes' is not understood; set it to one of: 0"),
    "KDMETA_DATA pointing nowhere": (
        environment("KDMETA_DATA", "/no/such/kdmeta/folder", paths.data_root),
        "KDMETA_DATA='/no/such/kdmeta/folder' is not an existing folder; fix the path"),
    "KDMETA_CACHE naming a file": (
        environment("KDMETA_CACHE", __file__, paths.shared_cache_dir), "names a file, not a folder"),
}


def maml_parts():
    """One task (not a batch) whose query set holds a label 5 in a 5-way task."""
    model = Conv4(4, n_classes=5)
    task = batch().task(0)
    params, buffers = dict(model.named_parameters()), dict(model.named_buffers())
    return params, buffers, model, task.support_x, task.support_y, task.query_x, task.query_y + 1


FILE_FAULTS = {  # name: (call, error type or REBUILT, fragment of the message)
    "zip with a corrupt deflate stream (was: uncaught zlib.error, no file named)": (
        zip_with_corrupt_deflate, DataUnavailable,
        "images_background.zip is corrupt or incomplete (zlib.error: Error -3 while decompressing data: "
        "invalid block type); delete it and copy or download it again"),
    "truncated zip": (truncated_zip, DataUnavailable, "is corrupt or incomplete (zipfile.BadZipFile"),
    "evaluation zip saved as the background zip (was: 659 + 659 classes, silently)": (
        evaluation_zip_under_the_background_name, DataUnavailable,
        "images_background.zip should hold images_background/ but holds ['images_evaluation']: the "
        "zips were renamed or swapped; put each official zip under its own name"),
    "the same alphabets in both splits": (
        the_same_alphabets_in_both_splits, DataUnavailable,
        "share 2 alphabets (Alpha, Beta, ...): the model would be tested on classes it was trained "
        "on; restore the two official zips"),
    "Omniglot cache holding a list (was: AttributeError)": (
        omniglot_cache_holding([1, 2]), REBUILT,
        "omniglot_images_background_28px.pt: it holds a list, not a dict with 'images' and "
        "'source_bytes'; rebuilding it in"),
    "Omniglot cache holding a tensor (was: crash)": (
        omniglot_cache_holding(torch.zeros(3)), REBUILT, "it holds a Tensor, not a dict"),
    "Omniglot cache missing a key (was: KeyError)": (
        omniglot_cache_holding({"images": torch.zeros(2, 20, 28, 28, dtype=torch.uint8)}), REBUILT,
        "it holds ['images'], not a dict with 'images' and 'source_bytes'"),
    "Omniglot cache of 14×14 images with a matching size (was: used as is)": (
        omniglot_cache_holding(small_images_with_a_matching_size), REBUILT,
        "images is a torch.uint8 tensor of shape (2, 20, 14, 14), not a torch.uint8 tensor of shape "
        "('n', 20, 28, 28)"),
    "teacher checkpoint with NaN weights (was: reused forever)": (
        teacher_cached_with(lambda state: {k: v.float().fill_(math.nan) for k, v in state.items()}),
        REBUILT, "features.0.0.weight holds NaN or infinite values; rebuilding it"),
    "teacher checkpoint holding a list": (
        teacher_cached_with(lambda state: list(state.values())), REBUILT,
        "it holds a list, not the weights of a Conv4"),
    "teacher checkpoint missing a weight": (
        teacher_cached_with(lambda state: {k: v for k, v in state.items() if k != "head.weight"}
                            if "head.weight" in state else dict(list(state.items())[1:])),
        REBUILT, "they do not fit Conv4 (missing ['features.0.0.weight']"),
    "teacher checkpoint in float64": (
        teacher_cached_with(lambda state: {k: v.double() for k, v in state.items()}), REBUILT,
        "features.0.0.weight is a torch.float64 tensor"),
}

CATALOGUE = {name: (call, ValueError, fragment) for name, (call, fragment) in VALUE_ERRORS.items()}
CATALOGUE |= FILE_FAULTS


@pytest.fixture(autouse=True)
def sandbox(isolated_data):
    """Every case runs on an empty, offline data root and cache of its own."""
    return isolated_data


def test_the_catalogue_covers_at_least_forty_bad_inputs():
    assert len(CATALOGUE) >= 40


@pytest.mark.parametrize("case", sorted(CATALOGUE))
def test_each_bad_input_is_refused_or_rebuilt_with_a_message_that_names_it_and_the_fix(case, capsys):
    call, error, fragment = CATALOGUE[case]
    if error is REBUILT:
        call()
        assert fragment in capsys.readouterr().out
        return
    with pytest.raises(error) as raised:
        call()
    assert fragment in str(raised.value)


@pytest.mark.parametrize("good", [0.5, np.float32(0.5), np.float64(0.5), torch.tensor(0.5), 1, 0])
def test_every_accepted_number_type_passes_the_alpha_check(good):
    distillation.check_alpha_and_temperature(good, 4.0)
