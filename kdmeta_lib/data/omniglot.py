"""Real Omniglot (Lake et al. 2015): find a local copy, decode it once, cache it, or download it.

The standard preparation: every 105×105 drawing is resized to 28×28 with ink = 1 (the PNGs store
black ink on white). ``images_background`` (964 characters, 30 alphabets) is for meta-training,
``images_evaluation`` (659 characters, 20 alphabets) for meta-testing, 20 drawings per character.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .paths import DataUnavailable, cache_dir, check_reachable, data_root, download_timeout
from .storage import load_or_none, save_atomically

OMNIGLOT_SUBSETS = ("images_background", "images_evaluation")  # meta-train, meta-test
IMAGE_SIZE = 28


def find_omniglot(root: Path, subset: str) -> Path | None:
    """The extracted folder or the zip for one subset under ``root/omniglot-py``, if present."""
    base = root / "omniglot-py"
    if (base / subset).is_dir() and any((base / subset).iterdir()):
        return base / subset
    if (base / f"{subset}.zip").is_file():
        return base / f"{subset}.zip"
    return None


def _png_readers(source: Path) -> dict[str, list[Callable[[], bytes]]]:
    """Map ``alphabet/characterNN`` to byte readers of its drawings, from a folder or a zip."""
    characters: dict[str, list[tuple[str, Callable[[], bytes]]]] = {}
    if source.is_dir():
        for png in source.rglob("*.png"):
            key = f"{png.parent.parent.name}/{png.parent.name}"
            characters.setdefault(key, []).append((png.name, png.read_bytes))
    else:
        archive = zipfile.ZipFile(source)  # BadZipFile for a truncated download
        for name in archive.namelist():
            if name.endswith(".png"):
                parts = name.split("/")
                key = f"{parts[-3]}/{parts[-2]}"
                characters.setdefault(key, []).append(
                    (parts[-1], lambda name=name: archive.read(name)))
    return {key: [read for _, read in sorted(items)] for key, items in sorted(characters.items())}


def _decode_glyph(png_bytes: bytes) -> np.ndarray:
    """105×105 black-on-white PNG → 28×28 uint8 with ink = 255 (antialiased resize)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png_bytes)).convert("L")
    small = image.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return 255 - np.asarray(small, dtype=np.uint8)  # Omniglot stores ink as black


def _decode_omniglot(source: Path) -> Tensor:
    """Decode every drawing of one subset into uint8 ``[n_characters, 20, 28, 28]``."""
    from ..support.runtime import progress

    readers = _png_readers(source)
    counts = {len(drawings) for drawings in readers.values()}
    if not readers or counts != {20}:
        raise DataUnavailable(
            f"{source} does not look like Omniglot: expected 20 drawings per character, found "
            f"{sorted(counts)} over {len(readers)} characters. Delete it and copy it again.")
    images = np.empty((len(readers), 20, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    for index, drawings in enumerate(progress(readers.values(), f"decoding {source.name}",
                                              total=len(readers))):
        for drawing, read in enumerate(drawings):
            images[index, drawing] = _decode_glyph(read())
    return torch.from_numpy(images)


def load_omniglot_subset(subset: str, root: Path | None = None) -> Tensor:
    """One Omniglot subset as float ``[n_characters, 20, 28, 28]`` in [0, 1], ink = 1.

    ``images_background`` has 964 characters (meta-train), ``images_evaluation`` 659
    (meta-test). The first call decodes the PNGs (from the extracted folder or straight from the
    zip) into a tensor cache; later calls load that cache in well under 2 s.

    Raises:
        DataUnavailable: the subset is not under ``root/omniglot-py`` or cannot be read.
    """
    if subset not in OMNIGLOT_SUBSETS:
        raise ValueError(f"subset must be one of {OMNIGLOT_SUBSETS}, got {subset!r}")
    root = root or data_root()
    source = find_omniglot(root, subset)
    if source is None:
        raise DataUnavailable(f"no {subset} folder or zip under {root / 'omniglot-py'}")
    cache_file = cache_dir() / f"omniglot_{subset}_{IMAGE_SIZE}px.pt"
    cached = load_or_none(cache_file)
    if cached is None or cached.get("source_bytes") != _size_of(source):
        try:
            images = _decode_omniglot(source)
        except (zipfile.BadZipFile, OSError, KeyError, IndexError) as error:
            raise DataUnavailable(
                f"{source} is corrupt or incomplete ({type(error).__name__}: {error}); "
                "delete it and copy or download it again") from error
        cached = {"images": images, "source_bytes": _size_of(source)}
        save_atomically(cached, cache_file)
    return cached["images"].float().div_(255)


def _size_of(source: Path) -> int:
    """A cheap fingerprint of a source, so a replaced copy invalidates the cache."""
    if source.is_file():
        return source.stat().st_size
    return sum(1 for _ in source.rglob("*.png"))

def with_rotations(images: Tensor) -> Tensor:
    """Add 90°, 180° and 270° rotations of every class as new classes (4× the classes).

    Args:
        images: ``[n_classes, n_per_class, ..., H, W]``.
    Returns:
        ``[4·n_classes, n_per_class, ..., H, W]``: rotation 0 first, then 90°, 180°, 270°.
    """
    return torch.cat([torch.rot90(images, k, dims=(-2, -1)) for k in range(4)], dim=0)


def download_omniglot(folder: Path) -> None:
    """Let torchvision fetch both Omniglot zips into ``folder/omniglot-py`` (fails fast)."""
    from torchvision.datasets import Omniglot

    check_reachable(Omniglot.download_url_prefix)
    with download_timeout():
        for background in (True, False):
            Omniglot(str(folder), background=background, download=True)
