"""Prototypical Networks: logits against a hand computation, vmap against a loop, learning."""

import pytest
import torch
from torch import nn

from kdmeta_lib import Conv4, Episode, EpisodeSampler, generate_glyphs
from kdmeta_lib import protonet
from kdmeta_lib.functional import params_and_buffers, run_tasks
from kdmeta_lib.meta_training import evaluate, meta_train


@pytest.fixture(scope="module")
def glyphs():
    """40 training and 20 test classes of offline glyphs: small enough for a seconds-long test."""
    images = generate_glyphs(n_classes=60, seed=1).unsqueeze(2)
    return images[:40], images[40:]


def test_logits_are_negative_squared_distances_to_class_means():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))  # no BatchNorm: embeddings per image
    support_x, query_x = torch.randn(6, 1, 4, 4), torch.randn(4, 1, 4, 4)
    support_y = torch.tensor([0, 0, 1, 1, 2, 2])
    params, buffers = params_and_buffers(model)
    logits = protonet.query_logits(params, buffers, model, support_x, support_y, query_x,
                                   config=protonet.ProtoNetConfig(n_way=3))
    with torch.no_grad():
        support, queries = model(support_x), model(query_x)
        expected = torch.empty(4, 3)
        for row, query in enumerate(queries):
            for label in range(3):
                centre = support[support_y == label].mean(0)
                expected[row, label] = -((query - centre) ** 2).sum()
    assert torch.allclose(logits, expected, atol=1e-5)


def test_prototypes_do_not_depend_on_the_order_of_the_support_set(glyphs):
    torch.manual_seed(0)
    model = Conv4(width=8)
    task = EpisodeSampler(glyphs[0], 5, 2, 3, seed=0).sample()
    params, buffers = params_and_buffers(model)
    config = protonet.ProtoNetConfig(n_way=5)
    order = torch.randperm(len(task.support_y))
    logits = protonet.query_logits(params, buffers, model, task.support_x, task.support_y,
                                   task.query_x, config=config)
    shuffled = protonet.query_logits(params, buffers, model, task.support_x[order],
                                     task.support_y[order], task.query_x, config=config)
    assert torch.allclose(logits, shuffled, atol=1e-4)


def test_vmap_equals_the_loop_for_loss_and_gradients(glyphs):
    # In float64, so that the comparison is not drowned by float32 rounding: the conv biases that
    # feed a BatchNorm have a true gradient of zero, and in float32 their ~1e-4 noise differs
    # between the two paths (and with the number of CPU threads).
    torch.manual_seed(0)
    model = Conv4(width=8).double()
    episode = EpisodeSampler(glyphs[0], 5, 1, 3, seed=0).sample_batch(3)
    episode = Episode(episode.support_x.double(), episode.support_y,
                      episode.query_x.double(), episode.query_y)
    config = protonet.ProtoNetConfig(n_way=5)
    results = []
    for vectorize in (False, True):
        model.zero_grad()
        losses, _ = run_tasks(protonet.task_loss, model, episode, config=config,
                              vectorize=vectorize)
        losses.mean().backward()
        results.append((losses.detach(), [p.grad.clone() for p in model.parameters()]))
    (loop_loss, loop_grads), (vmap_loss, vmap_grads) = results
    assert torch.allclose(loop_loss, vmap_loss, atol=1e-5)
    for loop_grad, vmap_grad in zip(loop_grads, vmap_grads):
        assert torch.allclose(loop_grad, vmap_grad, atol=1e-8, rtol=1e-6)


def test_a_mismatched_n_way_is_rejected(glyphs):
    model = Conv4(width=8)
    task = EpisodeSampler(glyphs[0], 5, 1, 3, seed=0).sample()
    params, buffers = params_and_buffers(model)
    with pytest.raises(ValueError, match="n_way"):
        protonet.task_loss(params, buffers, model, task.support_x, task.support_y, task.query_x,
                           task.query_y, config=protonet.ProtoNetConfig(n_way=3))
    with pytest.raises(ValueError, match="n_way"):
        protonet.ProtoNetConfig(n_way=1)


def test_protonet_beats_chance_after_a_few_dozen_iterations(glyphs):
    torch.manual_seed(1)
    model = Conv4(width=8)
    meta_train(model, protonet.task_loss, protonet.ProtoNetConfig(n_way=10),
               EpisodeSampler(glyphs[0], 10, 1, 5, seed=0), n_iterations=30, n_tasks=1,
               outer_lr=3e-3)
    result = evaluate(model, protonet.task_loss, protonet.ProtoNetConfig(n_way=5),
                      EpisodeSampler(glyphs[1], 5, 1, 5, seed=1), n_episodes=60)
    assert result.low > 0.3, f"ProtoNet at chance level: {result}"


def test_test_logits_are_look_ups_in_one_table_of_embeddings():
    """Under 1,000 images the table is one batch: every image normalised with the same batch
    statistics, so each episode's logits are distances between rows of one embedding table."""
    torch.manual_seed(0)
    model, images = Conv4(8), torch.rand(12, 6, 1, 28, 28)
    logits = protonet.test_logits(model, images, 5, 2, 3, 20, seed=7, batch_size=6)
    numbers = torch.arange(72).reshape(12, 6, 1)
    episodes = EpisodeSampler(numbers, 5, 2, 3, seed=7).sample_batch(20)
    used = torch.cat([episodes.support_x, episodes.query_x], 1).flatten().unique()
    with torch.no_grad():
        table = torch.zeros(72, 8)
        table[used] = model(images.flatten(0, 1)[used])
    for index in (0, 19):
        support = table[episodes.support_x[index, :, 0]].view(5, 2, 8).mean(1)
        query = table[episodes.query_x[index, :, 0]]
        expected = -protonet.squared_distances(query, support)
        assert torch.allclose(logits[index], expected, atol=1e-4)
    assert model.training  # the model's mode is restored
