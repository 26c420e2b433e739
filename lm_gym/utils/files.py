"""Files and folders lm_gym writes: atomic writes, their temporaries, folders named by a setting.

* **Atomic writes.** Checkpoints, leaderboard results and ablation records are written through
  a temporary file in the target's folder, flushed to disk and renamed over the target, so a
  run killed midway leaves the previous file (or none) behind and a resumed run can trust every
  file it finds.
* **Permissions.** Files are created with mode 0666 and folders with 0777, both reduced by the
  user's umask, as any other program's output. (``tempfile.mkstemp`` / ``mkdtemp`` would make
  them 0600 / 0700: a model cache or a leaderboard folder shared by a group would be unreadable
  to everyone but its writer.)
* **Temporaries.** Work in progress lives in a hidden sibling
  ``.<name>.<pid>@<host>.<token>.tmp`` of its target (a file, or a folder for a cache entry).
  One left by a process that died mid-write is removed the next time its target is written,
  by a process of the same host (a pid means nothing on another machine).
* **Settings.** A folder the user names (``LM_GYM_CACHE``, ``--out``) that cannot be created or
  written is a :class:`LocationError` naming the setting, not a bare ``PermissionError``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from lm_gym.utils.locks import LockTimeout, holder_tag


class LocationError(ValueError):
    """A folder named by a setting (``LM_GYM_CACHE``, ``--out``) cannot be created or written."""


def pid_alive(pid: int) -> bool:
    """True when a process ``pid`` exists on this machine (it may belong to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def temporary_sibling(path: str | os.PathLike) -> Path:
    """A fresh hidden name next to ``path`` for its work in progress (see the module docstring)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{holder_tag()}.{uuid.uuid4().hex[:8]}.tmp")


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete the temporaries of ``path`` whose writer (a process of this host) has died.

    Returns:
        The temporaries removed.
    """
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(\d+)@(.+)\.[0-9a-f]{{8}}\.tmp")
    _, this_host = holder_tag().split("@", 1)
    removed = []
    try:
        siblings = list(os.scandir(path.parent))
    except OSError:
        return removed
    for sibling in siblings:
        match = pattern.fullmatch(sibling.name)
        if match is None or match[2] != this_host or pid_alive(int(match[1])):
            continue
        stale = Path(sibling.path)
        if sibling.is_dir(follow_symlinks=False):
            shutil.rmtree(stale, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                stale.unlink()
        removed.append(stale)
    return removed


@contextlib.contextmanager
def naming_setting(setting: str, folder: str | os.PathLike, what: str) -> Iterator[None]:
    """Turn an ``OSError`` raised in the block into a :class:`LocationError` naming ``setting``.

    Wrap only the steps that create or write the folder itself (making it, locking it, renaming
    into it), so an unrelated error of the work inside is not blamed on the setting.

    Args:
        setting: the option or variable the user set (``"--out"``, ``"LM_GYM_CACHE"``).
        folder: the folder it names.
        what: what the folder is for (``"the model cache"``).
    """
    try:
        yield
    except LockTimeout:
        raise  # the folder is fine: another process holds its lock
    except OSError as error:
        reason = error.strerror or type(error).__name__
        where = f": {error.filename}" if error.filename else ""
        raise LocationError(
            f"cannot use {folder} as {what} ({reason}{where}); set {setting} to a folder you "
            "can write to"
        ) from error


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write(binary_file)`` on a temporary file, then rename it to ``path``.

    The file gets the user's usual permissions (mode 0666 less the umask), and temporaries of
    earlier writers of ``path`` that died are removed first.

    Returns:
        ``path`` as a ``Path``. On any error (or interrupt) the temporary file is removed and
        ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    tmp = temporary_sibling(path)
    handle = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; see :func:`atomic_write`."""
    return atomic_write(path, lambda file: file.write(text.encode("utf-8")))


_UNSAFE = re.compile(r"[^A-Za-z0-9._+=-]")
_MAX_NAME = 200
"""Longest sanitised name kept whole (file systems allow 255 bytes; suffixes are added)."""


def safe_file_name(name: str) -> str:
    """``name`` as one file-name component that stays in the folder it is put in.

    Names from registries (agent names, env ids) may hold ``/``, ``..`` or characters a file
    system refuses. Every character outside ``A-Z a-z 0-9 . _ + = -`` becomes ``_``, a leading
    dot is escaped, and a name that had to change (or is very long) is cut to 200 characters and
    gets an 8-digit hash of the original, so two names never share a file (``a/b`` and ``a_b``
    differ). A name that is already safe is returned as it is.
    """
    safe = _UNSAFE.sub("_", name)
    if not safe or safe.startswith("."):
        safe = "_" + safe
    if safe == name and len(name) <= _MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{safe[:_MAX_NAME]}-{digest}"
