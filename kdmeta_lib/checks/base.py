"""The machinery shared by every exercise check: :class:`Exercise` and :class:`ExerciseError`.

A checker returns a confirmation message or raises :class:`ExerciseError` through :func:`_fail`
with a diagnosis that names the mistake (see the package docstring for how notebooks use them).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

NOT_WRITTEN = "not written yet; using the reference so that the notebook can go on"


class ExerciseError(AssertionError):
    """A wrong answer; the message says what is wrong and how to fix it."""


class ReferenceUntilWritten:
    """A learner's function that hands over to the reference while it is still a stub.

    Made by :meth:`Exercise.or_reference`. Calling it calls the learner's function; if that raises
    ``NotImplementedError`` (the stub of a student copy), it says so once and returns what the
    reference returns, so that the cells after the exercise still run.
    """

    def __init__(self, function: Callable, exercise: Exercise) -> None:
        self.function, self.exercise, self.announced = function, exercise, False
        self.__name__ = getattr(function, "__name__", "your function")
        self.__doc__ = function.__doc__

    def announce(self) -> None:
        if not self.announced:
            print(f"{self.__name__} ({self.exercise.title}): {NOT_WRITTEN}.")
            self.announced = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self.function(*args, **kwargs)
        except NotImplementedError:
            self.announce()
            return self.exercise.reference(*args, **kwargs)


@dataclass(frozen=True)
class Exercise:
    """One coded exercise: a checker, hints from a nudge to a precise pointer, a reference.

    Args:
        title: what the learner writes, as the verdicts name it ("the KD loss").
        checker: runs an answer on small inputs; returns a confirmation or raises ExerciseError.
        hints: nudges that never contain the answer, the first the vaguest.
        reference: the solution, shown by :meth:`solution` and used by :meth:`or_reference`.
    """

    title: str
    checker: Callable[[Callable], str]
    hints: tuple[str, ...]
    reference: Callable

    def check(self, answer: Callable) -> None:
        """Print the verdict: "Correct: ...", "Not attempted: ...", or raise ExerciseError.

        A stub (an answer that raises ``NotImplementedError``) is reported as not attempted and
        does not stop the notebook; a wrong answer raises with a specific diagnosis.
        """
        function = answer.function if isinstance(answer, ReferenceUntilWritten) else answer
        try:
            message = self.checker(function)
        except NotImplementedError:
            if isinstance(answer, ReferenceUntilWritten):
                print(f"Not attempted: {self.title}. {answer.__name__} is {NOT_WRITTEN}.")
                answer.announced = True
            else:
                print(f"Not attempted: {self.title} is not written yet (replace the "
                      "`raise NotImplementedError` with your code).")
            return
        print(f"Correct: {self.title}. {message}")

    def hint(self, level: int = 1) -> None:
        """Print hint ``level`` (1 is a nudge; higher levels are more specific, never the code)."""
        if not 1 <= level <= len(self.hints):
            raise ValueError(f"level={level}: this exercise has hints 1 to {len(self.hints)}")
        more = (f" (more specific: .hint({level + 1}))" if level < len(self.hints)
                else " (the answer itself: .solution())")
        print(f"Hint {level} for {self.title}: {self.hints[level - 1]}{more}")

    def solution(self) -> None:
        """Print the reference solution's source code."""
        print(inspect.getsource(self.reference))

    def or_reference(self, function: Callable) -> ReferenceUntilWritten:
        """Decorator: use the reference while ``function`` is an unanswered stub."""
        return ReferenceUntilWritten(function, self)


def _fail(message: str) -> None:
    raise ExerciseError(message)


def _close(a: Tensor, b: Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a, b, rtol=1e-4, atol=1e-6)
