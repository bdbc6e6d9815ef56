"""The fused objective and its training wrapper: formula, limits, vmap = loop, validation,
ProtoNet short-cuts."""

import copy

import pytest
import torch

from kdmeta_lib import anil, fused, maml, protonet
from kdmeta_lib.episodes import EpisodeSampler
from kdmeta_lib.functional import run_tasks
from kdmeta_lib.fused import FusedConfig
from kdmeta_lib.fused_training import evaluate_protonet, meta_train_with_teacher, train_protonet
from kdmeta_lib.guided import GuidedConfig
from kdmeta_lib.models import Conv4

N_WAY = 3


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand(8, 5, 1, 28, 28, generator=torch.Generator().manual_seed(0))


@pytest.fixture
def episode(images):
    return EpisodeSampler(images, n_way=N_WAY, k_shot=1, n_query=2, seed=1).sample_batch(2)


def models(n_classes=None):
    torch.manual_seed(0)
    return Conv4(8, n_classes=n_classes), Conv4(4, n_classes=n_classes)  # teacher, student


def by_hand(student_logits, teacher_logits, labels, alpha, temperature):
    """(1/N) Σ_i [α T² KL_i + (1 − α) CE_i], written out with explicit softmaxes."""
    total = 0.0
    for s, t, y in zip(student_logits, teacher_logits, labels):
        p_teacher = torch.exp(t / temperature) / torch.exp(t / temperature).sum(-1, keepdim=True)
        p_student = torch.exp(s / temperature) / torch.exp(s / temperature).sum(-1, keepdim=True)
        kl = (p_teacher * (p_teacher.log() - p_student.log())).sum(-1).mean()
        probabilities = torch.exp(s) / torch.exp(s).sum(-1, keepdim=True)
        ce = -probabilities[torch.arange(len(y)), y].log().mean()
        total = total + alpha * temperature**2 * kl + (1 - alpha) * ce
    return total / len(student_logits)


def test_the_fused_loss_equals_alpha_kd_plus_one_minus_alpha_ce_computed_by_hand():
    generator = torch.Generator().manual_seed(3)
    student, teacher = torch.randn(2, 2, 4, 3, generator=generator)
    labels = torch.randint(0, 3, (2, 4), generator=generator)
    got = fused.fused_loss(student, teacher, labels, alpha=0.3, temperature=2.5)
    assert torch.allclose(got, by_hand(student, teacher, labels, 0.3, 2.5), atol=1e-6)


def test_the_task_loss_is_the_fused_loss_of_both_learners_query_logits(episode):
    teacher, student = models()
    config = FusedConfig(teacher, student_config=protonet.ProtoNetConfig(N_WAY), alpha=0.7,
                         temperature=3.0)
    losses, _ = run_tasks(fused.task_loss, student, episode, config=config)
    student_logits = protonet.episode_logits(student, episode, N_WAY)
    teacher_logits = protonet.episode_logits(teacher, episode, N_WAY)
    assert torch.allclose(losses.mean(), by_hand(student_logits, teacher_logits,
                                                 episode.query_y, 0.7, 3.0), atol=1e-5)


@pytest.mark.parametrize("learner, n_classes, learner_config", [
    (protonet, None, protonet.ProtoNetConfig(N_WAY)),
    (maml, N_WAY, maml.MamlConfig(inner_lr=0.1)),
    (anil, N_WAY, maml.MamlConfig(inner_lr=0.1, inner_steps=2)),
])
def test_alpha_zero_is_the_plain_meta_learning_loss(episode, learner, n_classes, learner_config):
    teacher, student = models(n_classes)
    config = FusedConfig(teacher, learner.query_logits, learner_config, alpha=0.0)
    fused_losses, fused_accuracies = run_tasks(fused.task_loss, student, episode, config=config)
    plain_losses, plain_accuracies = run_tasks(learner.task_loss, student, episode,
                                               config=learner_config)
    assert torch.allclose(fused_losses, plain_losses, atol=1e-6)
    assert torch.equal(fused_accuracies, plain_accuracies)


