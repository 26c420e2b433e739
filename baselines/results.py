"""Result files of leaderboard runs: one JSON per run, written atomically, read back to resume.

A result file ``<out>/results/<env>__<row>__seed<seed>.json`` holds the run's spec, its
deterministic ``metrics`` and learning ``curves`` (metric -> ``timesteps``, ``value`` and, where
the run logged them, ``words``), and facts about how it ran (wall time, device, lm_gym version,
git revision) kept apart from the numbers that are compared. It is written to a temporary
sibling and renamed into place, so a track killed midway leaves only complete files; rerunning
the track skips every run whose file exists and records the same spec; a file that records
another spec under the run's name (the track's budget or an agent's config changed since) stops
the track before any run, since running it would overwrite that result. Files of the first
format (one ``curve`` of ``rollout/ep_rew_mean``) are read as the current one.

Every ``*.json`` file under ``<out>/results`` must be such a record: a file that is not (edited
by hand, truncated by a full disk, copied from elsewhere) is a :class:`ResultFileError` naming
the file and what to do, raised before any run, rather than a ``KeyError`` when the table is
drawn.
"""

from __future__ import annotations

import json
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

from lm_gym.baselines.tracks import CURVE_METRIC, RunSpec
from lm_gym.corpora.loaders import CorpusError, read_json
from lm_gym.utils.files import atomic_write_text

RESULT_FORMAT = "lm_gym.baselines.run/2"
FIRST_FORMAT = "lm_gym.baselines.run/1"
"""Results of the first format have one ``curve`` (of ``rollout/ep_rew_mean``)."""
RESULTS_DIR = "results"
PRIMARY_METRIC = "eval/mean_return"
"""The score every result holds and the leaderboard ranks by."""


class ResultFileError(ValueError):
    """A file under ``<out>/results`` that is not a complete lm_gym result record."""


def result_path(out_dir: str | Path, spec: RunSpec) -> Path:
    """Where the result of ``spec`` is stored under ``out_dir``."""
    return Path(out_dir) / RESULTS_DIR / f"{spec.name}.json"


def write_result(out_dir: str | Path, spec: RunSpec, outcome: dict[str, Any]) -> Path:
    """Store the ``outcome`` of a run (see :func:`lm_gym.baselines.runner.execute_run`).

    A ``run_dir`` inside ``out_dir`` is stored relative to it (POSIX separators), so a results
    folder names no path of the machine that made it and can be moved or committed;
    :func:`read_result` gives it back as a full path.
    """
    record = {"format": RESULT_FORMAT, "spec": spec.to_dict(), **outcome}
    if record.get("run_dir") is not None:  # absolute, or relative to the working directory
        run_dir = Path(record["run_dir"]).resolve()
        try:
            record["run_dir"] = run_dir.relative_to(Path(out_dir).resolve()).as_posix()
        except ValueError:  # outside out_dir: the full path
            record["run_dir"] = str(run_dir)
    path = result_path(out_dir, spec)
    atomic_write_text(path, json.dumps(record, indent=2, sort_keys=True, allow_nan=False) + "\n")
    return path


def _upgraded(record: Any) -> Any:
    """A record of the first format as the current one (its ``curve`` becomes ``curves``)."""
    if isinstance(record, dict) and record.get("format") == FIRST_FORMAT:
        curve = record.get("curve")
        record = {k: v for k, v in record.items() if k != "curve"}
        record.update(format=RESULT_FORMAT, curves={CURVE_METRIC: curve})
    return record


def _problem(record: Any) -> str | None:
    """What makes ``record`` not a complete result record, or ``None``."""
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not an object"
    if record.get("format") != RESULT_FORMAT:
        return f"its format is {record.get('format')!r}, not {RESULT_FORMAT!r}"
    for key, kind in (("spec", dict), ("metrics", dict), ("curves", dict)):
        if not isinstance(record.get(key), kind):
            return f"no {key!r} object"
    metrics = record["metrics"]
    if PRIMARY_METRIC not in metrics:
        return f"no {PRIMARY_METRIC!r} in its metrics"
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in metrics.values()):
        return "a metric that is not a number"
    for name, curve in record["curves"].items():
        if not isinstance(curve, dict) or not all(
            isinstance(curve.get(k), list) for k in ("timesteps", "value")
        ):
            return f"no 'timesteps' and 'value' lists in its curve {name!r}"
    try:
        RunSpec(**record["spec"])
    except TypeError:
        return "its 'spec' is not a run spec"
    return None


def read_result(path: Path) -> dict[str, Any] | None:
    """The record in ``path``, or ``None`` when there is no such file.

    Raises:
        ResultFileError: the file exists but is not a complete result record (not JSON, another
            format, no ``metrics`` ...); the message names it and says what to do.
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        record = _upgraded(read_json(path, argument="result file"))
        problem = _problem(record)
    except (CorpusError, OSError) as error:
        problem = str(error).removeprefix(f"{path}: ")
    if problem is not None:
        raise ResultFileError(
            f"{path} is not a complete lm_gym leaderboard result ({problem}): move it out of "
            f"{path.parent} (or delete it) and run the track again; its run will be rerun"
        )
    run_dir = record.get("run_dir")
    if isinstance(run_dir, str) and not Path(run_dir).is_absolute():  # relative to the out folder
        record["run_dir"] = str(path.parent.parent / run_dir)
    return record


def finished_result(out_dir: str | Path, spec: RunSpec) -> dict[str, Any] | None:
    """The stored result of ``spec``, or ``None`` when its run has no result file yet.

    The spec is compared after a JSON round trip, so tuples and lists compare equal.

    Raises:
        ResultFileError: the run's result file exists but is not a complete record, or holds a
            run of another spec under the same name (a track whose budget or agent config
            changed since): running it again would overwrite that result, which lm_gym never
            does; the message names the file and the fields that differ.
    """
    path = result_path(out_dir, spec)
    record = read_result(path)
    if record is None:
        return None
    wanted = json.loads(json.dumps(spec.to_dict()))
    if record.get("spec") != wanted:
        changed = ", ".join(_differences(record.get("spec"), wanted)) or "spec"
        raise ResultFileError(
            f"{path} holds a run of {spec.name} with another spec than the track's now "
            f"(differs in {changed}): lm_gym does not overwrite results; move it out of "
            f"{path.parent} (or choose another --out) to run the track's version"
        )
    return record


_MISSING = object()
"""Stands for a key one of two compared specs lacks."""


def _differences(stored: Any, wanted: Any, prefix: str = "") -> list[str]:
    """The dotted keys where two JSON values differ (``agent_kwargs.learning_rate``)."""
    if isinstance(stored, dict) and isinstance(wanted, dict):
        return [
            difference
            for key in sorted(set(stored) | set(wanted))
            for difference in _differences(
                stored.get(key, _MISSING), wanted.get(key, _MISSING), f"{prefix}{key}."
            )
        ]
    return [] if stored == wanted else [prefix.rstrip(".")]


def load_results(out_dir: str | Path) -> list[dict[str, Any]]:
    """Every result record under ``out_dir``, in file-name order.

    Raises:
        ResultFileError: naming the first ``*.json`` file that is not a complete record.
    """
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
