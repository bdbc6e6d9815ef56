"""kdmeta_lib: the helper library of the kdmeta course.

Knowledge distillation, meta-learning and their fusion, one concept per module:

======================  ======================================================
``data``                one call that picks the best few-shot or MNIST source
``paths``               data root, cache folder, download guards
``omniglot``, ``mnist`` the real data sets: local copy, decoding, cache, download
``glyphs``              the offline procedurally generated few-shot classes
``text_tasks``          few-shot language-of-a-name tasks from Faker's name lists
``episodes``            ``Episode`` and the N-way K-shot ``EpisodeSampler``
``models``              Conv4, MLPs and the MNIST teacher
``text_models``         the character-level CNN for names
``distillation``        KD loss (T², batchmean), combined loss, feature losses
``distill_training``    training a student alone or from a frozen teacher
``functional``          the shared ``torch.func`` plumbing of the meta-learners
``protonet``            Prototypical Networks
``maml``, ``anil``      MAML (first and second order) and ANIL
``reptile``             Reptile
``meta_training``       one meta-training loop and one evaluation for all learners
``fused``               the fused objective: distillation inside meta-learning
``fused_training``      meta-training a student with a frozen teacher
``rl_envs``             the 2-D navigation task family
``policy_gradient``     Gaussian policies, rollouts, REINFORCE
``policy_distillation`` KL between expert and student policies
``meta_rl``             MAML for policies, with the fused policy loss
``stats``               means with 95% confidence intervals
``storage``             atomic caches and checkpoints, cached trained models
``runtime``             device, seeding, progress bars
``plots``               figures shared by the notebooks
``checks``              self-checks for the notebooks' exercises
======================  ======================================================
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
