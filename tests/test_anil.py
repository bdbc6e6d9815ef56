"""ANIL: only the head adapts, vmap equals the loop, the body still gets a meta-gradient."""

import pytest
import torch
from torch import nn

from kdmeta_lib import Conv4, EpisodeSampler, generate_glyphs
from kdmeta_lib import anil, maml
from kdmeta_lib.functional import params_and_buffers, run_tasks
from kdmeta_lib.meta_training import evaluate, meta_train


@pytest.fixture(scope="module")
def glyphs():
    """40 training and 20 test classes of offline glyphs: small enough for a seconds-long test."""
    images = generate_glyphs(n_classes=60, seed=1).unsqueeze(2)
    return images[:40], images[40:]


class FixedFeatures(nn.Module):
    """A body without weights: MAML then has only the head to adapt, exactly like ANIL."""

    def __init__(self, n_way: int = 5):
        super().__init__()
        self.features = nn.Sequential(nn.AvgPool2d(4), nn.Flatten())  # [B, 1, 28, 28] → [B, 49]
        self.head = nn.Linear(49, n_way)

    def forward(self, x):
        return self.head(self.features(x))


def test_anil_equals_maml_when_the_body_has_no_weights(glyphs):
    torch.manual_seed(0)
    model = FixedFeatures()
    task = EpisodeSampler(glyphs[0], 5, 1, 3, seed=0).sample()
    params, buffers = params_and_buffers(model)
    config = maml.MamlConfig(inner_lr=0.5, inner_steps=3)
    inputs = (params, buffers, model, task.support_x, task.support_y, task.query_x)
    assert torch.allclose(anil.query_logits(*inputs, config=config),
                          maml.query_logits(*inputs, config=config), atol=1e-6)


def test_without_inner_steps_anil_is_the_plain_model(glyphs):
    torch.manual_seed(0)
    model = Conv4(width=8, n_classes=5)
    task = EpisodeSampler(glyphs[0], 5, 1, 3, seed=0).sample()
    params, buffers = params_and_buffers(model)
    logits = anil.query_logits(params, buffers, model, task.support_x, task.support_y,
                               task.query_x, config=maml.MamlConfig(inner_steps=0))
    assert torch.allclose(logits, model(task.query_x), atol=1e-6)


def test_vmap_equals_the_loop_and_the_body_gets_a_meta_gradient(glyphs):
    torch.manual_seed(0)
    model = Conv4(width=8, n_classes=5)
    episode = EpisodeSampler(glyphs[0], 5, 1, 3, seed=0).sample_batch(3)
    config = maml.MamlConfig(inner_lr=0.4, inner_steps=2)
    results = []
    for vectorize in (False, True):
        model.zero_grad()
        losses, _ = run_tasks(anil.task_loss, model, episode, config=config, vectorize=vectorize)
        losses.mean().backward()
        results.append((losses.detach(), [p.grad.clone() for p in model.parameters()]))
    (loop_loss, loop_grads), (vmap_loss, vmap_grads) = results
    assert torch.allclose(loop_loss, vmap_loss, atol=1e-5)
    for loop_grad, vmap_grad in zip(loop_grads, vmap_grads):
        assert torch.allclose(loop_grad, vmap_grad, atol=1e-4, rtol=1e-3)
    assert model.features[0][0].weight.grad.abs().sum() > 0


def test_a_model_without_a_head_is_rejected(glyphs):
    model = Conv4(width=8)  # an embedding network: nothing for ANIL to adapt
    task = EpisodeSampler(glyphs[0], 5, 1, 3, seed=0).sample()
    params, buffers = params_and_buffers(model)
    with pytest.raises(ValueError, match="n_classes"):
        anil.task_loss(params, buffers, model, task.support_x, task.support_y, task.query_x,
                       task.query_y, config=maml.MamlConfig())


def test_anil_beats_chance_after_a_few_dozen_iterations(glyphs):
    torch.manual_seed(1)
    model = Conv4(width=8, n_classes=5)
    config = maml.MamlConfig(inner_lr=0.4, inner_steps=3)
    meta_train(model, anil.task_loss, config, EpisodeSampler(glyphs[0], 5, 1, 5, seed=0),
               n_iterations=40, n_tasks=4, outer_lr=3e-3)
    result = evaluate(model, anil.task_loss, config, EpisodeSampler(glyphs[1], 5, 1, 5, seed=1),
                      n_episodes=60)
    assert result.low > 0.3, f"ANIL at chance level: {result}"
