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

``--competing-load N`` measures robustness instead (issue 17): each notebook runs twice in a
row, first alone, then beside ``N`` CPU-bound processes (``while True: pass``, standing in for a
browser or a second notebook), each sequence with its own empty cache. It writes
``notebook_times_under_load.json`` with both times and their ratio per notebook; the target is
a ratio of at most 2.
"""

from __future__ import annotations

import os
import subprocess
import sys
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
    parser.add_argument("--competing-load", type=int, default=0,
                        help="run each notebook alone and then beside this many CPU-bound "
                             "processes, and report the ratio (default 0: idle times only)")
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


def spinners(n: int) -> list[subprocess.Popen]:
    """``n`` processes that keep one core busy each (the competing load)."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def run_under_load(notebooks: list[Path], args) -> None:
    """Each notebook alone, then beside ``args.competing_load`` spinning processes."""
    caches = {kind: tempfile.mkdtemp(prefix=f"kdmeta-times-{kind}-") for kind in ("idle", "load")}
    rows = []
    budget = Budget(args.minutes)
    for path in progress(notebooks, "notebooks", total=len(notebooks)):
        if budget.spent():
            rows.append({"notebook": path.name, "status": "skipped"})
            continue
        os.environ["KDMETA_CACHE"] = caches["idle"]
        idle = run_notebook(path, args.cell_timeout)
        load = spinners(args.competing_load)
        try:
            time.sleep(1.0)  # the spinners are running before the kernel starts
            os.environ["KDMETA_CACHE"] = caches["load"]
            loaded = run_notebook(path, args.cell_timeout)
        finally:
            for process in load:
                process.kill()
                process.wait()
        ratio = loaded["seconds"] / idle["seconds"]
        rows.append({"notebook": path.name, "status": "ok" if idle["status"] == loaded["status"]
                     == "ok" else "error", "idle_seconds": idle["seconds"],
                     "load_seconds": loaded["seconds"], "ratio": ratio,
                     "within_2x": ratio <= 2.0, "errors": [idle["error"], loaded["error"]]})
        print(f"{path.name}: alone {idle['seconds']:.0f} s, beside the load "
              f"{loaded['seconds']:.0f} s ({ratio:.2f}×)", flush=True)
    done = [row for row in rows if row["status"] != "skipped"]
    results = {"competing_processes": args.competing_load, "notebooks": rows,
               "all_within_2x": bool(done) and all(row["within_2x"] for row in done),
               "all_ok": all(row["status"] == "ok" for row in rows),
               "environment": {"KDMETA_DATA": os.environ.get("KDMETA_DATA", "default"),
                               "KDMETA_OFFLINE": os.environ.get("KDMETA_OFFLINE", "0"),
                               "KDMETA_CACHE": "a new empty folder per sequence"},
               "seconds": budget.elapsed()}
    table = [[row["notebook"], row["status"],
              *(("", "", "", "") if row["status"] == "skipped" else
                (f"{row['idle_seconds']:.0f}", f"{row['load_seconds']:.0f}",
                 f"{row['ratio']:.2f}×", "yes" if row["within_2x"] else "**no**"))]
             for row in rows]
    markdown = (f"Each notebook alone, then beside {args.competing_load} CPU-bound "
                f"process(es) on {os.cpu_count()} cores ({args.device}); target: at most 2× "
                "its time alone.\n\n"
                + markdown_table(["notebook", "status", "alone (s)", "beside the load (s)",
                                  "ratio", "≤ 2×"], table)
                + f"\nAll within 2×: {'yes' if results['all_within_2x'] else 'no'}.\n")
    write_results("notebook_times_under_load", args, results, markdown)


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], 30.0, add_arguments)
    notebooks = select(args.notebook_dir, args.notebooks)
    os.environ["KDMETA_PROGRESS"] = "0"  # the kernels inherit it: no progress bars in outputs
    os.environ["KDMETA_DEVICE"] = str(args.device)  # pick_device() in every notebook obeys it
    if args.competing_load:
        run_under_load(notebooks, args)
        return
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
