"""MAML on torch.func: the inner loop, vmap against a loop, first against second order."""

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from kdmeta_lib import Conv4, EpisodeSampler, generate_glyphs
from kdmeta_lib import maml
from kdmeta_lib.functional import adapt, params_and_buffers, run_tasks
from kdmeta_lib.support.vmap_safe import BatchStatisticsNorm, vmap_safe
from kdmeta_lib.meta_training import evaluate, meta_train


@pytest.fixture(scope="module")
def glyphs():
    """40 training and 20 test classes of offline glyphs: small enough for a seconds-long test."""
    images = generate_glyphs(n_classes=60, seed=1).unsqueeze(2)
    return images[:40], images[40:]


def small_model(seed: int = 0) -> Conv4:
    torch.manual_seed(seed)
    return Conv4(width=8, n_classes=5)


def meta_gradients(model, episode, config, vectorize):
    model.zero_grad()
    losses, _ = run_tasks(maml.task_loss, model, episode, config=config, vectorize=vectorize)
    losses.mean().backward()
    return losses.detach(), [p.grad.clone() for p in model.parameters()]


def test_one_inner_step_is_a_plain_gradient_step():
    weights = {"w": torch.tensor([1.0, -2.0])}
    adapted = adapt(lambda p: (p["w"] ** 2).sum(), weights, inner_lr=0.1, inner_steps=1)
    assert torch.allclose(adapted["w"], weights["w"] - 0.1 * 2 * weights["w"])


def test_zero_inner_steps_leave_the_weights_unchanged():
    weights = {"w": torch.randn(3)}
    assert adapt(lambda p: p["w"].sum(), weights, inner_lr=0.5, inner_steps=0)["w"] is weights["w"]


def test_vmap_equals_the_loop_for_loss_and_gradients(glyphs):
    model = small_model()
    episode = EpisodeSampler(glyphs[0], 5, 1, 3, seed=0).sample_batch(3)
    config = maml.MamlConfig(inner_lr=0.4, inner_steps=2)
    loop_loss, loop_grads = meta_gradients(model, episode, config, vectorize=False)
    vmap_loss, vmap_grads = meta_gradients(model, episode, config, vectorize=True)
    assert torch.allclose(loop_loss, vmap_loss, atol=1e-5)
    for loop_grad, vmap_grad in zip(loop_grads, vmap_grads):
        assert torch.allclose(loop_grad, vmap_grad, atol=1e-4, rtol=1e-3)


def test_second_order_gradients_equal_plain_autograd_through_the_inner_steps(glyphs):
    model = small_model()
    episode = EpisodeSampler(glyphs[0], 5, 1, 3, seed=0).sample_batch(2)
    config = maml.MamlConfig(inner_lr=0.4, inner_steps=2)
    params = dict(model.named_parameters())
    total = 0.0
    for index in range(2):  # MAML by hand: autograd.grad with create_graph keeps the Hessian
        task, weights = episode.task(index), dict(params)
        for _ in range(config.inner_steps):
            loss = F.cross_entropy(functional_call(model, weights, (task.support_x,)),
                                   task.support_y)
            grads = torch.autograd.grad(loss, list(weights.values()), create_graph=True)
            weights = {name: value - config.inner_lr * g
                       for (name, value), g in zip(weights.items(), grads)}
        total = total + F.cross_entropy(functional_call(model, weights, (task.query_x,)),
                                        task.query_y) / 2
    expected = torch.autograd.grad(total, list(params.values()))
    for vectorize in (False, True):
        _, got = meta_gradients(model, episode, config, vectorize)
        for a, b in zip(got, expected):
            assert torch.allclose(a, b, atol=1e-4, rtol=1e-3), f"vectorize={vectorize}"


def test_the_vmap_safe_batch_norm_computes_what_batch_norm_computes():
    torch.manual_seed(0)
    model = small_model()
    safe = vmap_safe(model)
    assert isinstance(safe.features[0][1], BatchStatisticsNorm)
    assert [name for name, _ in safe.named_parameters()] == [
        name for name, _ in model.named_parameters()]
    x = torch.randn(6, 1, 28, 28)
    assert torch.allclose(safe(x), model(x), atol=1e-5)


