"""Validated caches: files are checked before use, and a classroom can share them safely.

Every cached file is read through :func:`load_valid`, which checks its contents (type, keys,
shapes, dtypes, finite values) and says why it ignores a bad one, which is then rebuilt. Files
are written atomically (``atomic``). On a shared folder nobody rebuilds or takes over another
user's files: a cache that is read-only, or a file that belongs to someone else and cannot be
used, sends the rebuilt copy to this user's own cache (``paths.personal_cache_dir``).

:func:`load_or_train_teacher` builds on it: a trained teacher is cached under
``paths.shared_cache_dir()``, keyed by the data and the training recipe, and reloaded in seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .atomic import load_or_none, save_atomically, write_atomically
from .paths import is_writable, personal_cache_dir, shared_cache_dir

__all__ = ["cache_places", "load_or_none", "load_or_train", "load_or_train_teacher",
           "load_valid", "save_atomically", "save_or_warn", "tensor_problem", "write_atomically"]


def cache_places(path: str | Path) -> list[Path]:
    """Where a cached file is looked for, in order; the last place is where it is (re)written.

    ``path`` itself, followed by the same name in this user's own cache when ``path``'s folder
    is read-only or another user owns the file there.
    """
    path = Path(path)
    places = [path]
    personal = personal_cache_dir() / path.name
    foreign = path.exists() and hasattr(os, "geteuid") and path.stat().st_uid != os.geteuid()
    if personal != path and (foreign or not is_writable(path.parent)):
        places.append(personal)
    return places


def load_valid(path: str | Path, problem_of: Callable[[Any], str | None]) -> tuple[Any, Path]:
    """The first usable copy of a cached file, and where a rebuilt copy should be written.

    Args:
        problem_of: returns what is wrong with a loaded object, or None if it can be used.
    Returns:
        ``(contents or None, place to write)``.
    """
    places = cache_places(path)
    for place in places:
        contents = load_or_none(place)
        if contents is None:
            continue
        problem = problem_of(contents)
        if problem is None:
            return contents, place
        print(f"Ignoring invalid cache {place}: {problem}; rebuilding it in {places[-1]}.")
    return None, places[-1]


def save_or_warn(obj: Any, path: Path) -> None:
    """:func:`save_atomically`, but a failure (full or read-only disk) is reported, not raised:
    the caller still has the result it has just computed."""
    try:
        save_atomically(obj, path)
    except OSError as error:
        print(f"Could not cache {path} ({type(error).__name__}: {error}); the result is used "
              "but will be rebuilt next time.")


def tensor_problem(name: str, value: Any, shape: Sequence[int | None], dtype: torch.dtype,
                   finite: bool = True) -> str | None:
    """What is wrong with a tensor read from a file, or None.

    Args:
        shape: the expected shape; None matches any size ≥ 1 in that dimension.
        finite: also demand that a floating-point tensor holds no NaN or infinity.
    """
    expected = f"a {dtype} tensor of shape {tuple('n' if n is None else n for n in shape)}"
    if not isinstance(value, Tensor):
        return f"{name} is a {type(value).__name__}, not {expected}"
    if (value.dtype != dtype or value.dim() != len(shape)
            or any(got != want if want is not None else got < 1 for got, want in zip(value.shape, shape))):
        return f"{name} is a {value.dtype} tensor of shape {tuple(value.shape)}, not {expected}"
    if finite and value.is_floating_point() and not bool(torch.isfinite(value).all()):
        return f"{name} holds NaN or infinite values"
    return None


def _state_problem(state: Any, model: nn.Module) -> str | None:
    """What stops ``state`` from being loaded into ``model``, or None."""
    expected = model.state_dict()
    if not isinstance(state, dict):
        return f"it holds a {type(state).__name__}, not the weights of a {type(model).__name__}"
    if state.keys() != expected.keys():
        missing, extra = sorted(expected.keys() - state.keys()), sorted(state.keys() - expected.keys())
        return (f"they do not fit {type(model).__name__} (missing {missing[:3]}, unexpected "
                f"{extra[:3]})")
    for name, reference in expected.items():
        problem = tensor_problem(name, state[name], reference.shape, reference.dtype)
        if problem:
            return problem
    return None


def load_or_train(model: nn.Module, path: str | Path, train: Callable[[nn.Module], object]) -> bool:
    """Load ``model``'s weights from ``path``, or train it with ``train(model)`` and save them.

    The file is checked before anything is loaded: names, shapes, dtypes and finite values. A
    missing, unreadable or invalid file (another architecture, a corrupt download, weights that
    diverged to NaN) is reported and the model is retrained. The file is written atomically,
    so an interrupted run never leaves half a checkpoint. Put the training settings in the file
    name, so that changing them retrains.

    Returns:
        True when the weights came from the cache, False when ``model`` was trained.
    """
    return _load_or_train(model, path, train)[0]


def _load_or_train(model: nn.Module, path: str | Path,
                   train: Callable[[nn.Module], object]) -> tuple[bool, Path]:
    """:func:`load_or_train`, also saying which file was read or written."""
    state, place = load_valid(path, lambda contents: _state_problem(contents, model))
    if state is not None:
        model.load_state_dict(state)
        return True, place
    train(model)
    problem = _state_problem(model.state_dict(), model)
    if problem:  # never cache a broken result: it would be reused forever
        print(f"Not caching the trained weights at {place}: {problem}.")
    else:
        save_or_warn(model.state_dict(), place)
    return False, place


def cache_key_digest(key: dict[str, Any]) -> str:
    """A short, stable name for a training recipe (JSON with sorted keys, SHA-256)."""
    try:
        text = json.dumps(key, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValueError(f"the cache key must hold plain finite numbers and strings only: "
                         f"{error}") from None
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
        name: start of the file name under ``paths.shared_cache_dir()``.
    Returns:
        ``(model, from_cache)``.
    """
    path = shared_cache_dir() / f"{name}-{cache_key_digest(key)}.pt"  # the recipe is in the name
    model, start = build(), time.perf_counter()
    from_cache, where = _load_or_train(model, path, train)
    if verbose:
        print(f"Teacher: loaded from the cache {where}" if from_cache else
              f"Teacher: trained in {time.perf_counter() - start:.0f} s, cached at {where}")
    return model, from_cache
