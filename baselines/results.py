"""Result files of leaderboard runs: one JSON per run, written atomically, read back to resume.

A result file ``<out>/results/<env>__<agent>__seed<seed>.json`` holds the run's spec, its
deterministic ``metrics`` and learning ``curve``, and facts about how it ran (wall time,
device, lm_gym version, git revision) kept apart from the numbers that are compared. It is
written to a temporary sibling and renamed into place, so a track killed midway leaves only
complete files; rerunning the track skips every run whose file exists and records the same spec.
"""

from __future__ import annotations

import json
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

from lm_gym.baselines.tracks import RunSpec
from lm_gym.utils.files import atomic_write_text

RESULT_FORMAT = "lm_gym.baselines.run/1"
RESULTS_DIR = "results"


def result_path(out_dir: str | Path, spec: RunSpec) -> Path:
    """Where the result of ``spec`` is stored under ``out_dir``."""
    return Path(out_dir) / RESULTS_DIR / f"{spec.name}.json"


def write_result(out_dir: str | Path, spec: RunSpec, outcome: dict[str, Any]) -> Path:
    """Store the ``outcome`` of a run (see :func:`lm_gym.baselines.runner.execute_run`)."""
    record = {"format": RESULT_FORMAT, "spec": spec.to_dict(), **outcome}
    path = result_path(out_dir, spec)
    atomic_write_text(path, json.dumps(record, indent=2, sort_keys=True, allow_nan=False) + "\n")
    return path


def read_result(path: Path) -> dict[str, Any] | None:
    """The record in ``path``, or ``None`` when it is missing or not a complete result file."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("format") != RESULT_FORMAT:
        return None
    return record


def finished_result(out_dir: str | Path, spec: RunSpec) -> dict[str, Any] | None:
    """The stored result of ``spec`` if one exists for exactly this spec, else ``None``.

    The spec is compared after a JSON round trip, so tuples and lists compare equal.
    """
    record = read_result(result_path(out_dir, spec))
    if record is None:
        return None
    return record if record.get("spec") == json.loads(json.dumps(spec.to_dict())) else None


def load_results(out_dir: str | Path) -> list[dict[str, Any]]:
    """Every complete result record under ``out_dir``, in file-name order."""
    folder = Path(out_dir) / RESULTS_DIR
    records = (read_result(p) for p in sorted(folder.glob("*.json")))
    return [r for r in records if r is not None]


@lru_cache(maxsize=1)
def git_revision() -> str | None:
    """The commit lm_gym was loaded from (``+dirty`` with local changes), if it is a checkout."""
    source = Path(__file__).resolve().parent
    try:
        revision = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True, timeout=10
        )
        if revision.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=source,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    dirty = "+dirty" if status.returncode == 0 and status.stdout.strip() else ""
    return revision.stdout.strip() + dirty
