"""The library's layout stays readable: layers without cycles, short modules, runnable examples.

These tests parse the source (no imports needed), so they fail the moment a change adds an import
cycle, a module longer than a learner can read in one sitting, or a module nothing teaches with.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "kdmeta_lib"
MAX_LINES = 220
LEARNER_MODULES = ("protonet", "maml", "anil", "reptile", "fused", "guided", "transfer")


def module_name(path: Path) -> str:
    """``kdmeta_lib/data/paths.py`` → ``kdmeta_lib.data.paths``; a package is its ``__init__``."""
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(path: Path) -> set[str]:
    """Every ``kdmeta_lib`` module that ``path`` imports, at the top or inside a function."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: go up (level − 1) packages from this one
                anchor = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}  # `from . import maml`
    return {module for module in found if module in MODULES and module != name}


GRAPH = {name: imported_modules(path) for name, path in MODULES.items()}


def find_cycle() -> list[str] | None:
    """A cycle in the import graph as a list of modules, or None (depth-first search)."""
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> list[str] | None:
        state[node] = "open"
        for neighbour in sorted(GRAPH[node]):
            if state.get(neighbour) == "open":
                return trail[trail.index(neighbour):] + [neighbour]
            if neighbour not in state and (cycle := visit(neighbour, trail + [neighbour])):
                return cycle
        state[node] = "done"
        return None

    for start in sorted(GRAPH):
        if start not in state and (cycle := visit(start, [start])):
            return cycle
    return None


def test_the_library_has_no_import_cycle():
    assert find_cycle() is None, f"import cycle: {' → '.join(find_cycle())}"


def test_the_cycle_finder_finds_a_cycle():
    GRAPH["kdmeta_lib.episodes"].add("kdmeta_lib.meta_training")  # meta_training imports episodes
    try:
        assert find_cycle() is not None
    finally:
        GRAPH["kdmeta_lib.episodes"].discard("kdmeta_lib.meta_training")


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_longer_than_a_learner_reads_in_one_sitting(name):
    lines = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines; split it by concept (≤ {MAX_LINES})"


def notebook_code() -> str:
    cells = []
    for notebook in sorted((REPO / "notebooks").glob("*.ipynb")):
        cells += ["".join(cell["source"]) for cell in json.loads(notebook.read_text())["cells"]
                  if cell["cell_type"] == "code"]
    return "\n".join(cells)


def used_by_notebooks(code: str) -> set[str]:
    """Modules the notebooks name: ``kdmeta_lib.x.y`` and ``from kdmeta_lib(.x) import y``."""
    used = set(re.findall(r"\bkdmeta_lib(?:\.\w+)+", code))
    imports = re.findall(r"from (kdmeta_lib[\w.]*) import (?:\(([^)]*)\)|([^\n(]+))", code)
    for base, in_parentheses, on_one_line in imports:
        names = (in_parentheses or on_one_line).replace("\n", " ").split(",")
        used |= {f"{base}.{name.split()[0]}" for name in names if name.split()}
    return {name for name in used if name in MODULES}


def test_every_module_serves_the_notebooks_or_the_library_not_only_benchmarks_and_tests():
    reached = set().union(*GRAPH.values()) | used_by_notebooks(notebook_code())
    entry_points = {name for name, path in MODULES.items()
                    if '__name__ == "__main__"' in path.read_text(encoding="utf-8")}
    packages = {module_name(path) for path in PACKAGE.rglob("__init__.py")}
    orphans = set(MODULES) - reached - entry_points - packages
    assert not orphans, f"imported only by benchmarks or tests (or nothing): {sorted(orphans)}"


@pytest.mark.parametrize("name", LEARNER_MODULES)
def test_each_learner_docstring_has_an_example_that_runs(name, monkeypatch):
    monkeypatch.setenv("KDMETA_PROGRESS", "0")
    module = importlib.import_module(f"kdmeta_lib.{name}")
    assert "Example:" in module.__doc__, f"kdmeta_lib.{name} needs an Example section"
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 4 and result.failed == 0, result


@pytest.mark.parametrize("folder", ["kdmeta_lib", "notebooks"])
def test_no_project_jargon_a_learner_cannot_resolve(folder):
    jargon = re.compile(r"seed's|source\s+article|the article's", re.IGNORECASE)
    hits = [f"{path.relative_to(REPO)}: {match.group(0)!r}"
            for path in sorted((REPO / folder).rglob("*"))
            if path.suffix in {".py", ".ipynb", ".md"}
            for match in jargon.finditer(path.read_text(encoding="utf-8"))]
    assert not hits, hits
