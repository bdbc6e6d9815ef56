"""The accuracy benchmark's data-efficiency levers: augmentation and learning-rate warm-up."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

import augmentation  # noqa: E402
from clock_training import cosine_lr  # noqa: E402
from kdmeta_lib import EpisodeSampler, generate_glyphs  # noqa: E402


def test_random_affine_with_zero_amplitudes_returns_the_images(monkeypatch):
    monkeypatch.setattr(augmentation, "DEGREES", 0.0)
    monkeypatch.setattr(augmentation, "SCALE", 0.0)
    monkeypatch.setattr(augmentation, "SHIFT", 0.0)
    images = torch.rand(2, 5, 1, 28, 28)
    moved = augmentation.random_affine(images, torch.Generator().manual_seed(0))
    torch.testing.assert_close(moved, images, atol=1e-5, rtol=0)


def test_augment_episode_moves_each_image_differently_and_keeps_the_labels():
    images = generate_glyphs(n_classes=6, seed=1).unsqueeze(2)
    episode = EpisodeSampler(images, 5, 1, 3, seed=0).sample()
    moved = augmentation.augment_episode(episode, torch.Generator().manual_seed(0))
    assert moved.support_x.shape == episode.support_x.shape
    assert moved.query_x.shape == episode.query_x.shape
    assert torch.equal(moved.support_y, episode.support_y)
    assert torch.equal(moved.query_y, episode.query_y)
    change = (moved.query_x - episode.query_x).abs().flatten(1).mean(1)
    assert (change > 0).all() and change.unique().numel() == change.numel()
    again = augmentation.augment_episode(episode, torch.Generator().manual_seed(0))
    assert torch.equal(again.query_x, moved.query_x)  # the generator makes it reproducible


def test_warmup_rises_linearly_then_follows_the_cosine():
    assert cosine_lr(1.0, 0.0, warmup=0.1) == 0.0
    assert cosine_lr(1.0, 0.05, warmup=0.1) == pytest.approx(0.5 * cosine_lr(1.0, 0.05))
    assert cosine_lr(1.0, 0.5, warmup=0.1) == pytest.approx(0.5 * (1 + math.cos(math.pi / 2)))
    assert cosine_lr(1.0, 0.0) == 1.0  # no warm-up: the cosine starts at the full rate


def test_the_benchmark_rejects_a_warmup_outside_its_budget(tmp_path):
    command = [sys.executable, str(REPO / "benchmarks" / "omniglot_accuracy.py"), "--out",
               str(tmp_path), "--protonet-warmup", "1.5"]
    finished = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert finished.returncode != 0
    assert "--protonet-warmup is a fraction of the budget" in finished.stderr
