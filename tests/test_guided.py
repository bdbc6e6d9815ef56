"""The teacher at test time: guided adaptation of a ProtoNet student."""

import copy

import pytest
import torch

from kdmeta_lib import guided, protonet
from kdmeta_lib.episodes import EpisodeSampler
from kdmeta_lib.guided import GuidedConfig
from kdmeta_lib.meta_training import episode_accuracies
from kdmeta_lib.models import Conv4

N_WAY = 3


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand(8, 5, 1, 28, 28, generator=torch.Generator().manual_seed(0))


def models():
    torch.manual_seed(0)
    return Conv4(8), Conv4(4)


def test_guided_adaptation_without_steps_is_plain_protonet(images):
    teacher, student = models()
    for config in (GuidedConfig(None, n_way=N_WAY, pool_queries=1, inner_steps=0),
                   GuidedConfig(teacher, n_way=N_WAY, pool_queries=1, inner_steps=0),
                   # a teacher identical to the student has nothing to teach: no KD gradient
                   GuidedConfig(copy.deepcopy(student), n_way=N_WAY, pool_queries=1, alpha=1.0,
                                inner_steps=3)):
        # two queries per class: the first is the adaptation pool, the second is scored, so
        # these are plain ProtoNet's accuracies on the second query of each class
        adapted = episode_accuracies(student, guided.task_loss, config,
                                    EpisodeSampler(images, N_WAY, 1, 2, seed=4), 6)
        assert torch.equal(adapted, held_out_plain(student, images))


def held_out_plain(student, images) -> torch.Tensor:
    """Plain ProtoNet accuracy on the second query of each class, episode by episode."""
    student.eval()
    batch, accuracies = EpisodeSampler(images, N_WAY, 1, 2, seed=4).sample_batch(6), []
    for index in range(6):
        episode = batch.task(index)
        with torch.no_grad():
            logits = protonet.query_logits(dict(student.named_parameters()),
                                           dict(student.named_buffers()), student,
                                           episode.support_x, episode.support_y,
                                           episode.query_x[1::2],
                                           config=protonet.ProtoNetConfig(N_WAY))
        accuracies.append((logits.argmax(-1) == episode.query_y[1::2]).float().mean())
    return torch.stack(accuracies)


def test_only_held_out_queries_are_scored(images):
    _, student = models()
    episode = EpisodeSampler(images, N_WAY, 1, 4, seed=4).sample()
    params, buffers = dict(student.named_parameters()), dict(student.named_buffers())
    config = GuidedConfig(None, n_way=N_WAY, pool_queries=2, inner_steps=0)
    labels = episode.query_y.clone()
    _, before = guided.task_loss(params, buffers, student, episode.support_x, episode.support_y,
                                 episode.query_x, labels, config=config)
    labels.view(N_WAY, 4)[:, :2] = (labels.view(N_WAY, 4)[:, :2] + 1) % N_WAY  # spoil the pool
    _, after = guided.task_loss(params, buffers, student, episode.support_x, episode.support_y,
                                episode.query_x, labels, config=config)
    assert torch.equal(before, after)
    with pytest.raises(ValueError, match="held out"):
        guided.task_loss(params, buffers, student, episode.support_x, episode.support_y,
                         episode.query_x, labels, config=GuidedConfig(None, n_way=N_WAY,
                                                                      pool_queries=4))


def test_a_guided_student_moves_towards_the_teachers_predictions(images):
    teacher, student = models()
    episode = EpisodeSampler(images, N_WAY, 1, 4, seed=4).sample_batch(1)
    # Each held-out query is a copy of a pool query, so what the student learns from the
    # teacher on the pool must show on the held-out queries too.
    queries = episode.query_x.view(1, N_WAY, 4, 1, 28, 28)
    queries[:, :, 2:] = queries[:, :, :2]
    params, buffers = dict(student.named_parameters()), dict(student.named_buffers())
    task = (episode.support_x[0], episode.support_y[0], episode.query_x[0])
    teacher.eval()
    with torch.no_grad():
        teacher_logits = protonet.episode_logits(teacher, episode, N_WAY)[0]

    def distance_to_teacher(inner_steps):
        config = GuidedConfig(teacher, n_way=N_WAY, pool_queries=2, alpha=1.0,
                              inner_steps=inner_steps, inner_lr=0.05, temperature=1.0)
        # the teacher's predictions as "labels": the returned loss is CE against its argmax
        loss, _ = guided.task_loss(params, buffers, student, *task,
                                   teacher_logits.argmax(-1), config=config)
        return loss

    assert distance_to_teacher(20) < distance_to_teacher(0)
