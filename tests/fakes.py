"""Small fake data files for the bad-input and fault tests: Omniglot zips, broken on purpose."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

from PIL import Image


def drawing_png(column: int) -> bytes:
    """A 105×105 1-bit PNG: white page, one black ink column."""
    image = Image.new("1", (105, 105), color=1)
    image.paste(0, (10 + 20 * column, 10, 30 + 20 * column, 95))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def write_omniglot_zip(root: Path, subset: str, *, holds: str | None = None,
                       alphabets: tuple[str, ...] = ("Alpha", "Beta")) -> Path:
    """``root/omniglot-py/<subset>.zip`` with one character per alphabet, 20 drawings each,
    deflate-compressed like the official zips. ``holds`` names the folder inside (default:
    ``subset``; another name fakes a zip saved under the wrong name)."""
    path = root / "omniglot-py" / f"{subset}.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for index, alphabet in enumerate(alphabets):
            for drawing in range(20):
                archive.writestr(f"{holds or subset}/{alphabet}/character01/{index:04d}_{drawing:02d}.png",
                                 drawing_png(index))
    return path


def corrupt_deflate_stream(path: Path) -> None:
    """Overwrite the start of the first member's compressed data with 0xFF: "invalid block type"."""
    with zipfile.ZipFile(path) as archive:
        offset = archive.infolist()[0].header_offset
    content = bytearray(path.read_bytes())
    name_length, extra_length = struct.unpack("<HH", content[offset + 26:offset + 30])
    start = offset + 30 + name_length + extra_length
    content[start:start + 4] = b"\xff\xff\xff\xff"
    path.write_bytes(bytes(content))


def truncate(path: Path, keep: float = 0.5) -> None:
    """Cut a file short, as an interrupted download or copy does."""
    content = path.read_bytes()
    path.write_bytes(content[:int(len(content) * keep)])
