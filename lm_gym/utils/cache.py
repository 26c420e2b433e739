"""The on-disk cache of built offline models: atomic writes and integrity checks.

A cache entry is a folder ``$LM_GYM_CACHE/models/<name>-<key>/`` holding a ``save_pretrained``
model and tokenizer plus ``lm_gym_manifest.json``, which records the size and SHA-256 of every
other file. An entry is built in a temporary sibling folder and renamed into place only when it
is complete, so a process killed mid-build leaves at most a ``.tmp-*`` folder that is never
loaded. An entry whose files do not match its manifest (a truncated weights file, say) is
treated as absent and rebuilt.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

MANIFEST = "lm_gym_manifest.json"


def cache_root() -> Path:
    """The cache folder: ``$LM_GYM_CACHE``, else ``~/.cache/lm_gym``."""
    return Path(os.environ.get("LM_GYM_CACHE") or Path.home() / ".cache" / "lm_gym")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(folder: Path, metadata: dict) -> None:
    """Record every file of ``folder`` (size and hash) with ``metadata`` in its manifest."""
    files = {
        str(p.relative_to(folder)): {"size": p.stat().st_size, "sha256": _sha256(p)}
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }
    (folder / MANIFEST).write_text(json.dumps({"metadata": metadata, "files": files}, indent=2))


def is_valid_entry(folder: Path) -> bool:
    """True when ``folder`` has a manifest and every file it lists is intact."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        for name, facts in manifest["files"].items():
            path = folder / name
            if path.stat().st_size != facts["size"] or _sha256(path) != facts["sha256"]:
                return False
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return bool(manifest["files"])


def read_metadata(folder: Path) -> dict:
    """The metadata stored in an entry's manifest."""
    return json.loads((folder / MANIFEST).read_text())["metadata"]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_orphaned_builds(entry: Path) -> None:
    """Delete temporary folders of ``entry`` left by builds whose process has died."""
    for tmp in entry.parent.glob(f".tmp-{entry.name}-*"):
        pid = tmp.name[len(f".tmp-{entry.name}-") :].split("-", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)


def get_or_build(entry: Path, build: Callable[[Path], dict]) -> Path:
    """Return ``entry`` if valid; otherwise build it atomically and return it.

    Args:
        entry: the final folder of the cache entry.
        build: writes the entry's files into the (temporary) folder it is given and returns
            metadata for the manifest.
    """
    if is_valid_entry(entry):
        return entry
    entry.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphaned_builds(entry)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{entry.name}-{os.getpid()}-", dir=entry.parent))
    try:
        metadata = build(tmp)
        write_manifest(tmp, metadata)
        if entry.exists():  # invalid (corrupted or half-deleted) entry: replace it
            shutil.rmtree(entry, ignore_errors=True)
        try:
            os.rename(tmp, entry)
        except OSError:
            # Another process finished the same entry first; keep theirs if it is valid.
            if not is_valid_entry(entry):
                raise
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)
    return entry
