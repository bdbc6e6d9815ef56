"""Self-checks for the notebooks' exercises: accept a right answer, name the mistake in a wrong one.

Each exercise is an :class:`Exercise`; a notebook uses it like this::

    @checks.kd_loss.or_reference      # while this is a stub, the notebook runs on the reference
    def my_kd_loss(student_logits, teacher_logits, temperature):
        raise NotImplementedError     # the learner's code goes here

    checks.kd_loss.check(my_kd_loss)  # prints "Correct: ...", "Not attempted: ...",
                                      # or raises an ExerciseError that names the mistake
    checks.kd_loss.hint()             # a nudge, without the answer; .hint(2) is more specific
    checks.kd_loss.solution()         # the reference code

A check runs the learner's function on small random inputs, compares it with the library's own
implementation, and, when they differ, tests the typical mistakes one by one (a missing T², the KL
arguments swapped, support and query overlapping, ...) so that the message says *which* one.
"""

from .applications import (gap_recovered, encode_name, gaussian_policy_kl,
                           reference_encode_name, reference_gap_recovered,
                           reference_gaussian_policy_kl)
from .base import Exercise, ExerciseError
from .distillation import (distillation_loss, kd_loss, reference_distillation_loss,
                           reference_kd_loss)
from .fusion import fused_loss, reference_fused_loss
from .meta_learning import (inner_step, prototype_logits, reference_inner_step,
                            reference_prototype_logits, reference_split_episode, split_episode)

__all__ = ["Exercise", "ExerciseError",
           "kd_loss", "distillation_loss",                  # notebook 01
           "split_episode", "prototype_logits", "inner_step",  # notebook 02
           "fused_loss",                                     # notebook 03
           "gap_recovered", "encode_name", "gaussian_policy_kl"]  # notebooks 04a–04c
