import pytest
import torch

from kdmeta_lib.episodes import EpisodeSampler
from kdmeta_lib.text_models import CharCNN
from kdmeta_lib.data.name_lists import FAKER_VERSION
from kdmeta_lib.data.text_tasks import (LANGUAGES, META_TEST_LOCALES, PAD, UNKNOWN, VOCAB_SIZE,
                                   decode_names, encode_names, faker_full_names,
                                   load_name_tasks, shipped_full_names)

needs_faker = pytest.mark.skipif(__import__("importlib").util.find_spec("faker") is None,
                                 reason="Faker is only needed to remake the shipped names")


@pytest.fixture(scope="module")
def tasks():
    return load_name_tasks(names_per_language=30, max_len=16, verbose=False)


def test_encoding_keeps_latin_code_points_pads_with_zero_and_marks_the_rest_unknown():
    codes = encode_names(["ab", "ŝ ж", "abcdef"], max_len=4)
    assert codes.dtype == torch.int64 and codes.shape == (3, 4)
    assert codes[0].tolist() == [ord("a"), ord("b"), PAD, PAD]
    assert codes[1].tolist() == [ord("ŝ"), ord(" "), UNKNOWN, PAD]   # ŝ < 0x250, ж is not
    assert codes[2].tolist() == [ord(c) for c in "abcd"]              # truncated to max_len
    assert codes.max() < VOCAB_SIZE


def test_decoding_inverts_encoding_of_latin_names():
    names = ["jānis bērziņš", "søren", "şahin"]
    assert decode_names(encode_names(names, max_len=20)) == names


def test_encoding_refuses_empty_names_and_lengths():
    with pytest.raises(ValueError, match="empty"):
        encode_names(["ok", ""])
    with pytest.raises(ValueError, match="max_len"):
        encode_names(["ok"], max_len=0)


def test_meta_training_and_meta_test_languages_are_disjoint(tasks):
    assert set(tasks.train_locales).isdisjoint(tasks.test_locales)
    assert set(tasks.test_locales) == set(META_TEST_LOCALES)
    assert set(tasks.train_locales) | set(tasks.test_locales) == set(LANGUAGES)
    assert tasks.train.shape == (len(tasks.train_locales), 30, 16)
    assert tasks.test.shape == (len(tasks.test_locales), 30, 16)


def test_the_names_do_not_depend_on_faker_being_installed(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "faker", None)  # `import faker` now fails
    data = load_name_tasks(names_per_language=5, max_len=16, verbose=False)
    assert data.test.shape == (len(META_TEST_LOCALES), 5, 16)
    assert FAKER_VERSION in data.description


def test_shipped_names_are_distinct_full_names_and_seed_zero_keeps_their_order():
    names = shipped_full_names("fi_FI", 200)
    assert len(set(names)) == 200 and all(" " in name for name in names)
    assert shipped_full_names("fi_FI", 10) == names[:10]
    assert set(shipped_full_names("fi_FI", 10, seed=1)) <= set(names)
    assert shipped_full_names("fi_FI", 10, seed=1) != names[:10]
    with pytest.raises(ValueError, match="shipped lists hold 200"):
        shipped_full_names("fi_FI", 201)
    with pytest.raises(ValueError, match="no shipped names"):
        shipped_full_names("xx_XX", 5)


@needs_faker
def test_the_shipped_names_are_what_their_faker_version_composes():
    import faker
    if faker.VERSION != FAKER_VERSION:
        pytest.skip(f"the lists were made with Faker {FAKER_VERSION}, {faker.VERSION} is installed")
    for locale in ("fi_FI", "is_IS", "pl_PL"):
        assert faker_full_names(locale, 200) == shipped_full_names(locale, 200)


@needs_faker
def test_the_same_seed_gives_the_same_names_and_another_seed_others():
    assert faker_full_names("fi_FI", 10, seed=1) == faker_full_names("fi_FI", 10, seed=1)
    assert faker_full_names("fi_FI", 10, seed=1) != faker_full_names("fi_FI", 10, seed=2)
    names = faker_full_names("fi_FI", 10, seed=1)
    assert len(set(names)) == 10 and all(" " in name for name in names)


@needs_faker
def test_an_unknown_locale_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="no locale"):
        faker_full_names("xx_XX", 5)


def test_the_episode_sampler_draws_text_tasks_and_the_char_cnn_embeds_them(tasks):
    sampler = EpisodeSampler(tasks.test, n_way=5, k_shot=3, n_query=4, seed=0)
    episode = sampler.sample_batch(2)
    assert episode.support_x.shape == (2, 15, 16) and episode.query_x.shape == (2, 20, 16)
    assert episode.support_x.dtype == torch.int64
    model = CharCNN(width=8, embedding_dim=4, n_layers=2)
    assert model(episode.support_x[0]).shape == (15, 8)


def test_padding_never_changes_a_names_embedding():
    torch.manual_seed(0)
    model = CharCNN(width=8, embedding_dim=4, n_layers=2)
    short, long = encode_names(["anna"], max_len=6), encode_names(["anna"], max_len=12)
    assert torch.allclose(model(short), model(long), atol=1e-6)
