"""kdmeta_lib: the helper library of the kdmeta course.

Knowledge distillation, meta-learning and their fusion, one concept per module. Read it in
layers, from the bottom up; each layer imports only the layers above it in this list.

**What a learner reads**, in this order, alongside the notebooks:

======================  ======================================================  ========
module                  what it holds                                           notebook
======================  ======================================================  ========
*tasks and models*
``episodes``            ``Episode`` and the N-way K-shot ``EpisodeSampler``     02
``models``              Conv4 (and Finn et al.'s strided variant), MLPs and     01, 02
                        the MNIST teacher
``text_models``         the character-level CNN for names                       04b
*losses and learners*
``distillation``        the KD loss (T², batchmean), α·L_KD + (1−α)·L_CE        01
``functional``          parameters as dicts, one inner loop (``adapt``),        02
                        one task runner (``run_tasks``), one backward per
                        task (``meta_backward``)
``protonet``            Prototypical Networks                                   02
``maml``                MAML, first and second order                            02
``anil``                ANIL: MAML on the head only                             02
``reptile``             Reptile                                                 02
*training loops*
``distill_training``    a model alone, or a student from a frozen teacher       01
``meta_training``       one meta-training loop, one evaluation, for all         02
*fusion*
``fused``               (1/N)·Σ_i [α·L_KD^i + (1−α)·L_CE^i]                     03
``transfer``            label-free transfer episodes taught by a guide          03
``guided``              the teacher at test time, scored on held-out queries    03
``fused_training``      meta-training a student with a frozen teacher           03, 04
*applications*
``rl_envs``             the 2-D navigation task family                          04c
``policy_gradient``     Gaussian policies, rollouts, REINFORCE                  04c
``policy_distillation`` KL between expert and student policies                  04c
``meta_rl``             MAML for policies, with the fused policy loss           04c
======================  ======================================================  ========

**Plumbing**, imported by the notebooks but not what they teach:

* ``data`` (a subpackage): Omniglot, MNIST, the offline glyphs, the name lists, the data root
  and caches, atomic files and cached teachers, the classroom prefetch;
* ``support`` (a subpackage): confidence intervals, device, seeding and CPU threads, progress bars, plots,
  the shared argument checks, and a torch-bug workaround for ``vmap``;
* ``checks`` (a subpackage): self-checks for the notebooks' exercises.

Benchmark-only code (batched MAML, bfloat16 and channels-last wrappers, profiling) lives in
``benchmarks/``, outside the package.
"""

from .data import (DataUnavailable, FewShotData, MnistData, cache_dir, data_root,
                   load_fewshot_data, load_mnist, load_omniglot_subset, with_rotations)
from .data.glyphs import generate_glyphs
from .data.storage import load_or_none, save_atomically
from .episodes import Episode, EpisodeSampler
from .models import MLP, Conv4, MnistCNN, count_parameters, summarize
from .support.runtime import pick_device, progress, seed_everything, use_free_cores
from .support.stats import MeanCI, mean_ci

__all__ = [
    "Conv4", "DataUnavailable", "Episode", "EpisodeSampler", "FewShotData", "MLP", "MeanCI",
    "MnistCNN", "MnistData", "cache_dir", "count_parameters", "data_root", "generate_glyphs",
    "load_fewshot_data", "load_mnist", "load_omniglot_subset", "load_or_none", "mean_ci",
    "pick_device", "progress", "save_atomically", "seed_everything", "summarize",
    "use_free_cores", "with_rotations",
]
__version__ = "0.2.0"
