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

from ..support.validation import environment_choice

DOWNLOAD_TIMEOUT_S = 10.0  # offline, a download attempt must fail in seconds, never hang

class DataUnavailable(RuntimeError):
    """Raised when a requested data set cannot be found, read or downloaded."""


def data_root(create: bool = False) -> Path:
    """The folder where users put data: ``$KDMETA_DATA``, the checkout's ``data/``, or ~.

    Args:
        create: make the ``$KDMETA_DATA`` folder if it does not exist yet (for the prefetch);
            otherwise a missing one is an error, since it is most likely a typo.
    """
    if os.environ.get("KDMETA_DATA", "").strip():
        root = Path(os.environ["KDMETA_DATA"].strip()).expanduser()
        if create:
            root.mkdir(parents=True, exist_ok=True)
        if not root.is_dir():
            raise ValueError(f"the environment variable KDMETA_DATA={str(root)!r} is not an "
                             "existing folder; fix the path, create the folder, or unset it to "
                             "use the checkout's data/ folder")
        return root
    checkout_data = Path(__file__).resolve().parents[2] / "data"  # <checkout>/kdmeta_lib/data/paths.py
    if (checkout_data / "README.md").exists():
        return checkout_data
    return Path.home() / "kdmeta_data"


def shared_cache_dir() -> Path:
    """The cache everyone looks in first: ``$KDMETA_CACHE``, else ``<data root>/cache``.

    It may be read-only (a cache prefetched onto a classroom drive): it is then used as is, and
    whatever must be built goes to :func:`personal_cache_dir`.
    """
    if os.environ.get("KDMETA_CACHE", "").strip():
        folder = Path(os.environ["KDMETA_CACHE"].strip()).expanduser()
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"the environment variable KDMETA_CACHE={str(folder)!r} names a "
                             "file, not a folder; point it at a folder, or unset it")
        return folder
    return data_root() / "cache"


def personal_cache_dir() -> Path:
    """This user's own cache, ``~/.cache/kdmeta``: where files go that the shared one cannot take."""
    return Path.home() / ".cache" / "kdmeta"


def cache_dir() -> Path:
    """A writable folder for derived files: the shared cache, else the personal one."""
    candidates = [shared_cache_dir(), personal_cache_dir()]
    for folder in candidates:
        if is_writable(folder):
            return folder
    raise DataUnavailable(f"no writable cache folder among {candidates}; set KDMETA_CACHE")


def is_writable(folder: Path) -> bool:
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
    choices = {"0": "try downloads", "1": "never download"}
    return environment_choice("KDMETA_OFFLINE", choices, default="0") == "1"


def check_reachable(url: str) -> None:
    """Fail within seconds when the host of ``url`` cannot be reached (no network, firewall).

    torchvision retries mirrors one after another; on a network that drops packets instead of
    refusing them, each try would wait for its own timeout. One quick probe avoids that.
    """
    from urllib.parse import urlparse

    address = urlparse(url)
    with socket.create_connection((address.hostname, address.port or 443), timeout=3.0):
        pass


@contextmanager
def download_timeout(seconds: float | None = None) -> Iterator[None]:
    """Give every socket opened inside the block a timeout (default ``DOWNLOAD_TIMEOUT_S``),
    then restore the previous one."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S if seconds is None else seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)
