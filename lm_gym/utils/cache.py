"""The on-disk cache of built offline models: atomic, locked builds and integrity checks.

A cache entry is a folder ``$LM_GYM_CACHE/models/<name>-<key>/`` holding a ``save_pretrained``
model and tokenizer plus ``lm_gym_manifest.json``, which records the size and SHA-256 of every
other file. The cache heals itself:

* an entry is built in a temporary sibling folder (see :mod:`lm_gym.utils.files`) and renamed
  into place only when it is complete, so a process killed mid-build leaves at most a temporary
  folder that is never loaded (and is removed by the next build of that entry);
* an entry whose files do not match its manifest (a truncated weights file, say), whose
  manifest is not one lm_gym wrote, or whose path is a file or a broken symlink is treated as
  absent: it is rebuilt and the bad path replaced;
* a build holds a lock on its entry (:func:`lm_gym.utils.locks.exclusive_lock`): a second
  process asking for the same entry waits for the first and then uses its entry, instead of
  training the model again and replacing the first one's entry under it. The lock of a build
  whose process was killed is taken over by the next build.

Entries are created with the user's umask, so a cache shared by a group is readable by all of
it. A cache that is only read (every entry valid) needs no write access at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from lm_gym.utils.files import (
    LocationError,
    naming_setting,
    remove_stale_temporaries,
    temporary_sibling,
)
from lm_gym.utils.locks import exclusive_lock

MANIFEST = "lm_gym_manifest.json"
CACHE_VARIABLE = "LM_GYM_CACHE"


def cache_root() -> Path:
    """The cache folder: ``$LM_GYM_CACHE``, else ``~/.cache/lm_gym``."""
    return Path(os.environ.get(CACHE_VARIABLE) or Path.home() / ".cache" / "lm_gym")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(folder: Path, metadata: dict) -> None:
    """Record every file of ``folder`` (size and hash) with ``metadata`` in its manifest."""
    files = {
        p.relative_to(folder).as_posix(): {"size": p.stat().st_size, "sha256": _sha256(p)}
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }
    (folder / MANIFEST).write_text(json.dumps({"metadata": metadata, "files": files}, indent=2))


def _well_formed(manifest: Any) -> bool:
    """True for a manifest as :func:`write_manifest` writes it: metadata, and at least one file
    named by a relative path inside the entry with an integer size and a SHA-256."""
    if not isinstance(manifest, dict) or not isinstance(manifest.get("metadata"), dict):
        return False
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        return False
    for name, facts in files.items():
        parts = PurePosixPath(name).parts
        if not name or name.startswith("/") or ".." in parts or "\\" in name:
            return False
        if not isinstance(facts, dict):
            return False
        size, digest = facts.get("size"), facts.get("sha256")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            return False
        if not isinstance(digest, str) or len(digest) != 64:
            return False
    return True


def _read_manifest(folder: Path) -> dict | None:
    """The manifest of ``folder`` when it is readable and well formed, else ``None``."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return manifest if _well_formed(manifest) else None


def is_valid_entry(folder: Path) -> bool:
    """True when ``folder`` has a well-formed manifest and every file it lists is intact.

    Never raises for a bad entry: a malformed manifest, a missing file, a path that is a file
    or a symlink loop all make it ``False``.
    """
    manifest = _read_manifest(Path(folder))
    if manifest is None:
        return False
    try:
        for name, facts in manifest["files"].items():
            path = Path(folder) / name
            if path.stat().st_size != facts["size"] or _sha256(path) != facts["sha256"]:
                return False
    except OSError:
        return False
    return True


def read_metadata(folder: Path) -> dict:
    """The metadata stored in an entry's manifest.

    Raises:
        ValueError: the entry has no well-formed manifest.
    """
    manifest = _read_manifest(Path(folder))
    if manifest is None:
        raise ValueError(f"{folder} is not a valid lm_gym cache entry (no well-formed {MANIFEST})")
    return manifest["metadata"]


def _clear(path: Path) -> None:
    """Remove whatever is at ``path``: a folder, a file, a symlink (even a looping one)."""
    if not os.path.lexists(path):
        return
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
    if os.path.lexists(path):
        raise LocationError(
            f"cannot replace the invalid cache entry {path}: delete it by hand (or set "
            f"{CACHE_VARIABLE} to another folder)"
        )


def _cache_location(entry: Path) -> contextlib.AbstractContextManager[None]:
    """Errors creating or writing ``entry``'s folder name ``$LM_GYM_CACHE``."""
    return naming_setting(CACHE_VARIABLE, entry.parent.parent, "the model cache")


def _note(line: str) -> None:
    print(f"lm_gym: {line}", file=sys.stderr, flush=True)


def get_or_build(entry: Path, build: Callable[[Path], dict]) -> Path:
    """Return ``entry`` if valid; otherwise build it atomically, under its lock, and return it.

    Args:
        entry: the final folder of the cache entry.
        build: writes the entry's files into the (temporary) folder it is given and returns
            metadata for the manifest.

    Raises:
        LocationError: the cache folder cannot be created or written (the message names
            ``LM_GYM_CACHE``).
    """
    if is_valid_entry(entry):
        return entry
    with contextlib.ExitStack() as stack:
        with _cache_location(entry):
            entry.parent.mkdir(parents=True, exist_ok=True)
            stack.enter_context(
                exclusive_lock(
                    entry.parent / f".{entry.name}.lock",
                    what=f"the cache entry {entry.name}, which it is building",
                    on_wait=_note,
                )
            )
        if is_valid_entry(entry):  # built by the process we waited for
            return entry
        with _cache_location(entry):
            remove_stale_temporaries(entry)
            tmp = temporary_sibling(entry)
            tmp.mkdir()
        try:
            metadata = build(tmp)
            with _cache_location(entry):
                write_manifest(tmp, metadata)
                _clear(entry)  # an invalid entry: corrupted, half-deleted, a file, a bad link
                os.rename(tmp, entry)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return entry
