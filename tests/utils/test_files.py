"""Atomic writes: the target is the old file or the complete new one, never a torn one; files
get the user's umask; a killed writer's temporary is cleaned up; registry names become safe
file names."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lm_gym.utils.files import (
    atomic_write,
    atomic_write_text,
    remove_stale_temporaries,
    safe_file_name,
    temporary_sibling,
)


def test_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "sub" / "result.json"
    atomic_write_text(path, "first")
    assert atomic_write_text(path, "second é") == path
    assert path.read_text(encoding="utf-8") == "second é"
    assert sorted(p.name for p in path.parent.iterdir()) == ["result.json"]


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "checkpoint.pt"
    atomic_write_text(path, "old")

    def half_then_fail(file):
        file.write(b"half")
        raise KeyboardInterrupt  # as a kill in the middle of a write

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, half_then_fail)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_written_files_get_the_users_umask(tmp_path):
    previous = os.umask(0o002)  # a leaderboard folder shared by a group
    try:
        path = atomic_write_text(tmp_path / "results" / "run.json", "{}")
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == 0o664
    assert path.parent.stat().st_mode & 0o777 == 0o775


DIE_WRITING = """
import os, sys
from lm_gym.utils.files import atomic_write

def write(file):
    file.write(b"half")
    file.flush()
    os._exit(9)  # killed in the middle of the write: no clean-up runs

atomic_write(sys.argv[1], write)
"""


def test_the_temporary_of_a_killed_writer_is_removed_by_the_next_write(tmp_path):
    path = tmp_path / "checkpoint.pt"
    assert subprocess.run([sys.executable, "-c", DIE_WRITING, str(path)]).returncode == 9
    [stale] = [p for p in tmp_path.iterdir()]
    assert stale.name.startswith(".checkpoint.pt.") and stale.name.endswith(".tmp")
    live = temporary_sibling(path)  # a temporary of a writer that is still running (this one)
    live.write_text("")
    atomic_write_text(path, "complete")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["checkpoint.pt", live.name])
    assert remove_stale_temporaries(path) == []  # this process is alive: its file is kept


@pytest.mark.parametrize(
    "name", ["x/../../../ESCAPED", "..", "a/b", "a\\b", "", "agent with spaces", "x" * 300]
)
def test_safe_file_names_stay_in_their_folder_and_do_not_collide(tmp_path, name):
    safe = safe_file_name(name)
    assert safe and "/" not in safe and "\\" not in safe and not safe.startswith(".")
    assert len(safe) <= 210
    assert (tmp_path / safe).resolve().parent == tmp_path.resolve()
    assert safe != safe_file_name(name + "_")  # distinct names, distinct files


def test_safe_names_are_left_as_they_are():
    assert safe_file_name("Bambino-v0__ppo__seed0") == "Bambino-v0__ppo__seed0"
    assert safe_file_name("a/b") != safe_file_name("a_b")
