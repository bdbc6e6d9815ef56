"""Real Omniglot (Lake et al. 2015): find a local copy, decode it once, cache it, or download it.

The standard preparation: every 105×105 drawing is resized to 28×28 with ink = 1 (the PNGs store
black ink on white). ``images_background`` (964 characters, 30 alphabets) is for meta-training,
``images_evaluation`` (659 characters, 20 alphabets) for meta-testing, 20 drawings per character.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .paths import DataUnavailable, check_reachable, data_root, download_timeout, shared_cache_dir
from .storage import load_valid, save_or_warn, tensor_problem

OMNIGLOT_SUBSETS = ("images_background", "images_evaluation")  # meta-train, meta-test
IMAGE_SIZE = 28
# Everything a damaged zip or PNG can raise while it is read: a truncated download, a corrupt
# deflate stream (zlib.error), a broken PNG (PIL's OSError or SyntaxError), a bad CRC, ...
DECODING_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, EOFError, KeyError, IndexError,
                   ValueError, SyntaxError, NotImplementedError, RuntimeError)


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
    alphabets(source, subset)  # the right split, readable: before any cache is trusted
    cache_file = shared_cache_dir() / f"omniglot_{subset}_{IMAGE_SIZE}px.pt"
    cached, place = load_valid(cache_file, lambda contents: _cache_problem(contents, source))
    if cached is None:
        try:
            images = _decode_omniglot(source)
        except DataUnavailable:
            raise
        except DECODING_ERRORS as error:
            raise _corrupt(source, error) from error
        cached = {"images": images, "source_bytes": _size_of(source)}
        save_or_warn(cached, place)
    return cached["images"].float().div_(255)


def _cache_problem(cached: object, source: Path) -> str | None:
    """What is wrong with a decoded-Omniglot cache file for ``source``, or None."""
    if not isinstance(cached, dict) or set(cached) != {"images", "source_bytes"}:
        keys = sorted(cached) if isinstance(cached, dict) else f"a {type(cached).__name__}"
        return f"it holds {keys}, not a dict with 'images' and 'source_bytes'"
    problem = tensor_problem("images", cached["images"], (None, 20, IMAGE_SIZE, IMAGE_SIZE),
                             torch.uint8)
    if problem:
        return problem
    if cached["source_bytes"] != _size_of(source):
        return f"it was decoded from another copy of {source.name}"
    return None


def alphabets(source: Path, subset: str) -> set[str]:
    """The alphabets of one subset, after checking that the folder or zip holds that subset.

    The official zips keep every drawing under a folder named after the subset, so a zip saved
    under the other subset's name is caught here.

    Raises:
        DataUnavailable: the zip holds another subset, or cannot be read.
    """
    if source.is_dir():
        return {path.name for path in source.iterdir() if path.is_dir()}
    try:
        with zipfile.ZipFile(source) as archive:
            names = [name for name in archive.namelist() if name.endswith(".png")]
    except DECODING_ERRORS as error:
        raise _corrupt(source, error) from error
    tops = sorted({name.split("/")[0] for name in names})
    if tops != [subset]:
        raise DataUnavailable(f"{source} should hold {subset}/ but holds {tops[:3]}: the zips "
                              f"were renamed or swapped; put each official zip under its own name")
    return {name.split("/")[1] for name in names if name.count("/") >= 3}


def _corrupt(source: Path, error: BaseException) -> DataUnavailable:
    """The error to raise for an unreadable source, naming the file and the low-level error."""
    kind = type(error).__module__.replace("builtins", "") + "." + type(error).__name__
    return DataUnavailable(f"{source} is corrupt or incomplete ({kind.lstrip('.')}: "
                           f"{str(error)[:200]}); delete it and copy or download it again")


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
