"""Omniglot on Snell et al.'s "vinyals" class split, the split of the papers' tables.

Vinyals et al. (2016) and Snell et al. (2017) do not use Lake et al.'s background / evaluation
split: they take all 1,623 characters, 1,200 for training and 423 for testing, each with its four
rotations as four classes. Only one alphabet, Gurmukhi, has characters on both sides. The lists
(``benchmarks/splits/vinyals/``, MIT, © Jake Snell) name each class ``Alphabet/characterNN/rotNNN``;
this module builds the image tensors from the two official zips, wherever each character lives.

Choices:

* training classes come from ``trainval.txt`` (1,200 characters), not ``train.txt`` (1,028):
  Snell et al. trained their final Omniglot models on train + validation, and the benchmark
  trains for a fixed clock, so it has no use for a validation set;
* ``rotNNN`` is a counter-clockwise rotation by NNN degrees, applied to the 28×28 image with
  ``torch.rot90(k=NNN/90)``: the direction of ``PIL.Image.rotate`` in Snell et al.'s loader and
  of the library's ``with_rotations``. Since every character is listed with all four rotations,
  the direction does not change which classes exist, only their order. (Snell et al. rotate the
  105×105 drawing before resizing; rotating after the resize differs only by resampling.)
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import torch
from torch import Tensor

from kdmeta_lib.data import DataUnavailable, FewShotData, load_omniglot_subset
from kdmeta_lib.data.omniglot import OMNIGLOT_SUBSETS, find_omniglot
from kdmeta_lib.data.paths import data_root

SPLIT_FOLDER = Path(__file__).resolve().parent / "splits" / "vinyals"
ROTATIONS = {"rot000": 0, "rot090": 1, "rot180": 2, "rot270": 3}  # name → quarter turns (CCW)
SPLIT_SIZES = {"trainval": 1200, "test": 423}  # characters in each list (4 classes each)


def read_split(name: str, folder: Path = SPLIT_FOLDER) -> list[tuple[str, int]]:
    """The classes of one list as ``(Alphabet/characterNN, quarter turns)``, in file order.

    Raises:
        ValueError: an unknown list name, or a line that is not ``Alphabet/characterNN/rotNNN``.
    """
    if name not in SPLIT_SIZES:
        raise ValueError(f"unknown vinyals list {name!r}; choose from {sorted(SPLIT_SIZES)}")
    classes = []
    path = folder / f"{name}.txt"
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.strip().split("/")
        if len(parts) != 3 or parts[2] not in ROTATIONS:
            raise ValueError(f"{path}:{number}: {line!r} is not Alphabet/characterNN/rotNNN with "
                             f"rotNNN in {sorted(ROTATIONS)}; restore the file from "
                             "jakesnell/prototypical-networks")
        classes.append((f"{parts[0]}/{parts[1]}", ROTATIONS[parts[2]]))
    return classes


def character_names(source: Path) -> list[str]:
    """``Alphabet/characterNN`` of every character in one subset, in the order in which
    ``load_omniglot_subset`` stacks them (sorted), from an extracted folder or a zip."""
    if source.is_dir():
        names = {f"{png.parent.parent.name}/{png.parent.name}" for png in source.rglob("*.png")}
    else:
        with zipfile.ZipFile(source) as archive:
            names = {"/".join(name.split("/")[-3:-1]) for name in archive.namelist()
                     if name.endswith(".png")}
    return sorted(names)


def build_classes(classes: list[tuple[str, int]], images: dict[str, Tensor],
                  list_name: str = "the list") -> Tensor:
    """Stack the images of each listed class, rotated by its quarter turns.

    Args:
        classes: ``(Alphabet/characterNN, quarter turns)`` per class, from :func:`read_split`.
        images: ``Alphabet/characterNN`` → that character's drawings ``[n_per_class, H, W]``.
    Returns:
        ``[n_classes, n_per_class, 1, H, W]``, in the order of ``classes``.
    Raises:
        DataUnavailable: a listed character is in neither zip (names the first missing ones).
    """
    missing = sorted({character for character, _ in classes if character not in images})
    if missing:
        raise DataUnavailable(
            f"{len(missing)} characters of the vinyals {list_name} are in neither Omniglot zip, "
            f"e.g. {', '.join(missing[:3])}; put the two official zips (images_background.zip, "
            "964 characters, and images_evaluation.zip, 659) under $KDMETA_DATA/omniglot-py/")
    # rot90 turns from the first spatial axis towards the second: counter-clockwise on screen,
    # like PIL's Image.rotate(degrees) in Snell et al.'s loader
    stacked = [torch.rot90(images[character], turns, dims=(-2, -1))
               for character, turns in classes]
    return torch.stack(stacked).unsqueeze(2)  # [n_classes, n_per_class, 1, H, W]


def load_vinyals_data(root: Path | None = None) -> FewShotData:
    """Omniglot on the vinyals split: 4,800 training and 1,692 test classes (28×28, ink = 1).

    Both official subsets are loaded through the library's decoded-tensor cache, then every
    character is looked up by name, since each list draws on both zips.

    Raises:
        DataUnavailable: a zip is missing or a listed character is in neither.
    """
    root = root or data_root()
    images: dict[str, Tensor] = {}
    for subset in OMNIGLOT_SUBSETS:
        source = find_omniglot(root, subset)
        if source is None:
            raise DataUnavailable(f"--split vinyals needs real Omniglot: no {subset} folder or "
                                  f"zip under {root / 'omniglot-py'}; copy the official zips "
                                  "there (or set KDMETA_DATA)")
        names, tensor = character_names(source), load_omniglot_subset(subset, root)
        if len(names) != tensor.shape[0]:
            raise DataUnavailable(f"{source} lists {len(names)} characters but its decoded cache "
                                  f"holds {tensor.shape[0]}; delete the cache and run again")
        images.update(zip(names, tensor))
    train, test = (build_classes(read_split(name), images, f"{name}.txt")
                   for name in ("trainval", "test"))
    description = (f"Omniglot, Snell et al.'s vinyals split (trainval: {train.shape[0]} "
                   f"training classes; test: {test.shape[0]} classes; 4 rotations per character) "
                   f"from {root / 'omniglot-py'} (Omniglot: Lake et al. 2015, MIT licence; "
                   "split lists: Snell et al. 2017, MIT licence)")
    return FewShotData(train, test, "omniglot-vinyals", description)