@pytest.mark.parametrize("learner, n_classes, learner_config", [
    (protonet, None, protonet.ProtoNetConfig(N_WAY)),
    (maml, N_WAY, maml.MamlConfig(inner_lr=0.1)),
])
def test_alpha_one_with_the_student_as_its_own_teacher_gives_zero(episode, learner, n_classes,
                                                                  learner_config):
    _, student = models(n_classes)
    config = FusedConfig(copy.deepcopy(student), learner.query_logits, learner_config, alpha=1.0)
    losses, _ = run_tasks(fused.task_loss, student, episode, config=config)
    assert torch.allclose(losses, torch.zeros_like(losses), atol=1e-6)


def test_vmap_equals_the_loop_for_losses_and_meta_gradients(episode):
    teacher, student = models(N_WAY)
    config = FusedConfig(teacher, maml.query_logits, maml.MamlConfig(inner_lr=0.1), alpha=0.5)
    results = []
    for vectorize in (False, True):
        student.zero_grad()
        losses, accuracies = run_tasks(fused.task_loss, student, episode, config=config,
                                       vectorize=vectorize)
        losses.mean().backward()
        results.append((losses.detach(), accuracies, [p.grad.clone() for p in student.parameters()]))
    (loop_losses, loop_acc, loop_grads), (vmap_losses, vmap_acc, vmap_grads) = results
    assert torch.allclose(loop_losses, vmap_losses, atol=1e-5)
    assert torch.equal(loop_acc, vmap_acc)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(loop_grads, vmap_grads))


def test_the_teacher_gets_no_gradient(episode):
    teacher, student = models()
    config = FusedConfig(teacher, student_config=protonet.ProtoNetConfig(N_WAY), alpha=0.9)
    losses, _ = run_tasks(fused.task_loss, student, episode, config=config)
    losses.mean().backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert all(p.grad is not None for p in student.parameters())


def test_a_protonet_teacher_can_guide_a_maml_student(episode):
    teacher, _ = models()
    _, student = models(N_WAY)
    config = FusedConfig(teacher, maml.query_logits, maml.MamlConfig(inner_lr=0.1),
                         teacher_query_logits=protonet.query_logits,
                         teacher_config=protonet.ProtoNetConfig(N_WAY), alpha=0.5)
    losses, _ = run_tasks(fused.task_loss, student, episode, config=config)
    assert losses.shape == (2,) and torch.isfinite(losses).all()


@pytest.mark.parametrize("alpha, temperature, message", [
    (-0.1, 4.0, "alpha"), (1.5, 4.0, "alpha"), (0.5, 0.0, "temperature"),
    (0.5, -2.0, "temperature")])
def test_alpha_and_temperature_out_of_range_are_rejected(alpha, temperature, message):
    logits, labels = torch.zeros(1, 2, 3), torch.zeros(1, 2, dtype=torch.long)
    with pytest.raises(ValueError, match=message):
        fused.fused_loss(logits, logits, labels, alpha, temperature)
    with pytest.raises(ValueError, match=message):
        FusedConfig(Conv4(4), alpha=alpha, temperature=temperature)
    with pytest.raises(ValueError, match=message):
        GuidedConfig(None, alpha=alpha, temperature=temperature)


def test_mismatched_logits_and_labels_are_rejected():
    student, labels = torch.zeros(2, 4, 5), torch.zeros(2, 4, dtype=torch.long)
    with pytest.raises(ValueError, match="number of classes"):
        fused.fused_loss(student, torch.zeros(2, 4, 3), labels, 0.5, 4.0)
    with pytest.raises(ValueError, match="same episodes"):
        fused.fused_loss(student, torch.zeros(2, 6, 5), labels, 0.5, 4.0)
    with pytest.raises(ValueError, match="one label per query"):
        fused.fused_loss(student, student, torch.zeros(2, 3, dtype=torch.long), 0.5, 4.0)
    with pytest.raises(ValueError, match=r"query_y must lie in 0\.\.4, got values from 7"):
        fused.fused_loss(student, student, labels + 7, 0.5, 4.0)
    with pytest.raises(ValueError, match=r"\[n_tasks, N·Q, n_way\]"):
        fused.fused_loss(student[0], student[0], labels[0], 0.5, 4.0)
    with pytest.raises(ValueError, match="no teacher_logits"):
        fused.fused_loss(student, None, labels, 0.5, 4.0)


