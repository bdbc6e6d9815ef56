"""Label-free transfer episodes: the sampler's layout and the transfer objective."""

import copy

import pytest
import torch

from kdmeta_lib import fused, protonet, transfer
from kdmeta_lib.episodes import EpisodeSampler
from kdmeta_lib.functional import params_and_buffers
from kdmeta_lib.models import Conv4

N_WAY, N_TRANSFER = 3, 4


def images(seed: int, n_classes: int = 6) -> torch.Tensor:
    return torch.rand(n_classes, 5, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def sampler() -> transfer.TransferSampler:
    return transfer.TransferSampler(EpisodeSampler(images(0), N_WAY, 1, 2, seed=3), images(1),
                                    N_TRANSFER, seed=5)


def test_a_transfer_batch_is_the_labelled_batch_with_pool_images_appended():
    batch = sampler().sample_batch(2)
    plain = EpisodeSampler(images(0), N_WAY, 1, 2, seed=3).sample_batch(2)
    assert batch.support_x.shape == (2, N_WAY + N_WAY, 1, 28, 28)
    assert batch.query_x.shape == (2, N_WAY * 2 + N_TRANSFER, 1, 28, 28)
    assert torch.equal(batch.support_x[:, :N_WAY], plain.support_x)
    assert torch.equal(batch.query_y[:, :N_WAY * 2], plain.query_y)
    pool = images(1).flatten(0, 1)
    extra = torch.cat([batch.support_x[:, N_WAY:], batch.query_x[:, N_WAY * 2:]], 1)
    for image in extra.flatten(0, 1):  # every appended image comes from the unlabelled pool
        assert (pool == image).flatten(1).all(1).any()


def config(guide: torch.nn.Module) -> transfer.TransferConfig:
    labelled = fused.FusedConfig(None, student_config=protonet.ProtoNetConfig(N_WAY), alpha=0.0)
    return transfer.TransferConfig(guide, N_WAY, N_TRANSFER, fused.task_loss, labelled)


def loss_of(student, guide, episode):
    params, buffers = params_and_buffers(student)
    return transfer.task_loss(params, buffers, student, episode.support_x[0],
                              episode.support_y[0], episode.query_x[0], episode.query_y[0],
                              config=config(guide))


def test_a_guide_identical_to_the_student_adds_nothing_and_the_placeholders_are_not_read():
    torch.manual_seed(0)
    student, episode = Conv4(4).eval(), sampler().sample_batch(1)
    loss, _ = loss_of(student, copy.deepcopy(student), episode)
    params, buffers = params_and_buffers(student)
    labelled, _ = fused.task_loss(params, buffers, student, episode.support_x[0, :N_WAY],
                                  episode.support_y[0, :N_WAY], episode.query_x[0, :N_WAY * 2],
                                  episode.query_y[0, :N_WAY * 2], config=config(student).labelled_config)
    assert torch.allclose(loss, labelled / 2, atol=1e-6)  # KL(p ‖ p) = 0
    episode.query_y[0, N_WAY * 2:] = torch.tensor([2, 2, 1, 0])  # other placeholders
    assert torch.equal(loss_of(student, copy.deepcopy(student), episode)[0], loss)


def test_another_guide_pulls_the_student_towards_its_answers():
    torch.manual_seed(0)
    student, guide, episode = Conv4(4).eval(), Conv4(8).eval(), sampler().sample_batch(1)
    loss, _ = loss_of(student, guide, episode)
    alone, _ = loss_of(student, copy.deepcopy(student), episode)
    assert loss > alone


@pytest.mark.parametrize("make, message", [
    (lambda: transfer.TransferSampler(EpisodeSampler(images(0), N_WAY, 1, 2), images(1), 0),
     "n_transfer_queries"),
    (lambda: transfer.TransferSampler(EpisodeSampler(images(0), N_WAY, 1, 2),
                                      images(1, n_classes=1), 5), "the pool has 5"),
    (lambda: transfer.TransferConfig("teacher", N_WAY, 4, fused.task_loss, None),
     "guide must be an nn.Module"),
])
def test_bad_arguments_say_what_is_wrong(make, message):
    with pytest.raises(ValueError, match=message):
        make()
