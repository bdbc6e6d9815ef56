"""Shared test set-up: which data this run uses, and an isolated offline data root fixture."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent


def real_data_root() -> Path | None:
    """Where real Omniglot lives for this run: $KDMETA_DATA or ../shared/data, if present."""
    for candidate in (os.environ.get("KDMETA_DATA"), REPO.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "omniglot-py").is_dir():
            return Path(candidate)
    return None


@pytest.fixture
def isolated_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data root and cache, offline: what a fresh machine without network sees."""
    root, cache = tmp_path / "data", tmp_path / "cache"
    root.mkdir()
    monkeypatch.setenv("KDMETA_DATA", str(root))
    monkeypatch.setenv("KDMETA_CACHE", str(cache))
    monkeypatch.setenv("KDMETA_OFFLINE", "1")
    monkeypatch.setenv("KDMETA_PROGRESS", "0")
    return root


def pytest_report_header(config: pytest.Config) -> str:
    """Say at the top of every run which few-shot data the notebooks will see."""
    from kdmeta_lib.data import data_root

    root = data_root()
    found = (root / "omniglot-py").is_dir()
    where = "real Omniglot" if found else "no Omniglot: offline glyphs"
    return f"kdmeta data root: {root} ({where}); cache: {os.environ.get('KDMETA_CACHE', 'default')}"


_notebook_seconds: dict[str, float] = {}
STUDENT_RUN = "test_the_student_copy_runs_to_the_end_offline_on_the_reference["


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Add up each notebook's cells (nbval runs one test item per cell); time each student copy."""
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _notebook_seconds[path] = _notebook_seconds.get(path, 0.0) + report.duration
    elif STUDENT_RUN in report.nodeid and report.when == "call":
        # tests/test_student_notebooks.py runs each student copy offline, top to bottom.
        name = report.nodeid.split("[", 1)[1].rstrip("]")
        _notebook_seconds[f"student_notebooks/{name} (offline)"] = report.duration


def pytest_terminal_summary(terminalreporter) -> None:
    """Print each notebook's run time in this run (the README quotes benchmarks/notebook_times.py)."""
    if not _notebook_seconds:
        return
    terminalreporter.section("notebook run times (this machine)")
    for path, seconds in sorted(_notebook_seconds.items()):
        terminalreporter.write_line(f"{path}: {seconds / 60:.1f} min ({seconds:.0f} s)")
