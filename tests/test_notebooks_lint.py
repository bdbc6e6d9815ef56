"""Every master notebook opens and closes the same way, and is safe for nbval and GitHub."""

import importlib.util
import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb")) + sorted(
    (REPO / "student_notebooks").glob("*.ipynb"))
MASTERS = [path for path in NOTEBOOKS if path.parent.name == "notebooks"]

_spec = importlib.util.spec_from_file_location("set_home", REPO / "tools" / "set_home.py")
set_home = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(set_home)
HOME, REF = set_home.current_home(REPO)  # [tool.kdmeta] in pyproject.toml: the one setting
BADGE = ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
         f"(https://colab.research.google.com/github/{HOME}/blob/{REF}/{{path}})")


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def text(cell: dict) -> str:
    return "".join(cell["source"])


@pytest.fixture(params=NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def notebook(request) -> tuple[Path, dict]:
    return request.param, load(request.param)


def test_the_first_cell_has_badge_title_objectives_prerequisites_and_run_time(notebook):
    path, content = notebook
    first = content["cells"][0]
    assert first["cell_type"] == "markdown"
    header = text(first)
    expected_badge = BADGE.format(path=path.relative_to(REPO).as_posix())
    assert header.splitlines()[0] == expected_badge, "the badge must open this very file in Colab"
    number = path.name[:2]
    assert re.search(rf"^# {number} · \S", header, re.MULTILINE), "title '# NN · Title'"
    for part in ("You will learn", "Prerequisites", "Run time"):
        assert part in header, f"the header needs '{part}'"
    assert re.search(r"min(utes)? on a 2-core CPU", header) and "GPU" in header


def test_the_second_cell_is_the_colab_setup_pinned_to_the_setting_and_never_reinstalls_torch(
        notebook):
    setup = text(notebook[1]["cells"][1])
    assert 'if "google.colab" in sys.modules:' in setup
    assert f'KIT = "{HOME}@{REF}"' in setup, "run: python tools/set_home.py owner/name@ref"
    assert 'f"kdmeta_lib @ git+https://github.com/{home}@{ref}"' in setup
    code = "\n".join(line for line in setup.splitlines() if not line.lstrip().startswith("#"))
    assert not re.search(r"install[^\n]*\btorch(vision)?\b(?!_)", code.replace("kdmeta_lib", ""))
    assert "returncode != 0" in setup and "upload" in setup, "a failed install says what to do"


def test_it_ends_with_summary_exercises_and_references(notebook):
    headings = [line for cell in notebook[1]["cells"] if cell["cell_type"] == "markdown"
                for line in text(cell).splitlines() if line.startswith("#")]
    closing = " ".join(headings[-6:])
    for part in ("Summary", "Exercises", "References"):
        assert part in closing, f"the notebook should end with a '{part}' section"


def test_kernel_outputs_and_execution_counts_are_consistent(notebook):
    path, content = notebook
    assert content["metadata"]["kernelspec"]["name"] == "python3"
    counts = []
    for cell in content["cells"]:
        if cell["cell_type"] != "code":
            continue
        if cell["outputs"]:
            assert cell["execution_count"] is not None, "outputs kept without an execution count"
        if cell["execution_count"] is not None:
            counts.append(cell["execution_count"])
    assert counts == sorted(counts), "execution counts must increase down the notebook"
    if path.parent.name == "student_notebooks":
        assert not counts, "student notebooks start clean"


def test_no_output_is_larger_than_a_megabyte(notebook):
    for cell in notebook[1]["cells"]:
        for output in cell.get("outputs", []):
            assert len(json.dumps(output)) < 1_000_000


def exercises(content: dict) -> list[tuple[int, str, str]]:
    """``(cell index, check name, function name)`` of each coded exercise (marked solution)."""
    found = []
    for index, cell in enumerate(content["cells"]):
        if cell["cell_type"] == "code" and ("### BEGIN SOLUTION" in text(cell)
                                            or "# YOUR CODE HERE" in text(cell)):
            check = re.fullmatch(r"checks\.(\w+)\.check\((\w+)\)",
                                 text(content["cells"][index + 1]).strip())
            assert check, f"cell {index + 1} should be the exercise's check, alone in its cell"
            found.append((index, *check.groups()))
    return found


def test_every_exercise_runs_on_the_reference_until_it_is_written(notebook):
    for index, name, function in exercises(notebook[1]):
        assert f"@checks.{name}.or_reference\ndef {function}(" in text(notebook[1]["cells"][index])


def test_the_notebook_says_once_how_check_hint_and_solution_work(notebook):
    cells = notebook[1]["cells"]
    howto = [i for i, cell in enumerate(cells) if cell["cell_type"] == "markdown"
             and "How the exercises work" in text(cell)]
    assert len(howto) == 1, "one 'How the exercises work' paragraph per notebook"
    paragraph = text(cells[howto[0]])
    for part in (".check(", ".hint()", ".hint(2)", ".solution()", ".or_reference", "Not attempted"):
        assert part in paragraph
    assert howto[0] < exercises(notebook[1])[0][0], "before the first exercise"


@pytest.mark.parametrize("master", MASTERS, ids=lambda p: p.name)
def test_check_cells_show_the_verdict_and_nothing_else(master):
    content = load(master)
    for index, _, _ in exercises(content):
        outputs = content["cells"][index + 1]["outputs"]
        assert all(output["output_type"] == "stream" for output in outputs), \
            f"cell {index + 1}: a check prints its verdict and returns None (no stray `True`)"
