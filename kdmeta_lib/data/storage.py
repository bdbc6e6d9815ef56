"""Atomic files: caches and checkpoints that an interrupted run can never leave half-written.

The trick is the same everywhere: write to a temporary file in the destination folder, flush it
to disk, then ``os.replace`` it over the target. ``os.replace`` is atomic on POSIX and Windows, so
a reader sees either the old file or the new one, never a truncated one.

:func:`load_or_train_teacher` builds on it: a trained teacher is cached under
``paths.cache_dir()``, keyed by the data and the training recipe, and reloaded in seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .paths import cache_dir


def write_atomically(path: str | Path, write: Callable[[Any], None]) -> Path:
    """Call ``write(file_object)`` on a temporary file, then move it onto ``path`` in one step."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:  # also on KeyboardInterrupt: never leave the temporary behind
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def save_atomically(obj: Any, path: str | Path) -> Path:
    """``torch.save`` that never leaves a corrupt file at ``path``."""
    return write_atomically(path, lambda file: torch.save(obj, file))


def load_or_none(path: str | Path) -> Any | None:
    """Load a file written by :func:`save_atomically`, or return None if missing or unreadable.

    Uses ``weights_only=True``: only tensors and plain containers are unpickled, so a cache file
    from somewhere else cannot run code. A corrupt file is reported and treated as missing, so
    the caller rebuilds it instead of crashing.
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable cache means "rebuild"
        print(f"Ignoring unreadable cache {path} ({type(error).__name__}: {error}); rebuilding it.")
        return None


def load_or_train(model: nn.Module, path: str | Path, train: Callable[[nn.Module], object]) -> bool:
    """Load ``model``'s weights from ``path``, or train it with ``train(model)`` and save them.

    The file is written atomically (:func:`save_atomically`), so an
    interrupted run never leaves half a checkpoint. A missing, unreadable or mismatched file
    (another architecture, a corrupt download) is ignored and the model is retrained.
    Put the training settings in the file name, so that changing them retrains.

    Returns:
        True when the weights came from the cache, False when ``model`` was trained.
    """
    state, expected = load_or_none(path), model.state_dict()
    if state is not None:
        # check every name and shape *before* loading, so a bad file never half-loads
        if (isinstance(state, dict) and state.keys() == expected.keys()
                and all(getattr(state[k], "shape", None) == v.shape for k, v in expected.items())):
            model.load_state_dict(state)
            return True
        print(f"Ignoring cached weights {path}: they do not fit {type(model).__name__}; retraining.")
    train(model)
    save_atomically(model.state_dict(), path)
    return False


def cache_key_digest(key: dict[str, Any]) -> str:
    """A short, stable name for a training recipe (JSON with sorted keys, SHA-256)."""
    try:
        text = json.dumps(key, sort_keys=True)
    except TypeError as error:
        raise ValueError(f"the cache key must hold plain numbers and strings only: {error}") from None
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def load_or_train_teacher(build: Callable[[], nn.Module], train: Callable[[nn.Module], Any],
                          key: dict[str, Any], name: str = "teacher",
                          verbose: bool = True) -> tuple[nn.Module, bool]:
    """Load a cached trained teacher, or train it and cache it.

    Args:
        build: makes the untrained model, e.g. ``lambda: Conv4(64)``.
        train: trains that model in place (its return value is ignored).
        key: everything the result depends on: the data source and the training recipe
            (width, steps, learning rate, seed, ...). A different key is a different file.
        name: start of the file name under ``paths.cache_dir()``.
    Returns:
        ``(model, from_cache)``.
    """
    path = cache_dir() / f"{name}-{cache_key_digest(key)}.pt"  # the recipe is in the name
    model, start = build(), time.perf_counter()
    from_cache = load_or_train(model, path, train)
    if verbose:
        print(f"Teacher: loaded from the cache {path}" if from_cache else
              f"Teacher: trained in {time.perf_counter() - start:.0f} s, cached at {path}")
    return model, from_cache
