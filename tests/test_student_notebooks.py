"""The student notebooks are generated from the masters, and their stubs are reachable and clear."""

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("make_student_notebooks",
                                              REPO / "tools" / "make_student_notebooks.py")
generator = importlib.util.module_from_spec(spec)
spec.loader.exec_module(generator)

MASTERS = sorted((REPO / "notebooks").glob("*.ipynb"))


def test_committed_student_notebooks_equal_a_fresh_generation():
    expected = generator.expected_student_notebooks()
    committed = {p.name: p.read_text(encoding="utf-8")
                 for p in (REPO / "student_notebooks").glob("*.ipynb")}
    assert committed.keys() == expected.keys(), "run: python tools/make_student_notebooks.py"
    for name, text in expected.items():
        assert committed[name] == text, f"{name} is stale: run python tools/make_student_notebooks.py"


def test_a_solution_block_becomes_a_stub_with_the_same_indent():
    source = ("def f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n\n"
              "print(f(1))\n")
    stubbed = generator.stub_solutions(source)
    assert "return x + 1" not in stubbed
    assert "    # YOUR CODE HERE\n    raise NotImplementedError(" in stubbed
    assert stubbed.endswith("print(f(1))\n")


@pytest.mark.parametrize("master", MASTERS, ids=lambda p: p.name)
def test_every_master_has_at_least_three_exercises_and_one_coded_stub(master):
    cells = json.loads(master.read_text(encoding="utf-8"))["cells"]
    sources = ["".join(c["source"]) for c in cells]
    assert sum(s.count(generator.BEGIN) for s in sources) >= 1, "no coded exercise"
    exercises = next(s for s in sources if s.lstrip().startswith("## Exercises"))
    assert exercises.count("\n1. ") + exercises.count("\n2. ") + exercises.count("\n3. ") >= 3


@pytest.mark.parametrize("master", MASTERS, ids=lambda p: p.name)
def test_the_student_version_runs_up_to_its_first_exercise_and_stops_there_clearly(master):
    from nbclient import NotebookClient
    import nbformat

    student = nbformat.reads(generator.expected_student_notebooks()[master.name], as_version=4)
    first_stub = next(i for i, cell in enumerate(student.cells)
                      if cell.cell_type == "code" and "# YOUR CODE HERE" in cell.source)
    student.cells = student.cells[:first_stub + 2]  # the stub and the check cell after it
    NotebookClient(student, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(REPO / "notebooks")}}).execute()
    errors = [(index, output) for index, cell in enumerate(student.cells)
              if cell.cell_type == "code" for output in cell.outputs
              if output.output_type == "error"]
    assert errors, "the stub should stop the student notebook with an error"
    index, error = errors[0]
    assert index >= first_stub, f"cell {index} failed before the first exercise: {error.evalue}"
    assert error.ename in ("NotImplementedError", "ExerciseError")
    assert "not written yet" in error.evalue or "Exercise" in error.evalue
