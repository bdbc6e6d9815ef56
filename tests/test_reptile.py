"""Reptile: its surrogate's gradient is θ − φ, so one SGD step of size 1 lands on φ."""

import pytest
import torch

from kdmeta_lib import Conv4, EpisodeSampler, generate_glyphs
from kdmeta_lib import maml, reptile
from kdmeta_lib.functional import params_and_buffers, run_tasks
from kdmeta_lib.meta_training import evaluate, meta_train


@pytest.fixture(scope="module")
def glyphs():
    """40 training and 20 test classes of offline glyphs: small enough for a seconds-long test."""
    images = generate_glyphs(n_classes=60, seed=1).unsqueeze(2)
    return images[:40], images[40:]


def adapted_weights(model, task, config):
    params, buffers = params_and_buffers(model)
    return {name: value.detach() for name, value in maml.adapt_to_support(
        params, buffers, model, task.support_x, task.support_y,
        config=config.as_first_order_maml()).items()}


def test_the_surrogate_gradient_is_the_step_from_adapted_weights_back_to_theta(glyphs):
    torch.manual_seed(0)
    model = Conv4(width=8, n_classes=5)
    task = EpisodeSampler(glyphs[0], 5, 1, 3, seed=0).sample()
    config = reptile.ReptileConfig(inner_lr=0.3, inner_steps=3)
    params, buffers = params_and_buffers(model)
    surrogate, _ = reptile.meta_loss(params, buffers, model, task.support_x, task.support_y,
                                     task.query_x, task.query_y, config=config)
    gradients = torch.autograd.grad(surrogate, list(params.values()))
    adapted = adapted_weights(model, task, config)
    for (name, value), gradient in zip(params.items(), gradients):
        assert torch.allclose(gradient, value.detach() - adapted[name], atol=1e-6)


def test_an_sgd_step_of_size_one_moves_the_weights_to_the_mean_adapted_weights(glyphs):
    torch.manual_seed(0)
    model = Conv4(width=8, n_classes=5)
    episode = EpisodeSampler(glyphs[0], 5, 1, 3, seed=0).sample_batch(2)
    config = reptile.ReptileConfig(inner_lr=0.3, inner_steps=2)
    tasks = [adapted_weights(model, episode.task(index), config) for index in range(2)]
    meta_train(model, reptile.meta_loss, config, EpisodeSampler(glyphs[0], 5, 1, 3, seed=0),
               n_iterations=1, n_tasks=2, optimizer=torch.optim.SGD(model.parameters(), lr=1.0))
    for name, value in model.named_parameters():
        assert torch.allclose(value, (tasks[0][name] + tasks[1][name]) / 2, atol=1e-5)


def test_vmap_equals_the_loop_for_the_reptile_direction(glyphs):
    torch.manual_seed(0)
    model = Conv4(width=8, n_classes=5)
    episode = EpisodeSampler(glyphs[0], 5, 1, 3, seed=0).sample_batch(3)
    config = reptile.ReptileConfig(inner_lr=0.3, inner_steps=2)
    results = []
    for vectorize in (False, True):
        model.zero_grad()
        losses, _ = run_tasks(reptile.meta_loss, model, episode, config=config,
                              vectorize=vectorize)
        losses.mean().backward()
        results.append((losses.detach(), [p.grad.clone() for p in model.parameters()]))
    (loop_loss, loop_grads), (vmap_loss, vmap_grads) = results
    assert torch.allclose(loop_loss, vmap_loss, atol=1e-4, rtol=1e-3)
    for loop_grad, vmap_grad in zip(loop_grads, vmap_grads):
        assert torch.allclose(loop_grad, vmap_grad, atol=1e-4, rtol=1e-3)


def test_config_rejects_bad_hyperparameters():
    with pytest.raises(ValueError, match="inner_lr"):
        reptile.ReptileConfig(inner_lr=-0.1)
    with pytest.raises(ValueError, match="inner_steps"):
        reptile.ReptileConfig(inner_steps=1.5)


def test_reptile_beats_chance_after_a_few_dozen_iterations(glyphs):
    torch.manual_seed(1)
    model = Conv4(width=8, n_classes=5)
    config = reptile.ReptileConfig(inner_lr=0.4, inner_steps=3)
    meta_train(model, reptile.meta_loss, config, EpisodeSampler(glyphs[0], 5, 1, 5, seed=0),
               n_iterations=40, n_tasks=4, outer_lr=3e-3)
    result = evaluate(model, reptile.task_loss, config,
                      EpisodeSampler(glyphs[1], 5, 1, 5, seed=1), n_episodes=60)
    assert result.low > 0.3, f"Reptile at chance level: {result}"
