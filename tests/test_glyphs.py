import time

import pytest
import torch

from kdmeta_lib.data.glyphs import GLYPH_CLASSES, generate_glyphs


def test_the_same_seed_gives_the_same_glyphs_and_another_seed_others():
    assert torch.equal(generate_glyphs(30, seed=3), generate_glyphs(30, seed=3))
    assert not torch.equal(generate_glyphs(30, seed=3), generate_glyphs(30, seed=4))


def test_glyphs_look_like_preprocessed_omniglot():
    glyphs = generate_glyphs(50)
    assert glyphs.shape == (50, 20, 28, 28)
    assert glyphs.min() >= 0 and glyphs.max() <= 1
    assert 0.03 < glyphs.mean() < 0.3, "ink should be a minority of the page"
    assert (glyphs.flatten(2).amax(-1) > 0.5).all(), "every drawing has ink"


def test_drawings_of_one_class_are_closer_than_drawings_of_different_classes():
    glyphs = generate_glyphs(40).flatten(2)  # [classes, drawings, pixels]
    within = (glyphs[:, 0] - glyphs[:, 1]).pow(2).sum(-1).mean()
    between = (glyphs[:-1, 0] - glyphs[1:, 0]).pow(2).sum(-1).mean()
    assert within < 0.8 * between
    assert within > 0, "drawings of a class must vary, or one shot would be trivial"


def test_the_full_offline_set_is_generated_in_under_ten_seconds():
    start = time.perf_counter()
    glyphs = generate_glyphs()
    assert glyphs.shape == (GLYPH_CLASSES, 20, 28, 28) and GLYPH_CLASSES >= 1000
    assert time.perf_counter() - start <= 10.0


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="n_classes"):
        generate_glyphs(0)
