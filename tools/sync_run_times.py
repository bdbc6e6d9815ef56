"""Copy the measured notebook run times into every notebook header and the README.

    python tools/sync_run_times.py           # rewrite the headers and the README's learning path
    python tools/sync_run_times.py --check   # exit 1 if any of them disagrees with the JSON

One source of run times: ``benchmarks/results/notebook_times.json`` (a 2-core CPU, written by
``python benchmarks/notebook_times.py`` on an idle machine) and, when present,
``benchmarks/results/gpu/notebook_times.json`` (the same script on a machine with a GPU). Each
notebook's first cell carries one generated sentence, ``**Run time**: … (… see the README's
learning path).``, and the README's learning-path table has one CPU and one GPU column; both are
rewritten from the JSON, so the three places can never disagree (``tests/test_run_times.py``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CPU_TIMES = REPO / "benchmarks" / "results" / "notebook_times.json"
GPU_TIMES = REPO / "benchmarks" / "results" / "gpu" / "notebook_times.json"
README = REPO / "README.md"
NOTEBOOKS = REPO / "notebooks"

# The generated sentence, from "**Run time**:" to its closing "learning path)." (one per header).
SENTENCE = re.compile(r"\*\*Run time\*\*:.*?see the README's learning path\)\.", re.DOTALL)
# A learning-path row: | 01 | [title](notebooks/01_….ipynb) | what you learn | CPU | GPU |
ROW = re.compile(r"^(\| (\w+) \| \[[^\]]+\]\(notebooks/([^)]+\.ipynb)\) \| [^|]+\| )[^|]+\|[^|]+\|$",
                 re.MULTILINE)


def load_minutes(path: Path) -> dict[str, float]:
    """``{notebook file name: minutes}`` for every notebook that ran to the end in ``path``."""
    if not path.exists():
        return {}
    rows = json.loads(path.read_text())["results"]["notebooks"]
    return {row["notebook"]: row["minutes"] for row in rows if row["status"] == "ok"}


def minutes_text(minutes: float | None) -> str:
    """``1.66`` → ``"1.7 min"``; ``None`` → ``"not measured"``."""
    return "not measured" if minutes is None else f"{minutes:.1f} min"


def header_sentence(name: str, cpu: dict[str, float], gpu: dict[str, float]) -> str:
    """The run-time sentence of one notebook's header."""
    gpu_part = (f" and {minutes_text(gpu[name])} on a machine with a GPU" if name in gpu
                else "; on a GPU: not measured")
    return (f"**Run time**: {minutes_text(cpu.get(name))} on a 2-core CPU{gpu_part} (one "
            f"top-to-bottom run of `benchmarks/notebook_times.py` from an empty cache; see the "
            f"README's learning path).")


def synced_header(source: str, sentence: str, name: str) -> str:
    """``source`` with its run-time sentence replaced (it must have exactly one)."""
    if len(SENTENCE.findall(source)) != 1:
        raise ValueError(f"{name}: the first cell needs exactly one generated '**Run time**: … "
                         f"see the README's learning path).' sentence")
    return SENTENCE.sub(lambda _: sentence, source)


def synced_readme(readme: str, cpu: dict[str, float], gpu: dict[str, float]) -> str:
    """``readme`` with the CPU and GPU columns of the learning path rewritten."""
    def row(match: re.Match) -> str:
        name = match.group(3)
        return f"{match.group(1)}{minutes_text(cpu.get(name))} | {minutes_text(gpu.get(name))} |"
    return ROW.sub(row, readme)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report drift, change nothing")
    args = parser.parse_args()
    cpu, gpu = load_minutes(CPU_TIMES), load_minutes(GPU_TIMES)
    stale = []
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        old = "".join(notebook["cells"][0]["source"])
        new = synced_header(old, header_sentence(path.name, cpu, gpu), path.name)
        if new != old:
            stale.append(path.name)
            notebook["cells"][0]["source"] = new.splitlines(keepends=True)
            if not args.check:
                path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n",
                                encoding="utf-8")
    readme = README.read_text(encoding="utf-8")
    if synced_readme(readme, cpu, gpu) != readme:
        stale.append("README.md")
        if not args.check:
            README.write_text(synced_readme(readme, cpu, gpu), encoding="utf-8")
    verb = "out of date" if args.check else "rewritten"
    print(f"{verb}: {', '.join(stale)}" if stale else "run times agree everywhere")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
