import re
import pytest
import torch

from kdmeta_lib.episodes import Episode, EpisodeSampler


def labelled_images(n_classes: int = 12, n_per_class: int = 20) -> torch.Tensor:
    """Images whose pixels encode (class, example), so tests can see what was drawn."""
    ids = torch.arange(n_classes * n_per_class, dtype=torch.float32).view(n_classes, n_per_class)
    return ids[:, :, None, None, None].expand(-1, -1, 1, 2, 2).clone()


def identities(x: torch.Tensor) -> torch.Tensor:
    return x[..., 0, 0, 0].long()


def test_labels_are_exactly_zero_to_n_way_minus_one_and_balanced():
    episode = EpisodeSampler(labelled_images(), n_way=5, k_shot=3, n_query=4, seed=0).sample()
    assert episode.support_y.tolist() == [c for c in range(5) for _ in range(3)]
    assert torch.bincount(episode.query_y).tolist() == [4] * 5
    assert episode.support_x.shape == (15, 1, 2, 2) and episode.query_x.shape == (20, 1, 2, 2)


def test_support_and_query_never_share_an_example():
    sampler = EpisodeSampler(labelled_images(), n_way=5, k_shot=5, n_query=15, seed=1)
    for _ in range(20):
        episode = sampler.sample()
        support, query = set(identities(episode.support_x).tolist()), set(
            identities(episode.query_x).tolist())
        assert not support & query
        assert len(support) == 25 and len(query) == 75


def test_each_label_maps_to_one_real_class_shared_by_support_and_query():
    episode = EpisodeSampler(labelled_images(), n_way=4, k_shot=2, n_query=3, seed=2).sample()
    real_class = identities(episode.support_x) // 20
    query_class = identities(episode.query_x) // 20
    for label in range(4):
        assert len(set(real_class[episode.support_y == label].tolist())) == 1
        assert set(query_class[episode.query_y == label].tolist()) == set(
            real_class[episode.support_y == label].tolist())
    assert len(set(real_class.tolist())) == 4


def test_same_seed_gives_same_episodes_and_other_seed_differs():
    images = labelled_images()
    first = EpisodeSampler(images, 5, 1, 5, seed=7).sample_batch(3)
    again = EpisodeSampler(images, 5, 1, 5, seed=7).sample_batch(3)
    other = EpisodeSampler(images, 5, 1, 5, seed=8).sample_batch(3)
    assert torch.equal(first.support_x, again.support_x) and torch.equal(first.query_x, again.query_x)
    assert not torch.equal(first.query_x, other.query_x)


def test_a_batch_of_tasks_stacks_independent_tasks():
    batch = EpisodeSampler(labelled_images(), 5, 2, 3, seed=0).sample_batch(6)
    assert batch.is_batch and batch.support_x.shape == (6, 10, 1, 2, 2)
    assert batch.query_y.shape == (6, 15)
    task = batch.task(2)
    assert isinstance(task, Episode) and task.support_x.shape == (10, 1, 2, 2)
    assert len({tuple(identities(batch.task(i).support_x).tolist()) for i in range(6)}) > 1


def test_uint8_images_come_out_as_floats_in_unit_range():
    images = (torch.rand(6, 10, 1, 4, 4) * 255).to(torch.uint8)
    episode = EpisodeSampler(images, 3, 1, 2).sample()
    assert episode.support_x.dtype == torch.float32 and episode.support_x.max() <= 1


@pytest.mark.parametrize("kwargs, message", [
    ({"n_way": 20}, "20-way episode needs 20 classes but this split has only 12"),
    ({"k_shot": 10, "n_query": 11}, "k_shot + n_query"),
    ({"n_way": 0}, "n_way must be a positive integer"),
    ({"k_shot": -1}, "k_shot must be a positive integer"),
    ({"n_query": 0}, "n_query must be a positive integer"),
])
def test_bad_arguments_raise_a_value_error_that_says_what_is_possible(kwargs, message):
    arguments = {"n_way": 5, "k_shot": 1, "n_query": 5} | kwargs
    with pytest.raises(ValueError, match=re.escape(message)):
        EpisodeSampler(labelled_images(), **arguments)


def test_zero_tasks_is_refused():
    with pytest.raises(ValueError, match="n_tasks"):
        EpisodeSampler(labelled_images(), 5, 1, 5).sample_batch(0)
