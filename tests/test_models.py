import pytest
import torch
from torch import nn

from kdmeta_lib.models import (MLP, Conv4, MnistCNN, count_multiply_adds, count_parameters,
                               summarize)


def test_conv4_maps_28px_images_to_width_features_or_classes():
    images = torch.rand(6, 1, 28, 28)
    assert Conv4(width=16)(images).shape == (6, 16)
    assert Conv4(width=16, n_classes=5)(images).shape == (6, 5)


def test_conv4_keeps_no_running_statistics_so_torch_func_sees_no_changing_buffers():
    model = Conv4(width=8)
    assert list(model.buffers()) == []
    model(torch.rand(4, 1, 28, 28))
    assert list(model.buffers()) == []


def test_parameters_grow_roughly_with_width_squared():
    small, large = count_parameters(Conv4(16)), count_parameters(Conv4(64))
    assert 10 < large / small < 16


def test_mlp_and_cnn_produce_ten_logits_and_summaries_say_so():
    images = torch.rand(3, 1, 28, 28)
    assert MLP((784, 32, 10))(images).shape == (3, 10)
    assert MnistCNN()(images).shape == (3, 10)
    assert count_parameters(MLP((784, 800, 800, 10))) == 784 * 800 + 800 + 800 * 800 + 800 + 8010
    assert "→ (1, 10)" in summarize(MLP((784, 32, 10)))


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="width"):
        Conv4(width=0)
    with pytest.raises(ValueError, match="sizes"):
        MLP((784,))


def test_count_multiply_adds_counts_linear_and_convolution_layers():
    assert count_multiply_adds(MLP((784, 32, 10))) == 784 * 32 + 32 * 10
    conv = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 28 * 28, 10))
    assert count_multiply_adds(conv) == 4 * 28 * 28 * 9 + 4 * 28 * 28 * 10
