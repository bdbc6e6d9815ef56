"""Generate the student versions of the notebooks: solutions out, stubs in.

    python tools/make_student_notebooks.py          # notebooks/*.ipynb → student_notebooks/

In a master notebook (``notebooks/``), the code of an exercise's solution sits between two marker
lines::

    ### BEGIN SOLUTION
    ...the solution...
    ### END SOLUTION

The student version keeps everything else, replaces the solution with a ``# YOUR CODE HERE`` stub
that raises ``NotImplementedError``, points the Colab badge at the student copy, and drops every
output so that the learner starts from a clean page. Each exercise function carries
``@checks.<exercise>.or_reference``, so a student copy still runs to the end: an unanswered
exercise says once that it is not written yet and the notebook goes on with the reference, and
its check prints "Not attempted". A test regenerates the copies and fails if the committed ones
differ; another runs every copy top to bottom.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MASTERS, STUDENTS = REPO / "notebooks", REPO / "student_notebooks"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
BADGE_FOLDER = re.compile(r"(https://colab\.research\.google\.com/github/\S+?/blob/[^/\s]+/)"
                          r"notebooks/")


def stub_solutions(source: str) -> str:
    """Replace each marked solution block with an indented stub that raises."""
    pattern = re.compile(rf"^([ \t]*){re.escape(BEGIN)}\n.*?^[ \t]*{re.escape(END)}[ \t]*$",
                         flags=re.MULTILINE | re.DOTALL)

    def stub(match: re.Match) -> str:
        indent = match.group(1)
        return (f"{indent}# YOUR CODE HERE\n"
                f"{indent}raise NotImplementedError(\"Exercise: write this part, then run the "
                f"check cell below. Stuck? Call .hint() or .solution() on the check.\")")

    return pattern.sub(stub, source)


def student_version(master: dict, name: str) -> dict:
    """A copy of a master notebook (nbformat JSON) with solutions stubbed and outputs dropped."""
    notebook = json.loads(json.dumps(master))
    for cell in notebook["cells"]:
        text = "".join(cell["source"])
        if cell["cell_type"] == "code":
            text = stub_solutions(text)
            cell["outputs"], cell["execution_count"] = [], None
        elif cell["cell_type"] == "markdown":
            text = BADGE_FOLDER.sub(r"\1student_notebooks/", text)
        cell["source"] = text.splitlines(keepends=True)
        cell.get("metadata", {}).pop("execution", None)
    notebook["metadata"].pop("widgets", None)
    return notebook


def render(notebook: dict) -> str:
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def expected_student_notebooks() -> dict[str, str]:
    """File name → the text each student notebook should have."""
    result = {}
    for path in sorted(MASTERS.glob("*.ipynb")):
        master = json.loads(path.read_text(encoding="utf-8"))
        result[path.name] = render(student_version(master, path.name))
    return result


def main() -> int:
    STUDENTS.mkdir(exist_ok=True)
    expected = expected_student_notebooks()
    for stale in STUDENTS.glob("*.ipynb"):
        if stale.name not in expected:
            stale.unlink()
    for name, text in expected.items():
        (STUDENTS / name).write_text(text, encoding="utf-8")
        print(f"wrote student_notebooks/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
