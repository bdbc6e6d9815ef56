"""The shared loops: history bookkeeping, the evaluation's confidence interval, curves."""

import math

import pytest
import torch

from kdmeta_lib import Conv4, EpisodeSampler, generate_glyphs
from kdmeta_lib import maml, protonet
from kdmeta_lib.functional import meta_backward, run_tasks
from kdmeta_lib.meta_training import adaptation_curve, evaluate, meta_train


@pytest.fixture(scope="module")
def glyphs():
    """40 training and 20 test classes of offline glyphs: small enough for a seconds-long test."""
    images = generate_glyphs(n_classes=60, seed=1).unsqueeze(2)
    return images[:40], images[40:]


def test_history_has_one_entry_per_outer_step(glyphs):
    model = Conv4(width=8)
    history = meta_train(model, protonet.task_loss, protonet.ProtoNetConfig(5),
                         EpisodeSampler(glyphs[0], 5, 1, 2, seed=0), n_iterations=3, n_tasks=2)
    assert len(history.loss) == len(history.accuracy) == 3
    assert all(0 <= value <= 1 for value in history.accuracy)
    assert history.seconds > 0


def test_the_evaluation_ci_is_t_times_the_standard_error_over_episodes(glyphs):
    torch.manual_seed(0)
    model = Conv4(width=8)
    config = protonet.ProtoNetConfig(5)
    result = evaluate(model, protonet.task_loss, config,
                      EpisodeSampler(glyphs[1], 5, 1, 4, seed=3), n_episodes=40, batch_size=15)
    with torch.no_grad():  # the same 40 episodes (drawn in the same batches of 15), by hand
        sampler = EpisodeSampler(glyphs[1], 5, 1, 4, seed=3)
        accuracies = torch.cat([run_tasks(protonet.task_loss, model, sampler.sample_batch(size),
                                          config=config)[1] for size in (15, 15, 10)])
    mean, std = accuracies.double().mean().item(), accuracies.double().std().item()
    t_39 = 2.023  # Student's t, 97.5% quantile, 39 degrees of freedom
    assert result.n == 40
    assert result.mean == pytest.approx(mean, abs=1e-6)
    assert result.half_width == pytest.approx(t_39 * std / math.sqrt(40), rel=0.01)


def test_evaluation_leaves_the_weights_untouched(glyphs):
    model = Conv4(width=8, n_classes=5)
    before = [p.clone() for p in model.parameters()]
    evaluate(model, maml.task_loss, maml.MamlConfig(inner_steps=2),
             EpisodeSampler(glyphs[1], 5, 1, 2, seed=0), n_episodes=4)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert all(p.grad is None for p in model.parameters())


def test_the_adaptation_curve_scores_every_step_count_on_the_same_episodes(glyphs):
    torch.manual_seed(0)
    model = Conv4(width=8, n_classes=5)
    config = maml.MamlConfig(inner_lr=0.4, inner_steps=1)
    curve = adaptation_curve(model, maml.task_loss, config,
                             EpisodeSampler(glyphs[1], 5, 1, 3, seed=2), inner_steps=(0, 2, 0),
                             n_episodes=10)
    assert list(curve) == [0, 2]  # a repeated step count is one point...
    again = adaptation_curve(model, maml.task_loss, config,
                             EpisodeSampler(glyphs[1], 5, 1, 3, seed=2), inner_steps=(2,),
                             n_episodes=10)
    assert again[2] == curve[2]  # ...and each point sees the same episodes whatever came before


def test_bad_arguments_are_rejected_with_the_fix(glyphs):
    model = Conv4(width=8)
    sampler = EpisodeSampler(glyphs[0], 5, 1, 2, seed=0)
    with pytest.raises(ValueError, match="n_iterations"):
        meta_train(model, protonet.task_loss, protonet.ProtoNetConfig(5), sampler,
                   n_iterations=0)
    with pytest.raises(ValueError, match="n_episodes"):
        evaluate(model, protonet.task_loss, protonet.ProtoNetConfig(5), sampler, n_episodes=1)
    with pytest.raises(ValueError, match="inner_steps"):
        adaptation_curve(model, protonet.task_loss, protonet.ProtoNetConfig(5), sampler,
                         inner_steps=(0, 1))


def test_cosine_decay_lowers_the_learning_rate_to_zero_by_the_last_step(glyphs):
    model = Conv4(width=8)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    meta_train(model, protonet.task_loss, protonet.ProtoNetConfig(5),
               EpisodeSampler(glyphs[0], 5, 1, 2, seed=0), n_iterations=4, n_tasks=1,
               optimizer=optimizer, cosine_decay=True)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_a_seconds_budget_trains_until_the_clock_is_spent_and_records_checkpoints(glyphs):
    model = Conv4(width=8)
    history = meta_train(model, protonet.task_loss, protonet.ProtoNetConfig(5),
                         EpisodeSampler(glyphs[0], 5, 1, 2, seed=0), seconds=0.3, n_tasks=1,
                         cosine_decay=True, checkpoints=(0.0, 0.15, 0.3),
                         on_checkpoint=lambda trained: trained is model)
    assert history.seconds >= 0.3 and len(history.loss) >= 1
    assert history.checkpoints == {0.0: True, 0.15: True, 0.3: True}


def test_meta_train_needs_exactly_one_of_steps_and_seconds(glyphs):
    sampler = EpisodeSampler(glyphs[0], 5, 1, 2, seed=0)
    for budget in ({}, {"n_iterations": 2, "seconds": 1.0}):
        with pytest.raises(ValueError, match="either n_iterations"):
            meta_train(Conv4(width=8), protonet.task_loss, protonet.ProtoNetConfig(5), sampler,
                       **budget)


@pytest.mark.parametrize("vectorize", [False, True])
def test_meta_backward_gives_the_mean_loss_gradients_one_task_at_a_time(glyphs, vectorize):
    torch.manual_seed(0)
    model = Conv4(width=8, n_classes=5)
    episode = EpisodeSampler(glyphs[0], 5, 1, 3, seed=0).sample_batch(3)
    config = maml.MamlConfig(inner_lr=0.4, inner_steps=2)
    losses, _ = run_tasks(maml.task_loss, model, episode, config=config, vectorize=False)
    losses.mean().backward()
    expected = [p.grad.clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    per_task, accuracies = meta_backward(maml.task_loss, model, episode, config=config,
                                         vectorize=vectorize)
    assert torch.allclose(per_task, losses.detach(), atol=1e-5)
    assert accuracies.shape == (3,) and not per_task.requires_grad
    for got, want in zip((p.grad for p in model.parameters()), expected):
        assert torch.allclose(got, want, atol=1e-5)
