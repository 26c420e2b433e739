"""The lock between processes: exclusive, says who holds it, taken over from a dead holder."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading

import pytest

from lm_gym.utils.locks import LockTimeout, exclusive_lock

HOLD = """
import sys
from lm_gym.utils.locks import exclusive_lock
with exclusive_lock(sys.argv[1], what="the test folder"):
    print("locked", flush=True)
    sys.stdin.read()  # hold the lock until the test closes stdin (or kills this process)
"""


def _take(path, what: str) -> None:
    """Take the lock without waiting, and release it."""
    with exclusive_lock(path, what=what, timeout=0):
        pass


@pytest.fixture
def holder(tmp_path):
    """Start a process holding the lock ``tmp_path/x.lock``; yields ``(process, lock path)``."""
    path = tmp_path / "x.lock"
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "locked"
    yield process, path
    if process.poll() is None:
        process.kill()
    process.wait()


def test_a_held_lock_names_its_holder(holder):
    process, path = holder
    with pytest.raises(LockTimeout, match=rf"the test folder is locked by process {process.pid}"):
        _take(path, "the test folder")


def test_the_lock_of_a_killed_process_is_taken_over(holder):
    process, path = holder
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert path.exists()  # the dead holder could not clean up; its lock file is stale
    with exclusive_lock(path, what="the test folder", timeout=0) as locked:
        assert locked == path
    assert not path.exists()  # released: the lock file is gone


def test_a_waiter_gets_the_lock_when_the_holder_releases_it(holder):
    process, path = holder
    lines: list[str] = []
    waiting = threading.Event()

    def note(line: str) -> None:
        lines.append(line)
        waiting.set()

    def release_when_waited_for() -> None:
        waiting.wait()
        process.stdin.close()  # the holder leaves its ``with`` block

    releaser = threading.Thread(target=release_when_waited_for)
    releaser.start()
    with exclusive_lock(path, what="the test folder", on_wait=note, poll_seconds=0.05):
        assert process.wait() == 0
    releaser.join()
    assert lines == [
        f"waiting for process {process.pid}, which holds the lock on the test folder ({path})"
    ]


def test_two_holders_in_one_process_exclude_each_other(tmp_path):
    path = tmp_path / "y.lock"
    with exclusive_lock(path, what="y"), pytest.raises(LockTimeout):
        _take(path, "y")
    _take(path, "y")
