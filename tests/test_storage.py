import pytest
import torch

from kdmeta_lib.data import storage
from kdmeta_lib.data.paths import cache_dir
from kdmeta_lib.data.storage import (load_or_none, load_or_train, load_or_train_teacher,
                                     save_atomically)
from kdmeta_lib.models import MLP, Conv4


def test_a_saved_object_loads_back(tmp_path):
    path = save_atomically({"weights": torch.arange(5.0)}, tmp_path / "sub" / "model.pt")
    assert torch.equal(load_or_none(path)["weights"], torch.arange(5.0))


def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    save_atomically({"version": 1}, path)

    def crash_half_way(obj, file):
        file.write(b"half a checkpoint")
        raise KeyboardInterrupt  # the user pressed stop mid-save

    monkeypatch.setattr(storage.torch, "save", crash_half_way)
    with pytest.raises(KeyboardInterrupt):
        save_atomically({"version": 2}, path)
    monkeypatch.undo()
    assert load_or_none(path) == {"version": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_missing_or_corrupt_files_load_as_none(tmp_path, capsys):
    assert load_or_none(tmp_path / "absent.pt") is None
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x80\x04 not a checkpoint")
    assert load_or_none(corrupt) is None
    assert "rebuilding" in capsys.readouterr().out


def test_loading_refuses_arbitrary_pickled_objects(tmp_path):
    path = tmp_path / "unsafe.pt"
    torch.save({"callable": print}, path)  # weights_only=True must not unpickle functions
    assert load_or_none(path) is None


def test_load_or_train_trains_once_then_loads_and_retrains_after_a_corrupt_or_mismatched_file(tmp_path):
    path = tmp_path / "teacher.pt"
    calls = []

    def train(model):
        calls.append(1)
        torch.nn.init.constant_(model.net[1].weight, 0.5)

    first = MLP((784, 4, 2))
    assert load_or_train(first, path, train) is False and path.exists()
    second = MLP((784, 4, 2))
    assert load_or_train(second, path, train) is True and len(calls) == 1
    assert torch.equal(first.net[1].weight, second.net[1].weight)
    path.write_bytes(b"not a checkpoint")  # a corrupt cache: retrain, never crash
    assert load_or_train(MLP((784, 4, 2)), path, train) is False and len(calls) == 2
    wider = MLP((784, 8, 2))  # another architecture under the same name: retrain it
    assert load_or_train(wider, path, train) is False and len(calls) == 3
    assert not list(tmp_path.glob("*.tmp"))  # the atomic write leaves no temporary behind


class Counter:
    def __init__(self):
        self.calls = 0

    def __call__(self, model):
        self.calls += 1
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(0.5)


def test_the_teacher_is_cached_and_reloaded(isolated_data):
    train, key = Counter(), {"source": "glyphs", "width": 4, "steps": 3}
    first, from_cache = load_or_train_teacher(lambda: Conv4(4), train, key)
    assert not from_cache and train.calls == 1
    second, from_cache = load_or_train_teacher(lambda: Conv4(4), train, key)
    assert from_cache and train.calls == 1
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(),
                                                  second.state_dict().values()))
    _, from_cache = load_or_train_teacher(lambda: Conv4(4), train, {**key, "steps": 4})
    assert not from_cache and train.calls == 2  # another recipe is another file


def test_a_corrupt_or_wrong_teacher_cache_is_retrained_not_a_crash(isolated_data):
    train, key = Counter(), {"source": "glyphs", "width": 4}
    load_or_train_teacher(lambda: Conv4(4), train, key)
    (path,) = cache_dir().glob("teacher-*.pt")
    path.write_bytes(b"not a torch file")
    model, from_cache = load_or_train_teacher(lambda: Conv4(4), train, key)
    assert not from_cache and train.calls == 2
    assert all((p == 0.5).all() for p in model.parameters())
    model, from_cache = load_or_train_teacher(lambda: Conv4(6), train, key)  # shapes differ
    assert not from_cache and train.calls == 3
    _, from_cache = load_or_train_teacher(lambda: Conv4(6), train, key)
    assert from_cache and train.calls == 3  # the retrained teacher replaced the bad file
