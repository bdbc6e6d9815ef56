"""The supervised training loops: shifts, frozen teachers, histories and argument checks."""

import pytest
import torch
from torch import nn

from kdmeta_lib.distill_training import (
    EpochHistory,
    TrainConfig,
    distill,
    model_accuracy,
    predict_logits,
    random_shift,
    shifted_views,
    train_alone,
)
from kdmeta_lib.models import MLP


def toy_digits(n: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two easy classes: a bright left half or a bright right half."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=generator)
    images = torch.rand(n, 1, 28, 28, generator=generator) * 0.1
    images[labels == 0, :, :, :14] += 0.8
    images[labels == 1, :, :, 14:] += 0.8
    return images, labels


def test_random_shift_moves_each_image_by_at_most_max_shift_and_keeps_its_shape():
    image = torch.zeros(1, 1, 28, 28)
    image[0, 0, 14, 14] = 1.0
    shifted = random_shift(image.repeat(50, 1, 1, 1), 2, torch.Generator().manual_seed(0))
    assert shifted.shape == (50, 1, 28, 28)
    assert torch.allclose(shifted.sum(dim=(1, 2, 3)), torch.ones(50))  # the dot never falls off
    rows, columns = shifted[:, 0].nonzero()[:, 1], shifted[:, 0].nonzero()[:, 2]
    assert (rows - 14).abs().max() <= 2 and (columns - 14).abs().max() <= 2
    assert len({(r.item(), c.item()) for r, c in zip(rows, columns)}) > 10  # really random
    assert random_shift(image, 0) is image


def test_predict_logits_uses_eval_mode_and_restores_training_mode():
    model = MLP((784, 32, 10), dropout=0.5)
    model.train()
    images = torch.rand(8, 1, 28, 28)
    first, second = predict_logits(model, images), predict_logits(model, images)
    assert torch.equal(first, second)  # dropout off: deterministic
    assert model.training and not first.requires_grad


def test_train_alone_learns_an_easy_task_and_records_history():
    torch.manual_seed(0)
    images, labels = toy_digits()
    model = MLP((784, 16, 2))
    history = train_alone(model, images, labels, TrainConfig(epochs=5, batch_size=16, lr=1e-2),
                          test=(images, labels))
    assert isinstance(history, EpochHistory) and len(history.loss) == 5
    assert history.loss[-1] < history.loss[0]
    assert model_accuracy(model, images, labels) == 1.0 == history.test_accuracy[-1]


def test_distill_leaves_the_teacher_untouched_and_in_eval_mode():
    torch.manual_seed(0)
    images, labels = toy_digits()
    teacher = MLP((784, 16, 2), dropout=0.5)
    before = {name: p.clone() for name, p in teacher.state_dict().items()}
    student = MLP((784, 8, 2))
    distill(student, images, labels, TrainConfig(epochs=2, batch_size=16, max_shift=2),
            teacher=teacher, alpha=0.5, temperature=2.0)
    assert not teacher.training
    assert all(torch.equal(before[name], p) for name, p in teacher.state_dict().items())
    assert all(p.grad is None for p in teacher.parameters())


def test_distilling_from_precomputed_logits_matches_distilling_from_the_teacher():
    images, labels = toy_digits()
    teacher = MLP((784, 16, 2))
    config = TrainConfig(epochs=2, batch_size=16, seed=3)
    students = []
    for source in ({"teacher": teacher}, {"teacher_logits": predict_logits(teacher, images)}):
        torch.manual_seed(1)
        students.append(MLP((784, 8, 2)))
        distill(students[-1], images, labels, config, alpha=1.0, temperature=3.0, **source)
    assert torch.allclose(predict_logits(students[0], images), predict_logits(students[1], images),
                          atol=1e-5)


def test_bad_training_arguments_raise():
    images, labels = toy_digits(8)
    student = MLP((784, 4, 2))
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(lr=0.0)
    with pytest.raises(ValueError, match="exactly one"):
        distill(student, images, labels, TrainConfig())
    with pytest.raises(ValueError, match="max_shift"):
        distill(student, images, labels, TrainConfig(max_shift=2),
                teacher_logits=torch.zeros(8, 2))
    with pytest.raises(ValueError, match="rows"):
        distill(student, images, labels, TrainConfig(), teacher_logits=torch.zeros(5, 2))
    with pytest.raises(ValueError, match="share parameters"):
        distill(student, images, labels, TrainConfig(), teacher=nn.Sequential(student))


def test_shifted_views_stacks_view_after_view_so_labels_repeat():
    images, labels = toy_digits(6)
    views = shifted_views(images, 3, 2, seed=0)
    assert views.shape == (18, 1, 28, 28)
    # shifting only drops pixels off the edge: no view is brighter than its image
    assert (views.sum(dim=(1, 2, 3)) <= images.repeat(3, 1, 1, 1).sum(dim=(1, 2, 3)) + 1e-3).all()
    assert torch.equal(shifted_views(images, 3, 2, seed=0), views)  # seeded: reproducible
    assert not torch.equal(views[:6], views[6:12])  # each view has its own shifts
    with pytest.raises(ValueError, match="n_views"):
        shifted_views(images, 0, 2)
