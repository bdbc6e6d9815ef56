"""Every master notebook opens and closes the same way, and is safe for nbval and GitHub."""

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb")) + sorted(
    (REPO / "student_notebooks").glob("*.ipynb"))
BADGE = ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
         "(https://colab.research.google.com/github/kdmeta-course/kdmeta/blob/main/{path})")


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


def test_the_second_cell_is_the_colab_setup_that_never_reinstalls_torch(notebook):
    setup = text(notebook[1]["cells"][1])
    assert 'if "google.colab" in sys.modules:' in setup
    assert "kdmeta_lib @ git+https://github.com/kdmeta-course/kdmeta" in setup
    code = "\n".join(line for line in setup.splitlines() if not line.lstrip().startswith("#"))
    assert not re.search(r"install[^\n]*\btorch(vision)?\b(?!_)", code.replace("kdmeta_lib", ""))


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
