"""Where data lives: the data root the user fills, and the cache the kit writes.

* the *data root* holds what you bring: ``$KDMETA_DATA``, else the checkout's ``data/``, else
  ``~/kdmeta_data``. It may be read-only (a shared classroom drive).
* the *cache* holds what the kit derives (decoded tensors, trained teachers): ``$KDMETA_CACHE``,
  else ``<data root>/cache`` when writable, else ``~/.cache/kdmeta``. Nothing is ever written next
  to the source files.
* ``KDMETA_OFFLINE=1`` skips every download attempt; without it, a download that cannot reach its
  host fails within seconds.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DOWNLOAD_TIMEOUT_S = 10.0  # offline, a download attempt must fail in seconds, never hang

class DataUnavailable(RuntimeError):
    """Raised when a requested data set cannot be found, read or downloaded."""


def data_root() -> Path:
    """The folder where users put data: ``$KDMETA_DATA``, the checkout's ``data/``, or ~."""
    if os.environ.get("KDMETA_DATA"):
        return Path(os.environ["KDMETA_DATA"]).expanduser()
    checkout_data = Path(__file__).resolve().parents[2] / "data"  # <checkout>/kdmeta_lib/data/paths.py
    if (checkout_data / "README.md").exists():
        return checkout_data
    return Path.home() / "kdmeta_data"


def cache_dir() -> Path:
    """A writable folder for derived files (decoded tensors, trained teachers)."""
    if os.environ.get("KDMETA_CACHE"):
        candidates = [Path(os.environ["KDMETA_CACHE"]).expanduser()]
    else:
        candidates = [data_root() / "cache", Path.home() / ".cache" / "kdmeta"]
    for folder in candidates:
        if _is_writable(folder):
            return folder
    raise DataUnavailable(f"no writable cache folder among {candidates}; set KDMETA_CACHE")


def _is_writable(folder: Path) -> bool:
    try:  # an actual write: permission bits alone lie when running as root
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
        return True
    except OSError:
        return False


def offline() -> bool:
    """True when ``KDMETA_OFFLINE=1`` asks us not to try any download."""
    return os.environ.get("KDMETA_OFFLINE", "0") == "1"


def check_reachable(url: str) -> None:
    """Fail within seconds when the host of ``url`` cannot be reached (no network, firewall).

    torchvision retries mirrors one after another; on a network that drops packets instead of
    refusing them, each try would wait for its own timeout. One quick probe avoids that.
    """
    from urllib.parse import urlparse

    with socket.create_connection((urlparse(url).hostname, 443), timeout=3.0):
        pass


@contextmanager
def download_timeout(seconds: float = DOWNLOAD_TIMEOUT_S) -> Iterator[None]:
    """Give every socket opened inside the block a timeout, then restore the previous one."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)
