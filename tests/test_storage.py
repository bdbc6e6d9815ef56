import pytest
import torch

from kdmeta_lib import storage
from kdmeta_lib.storage import load_or_none, save_atomically


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
