import pytest
import torch
from torch import nn

from kdmeta_lib.models import (MLP, Conv4, MnistCNN, StridedConv4, count_multiply_adds,
                               count_parameters, summarize)


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


def test_fast_conv4_computes_the_textbook_function_with_the_same_weights():
    torch.manual_seed(0)
    textbook, fast = Conv4(8), Conv4(8, fast=True)
    for slow_block, fast_block in zip(textbook.features[:4], fast.features[:4]):
        fast_block[0].weight.data.copy_(slow_block[0].weight.data)  # the bias has no twin
        fast_block[1].load_state_dict(slow_block[1].state_dict())
    images = torch.randn(12, 1, 28, 28)
    assert torch.allclose(textbook(images), fast(images), atol=1e-5)
    assert sum(p.numel() for p in fast.parameters()) == (
        sum(p.numel() for p in textbook.parameters()) - 4 * 8)  # four conv biases fewer


def test_strided_conv4_is_finn_et_al_s_shape_and_keeps_no_running_statistics():
    model = StridedConv4(16, n_classes=5)
    assert model(torch.randn(3, 1, 28, 28)).shape == (3, 5)
    assert StridedConv4(16)(torch.randn(3, 1, 28, 28)).shape == (3, 16)
    assert not list(model.buffers())
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in model.modules())
