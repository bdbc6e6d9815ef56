"""Atomic files: caches and checkpoints that an interrupted run can never leave half-written.

The trick is the same everywhere: write to a temporary file in the destination folder, flush it
to disk, then ``os.replace`` it over the target. ``os.replace`` is atomic on POSIX and Windows, so
a reader sees either the old file or the new one, never a truncated one.

Two details make the files fit for a classroom's shared folder:

* a file gets the permissions any new file would get (``0666`` minus the umask), so with the usual
  umask (022 or 002) other students can read it; ``mkstemp`` alone would make it private (0600);
* a temporary file left by a writer that died (``kill -9``, a crashed kernel, a power cut) is
  removed by the next write in that folder: once its process is gone, or after an hour.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

STALE_AFTER_S = 3600.0  # a temporary file this old is an orphan, whoever wrote it
_HOST = socket.gethostname().replace("/", "_")


def write_atomically(path: str | Path, write: Callable[[Any], None]) -> Path:
    """Call ``write(file_object)`` on a temporary file, then move it onto ``path`` in one step.

    The temporary file's name records this machine and process, so that a later writer can
    tell an orphan from a write still in progress.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp",
                                         prefix=f".{path.name}.{_HOST}.{os.getpid()}.")
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o666 & ~_umask())  # as readable as any new file, not 0600
        os.replace(temporary, path)
    except BaseException:  # also on KeyboardInterrupt: never leave the temporary behind
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def save_atomically(obj: Any, path: str | Path) -> Path:
    """``torch.save`` that never leaves a corrupt file at ``path``."""
    return write_atomically(path, lambda file: torch.save(obj, file))


def load_or_none(path: str | Path) -> Any | None:
    """Load a file written by :func:`save_atomically`, or return None if missing or unreadable.

    Uses ``weights_only=True``: only tensors and plain containers are unpickled, so a cache file
    from somewhere else cannot run code. A corrupt or unreadable file is reported and treated as
    missing, so the caller rebuilds it instead of crashing. The *contents* are the caller's to
    check (``storage.load_valid``).
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable cache means "rebuild"
        print(f"Ignoring unreadable cache {path} ({type(error).__name__}: {error}); rebuilding it.")
        return None


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete the orphaned temporary files of :func:`write_atomically` in ``folder``.

    A temporary file is an orphan when the process that wrote it (on this machine) is gone, or
    when it is older than ``STALE_AFTER_S`` whoever wrote it. Files that cannot be deleted
    (another user's, in a folder with the sticky bit) are left alone.

    Returns:
        The files removed.
    """
    removed = []
    for temporary in folder.glob(".*.tmp"):
        try:
            if _is_orphan(temporary):
                temporary.unlink()
                removed.append(temporary)
        except OSError:  # gone already, or not ours to delete
            continue
    return removed


def _is_orphan(temporary: Path) -> bool:
    """Old, or written by a process of this machine that no longer runs."""
    if time.time() - temporary.stat().st_mtime > STALE_AFTER_S:
        return True
    parts = temporary.name[:-len(".tmp")].rsplit(".", 2)  # [".name.host", pid, random]
    if len(parts) < 3 or not parts[0].endswith(f".{_HOST}") or not parts[1].isdigit() \
            or os.name == "nt":
        return False  # another machine's or an old-style name: only age tells
    try:
        os.kill(int(parts[1]), 0)  # signal 0: "does it exist?", nothing is sent
    except ProcessLookupError:
        return True
    except OSError:  # it exists but belongs to another user
        return False
    return False


def _umask() -> int:
    """This process's umask, read without changing it where Linux allows."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore at once
    os.umask(mask)
    return mask
