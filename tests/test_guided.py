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
    plain = episode_accuracies(student, protonet.task_loss, protonet.ProtoNetConfig(N_WAY),
                               EpisodeSampler(images, N_WAY, 1, 2, seed=4), 6)
    for config in (GuidedConfig(None, n_way=N_WAY, inner_steps=0),
                   GuidedConfig(teacher, n_way=N_WAY, inner_steps=0),
                   # a teacher identical to the student has nothing to teach: no KD gradient
                   GuidedConfig(copy.deepcopy(student), n_way=N_WAY, alpha=1.0, inner_steps=3)):
        adapted = episode_accuracies(student, guided.task_loss, config,
                                    EpisodeSampler(images, N_WAY, 1, 2, seed=4), 6)
        assert torch.equal(adapted, plain)


def test_a_guided_student_moves_towards_the_teachers_query_predictions(images):
    teacher, student = models()
    episode = EpisodeSampler(images, N_WAY, 1, 2, seed=4).sample_batch(1)
    params, buffers = dict(student.named_parameters()), dict(student.named_buffers())
    task = (episode.support_x[0], episode.support_y[0], episode.query_x[0])
    with torch.no_grad():
        teacher_logits = protonet.episode_logits(teacher, episode, N_WAY)[0]

    def distance_to_teacher(inner_steps):
        config = GuidedConfig(teacher, n_way=N_WAY, alpha=1.0, inner_steps=inner_steps,
                              inner_lr=0.05, temperature=1.0)
        # the teacher's soft predictions as "labels": the returned loss is CE against its argmax
        loss, _ = guided.task_loss(params, buffers, student, *task,
                                         teacher_logits.argmax(-1), config=config)
        return loss

    assert distance_to_teacher(20) < distance_to_teacher(0)
