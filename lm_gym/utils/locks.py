"""A lock between processes, so one at a time builds a cache entry or writes a leaderboard folder.

:func:`exclusive_lock` takes an exclusive ``fcntl.flock`` on a lock file. The kernel releases
the lock when its holder ends, however it ends (``SIGKILL`` included), so a lock file left
behind by a dead process holds nothing: the next process simply takes it over, with no pid
guessing. The holder writes ``<pid>@<host>`` into the file only so that a process that has to
wait can say whom it waits for.

The file is deleted on release. A process that opened it just before that deletion may then
lock the deleted file; it notices that the path no longer names the file it locked, and tries
again, so two processes never both believe they hold the lock.

``flock`` works between processes of one machine and, on Linux, over NFS (emulated with POSIX
locks); it is not available on Windows, where lm_gym does not run its caches shared.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path


class LockTimeout(TimeoutError):
    """The lock stayed held by another process for longer than the caller would wait."""


def holder_tag() -> str:
    """``<pid>@<host>`` of this process: what a lock file and a temporary name record."""
    return f"{os.getpid()}@{socket.gethostname()}"


def lock_holder(path: str | os.PathLike) -> str:
    """Who holds (or last held) the lock file ``path``, as ``"process <pid> on <host>"``."""
    try:
        tag = Path(path).read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        tag = ""
    pid, _, host = tag.partition("@")
    if not pid.isdigit():
        return "another process"
    return f"process {pid}" + (f" on {host}" if host and host != socket.gethostname() else "")


def _try_lock(path: Path) -> int | None:
    """An open descriptor of ``path`` holding its lock, or ``None`` when another process has it."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # we locked a file its holder deleted on release: lock the new one


@contextlib.contextmanager
def exclusive_lock(
    path: str | os.PathLike,
    *,
    what: str,
    timeout: float | None = None,
    poll_seconds: float = 0.2,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[Path]:
    """Hold the lock file ``path`` for the ``with`` block, waiting while another process has it.

    Args:
        path: the lock file (created if missing, deleted on release).
        what: what the lock protects, for messages (``"the leaderboard folder runs/lb"``).
        timeout: give up after this many seconds (``0``: do not wait; ``None``: wait forever).
        poll_seconds: how often a waiting process tries again.
        on_wait: called once with a line saying who holds the lock, when the caller must wait.

    Yields:
        ``path``, as a ``Path``.

    Raises:
        LockTimeout: ``timeout`` passed; the message names the holder's process.
        OSError: the lock file cannot be created (a read-only folder, say).
    """
    path = Path(path)
    deadline = None if timeout is None else time.monotonic() + timeout
    fd = _try_lock(path)
    if fd is None and on_wait is not None and timeout != 0:
        on_wait(f"waiting for {lock_holder(path)}, which holds the lock on {what} ({path})")
    while fd is None:
        if deadline is not None and time.monotonic() >= deadline:
            raise LockTimeout(
                f"{what} is locked by {lock_holder(path)} (lock file {path}); wait for it to "
                "finish, or stop it"
            )
        time.sleep(poll_seconds)
        fd = _try_lock(path)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{holder_tag()}\n".encode())
        yield path
    finally:
        with contextlib.suppress(OSError):
            path.unlink()  # while still locked: a waiter that opened it retries on the new file
        os.close(fd)
