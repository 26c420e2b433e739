"""The model cache: atomic entries, integrity checks, rebuild of corrupted entries."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lm_gym.utils.cache import MANIFEST, get_or_build, is_valid_entry, read_metadata


def _write_files(folder: Path) -> dict:
    (folder / "model.safetensors").write_bytes(b"\x01" * 4096)
    (folder / "config.json").write_text("{}")
    return {"built": True}


def test_entry_is_built_once_and_then_reused(tmp_path):
    calls = []

    def build(folder: Path) -> dict:
        calls.append(folder)
        return _write_files(folder)

    entry = tmp_path / "models" / "x-123"
    assert get_or_build(entry, build) == entry
    assert get_or_build(entry, build) == entry
    assert len(calls) == 1
    assert is_valid_entry(entry)
    assert read_metadata(entry) == {"built": True}
    assert not [p for p in entry.parent.iterdir() if p.name.startswith(".tmp-")]


def test_truncated_weights_are_detected_and_rebuilt(tmp_path):
    entry = tmp_path / "models" / "x-123"
    get_or_build(entry, _write_files)
    weights = entry / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    assert not is_valid_entry(entry)
    get_or_build(entry, _write_files)
    assert is_valid_entry(entry)
    assert weights.stat().st_size == 4096


def test_failed_build_leaves_nothing_behind(tmp_path):
    entry = tmp_path / "models" / "x-123"

    def broken(folder: Path) -> dict:
        _write_files(folder)
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        get_or_build(entry, broken)
    assert not entry.exists()
    assert list(entry.parent.iterdir()) == []


def test_entry_without_manifest_is_invalid(tmp_path):
    _write_files(tmp_path)
    assert not is_valid_entry(tmp_path)
    (tmp_path / MANIFEST).write_text("not json")
    assert not is_valid_entry(tmp_path)


def test_killed_recipe_build_leaves_no_valid_entry(tmp_path, monkeypatch):
    """SIGKILL during first-use training: no entry loads as valid, and the next build works."""
    env = {**os.environ, "LM_GYM_CACHE": str(tmp_path)}
    code = (
        "from lm_gym.models.building import build_recipe; "
        "build_recipe('baby-en-micro', progress=False)"
    )
    process = subprocess.Popen([sys.executable, "-c", code], env=env)
    models = tmp_path / "models"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if models.is_dir() and any(p.name.startswith(".tmp-") for p in models.iterdir()):
            break
        time.sleep(0.02)
    assert process.poll() is None, "the build finished before it could be interrupted"
    process.send_signal(signal.SIGKILL)
    process.wait()
    entries = [p for p in models.iterdir() if not p.name.startswith(".tmp-")]
    assert entries == []

    from lm_gym.models.building import build_recipe

    monkeypatch.setenv("LM_GYM_CACHE", str(tmp_path))
    built = build_recipe("baby-en-micro", progress=False)
    assert is_valid_entry(built)
    assert [p.name for p in models.iterdir()] == [built.name], "the dead build's folder is gone"
