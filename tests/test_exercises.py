"""The notebooks' exercises teach: hints never give the answer, and no import gives it either."""

import ast
import contextlib
import importlib
import inspect
import io
import json
import re
import signal
from pathlib import Path

import pytest

from kdmeta_lib import checks

REPO = Path(__file__).resolve().parent.parent
MASTERS = sorted((REPO / "notebooks").glob("*.ipynb"))
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


def sources(master: Path) -> list[tuple[str, str]]:
    return [(cell["cell_type"], "".join(cell["source"]))
            for cell in json.loads(master.read_text(encoding="utf-8"))["cells"]]


def coded_exercises(master: Path) -> list[tuple[int, str, list[str]]]:
    """``(cell index, check name, solution lines)`` for each marked solution of a master."""
    cells, found = sources(master), []
    for index, (kind, source) in enumerate(cells):
        if kind == "code" and BEGIN in source:
            name = re.fullmatch(r"checks\.(\w+)\.check\(\w+\)", cells[index + 1][1].strip()).group(1)
            block = source.split(BEGIN, 1)[1].split(END, 1)[0]
            found.append((index, name, block.splitlines()))
    return found


EXERCISES = [(master, *exercise) for master in MASTERS for exercise in coded_exercises(master)]


def tokens(text: str) -> list[str]:
    return re.findall(r"\w+|[^\w\s]", text)


def contains(haystack: list[str], needle: list[str]) -> bool:
    return any(haystack[i:i + len(needle)] == needle for i in range(len(haystack) - len(needle) + 1))


def solution_lines(name: str, notebook_lines: list[str]) -> list[str]:
    reference = inspect.getsource(getattr(checks, name).reference).splitlines()
    return [line.split("#", 1)[0] for line in notebook_lines + reference]


def test_every_coded_exercise_in_the_notebooks_is_found():
    assert len(EXERCISES) == 9
    assert {name for _, _, name, _ in EXERCISES} == set(checks.__all__) - {"Exercise",
                                                                            "ExerciseError"}


@pytest.mark.parametrize("master, index, name, lines", EXERCISES,
                         ids=[f"{m.name}:{n}" for m, _, n, _ in EXERCISES])
def test_no_hint_contains_a_line_of_its_solution(master, index, name, lines):
    exercise = getattr(checks, name)
    assert len(exercise.hints) >= 2, "a nudge first, then a more specific hint"
    for level, hint in enumerate(exercise.hints, start=1):
        hint_tokens = tokens(hint)
        for line in solution_lines(name, lines):
            line_tokens = tokens(line)
            if len(line_tokens) >= 4:
                assert not contains(hint_tokens, line_tokens), \
                    f"hint {level} of {name} contains the solution line {line.strip()!r}"


def library_names_imported_before(master: Path, index: int) -> dict[str, object]:
    """Every object the notebook imports from kdmeta_lib in the cells before ``index``."""
    names = {}
    for kind, source in sources(master)[:index]:
        if kind != "code":
            continue
        try:
            tree = ast.parse(source)
        except SyntaxError:  # an IPython magic: no library import there
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kdmeta_lib"):
                module = importlib.import_module(node.module)
                for alias in node.names:
                    value = getattr(module, alias.name, None)
                    if value is None:  # a submodule: `from kdmeta_lib import guided`
                        value = importlib.import_module(f"{node.module}.{alias.name}")
                    names[alias.asname or alias.name] = value
    return names


def callables_in(value: object) -> list:
    """A function, or the public functions a module defines, as candidate answers."""
    if inspect.ismodule(value):
        return [member for attribute, member in vars(value).items()
                if not attribute.startswith("_") and inspect.isfunction(member)
                and member.__module__ == value.__name__]
    return [value] if callable(value) and not inspect.isclass(value) else []


def near_misses(function) -> list:
    """The function, and the one-step adaptations a learner would try: a mean, one item as a batch."""
    return [function,
            lambda *args: function(*args).mean(),
            lambda first, *rest: function([first], *rest)[0]]


def solves(exercise: checks.Exercise, candidate) -> bool:
    return any(answers(exercise, near_miss) for near_miss in near_misses(candidate))


def answers(exercise: checks.Exercise, candidate) -> bool:
    def give_up(*_):
        raise TimeoutError

    previous = signal.signal(signal.SIGALRM, give_up)
    signal.alarm(5)
    try:
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            exercise.check(candidate)
        return printed.getvalue().startswith("Correct")
    except Exception:  # a wrong answer, a wrong signature, a timeout: not a solution
        return False
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("master, index, name, lines", EXERCISES,
                         ids=[f"{m.name}:{n}" for m, _, n, _ in EXERCISES])
def test_no_exercise_is_solved_by_a_name_the_notebook_imported_before_it(master, index, name,
                                                                         lines):
    exercise = getattr(checks, name)
    assert solves(exercise, exercise.reference), "the probe must recognise a solution"
    imported = library_names_imported_before(master, index)
    imported.pop("checks", None)  # the exercise machinery itself (.solution() is the answer)
    for imported_name, value in imported.items():
        for candidate in callables_in(value):
            assert not solves(exercise, candidate), \
                f"{imported_name} ({candidate.__module__}.{candidate.__name__}) already solves " \
                f"{name}: import it after the exercise"
