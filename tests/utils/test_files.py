"""Atomic writes: the target is the old file or the complete new one, never a torn one."""

from __future__ import annotations

import pytest

from lm_gym.utils.files import atomic_write, atomic_write_text


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
