"""The model cache: atomic entries, integrity checks, rebuild of corrupted entries, a lock
on an entry being built, permissions, errors that name LM_GYM_CACHE."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lm_gym.utils.cache import MANIFEST, get_or_build, is_valid_entry, read_metadata
from lm_gym.utils.files import LocationError


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
    assert [p.name for p in entry.parent.iterdir()] == [entry.name]  # no temporary, no lock


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
        if models.is_dir() and any(p.name.endswith(".tmp") for p in models.iterdir()):
            break
        time.sleep(0.02)
    assert process.poll() is None, "the build finished before it could be interrupted"
    process.send_signal(signal.SIGKILL)
    process.wait()
    entries = [p for p in models.iterdir() if not p.name.startswith(".")]  # not temp or lock
    assert entries == []

    from lm_gym.models.building import build_recipe

    monkeypatch.setenv("LM_GYM_CACHE", str(tmp_path))
    built = build_recipe("baby-en-micro", progress=False)
    assert is_valid_entry(built)
    assert [p.name for p in models.iterdir()] == [built.name], "the dead build's folder is gone"


@pytest.mark.parametrize(
    "manifest",
    [
        {"metadata": {}, "files": ["model.safetensors", "config.json"]},  # files as a list
        {"metadata": {}, "files": {"config.json": 2}},
        {"metadata": {}, "files": {"../outside": {"size": 2, "sha256": "0" * 64}}},
        {"files": {}},
        ["not", "an", "object"],
    ],
)
def test_a_malformed_manifest_is_an_invalid_entry_that_is_rebuilt(tmp_path, manifest):
    entry = tmp_path / "models" / "x-123"
    get_or_build(entry, _write_files)
    (entry / MANIFEST).write_text(json.dumps(manifest))
    assert not is_valid_entry(entry)
    with pytest.raises(ValueError, match="not a valid lm_gym cache entry"):
        read_metadata(entry)
    assert get_or_build(entry, _write_files) == entry
    assert is_valid_entry(entry) and read_metadata(entry) == {"built": True}


@pytest.mark.parametrize("kind", ["file", "symlink loop", "dangling symlink", "empty folder"])
def test_an_entry_path_that_is_not_an_entry_is_replaced_in_one_build(tmp_path, kind):
    entry = tmp_path / "models" / "x-123"
    entry.parent.mkdir(parents=True)
    if kind == "file":
        entry.write_text("not a folder")
    elif kind == "symlink loop":
        entry.symlink_to(entry)
    elif kind == "dangling symlink":
        entry.symlink_to(tmp_path / "nowhere")
    else:
        entry.mkdir()
    calls = []

    def build(folder: Path) -> dict:
        calls.append(folder)
        return _write_files(folder)

    assert get_or_build(entry, build) == entry
    assert get_or_build(entry, build) == entry
    assert len(calls) == 1 and entry.is_dir() and not entry.is_symlink()
    assert is_valid_entry(entry)
    assert [p.name for p in entry.parent.iterdir()] == [entry.name]


BUILD_SLOWLY = """
import os, sys, time
from pathlib import Path
from lm_gym.utils.cache import get_or_build
entry, log, go = map(Path, sys.argv[1:4])

def build(folder):
    with log.open("a") as file:
        file.write(f"{os.getpid()}\\n")
    while not go.exists():  # the test says when the build may finish
        time.sleep(0.02)
    (folder / "model.safetensors").write_bytes(b"\\x01" * 4096)
    return {"builder": os.getpid()}

print(get_or_build(entry, build), flush=True)
"""


def _lines_of(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def test_two_processes_building_one_entry_train_it_once(tmp_path):
    """The second process waits for the first one's build and uses its entry."""
    entry, log, go = tmp_path / "models" / "x-123", tmp_path / "builds.log", tmp_path / "go"
    args = [sys.executable, "-c", BUILD_SLOWLY, str(entry), str(log), str(go)]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    first = subprocess.Popen(args, **pipes)
    deadline = time.monotonic() + 120
    while not _lines_of(log) and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    second = subprocess.Popen(args, **pipes)
    waiting: list[str] = []
    reader = threading.Thread(target=lambda: waiting.extend(second.stderr), daemon=True)
    reader.start()
    # Until the second process either waits for the lock or starts a build of its own.
    while not waiting and len(_lines_of(log)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    go.touch()
    outputs = [process.communicate(timeout=120)[0].strip() for process in (first, second)]
    reader.join(timeout=10)
    assert _lines_of(log) == [str(first.pid)], "the model was trained once, by the first"
    assert outputs == [str(entry), str(entry)]
    assert is_valid_entry(entry) and read_metadata(entry) == {"builder": first.pid}
    assert f"waiting for process {first.pid}" in "".join(waiting)


def test_the_lock_of_a_killed_build_is_taken_over(tmp_path):
    entry, log, go = tmp_path / "models" / "x-123", tmp_path / "builds.log", tmp_path / "go"
    killed = subprocess.Popen([sys.executable, "-c", BUILD_SLOWLY, str(entry), str(log), str(go)])
    deadline = time.monotonic() + 120
    while not _lines_of(log) and time.monotonic() < deadline:
        time.sleep(0.02)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert (entry.parent / f".{entry.name}.lock").exists()  # left behind by the dead build
    built: list[Path] = []
    worker = threading.Thread(target=lambda: built.append(get_or_build(entry, _write_files)))
    worker.start()
    worker.join(timeout=120)  # a hang (waiting for the dead process) would fail here
    assert built == [entry] and is_valid_entry(entry)
    assert [p.name for p in entry.parent.iterdir()] == [entry.name], "stale lock and temp gone"


def test_entries_are_created_with_the_users_umask(tmp_path):
    previous = os.umask(0o002)  # a group-shared cache
    try:
        entry = get_or_build(tmp_path / "models" / "x-123", _write_files)
    finally:
        os.umask(previous)
    assert entry.stat().st_mode & 0o777 == 0o775
    assert (entry / MANIFEST).stat().st_mode & 0o777 == 0o664


def test_a_cache_path_that_is_a_file_names_lm_gym_cache(tmp_path):
    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("")
    with pytest.raises(
        LocationError,
        match=f"cannot use {not_a_folder} as the model cache.*"
        "set LM_GYM_CACHE to a folder you can write to",
    ):
        get_or_build(not_a_folder / "models" / "x-123", _write_files)


def test_a_read_only_cache_with_valid_entries_is_used_as_it_is(tmp_path, make_read_only):
    entry = get_or_build(tmp_path / "models" / "x-123", _write_files)
    make_read_only(entry.parent)  # a cache shared read-only: no lock, no temporary needed

    def must_not_build(folder: Path) -> dict:
        raise AssertionError("a valid entry was rebuilt")

    assert get_or_build(entry, must_not_build) == entry
    with pytest.raises(LocationError, match="set LM_GYM_CACHE to a folder you can write to"):
        get_or_build(tmp_path / "models" / "y-456", _write_files)  # a new entry needs writing
