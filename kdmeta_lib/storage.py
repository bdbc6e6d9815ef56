"""Atomic files: caches and checkpoints that an interrupted run can never leave half-written.

The trick is the same everywhere: write to a temporary file in the destination folder, flush it
to disk, then ``os.replace`` it over the target. ``os.replace`` is atomic on POSIX and Windows, so
a reader sees either the old file or the new one, never a truncated one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn


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

    The file is written atomically (:func:`~kdmeta_lib.storage.save_atomically`), so an
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
