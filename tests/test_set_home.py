"""Where the kit lives is one setting: set_home.py moves every badge, setup cell and link with it."""

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("set_home", REPO / "tools" / "set_home.py")
set_home = importlib.util.module_from_spec(spec)
spec.loader.exec_module(set_home)
HOME, REF = set_home.current_home(REPO)


def repository_copy(destination: Path) -> Path:
    """The files git knows about (tracked, or new and not ignored), copied to ``destination``."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file() and not name.startswith("benchmarks/"):
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


def mentions(folder: Path, needle: str) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix in {".md", ".ipynb", ".toml", ".py", ".yml", ".txt"}:
            if needle in path.read_text(encoding="utf-8", errors="replace"):
                found.append(str(path.relative_to(folder)))
    return found


def test_the_readme_names_the_kits_home_and_pinned_ref():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"`{HOME}@{REF}`" in readme and f"https://github.com/{HOME}/tree/{REF}" in readme


def test_a_malformed_target_is_refused_with_the_expected_form():
    for target in ("other/fork", "fork@v1", "other/fork@", "https://github.com/a/b@v1"):
        with pytest.raises(ValueError, match="owner/name@ref"):
            set_home.parse(target)


def test_set_home_moves_every_badge_setup_cell_and_link_and_the_lint_tests_still_pass(tmp_path):
    copy = repository_copy(tmp_path / "kit")
    moved = subprocess.run([sys.executable, "tools/set_home.py", "other/fork@v1"], cwd=copy,
                           capture_output=True, text=True)
    assert moved.returncode == 0, moved.stderr
    assert mentions(copy, HOME) == [], f"{HOME} is still named after the move"
    assert set_home.current_home(copy) == ("other/fork", "v1")
    for folder in ("notebooks", "student_notebooks"):
        for notebook in (copy / folder).glob("*.ipynb"):
            text = notebook.read_text(encoding="utf-8")
            assert f"colab.research.google.com/github/other/fork/blob/v1/{folder}/{notebook.name}" \
                in text
            assert 'KIT = \\"other/fork@v1\\"' in text
    readme = (copy / "README.md").read_text(encoding="utf-8")
    assert "`other/fork@v1`" in readme and "https://github.com/other/fork/tree/v1" in readme
    # The lint tests read the setting of the copy they run in. (The check-cell outputs test is
    # about executed outputs, which set_home does not touch.)
    lint = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/test_notebooks_lint.py",
         "tests/test_set_home.py::test_the_readme_names_the_kits_home_and_pinned_ref",
         "tests/test_student_notebooks.py::test_committed_student_notebooks_equal_a_fresh_generation",
         "-k", "not show_the_verdict"], cwd=copy, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout[-3000:]
