import torch
import pytest

from kdmeta_lib.support.runtime import pick_device, progress, seed_everything


def test_seeding_makes_torch_reproducible():
    seed_everything(3)
    first = torch.rand(3)
    seed_everything(3)
    assert torch.equal(first, torch.rand(3))


def test_the_device_is_cuda_only_when_available():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert pick_device().type == expected
    assert pick_device("cpu").type == "cpu"


def test_asking_for_a_missing_gpu_says_so():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ValueError, match="no GPU"):
        pick_device("cuda")


def test_progress_yields_every_item(monkeypatch):
    monkeypatch.setenv("KDMETA_PROGRESS", "1")
    assert list(progress(range(4), "counting")) == [0, 1, 2, 3]
