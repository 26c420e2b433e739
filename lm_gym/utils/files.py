"""Atomic file writes: a file is either its old self or complete, never half-written.

Checkpoints, leaderboard results and ablation records are written through a temporary file
in the target's folder, flushed to disk and renamed over the target, so a run killed midway
leaves the previous file (or none) behind and a resumed run can trust every file it finds.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write(binary_file)`` on a temporary file, then rename it to ``path``.

    Returns:
        ``path`` as a ``Path``. On any error (or interrupt) the temporary file is removed and
        ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as tmp:
            write(tmp)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; see :func:`atomic_write`."""
    return atomic_write(path, lambda file: file.write(text.encode("utf-8")))