def test_first_order_gradients_differ_from_second_order_ones(glyphs):
    model = small_model()
    episode = EpisodeSampler(glyphs[0], 5, 1, 3, seed=0).sample_batch(2)
    second = meta_gradients(model, episode, maml.MamlConfig(0.4, 1, first_order=False), False)
    first = meta_gradients(model, episode, maml.MamlConfig(0.4, 1, first_order=True), False)
    assert torch.allclose(first[0], second[0])  # the same loss value...
    difference = max((a - b).abs().max().item() for a, b in zip(first[1], second[1]))
    assert difference > 1e-4  # ...but the Hessian term changes the gradient


def test_first_and_second_order_agree_without_inner_steps(glyphs):
    model = small_model()
    episode = EpisodeSampler(glyphs[0], 5, 1, 3, seed=0).sample_batch(2)
    second = meta_gradients(model, episode, maml.MamlConfig(0.4, 0, first_order=False), False)
    first = meta_gradients(model, episode, maml.MamlConfig(0.4, 0, first_order=True), False)
    for a, b in zip(first[1], second[1]):
        assert torch.allclose(a, b)


def test_first_order_gradient_is_the_query_gradient_at_the_adapted_weights(glyphs):
    model = small_model()
    task = EpisodeSampler(glyphs[0], 5, 1, 3, seed=0).sample()
    config = maml.MamlConfig(0.4, 2, first_order=True)
    params, buffers = params_and_buffers(model)
    loss, _ = maml.task_loss(params, buffers, model, *vars(task).values(), config=config)
    meta_grads = torch.autograd.grad(loss, list(params.values()))
    adapted = {name: value.detach().requires_grad_() for name, value in maml.adapt_to_support(
        params, buffers, model, task.support_x, task.support_y, config=config).items()}
    query_loss = F.cross_entropy(functional_call(model, (adapted, buffers), (task.query_x,)),
                                 task.query_y)
    for meta_grad, query_grad in zip(meta_grads, torch.autograd.grad(query_loss,
                                                                      list(adapted.values()))):
        assert torch.allclose(meta_grad, query_grad, atol=1e-6)


def test_config_rejects_bad_hyperparameters():
    with pytest.raises(ValueError, match="inner_lr"):
        maml.MamlConfig(inner_lr=0.0)
    with pytest.raises(ValueError, match="inner_steps"):
        maml.MamlConfig(inner_steps=-1)


@pytest.mark.parametrize("first_order", [False, True])
def test_maml_beats_chance_after_a_few_dozen_iterations(glyphs, first_order):
    model = small_model(seed=1)
    config = maml.MamlConfig(inner_lr=0.4, inner_steps=1, first_order=first_order)
    meta_train(model, maml.task_loss, config, EpisodeSampler(glyphs[0], 5, 1, 5, seed=0),
               n_iterations=40, n_tasks=4, outer_lr=3e-3)
    result = evaluate(model, maml.task_loss, config, EpisodeSampler(glyphs[1], 5, 1, 5, seed=1),
                      n_episodes=60)
    assert result.low > 0.3, f"MAML (first_order={first_order}) at chance level: {result}"


def test_first_order_gradients_approach_second_order_ones_as_the_inner_step_shrinks(glyphs):
    model = small_model()
    episode = EpisodeSampler(glyphs[0], 5, 1, 3, seed=0).sample_batch(4)

    def agreement(inner_lr):
        second = meta_gradients(model, episode, maml.MamlConfig(inner_lr, 1), False)[1]
        first = meta_gradients(model, episode, maml.MamlConfig(inner_lr, 1, first_order=True),
                               False)[1]
        flat = [torch.cat([g.flatten() for g in grads]) for grads in (first, second)]
        return F.cosine_similarity(*flat, dim=0).item()

    assert agreement(0.01) > agreement(0.4)  # the dropped term α∇²L_S shrinks with α
