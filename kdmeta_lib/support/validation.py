"""The argument checks every public entry point shares: numbers, counts, labels, variables.

One implementation per check, so that every function rejects a bad value the same way, with a
``ValueError`` that names the value and says what to use instead:

* :func:`check_real`: a finite real number of an accepted type (a Python number, a NumPy scalar
  or a 0-d tensor; never ``bool``), optionally within bounds;
* :func:`check_integer`: a whole number (``int`` or a NumPy integer; never ``bool``) ≥ a minimum;
* :func:`check_labels`: class labels that are exactly ``0..n−1``. It reads tensor values, so it
  belongs in entry points, outside ``vmap``;
* :func:`environment_choice`: an environment variable that must take one of a few values.
"""

from __future__ import annotations

import math
import numbers
import os

import numpy as np
import torch
from torch import Tensor
from torch._C._functorch import is_functorch_wrapped_tensor

NUMBER_TYPES = "a Python number, a NumPy scalar or a 0-d tensor"


def _number(name: str, value: object, hint: str) -> float | None:
    """``value`` as a float, or None for a tensor that ``vmap``/``grad`` hides from us."""
    if isinstance(value, Tensor):
        if value.dim() != 0 or value.dtype == torch.bool or value.is_complex():
            raise ValueError(f"{name} must be {NUMBER_TYPES}, got a {value.dtype} tensor of shape "
                             f"{tuple(value.shape)}{hint}")
        if not readable(value):  # under vmap or grad
            return None
        return value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be {NUMBER_TYPES}, got {value!r} "
                         f"({type(value).__name__}){hint}")
    return float(value)


def readable(tensor: Tensor) -> bool:
    """False for a tensor that ``vmap`` or ``grad`` is transforming: its values cannot be read."""
    return not is_functorch_wrapped_tensor(tensor)


def check_real(name: str, value: object, *, minimum: float | None = None,
               maximum: float | None = None, above: float | None = None, hint: str = "") -> None:
    """Raise ValueError unless ``value`` is a finite real number within the given bounds.

    Args:
        name: the argument's name, as the user wrote it.
        minimum, maximum: inclusive bounds; above: an exclusive lower bound.
        hint: what to use instead, e.g. ``"try 1e-3"``; appended after a semicolon.
    """
    hint = f"; {hint}" if hint else ""
    number = _number(name, value, hint)
    if number is None:
        return
    if minimum is not None and maximum is not None:
        bounds = f" in [{minimum:g}, {maximum:g}]"
    else:
        bounds = (f" > {above:g}" if above is not None else "") + \
                 (f" ≥ {minimum:g}" if minimum is not None else "") + \
                 (f" ≤ {maximum:g}" if maximum is not None else "")
    if (not math.isfinite(number) or (above is not None and not number > above)
            or (minimum is not None and number < minimum)
            or (maximum is not None and number > maximum)):
        raise ValueError(f"{name} must be a finite number{bounds}, got {value!r}{hint}")


def check_integer(name: str, value: object, minimum: int = 1, hint: str = "") -> None:
    """Raise ValueError unless ``value`` is an ``int`` (or NumPy integer, not bool) ≥ ``minimum``."""
    if (isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral)
            or value < minimum):
        what = "a positive integer" if minimum == 1 else f"an integer ≥ {minimum}"
        raise ValueError(f"{name} must be {what}, got {value!r}{'; ' + hint if hint else ''}")


def check_flag(name: str, value: object) -> None:
    """Raise ValueError unless ``value`` is True or False (a string such as "no" is truthy)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")


def check_labels(name: str, labels: Tensor, n_classes: int | None = None, *,
                 every_class: bool = False, hint: str = "") -> int:
    """Raise ValueError unless ``labels`` are integers in ``0..n_classes−1``; return n_classes.

    Reads tensor values: call it in an entry point, never inside ``vmap``.

    Args:
        labels: ``[..., n]`` integer class indices; a leading dimension may hold tasks.
        n_classes: the number of classes; None takes ``labels.max() + 1``.
        every_class: also demand that each class appears in every row (a support set must
            hold an example of each class, or its prototype is 0/0).
    Returns:
        The number of classes.
    """
    hint = f"; {hint}" if hint else ""
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise ValueError(f"{name} must hold integer class indices (int64), got {labels.dtype}"
                         f"{hint}")
    if labels.numel() == 0:
        raise ValueError(f"{name} is empty; every task needs labelled examples{hint}")
    low, high = int(labels.min()), int(labels.max())
    n_classes = high + 1 if n_classes is None else n_classes
    if low < 0 or high >= n_classes:
        raise ValueError(f"{name} must lie in 0..{n_classes - 1}, got values from {low} to "
                         f"{high}{hint}")
    if every_class:
        rows = labels.reshape(-1, labels.shape[-1])
        counts = torch.zeros(rows.shape[0], n_classes, dtype=torch.long, device=labels.device)
        counts.scatter_add_(1, rows.long(), torch.ones_like(rows, dtype=torch.long))
        absent = counts == 0                                          # [rows, n_classes]
        if bool(absent.any()):
            row = int(absent.any(1).nonzero()[0])
            missing = absent[row].nonzero().flatten().tolist()
            raise ValueError(f"{name} must hold every class 0..{n_classes - 1} in each task; "
                             f"task {row} has no example of class {missing[:5]}{hint}")
    return n_classes


def environment_choice(variable: str, accepted: dict[str, str], default: str) -> str:
    """The value of an environment variable that must be one of ``accepted`` (or unset/empty).

    Args:
        accepted: each allowed value and what it means, e.g. ``{"0": "no bars", "1": "bars"}``.
        default: the value when the variable is unset or empty.
    """
    value = os.environ.get(variable, "").strip()
    if not value:
        return default
    if value not in accepted:
        choices = ", ".join(f"{key} ({meaning})" for key, meaning in accepted.items())
        raise ValueError(f"environment variable {variable}={value!r} is not understood; set it "
                         f"to one of: {choices}, or unset it")
    return value
