"""Faults: interrupted writes, corrupt zips, a slow or absent network, concurrent writers and a
cache shared by a classroom. Nothing may be lost, left corrupt, rebuilt twice or taken over."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import torch

from fakes import corrupt_deflate_stream, write_omniglot_zip
from kdmeta_lib.data import atomic, load_fewshot_data, paths, storage
from kdmeta_lib.data.atomic import load_or_none, remove_stale_temporaries, save_atomically

REPO = Path(__file__).resolve().parent.parent


def run_python(code: str, *, umask: int = 0o022, **environment: str) -> str:
    """Run ``code`` in a fresh Python process with this umask and environment; its stdout."""
    env = {**os.environ, "KDMETA_PROGRESS": "0", "KDMETA_OFFLINE": "1", **environment}
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120,
                            preexec_fn=lambda: os.umask(umask))
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def temporaries(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.tmp"))


# ------------------------------------------------------------------------- interrupted writes
def test_a_writer_killed_mid_write_leaves_the_old_file_and_the_next_write_removes_its_orphan(tmp_path):
    path = save_atomically({"version": 1}, tmp_path / "model.pt")
    killed = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import os, signal
        from kdmeta_lib.data.atomic import write_atomically
        def write(file):
            file.write(b"x" * 2**20)  # a megabyte of a checkpoint, then kill -9
            file.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        write_atomically({str(path)!r}, write)
        """)], cwd=REPO)
    assert killed.returncode == -signal.SIGKILL
    (orphan,) = temporaries(tmp_path)
    assert orphan.stat().st_size == 2**20 and load_or_none(path) == {"version": 1}
    save_atomically({"version": 2}, path)
    assert temporaries(tmp_path) == [] and load_or_none(path) == {"version": 2}


def test_only_orphans_are_removed_an_hour_old_or_from_a_dead_process(tmp_path):
    host = atomic._HOST
    old_elsewhere = tmp_path / ".model.pt.other-host.123.abcdefgh.tmp"
    fresh_elsewhere = tmp_path / ".model.pt.other-host.124.abcdefgh.tmp"
    live_here = tmp_path / f".model.pt.{host}.{os.getpid()}.abcdefgh.tmp"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    dead_here = tmp_path / f".model.pt.{host}.{dead}.abcdefgh.tmp"
    for temporary in (old_elsewhere, fresh_elsewhere, live_here, dead_here):
        temporary.write_bytes(b"partial")
    an_hour_ago = time.time() - atomic.STALE_AFTER_S - 60
    os.utime(old_elsewhere, (an_hour_ago, an_hour_ago))
    assert sorted(remove_stale_temporaries(tmp_path)) == sorted([old_elsewhere, dead_here])
    assert temporaries(tmp_path) == sorted([fresh_elsewhere, live_here])  # may still be writing


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_cache_files_get_the_permissions_of_any_new_file_under_the_umask(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        path = save_atomically({"weights": torch.ones(2)}, tmp_path / "model.pt")
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == mode


# ------------------------------------------------------------------------- concurrent writers
def test_concurrent_writers_never_leave_a_corrupt_or_partial_file(tmp_path):
    path = tmp_path / "shared.pt"
    writer = f"""
        import os, torch
        from kdmeta_lib.data.atomic import save_atomically
        for step in range(15):
            save_atomically({{"writer": os.getpid(), "data": torch.full((200_000,), step)}},
                            {str(path)!r})
        """
    processes = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(writer)], cwd=REPO)
                 for _ in range(3)]
    reads = 0
    while any(process.poll() is None for process in processes):
        if path.exists():
            contents = load_or_none(path)  # never a half-written file
            assert contents is not None and contents["data"].shape == (200_000,)
            reads += 1
    assert [process.returncode for process in processes] == [0, 0, 0]
    assert load_or_none(path)["data"].eq(14).all() and temporaries(tmp_path) == []


# ------------------------------------------------------------------------- corrupt zips, network
def test_a_zip_with_a_corrupt_deflate_stream_makes_auto_fall_back_and_names_the_file(isolated_data):
    for subset in ("images_background", "images_evaluation"):
        write_omniglot_zip(isolated_data, subset, alphabets=(subset[7:] + "_a",))
    corrupt_deflate_stream(isolated_data / "omniglot-py" / "images_background.zip")
    fallback = load_fewshot_data(verbose=False)
    assert fallback.source == "glyphs"
    assert "images_background.zip is corrupt" in fallback.description
    assert "invalid block type" in fallback.description


def silent_server() -> tuple[socket.socket, int]:
    """A local server that accepts connections and never answers: a network that hangs."""
    server = socket.create_server(("127.0.0.1", 0))
    server.listen(8)
    accepted = []
    threading.Thread(target=lambda: [accepted.append(server.accept()) for _ in range(8)],
                     daemon=True).start()
    return server, server.getsockname()[1]


def closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return probe.getsockname()[1]  # nothing listens there once the probe is closed


@pytest.mark.parametrize("network", ["slow", "absent"])
def test_a_slow_or_absent_network_falls_back_to_glyphs_within_seconds(isolated_data, monkeypatch,
                                                                      network):
    from torchvision.datasets import Omniglot

    server, port = silent_server() if network == "slow" else (None, closed_port())
    monkeypatch.setenv("KDMETA_OFFLINE", "0")
    monkeypatch.setattr(paths, "DOWNLOAD_TIMEOUT_S", 1.0)
    monkeypatch.setattr(Omniglot, "download_url_prefix", f"http://127.0.0.1:{port}/omniglot")
    start = time.perf_counter()
    fallback = load_fewshot_data(verbose=False)
    assert fallback.source == "glyphs" and "download failed" in fallback.description
    assert time.perf_counter() - start < 15  # 1 s timeout + generating the glyphs
    if server:
        server.close()


# ------------------------------------------------------------------------- a classroom's cache
BUILD_CACHE = """
    import torch
    from kdmeta_lib import Conv4
    from kdmeta_lib.data import load_omniglot_subset, omniglot
    from kdmeta_lib.data.storage import load_or_train_teacher
    if {reuse_only}:  # a second user: decoding or training again would be a failure
        omniglot._decode_omniglot = lambda source: exit("decoded again")
    def train(model):
        if {reuse_only}:
            exit("trained again")
        torch.nn.init.constant_(model.features[0][0].weight, 0.5)
    print(load_omniglot_subset("images_background").shape)
    model, from_cache = load_or_train_teacher(lambda: Conv4(4), train, {{"width": 4}}, verbose=False)
    print("from cache" if from_cache else "trained", float(model.features[0][0].weight[0, 0, 0, 0]))
    """


def test_a_shared_cache_is_reused_by_another_user_with_another_umask_without_a_rebuild(tmp_path):
    """The closest to two OS users without root: a second process with umask 077 and its own
    home, on a shared cache that it may only read (read-only bits, or as root, files another
    user owns)."""
    write_omniglot_zip(tmp_path / "data", "images_background")
    shared = tmp_path / "shared-cache"
    folders = {"KDMETA_DATA": str(tmp_path / "data"), "KDMETA_CACHE": str(shared)}
    first = run_python(BUILD_CACHE.format(reuse_only=False), umask=0o022,
                       HOME=str(tmp_path / "teacher-home"), **folders)
    assert "trained 0.5" in first
    files = sorted(shared.glob("*.pt"))
    assert len(files) == 2 and all(f.stat().st_mode & 0o044 == 0o044 for f in files)
    if os.geteuid() == 0:  # root writes anywhere: make the files another user's instead
        for path in files:
            os.chown(path, 65534, 65534)
    else:
        shared.chmod(0o555)
    before = {path: (path.stat().st_uid, path.stat().st_mtime_ns) for path in files}
    student_home = tmp_path / "student-home"
    second = run_python(BUILD_CACHE.format(reuse_only=True), umask=0o077, HOME=str(student_home),
                        **folders)
    shared.chmod(0o755)
    assert "from cache 0.5" in second and "torch.Size([2, 20, 28, 28])" in second
    assert {path: (path.stat().st_uid, path.stat().st_mtime_ns) for path in files} == before
    assert sorted(shared.glob("*.pt")) == files and not list(student_home.rglob("*.pt"))


def test_another_users_invalid_file_is_rebuilt_in_my_own_cache_not_taken_over(isolated_data,
                                                                              monkeypatch, capsys):
    train = lambda model: torch.nn.init.constant_(model.features[0][0].weight, 0.5)  # noqa: E731
    from kdmeta_lib import Conv4

    storage.load_or_train_teacher(lambda: Conv4(4), train, {"width": 4}, verbose=False)
    (theirs,) = paths.shared_cache_dir().glob("teacher-*.pt")
    state = torch.load(theirs)
    state["features.0.0.weight"].fill_(float("nan"))  # their run diverged
    save_atomically(state, theirs)
    their_bytes = theirs.read_bytes()
    monkeypatch.setattr(storage.os, "geteuid", lambda: theirs.stat().st_uid + 1)  # I am not them
    monkeypatch.setenv("HOME", str(isolated_data / "my-home"))
    model, from_cache = storage.load_or_train_teacher(lambda: Conv4(4), train, {"width": 4},
                                                      verbose=False)
    assert not from_cache and "holds NaN" in capsys.readouterr().out
    mine = isolated_data / "my-home" / ".cache" / "kdmeta" / theirs.name
    assert theirs.read_bytes() == their_bytes and mine.exists()  # theirs untouched, mine beside
    _, from_cache = storage.load_or_train_teacher(lambda: Conv4(4), train, {"width": 4})
    assert from_cache  # and next time mine is found: no second rebuild
