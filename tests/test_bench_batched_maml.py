"""Tasks batched through grouped convolutions (``benchmarks/batched_maml.py``) give MAML's
numbers: losses, meta-gradients."""

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from kdmeta_lib import Conv4, EpisodeSampler, generate_glyphs, maml
from kdmeta_lib.episodes import Episode
from kdmeta_lib.functional import run_tasks, stack_params

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from batched_maml import batched_forward, maml_task_losses, supports  # noqa: E402


@pytest.fixture(scope="module")
def episode():
    images = generate_glyphs(n_classes=20, seed=3).unsqueeze(2)
    return EpisodeSampler(images, n_way=5, k_shot=2, n_query=3, seed=0).sample_batch(3)


def small_model(seed: int = 0) -> Conv4:
    torch.manual_seed(seed)
    return Conv4(width=8, n_classes=5)


def loop_results(model, episode, config):
    model.zero_grad()
    losses, accuracies = run_tasks(maml.task_loss, model, episode, config=config,
                                   vectorize=False)
    losses.mean().backward()
    return losses.detach(), accuracies, [p.grad.clone() for p in model.parameters()]


def batched_results(model, episode, config, **options):
    model.zero_grad()
    losses, accuracies = maml_task_losses(model, episode, config, **options)
    losses.mean().backward()
    return losses.detach(), accuracies, [p.grad.clone() for p in model.parameters()]


def assert_same_gradients(got, expected, tolerance):
    # Conv biases feed a batch norm, which cancels them: their true gradient is 0 and both
    # paths give rounding noise there. So compare against the scale of the whole gradient.
    # (Channels-last grouped convolutions, a bug on torch 2.14 CPU, were off by 1-25%.)
    scale = max(g.abs().max().item() for g in expected)
    for g, e in zip(got, expected):
        assert (g - e).abs().max().item() <= tolerance * scale


def test_forward_matches_the_model_task_by_task(episode):
    model = small_model()
    weights = stack_params(dict(model.named_parameters()), 3)
    with torch.no_grad():
        batched = batched_forward(model, weights, episode.query_x)
        one_by_one = torch.stack([model(x) for x in episode.query_x])
    assert batched.shape == (3, 15, 5)
    assert torch.allclose(batched, one_by_one, atol=1e-5)


@pytest.mark.parametrize("inner_steps", [1, 3])
@pytest.mark.parametrize("first_order", [False, True])
def test_meta_gradients_match_the_loop(episode, inner_steps, first_order):
    # In float64, so that only a real difference shows: in float32, rounding differences grow
    # through several inner steps at lr 0.4 to ~1e-3 of the gradient on both paths alike.
    config = maml.MamlConfig(inner_lr=0.4, inner_steps=inner_steps, first_order=first_order)
    model = small_model().double()
    episode = Episode(episode.support_x.double(), episode.support_y,
                      episode.query_x.double(), episode.query_y)
    loop_losses, loop_accuracies, loop_grads = loop_results(model, episode, config)
    losses, accuracies, grads = batched_results(model, episode, config)
    assert torch.allclose(losses, loop_losses, atol=1e-9)
    assert torch.equal(accuracies, loop_accuracies)
    assert_same_gradients(grads, loop_grads, 1e-6)


def test_float32_meta_gradients_match_the_loop(episode):
    config = maml.MamlConfig(inner_lr=0.4, inner_steps=1)
    model = small_model()
    loop_losses, _, loop_grads = loop_results(model, episode, config)
    losses, _, grads = batched_results(model, episode, config)
    assert torch.allclose(losses, loop_losses, atol=1e-4)
    assert_same_gradients(grads, loop_grads, 1e-3)


def test_second_order_differs_from_first_order(episode):
    """The check above could not tell the two apart if the Hessian term were lost."""
    model = small_model()
    _, _, second = batched_results(model, episode, maml.MamlConfig(inner_steps=1))
    _, _, first = batched_results(model, episode, maml.MamlConfig(inner_steps=1,
                                                                  first_order=True))
    assert max((s - f).abs().max().item() for s, f in zip(second, first)) > 1e-3


def test_evaluation_under_no_grad_keeps_no_graph(episode):
    config = maml.MamlConfig(inner_steps=1)
    model = small_model()
    expected, expected_accuracies = run_tasks(maml.task_loss, model, episode, config=config,
                                              vectorize=False)
    with torch.no_grad():
        losses, accuracies = maml_task_losses(model, episode, config)
    assert not losses.requires_grad
    assert torch.allclose(losses, expected.detach(), atol=1e-4)
    assert torch.equal(accuracies, expected_accuracies)


def test_bf16_is_close_but_opt_in(episode):
    config = maml.MamlConfig(inner_steps=1)
    model = small_model()
    expected, _, _ = loop_results(model, episode, config)
    losses, _, _ = batched_results(model, episode, config, bf16=True)
    assert torch.allclose(losses, expected, rtol=0.05, atol=0.05)


def test_unsupported_models_are_refused(episode):
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(1, 4, 3), nn.GRU(4, 4)

    assert supports(small_model())
    assert not supports(Branchy())
    running = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(),
                            nn.Linear(4 * 26 * 26, 5))
    assert not supports(running)
    with pytest.raises(ValueError, match="running statistics"):
        maml_task_losses(running, episode, maml.MamlConfig())
    with pytest.raises(ValueError, match="batch of tasks"):
        maml_task_losses(small_model(), episode.task(0), maml.MamlConfig())
