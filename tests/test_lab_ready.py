"""The pre-lab smoke test says READY on a working machine and names what is broken otherwise."""

import pytest

from kdmeta_lib.checks import lab_ready


def test_an_offline_machine_with_no_data_is_ready(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KDMETA_DATA", str(tmp_path))
    monkeypatch.setenv("KDMETA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("KDMETA_OFFLINE", "1")
    monkeypatch.setenv("KDMETA_PROGRESS", "0")
    assert lab_ready.main() == 0
    printed = capsys.readouterr().out
    assert "READY" in printed and "FAIL" not in printed and "few-shot: glyphs" in printed


def test_mismatched_widget_packages_are_named_before_the_lab(monkeypatch):
    versions = {"ipywidgets": "8.1.0", "jupyterlab_widgets": "1.1.0"}
    monkeypatch.setattr(lab_ready, "_version", versions.get)
    with pytest.raises(RuntimeError, match="Error displaying widget"):
        lab_ready._widgets()


def test_a_failed_step_makes_it_not_ready(monkeypatch, capsys):
    def broken() -> str:
        raise OSError("disk full")

    monkeypatch.setattr(lab_ready, "STEPS", [("data", broken)])
    assert lab_ready.main() == 1
    assert "NOT READY (data" in capsys.readouterr().out
