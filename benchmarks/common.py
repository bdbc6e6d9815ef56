"""What every benchmark script shares: its command line, its time budget and its outputs.

Each script in ``benchmarks/`` is run as ``python benchmarks/<name>.py [--device cpu|cuda]
[--minutes M]`` and writes three files to ``benchmarks/results/`` (or ``--out``):

- ``<name>.json``: every measured figure, the command that produced it and the machine;
- ``<name>.md``: the same figures as a markdown table;
- ``<name>.png``: one labelled plot (not committed: the README plot is rebuilt from the JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
sys.path.insert(0, str(REPO))  # so the scripts run from a plain checkout, installed or not

from kdmeta_lib import pick_device, progress, seed_everything  # noqa: E402

__all__ = ["Budget", "machine", "markdown_table", "parse_args", "progress", "seed_everything",
           "write_results"]


def parse_args(description: str, default_minutes: float,
               add_arguments=None, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The flags every benchmark takes, plus the script's own (``add_arguments(parser)``).

    Adds ``args.device`` (a ``torch.device``) and ``args.command`` (the exact command line).
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--device", default=None,
                        help="cpu or cuda (default: cuda when present, else cpu)")
    parser.add_argument("--minutes", type=float, default=default_minutes,
                        help=f"time budget of the run (default {default_minutes:g}); a tiny "
                             "value such as 0.05 gives a smoke test")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's own choice)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for JSON/markdown/plot")
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    if not args.minutes > 0:
        parser.error(f"--minutes must be positive, got {args.minutes}")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    args.device = pick_device(args.device)
    given = sys.argv[1:] if argv is None else list(argv)
    args.command = shlex.join(["python", f"benchmarks/{Path(sys.argv[0]).name}", *given])
    return args


class Budget:
    """A wall-clock budget: ``while not budget.spent(): ...``."""

    def __init__(self, minutes: float):
        self.seconds = 60.0 * minutes
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def fraction(self) -> float:
        """Share of the budget used so far, in [0, 1] (for schedules that follow the clock)."""
        return min(1.0, self.elapsed() / self.seconds)

    def spent(self) -> bool:
        return self.elapsed() >= self.seconds

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Stop the clock inside the block (a measurement that is not part of the budget)."""
        stopped = time.perf_counter()
        try:
            yield
        finally:
            self.start += time.perf_counter() - stopped


def machine(device: torch.device) -> dict[str, Any]:
    """A short description of where a benchmark ran, stored with its results."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cpu_cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(),
            "device": str(device)}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table; numbers and strings are written as given."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_results(name: str, args: argparse.Namespace, results: dict[str, Any],
                  markdown: str, figure=None) -> Path:
    """Write ``<name>.json`` and ``<name>.md`` (and ``<name>.png`` when a figure is given).

    The JSON records the command, the budget and the machine beside the results (and the
    markdown table, from which ``make_results.py`` builds the README's Results section), so every
    figure quoted in the README can be traced to the run that produced it. Files are written
    to a temporary name first and then renamed, so an interrupted run leaves no half file.
    """
    args.out.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "command": args.command, "minutes": args.minutes,
               "date": time.strftime("%Y-%m-%d"), "machine": machine(args.device),
               "results": results, "markdown": markdown}
    header = (f"<!-- generated by `{args.command}` on {payload['date']}; "
              f"{payload['machine']['cpu']}, {payload['machine']['device']} -->\n")
    for suffix, text in ((".json", json.dumps(payload, indent=2) + "\n"),
                         (".md", header + markdown)):
        path = args.out / f"{name}{suffix}"
        temporary = path.with_suffix(suffix + ".tmp")
        temporary.write_text(text)
        temporary.replace(path)
    if figure is not None:
        figure.savefig(args.out / f"{name}.png", dpi=120, bbox_inches="tight")
    print(f"wrote {args.out / name}.json and .md")
    return args.out / f"{name}.json"
