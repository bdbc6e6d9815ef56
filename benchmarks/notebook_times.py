"""Notebook run times: execute every course notebook once and time it.

Issue 8, part 5. Each notebook in ``notebooks/`` (sorted by name) is executed top to bottom in a
fresh ``python3`` kernel (the kernel the test suite's nbval uses), with ``notebooks/`` as the
working directory and ``KDMETA_PROGRESS=0``. The notebook is executed as an in-memory copy:
the files on disk are never modified. Recorded per notebook: wall seconds, whether every cell
ran, and the data it said it used (its ``Data: ...`` lines).

``--minutes`` is a cap: once it is exceeded, the remaining notebooks are recorded as skipped.
The run starts from an empty cache, as on a fresh machine: ``KDMETA_CACHE`` is set to a new
temporary folder that the notebooks share in order (so notebook 03 trains its teacher, and 02
decodes Omniglot, as a student's first run would); ``--keep-cache`` uses the caller's cache.
Run ``python benchmarks/notebook_times.py --minutes 30`` with nothing else running: the
figures are what the notebook headers' "Run time" should quote.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import common
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from common import Budget, markdown_table, parse_args, progress, write_results


def add_arguments(parser) -> None:
    parser.add_argument("--keep-cache", action="store_true",
                        help="use the caller's KDMETA_CACHE instead of a new empty one")
    parser.add_argument("--notebooks", default="all",
                        help="comma-separated names or prefixes (e.g. 01,03_fused_loss), "
                             "'all' (default) or 'none'")
    parser.add_argument("--notebook-dir", type=Path, default=common.REPO / "notebooks",
                        help="folder of the notebooks (default: notebooks/)")
    parser.add_argument("--cell-timeout", type=int, default=1800,
                        help="seconds one cell may run before the notebook counts as failed")


def select(folder: Path, wanted: str) -> list[Path]:
    """The notebooks of ``folder`` named by ``wanted``, sorted by name."""
    if not folder.is_dir():
        raise ValueError(f"--notebook-dir {folder} is not a folder; give the notebooks' folder")
    paths = sorted(folder.glob("*.ipynb"))
    if wanted == "all":
        return paths
    if wanted == "none":
        return []
    chosen = []
    for name in (part.strip() for part in wanted.split(",") if part.strip()):
        matches = [p for p in paths if p.stem == name or p.name == name or p.stem.startswith(name)]
        if not matches:
            raise ValueError(f"--notebooks: no notebook in {folder} matches {name!r}; "
                             f"choose from {[p.stem for p in paths]}")
        chosen += [p for p in matches if p not in chosen]
    return sorted(chosen)


def data_lines(notebook) -> list[str]:
    """The ``Data: ...`` lines a notebook printed: which data it actually used."""
    lines = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                lines += [line.strip() for line in output.get("text", "").splitlines()
                          if line.startswith("Data:")]
    return lines


def run_notebook(path: Path, cell_timeout: int) -> dict:
    """Execute an in-memory copy of ``path``; return its seconds, status and data lines."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=cell_timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start, status, error = time.perf_counter(), "ok", None
    try:
        client.execute()
    except CellExecutionError as exception:
        status, error = "error", str(exception).strip().splitlines()[-1][:300]
    except Exception as exception:  # a dead kernel or a timeout: record it, go on
        status, error = "error", f"{type(exception).__name__}: {exception}"[:300]
    seconds = time.perf_counter() - start
    return {"notebook": path.name, "status": status, "seconds": seconds, "minutes": seconds / 60,
            "cells": len(notebook.cells), "data": data_lines(notebook), "error": error}


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], 30.0, add_arguments)
    notebooks = select(args.notebook_dir, args.notebooks)
    os.environ["KDMETA_PROGRESS"] = "0"  # the kernels inherit it: no progress bars in outputs
    os.environ["KDMETA_DEVICE"] = str(args.device)  # pick_device() in every notebook obeys it
    if not args.keep_cache:  # a fresh machine: nothing decoded, no teacher trained yet
        os.environ["KDMETA_CACHE"] = tempfile.mkdtemp(prefix="kdmeta-times-cache-")
    budget = Budget(args.minutes)
    rows = []
    for path in progress(notebooks, "notebooks", total=len(notebooks)):
        if budget.spent():
            rows.append({"notebook": path.name, "status": "skipped", "seconds": None,
                         "minutes": None, "cells": None, "data": [],
                         "error": f"--minutes {args.minutes:g} exceeded"})
            continue
        rows.append(run_notebook(path, args.cell_timeout))
        print(f"{path.name}: {rows[-1]['status']}, {rows[-1]['seconds']:.0f} s")

    timed = [row for row in rows if row["seconds"] is not None]
    results = {"notebooks": rows, "total_seconds": sum(row["seconds"] for row in timed),
               "all_ok": all(row["status"] == "ok" for row in rows),
               "environment": {"KDMETA_DATA": os.environ.get("KDMETA_DATA", "default"),
                               "KDMETA_OFFLINE": os.environ.get("KDMETA_OFFLINE", "0"),
                               "KDMETA_CACHE": ("the caller's" if args.keep_cache else
                                                "a new empty folder"),
                               "KDMETA_DEVICE": str(args.device)},
               "seconds": budget.elapsed()}
    table = [[row["notebook"], row["status"],
              "" if row["seconds"] is None else f"{row['minutes']:.1f}",
              "" if row["seconds"] is None else f"{row['seconds']:.0f}",
              "; ".join(line.split(":", 2)[1].strip() if line.count(":") else line
                        for line in row["data"])[:80]]
             for row in rows]
    markdown = (f"Wall time of each notebook, executed top to bottom ({args.device}).\n\n"
                + markdown_table(["notebook", "status", "minutes", "seconds", "data"], table)
                + f"\nTotal: {results['total_seconds'] / 60:.1f} min.\n")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axis = plt.subplots(figsize=(6, 0.4 * max(1, len(timed)) + 1.2))
    axis.barh([row["notebook"] for row in timed], [row["minutes"] for row in timed],
              color=["tab:blue" if row["status"] == "ok" else "tab:red" for row in timed])
    axis.invert_yaxis()
    axis.set(xlabel="wall time (minutes)", title=f"Notebook run times ({args.device})")
    figure.tight_layout()
    write_results("notebook_times", args, results, markdown, figure)


if __name__ == "__main__":
    main()
