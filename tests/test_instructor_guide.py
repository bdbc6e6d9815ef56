"""The instructor guide answers every exercise of every notebook and has what a lab needs."""

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
GUIDE = (REPO / "docs" / "instructor_guide.md").read_text(encoding="utf-8")
MASTERS = sorted((REPO / "notebooks").glob("*.ipynb"))


def notebook_id(path: Path) -> str:
    """``04b_text_classification.ipynb`` → ``04b``."""
    return path.name.split("_")[0]


def exercise_numbers(path: Path) -> list[int]:
    """The numbered items of the notebook's ``## Exercises`` section."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    section = next("".join(c["source"]) for c in cells if c["cell_type"] == "markdown"
                   and "".join(c["source"]).lstrip().startswith("## Exercises"))
    section = section.split("\n## ", 1)[0]  # stop at the next section (References)
    return [int(number) for number in re.findall(r"^(\d+)\. ", section, flags=re.MULTILINE)]


@pytest.mark.parametrize("master", MASTERS, ids=notebook_id)
def test_the_guide_answers_every_exercise_of_the_notebook(master):
    in_notebook = exercise_numbers(master)
    assert in_notebook == list(range(1, len(in_notebook) + 1)) and len(in_notebook) >= 3
    answered = [int(n) for n in re.findall(rf"^#### Exercise {notebook_id(master)}\.(\d+) ",
                                           GUIDE, flags=re.MULTILINE)]
    assert answered == in_notebook, f"{master.name}: exercises {in_notebook}, answers {answered}"


def test_every_notebook_has_objectives_a_plan_outcomes_and_discussion():
    sections = re.split(r"^### ", GUIDE, flags=re.MULTILINE)
    for number in ("01", "02", "03", "04"):
        section = next(s for s in sections if s.startswith(number))
        for part in ("**Objectives.**", "| minutes | activity |", "**Expected outcomes**",
                     "**Discussion questions.**"):
            assert part in section, f"{number}: missing {part}"


def test_the_guide_has_a_smoke_test_troubleshooting_a_rubric_and_launches_student_copies():
    assert "python -m kdmeta_lib.checks.lab_ready" in GUIDE
    assert (REPO / "kdmeta_lib" / "checks" / "lab_ready.py").exists()
    assert "jupyter lab --allow-root student_notebooks/" in GUIDE
    assert "jupyter lab --allow-root notebooks/" not in GUIDE, "students get the student copies"
    for topic in ("**Offline rooms.**", "**A read-only shared data folder**", "**Slow machines.**",
                  "**Colab.**", "## Rubric", "## Colab: what was measured", "**Not measured**"):
        assert topic in GUIDE, topic
