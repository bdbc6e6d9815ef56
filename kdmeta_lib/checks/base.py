"""The machinery shared by every exercise check: :class:`Exercise` and :class:`ExerciseError`.

A checker returns a confirmation message or raises :class:`ExerciseError` through :func:`_fail`
with a hint that names the mistake (see the package docstring for how notebooks use them).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor


class ExerciseError(AssertionError):
    """A wrong answer; the message says what is wrong and how to fix it."""


@dataclass(frozen=True)
class Exercise:
    """One coded exercise: a checker, a hint and a reference solution."""

    title: str
    checker: Callable[[Callable], str]
    hint_text: str
    reference: Callable

    def check(self, answer: Callable) -> bool:
        """Run the checks; print a confirmation, or raise :class:`ExerciseError` with a hint."""
        try:
            message = self.checker(answer)
        except NotImplementedError:
            raise ExerciseError(f"{self.title}: not written yet — replace the "
                                "`raise NotImplementedError` with your code.") from None
        print(f"Correct: {self.title}. {message}")
        return True

    def hint(self) -> None:
        print(f"Hint for {self.title}: {self.hint_text}")

    def solution(self) -> None:
        print(inspect.getsource(self.reference))


def _fail(message: str) -> None:
    raise ExerciseError(message)


def _close(a: Tensor, b: Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a, b, rtol=1e-4, atol=1e-6)
