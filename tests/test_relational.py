"""The relational (RKD distance) loss: scale-free, zero on matching geometry, gradients flow."""

import pytest
import torch

from kdmeta_lib.distillation import relational_loss


def embeddings(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_relational_loss_is_zero_for_a_scaled_rotated_copy_of_any_width():
    teacher = embeddings(12, 4)
    rotation, _ = torch.linalg.qr(embeddings(6, 6, seed=1))
    student = 7.5 * torch.cat([teacher, torch.zeros(12, 2)], 1) @ rotation  # wider, scaled
    assert relational_loss(student, teacher).item() == pytest.approx(0, abs=1e-6)


def test_relational_loss_is_positive_for_unrelated_embeddings_and_gives_finite_gradients():
    student = embeddings(10, 8, seed=2).requires_grad_()
    loss = relational_loss(torch.cat([student, student[:1]]), embeddings(11, 64, seed=3))
    loss.backward()  # a duplicated row has distance 0: the gradient must stay finite
    assert loss.item() > 0 and torch.isfinite(student.grad).all()


def test_relational_loss_rejects_batches_that_do_not_match():
    with pytest.raises(ValueError, match="same batch"):
        relational_loss(embeddings(5, 8), embeddings(6, 8))