@pytest.mark.parametrize("vectorize", [False, True])
def test_a_teacher_with_another_class_count_is_rejected_inside_the_task_loss(episode, vectorize):
    teacher = Conv4(4, n_classes=N_WAY + 2)
    _, student = models(N_WAY)
    config = FusedConfig(teacher, maml.query_logits, maml.MamlConfig(inner_lr=0.1), alpha=0.5)
    with pytest.raises(ValueError, match=f"teacher has a head with {N_WAY + 2} outputs"):
        run_tasks(fused.task_loss, student, episode, config=config, vectorize=vectorize)


def test_the_training_loop_checks_teacher_student_and_episodes(images):
    sampler = EpisodeSampler(images, n_way=N_WAY, k_shot=1, n_query=2)
    teacher, student = models()
    with pytest.raises(ValueError, match="teacher is None"):
        meta_train_with_teacher(student, sampler, teacher=None, alpha=0.5, n_iterations=1)
    with pytest.raises(ValueError, match="student's config has n_way=5"):
        meta_train_with_teacher(student, sampler, teacher=teacher, n_iterations=1,
                                student_config=protonet.ProtoNetConfig(5))
    with pytest.raises(ValueError, match="teacher has a head with 5 outputs"):
        meta_train_with_teacher(Conv4(4, n_classes=N_WAY), sampler, teacher=Conv4(4, n_classes=5),
                                student_query_logits=maml.query_logits,
                                student_config=maml.MamlConfig(), n_iterations=1)
    with pytest.raises(ValueError, match="same model"):
        meta_train_with_teacher(student, sampler, teacher=student, n_iterations=1)
    with pytest.raises(ValueError, match="teacher is None"):
        train_protonet(student, sampler, n_iterations=1, n_tasks=1, outer_lr=1e-3, alpha=0.5)


def test_fused_meta_training_moves_the_student_towards_the_teacher(images):
    teacher, student = models()
    sampler = EpisodeSampler(images, n_way=N_WAY, k_shot=1, n_query=2, seed=0)
    history = meta_train_with_teacher(student, sampler, teacher=teacher, alpha=1.0,
                                      temperature=2.0, n_iterations=30, n_tasks=2, outer_lr=1e-2)
    assert len(history.loss) == 30
    assert sum(history.loss[-5:]) < sum(history.loss[:5])


def test_the_protonet_short_cuts_keep_working(images, episode):
    teacher, student = models()
    sampler = EpisodeSampler(images, n_way=N_WAY, k_shot=1, n_query=2, seed=0)
    losses = train_protonet(student, sampler, n_iterations=3, n_tasks=2, outer_lr=1e-3,
                                  teacher=teacher, alpha=0.5, temperature=4.0)
    assert len(losses) == 3 and all(isinstance(loss, float) for loss in losses)
    accuracies = evaluate_protonet(student, sampler, n_episodes=7, batch_size=3)
    assert accuracies.shape == (7,) and ((0 <= accuracies) & (accuracies <= 1)).all()
    logits = protonet.episode_logits(student, episode, N_WAY)
    params, buffers = dict(student.named_parameters()), dict(student.named_buffers())
    one = protonet.query_logits(params, buffers, student, episode.support_x[1],
                                episode.support_y[1], episode.query_x[1],
                                config=protonet.ProtoNetConfig(N_WAY))
    assert logits.shape == (2, N_WAY * 2, N_WAY) and torch.allclose(logits[1], one, atol=1e-4)
    one_loss = fused.fused_loss(logits, None, episode.query_y, 0.0, 4.0)
    assert torch.allclose(one_loss, torch.nn.functional.cross_entropy(
        logits.flatten(0, 1), episode.query_y.flatten()))
