"""Atomic file writes: write to a temporary name in the same folder, fsync, then rename.

os.replace is atomic on POSIX and Windows, so a reader (or a run killed with SIGKILL at any
moment) sees either the old complete file or the new complete file, never a partial one.
"""

import contextlib
import glob
import os
import tempfile
from pathlib import Path

import numpy as np


@contextlib.contextmanager
def atomic_open(path, mode: str = "wb"):
    """Open a temporary file beside `path`; on a clean exit it replaces `path` in one step."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file a normal file's mode
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def remove_orphans(folder, names) -> list[str]:
    """Delete the temporary files atomic_open left beside `names` in `folder` when a write was
    killed before its rename (SIGKILL, power loss); returns what was removed."""
    removed = []
    for name in names:
        for tmp in Path(folder).glob(f".{glob.escape(name)}.*.tmp"):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
                removed.append(tmp.name)
    return removed


def save_npz(path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez_compressed, atomically, to exactly `path` (no '.npz' appended)."""
    with atomic_open(path, "wb") as f:
        np.savez_compressed(f, **arrays)


def save_png(path, image: np.ndarray) -> None:
    """A grey image as an 8-bit PNG, atomically: signature, IHDR, one zlib IDAT, IEND (PNG spec,
    W3C 2003); each row starts with filter type 0 (none). Shapes: image (H, W) uint8."""
    import struct
    import zlib

    image = np.asarray(image)
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image of shape (H, W), got {image.dtype} {image.shape}")
    h, w = image.shape

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = np.concatenate([np.zeros((h, 1), np.uint8), image], axis=1)  # filter byte per row
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(rows.tobytes(), 9)) + chunk(b"IEND", b""))
    with atomic_open(path, "wb") as f:
        f.write(png)
