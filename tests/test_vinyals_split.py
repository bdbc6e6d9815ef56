"""The papers' Omniglot split and non-transductive test-time batch norm (issue 17, item 1).

``benchmarks/vinyals_split.py`` builds Snell et al.'s "vinyals" classes from the committed lists;
``benchmarks/support_statistics.py`` normalises every query with the support's statistics only.
The tests that need the real Omniglot zips skip when none is found.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.func import functional_call

from kdmeta_lib import Conv4, maml, protonet
from kdmeta_lib.data import DataUnavailable, with_rotations
from kdmeta_lib.data.omniglot import OMNIGLOT_SUBSETS, find_omniglot
from kdmeta_lib.functional import params_and_buffers

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
from support_statistics import maml_support_first_logits, support_statistics  # noqa: E402
from vinyals_split import (SPLIT_FOLDER, build_classes, character_names,  # noqa: E402
                           load_vinyals_data, read_split)

sys.path.insert(0, str(REPO))
from conftest import real_data_root  # noqa: E402


def characters_of(classes: list[tuple[str, int]]) -> Counter:
    return Counter(character for character, _ in classes)


def test_the_lists_hold_1200_trainval_and_423_test_characters_with_four_rotations_each():
    trainval, test = read_split("trainval"), read_split("test")
    for classes, n_characters in ((trainval, 1200), (test, 423)):
        counts = characters_of(classes)
        assert len(counts) == n_characters and set(counts.values()) == {4}
        assert len(set(classes)) == len(classes) == 4 * n_characters  # each rotation once
        assert {turns for _, turns in classes} == {0, 1, 2, 3}


def test_no_character_is_on_both_sides_and_only_gurmukhi_is_shared():
    trainval, test = characters_of(read_split("trainval")), characters_of(read_split("test"))
    assert not set(trainval) & set(test)
    alphabets = [{character.split("/")[0] for character in side} for side in (trainval, test)]
    assert alphabets[0] & alphabets[1] == {"Gurmukhi"}


def test_the_lists_are_credited_to_their_authors():
    readme = (SPLIT_FOLDER / "README.md").read_text()
    assert "Snell" in readme and "MIT" in readme
    assert "Copyright (c) 2017 Jake Snell" in (SPLIT_FOLDER / "LICENSE").read_text()


def test_a_line_that_is_not_a_class_is_rejected_with_its_line_number(tmp_path):
    (tmp_path / "test.txt").write_text("Tengwar/character01/rot000\nTengwar/character01/rot045\n")
    with pytest.raises(ValueError, match=r"test.txt:2: .*rot045"):
        read_split("test", folder=tmp_path)


def test_rotnnn_turns_the_drawing_counter_clockwise_like_pil_and_with_rotations():
    drawing = torch.zeros(1, 5, 5)
    drawing[0, 0, 4] = 1.0  # ink in the top-right corner
    classes = [("Alpha/character01", turns) for turns in range(4)]
    built = build_classes(classes, {"Alpha/character01": drawing})  # [4, 1, 1, 5, 5]
    assert built.shape == (4, 1, 1, 5, 5)
    assert built[1, 0, 0, 0, 0] == 1.0  # rot090: top-right → top-left
    pil = Image.fromarray((drawing[0].numpy() * 255).astype(np.uint8))
    for turns in range(4):
        expected = np.asarray(pil.rotate(90 * turns)) / 255  # what Snell et al.'s loader does
        assert np.array_equal(built[turns, 0, 0].numpy(), expected)
    assert torch.equal(built, with_rotations(drawing[None, :, None]))  # the library's order


def test_a_missing_character_is_named_with_what_to_do():
    with pytest.raises(DataUnavailable, match=r"Tengwar/character99.*omniglot-py"):
        build_classes([("Tengwar/character99", 0)], {"Tengwar/character01": torch.zeros(2, 5, 5)})


def test_the_vinyals_split_without_omniglot_says_where_to_put_the_zips(isolated_data):
    with pytest.raises(DataUnavailable, match="omniglot-py"):
        load_vinyals_data()


def test_every_listed_character_is_in_exactly_one_official_zip():
    root = real_data_root()
    if root is None or not all(find_omniglot(root, subset) for subset in OMNIGLOT_SUBSETS):
        pytest.skip("no real Omniglot under $KDMETA_DATA or ../shared/data")
    background, evaluation = (set(character_names(find_omniglot(root, subset)))
                              for subset in OMNIGLOT_SUBSETS)
    assert (len(background), len(evaluation)) == (964, 659) and not background & evaluation
    listed = set(characters_of(read_split("trainval"))) | set(characters_of(read_split("test")))
    assert listed == background | evaluation  # 1,200 + 423 = all 1,623 characters


def episode(seed: int, n_way: int = 3, k_shot: int = 2, n_query: int = 4):
    generator = torch.Generator().manual_seed(seed)
    support_x = torch.rand(n_way * k_shot, 1, 28, 28, generator=generator)
    query_x = torch.rand(n_way * n_query, 1, 28, 28, generator=generator)
    return support_x, torch.arange(n_way).repeat_interleave(k_shot), query_x


def protonet_logits(model, support_x, support_y, query_x):
    params, buffers = params_and_buffers(model)
    return protonet.query_logits(params, buffers, model, support_x, support_y, query_x,
                                 config=protonet.ProtoNetConfig(3))


def maml_logits(model, support_x, support_y, query_x):
    params, buffers = params_and_buffers(model)
    return maml_support_first_logits(params, buffers, model, support_x, support_y, query_x,
                                     config=maml.MamlConfig(inner_lr=0.4, inner_steps=1))


@pytest.mark.parametrize("learner", ["protonet", "maml"])
def test_with_support_statistics_changing_one_query_leaves_the_others_logits_unchanged(learner):
    torch.manual_seed(0)
    model = Conv4(8) if learner == "protonet" else Conv4(8, n_classes=3)
    logits_of = protonet_logits if learner == "protonet" else maml_logits
    support_x, support_y, query_x = episode(0)
    changed = query_x.clone()
    changed[0] = torch.rand(1, 28, 28)
    with support_statistics(model, n_support=len(support_x)):
        before = logits_of(model, support_x, support_y, query_x)
        after = logits_of(model, support_x, support_y, changed)
    assert torch.allclose(before[1:], after[1:], atol=1e-5)
    assert not torch.allclose(before[0], after[0], atol=1e-3)  # the changed query moved
    transductive = logits_of(model, support_x, support_y, query_x), logits_of(
        model, support_x, support_y, changed)  # the kit's default: queries share statistics
    assert not torch.allclose(transductive[0][1:], transductive[1][1:], atol=1e-3)


def test_support_statistics_leave_a_support_only_batch_as_it_was_and_are_removed_after():
    torch.manual_seed(0)
    model = Conv4(8)
    support_x, _, _ = episode(1)
    plain = model(support_x)
    with support_statistics(model, n_support=len(support_x)):
        assert torch.allclose(model(support_x), plain, atol=1e-5)
        with pytest.raises(ValueError, match="support"):
            model(support_x[:2])
    assert torch.equal(model(support_x[:2]), functional_call(model, dict(
        model.named_parameters()), (support_x[:2],)))  # the hooks are gone: no error
