import os
import time

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


def test_cpu_friendly_uses_channels_last_on_the_cpu_only():
    from kdmeta_lib import Conv4
    from kdmeta_lib.support.runtime import cpu_friendly

    weight = cpu_friendly(Conv4(4), "cpu").features[1][0].weight  # 4 input channels
    assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
    # Any other device keeps the default layout: vmap cannot query channels-last strides on CUDA.
    elsewhere = cpu_friendly(Conv4(4), "meta").features[1][0].weight
    assert elsewhere.device.type == "meta" and elsewhere.is_contiguous()


def test_busy_cores_sees_a_competing_process_and_use_free_cores_leaves_it_a_core():
    import subprocess
    import sys

    from kdmeta_lib.support.runtime import busy_cores, use_free_cores

    threads = torch.get_num_threads()
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # let it start spinning
        busy = busy_cores(0.5)
        assert 0.6 <= busy <= (os.cpu_count() or 1) + 0.01
        chosen = use_free_cores(verbose=False)
        assert chosen == torch.get_num_threads() >= 1
        assert chosen < (os.cpu_count() or 1) or (os.cpu_count() or 1) == 1  # one core left
    finally:
        spinner.kill()
        torch.set_num_threads(threads)
