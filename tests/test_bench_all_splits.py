"""The benchmark's all-splits ProtoNet loss and glibc setting (issue 17's levers)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import all_splits  # noqa: E402
from fast_layouts import keep_freed_memory  # noqa: E402
from kdmeta_lib import Conv4, EpisodeSampler, generate_glyphs, protonet  # noqa: E402
from kdmeta_lib.functional import params_and_buffers  # noqa: E402


def one_task(n_way=4, n_query=3, seed=0):
    images = generate_glyphs(n_classes=8, seed=1).unsqueeze(2)
    episode = EpisodeSampler(images, n_way, 1, n_query, seed=seed).sample()
    return episode.support_x, episode.support_y, episode.query_x, episode.query_y


def test_all_splits_averages_the_usual_loss_over_every_choice_of_support_image():
    torch.manual_seed(0)
    model = Conv4(8)
    params, buffers = params_and_buffers(model)
    sx, sy, qx, qy = one_task()
    config = protonet.ProtoNetConfig(4)
    loss, accuracy = all_splits.task_loss(params, buffers, model, sx, sy, qx, qy, config=config)
    # the same average by hand: batch norm sees the whole episode in both, so the embeddings agree
    images = torch.cat([sx, qx])
    labels = torch.cat([sy, qy])
    embeddings = model(images)
    by_class = [embeddings[labels == n] for n in range(4)]  # support first within each class
    losses = []
    for r in range(4):
        centres = torch.stack([group[r] for group in by_class])
        others = torch.cat([torch.cat([g[:r], g[r + 1:]]) for g in by_class])
        targets = torch.arange(4).repeat_interleave(3)
        losses.append(torch.nn.functional.cross_entropy(
            -protonet.squared_distances(others, centres), targets))
    assert torch.allclose(loss, torch.stack(losses).mean(), atol=1e-5)
    _, usual_accuracy = protonet.task_loss(params, buffers, model, sx, sy, qx, qy, config=config)
    assert accuracy == usual_accuracy
    loss.backward()


def test_all_splits_refuses_episodes_with_more_than_one_shot():
    model = Conv4(8)
    params, buffers = params_and_buffers(model)
    images = generate_glyphs(n_classes=8, seed=1).unsqueeze(2)
    e = EpisodeSampler(images, 4, 2, 2, seed=0).sample()
    with pytest.raises(ValueError, match="1-shot"):
        all_splits.task_loss(params, buffers, model, e.support_x, e.support_y, e.query_x,
                             e.query_y, config=protonet.ProtoNetConfig(4))


def test_keep_freed_memory_reports_whether_glibc_took_the_setting():
    assert keep_freed_memory() is sys.platform.startswith("linux")  # glibc on Linux
