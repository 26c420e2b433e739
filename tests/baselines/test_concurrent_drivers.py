"""Kill tests of the leaderboard driver, with real processes: two drivers into one folder run
each run once with intact logs; a killed or interrupted pool driver leaves no worker behind,
and the next driver takes over its lock and starts the unfinished runs from clean folders.

Slow (spawned drivers and workers import torch and transformers: 30-60 s each); run them with
``pytest -m slow tests/baselines/test_concurrent_drivers.py``.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lm_gym.baselines.driver import LOCK_FILE, run_track
from lm_gym.baselines.results import load_results
from lm_gym.baselines.runner import run_folder
from lm_gym.baselines.tracks import RunSpec

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc"),
]

DRIVER = """
import dataclasses, sys
sys.path.insert(0, sys.argv[1])
from conftest import make_tiny_track  # tests/baselines/conftest.py
from lm_gym.baselines.driver import run_track

out, workers, timesteps, agents = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:]
track = make_tiny_track().select(agents=agents, envs=["Bambino-v0"])
if timesteps:
    setting = track.envs["Bambino-v0"]
    track.envs["Bambino-v0"] = dataclasses.replace(setting, timesteps=timesteps)
run_track(track, out, workers=workers, log=lambda line: print(line, flush=True))
"""

BASELINES_TESTS = str(Path(__file__).parent)


def _driver(
    out: Path, *, workers: int = 1, timesteps: int = 0, agents=("random", "ppo"), output=None
) -> subprocess.Popen:
    """Start a driver process on the tiny track's Bambino runs (its log on ``output``)."""
    command = [sys.executable, "-c", DRIVER, BASELINES_TESTS, str(out), str(workers)]
    return subprocess.Popen(
        [*command, str(timesteps), *agents],
        stdout=subprocess.PIPE if output is None else output,
        text=True,
    )


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie nobody reaped counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _workers_of(driver: int) -> list[int]:
    """The spawned pool workers of process ``driver``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int(Path(entry, "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = Path(entry, "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if parent == driver and b"spawn_main" in command:
            found.append(int(entry.name))
    return found


def _wait_until(condition, seconds: float = 240) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _ran(output: str) -> list[str]:
    """Names of the runs a driver's log says it finished (``[k/n] <name>: ...``)."""
    return [line.split("] ", 1)[1].split(":", 1)[0] for line in output.splitlines() if "] " in line]


def _names(out: Path) -> list[str]:
    """The names of the runs with a result under ``out``."""
    return [RunSpec(**r["spec"]).name for r in load_results(out)]


def _check_logs(out: Path) -> None:
    """Every run's progress.csv is its own, whole and in order; one TensorBoard file a run."""
    for record in load_results(out):
        folder = Path(record["run_dir"])
        with (folder / "progress.csv").open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        steps = [float(row["time/total_timesteps"]) for row in rows]
        curve = record["curves"]["rollout/ep_rew_mean"]
        assert steps == curve["timesteps"], f"{folder}: rows of another attempt"
        assert steps == sorted(set(steps))
        assert len(list((folder / "tensorboard").iterdir())) == 1


def test_two_leaderboards_into_one_folder_run_each_run_once(tmp_path):
    first = _driver(tmp_path)
    second = _driver(tmp_path)
    outputs = [process.communicate(timeout=600)[0] for process in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs
    ran = [_ran(output) for output in outputs]
    assert sorted(ran[0] + ran[1]) == sorted(_names(tmp_path)), ran
    assert not set(ran[0]) & set(ran[1]), "a run ran in both drivers"
    assert sum("waiting for process" in output for output in outputs) == 1  # one waited
    assert len(load_results(tmp_path)) == 4
    _check_logs(tmp_path)
    assert not (tmp_path / LOCK_FILE).exists()


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT], ids=["killed", "interrupted"])
def test_a_stopped_pool_driver_leaves_no_worker_and_the_next_driver_takes_over(
    tmp_path, tiny_track, stop
):
    # Runs too long to finish during the test: only a dead worker stops writing their logs.
    log = (tmp_path / "driver.log").open("w")  # not a pipe: orphaned workers would hold it
    driver = _driver(tmp_path, workers=2, timesteps=10**9, agents=("random",), output=log)
    workers: list[int] = []
    try:
        runs = tmp_path / "runs"
        started = _wait_until(lambda: runs.is_dir() and len(list(runs.iterdir())) == 2)
        assert started, "the workers did not start their runs"
        workers = _workers_of(driver.pid)
        assert len(workers) == 2
        driver.send_signal(stop)
        try:
            driver.wait(timeout=120)
        except subprocess.TimeoutExpired:
            pytest.fail("the interrupted driver waits for its workers' runs instead of ending")
        assert _wait_until(lambda: not any(_alive(pid) for pid in workers), 60), "orphans left"
        assert (tmp_path / LOCK_FILE).exists() == (stop == signal.SIGKILL)  # a stale lock
    finally:
        for pid in [driver.pid, *workers]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        driver.wait()
        log.close()
    # The next driver (short runs, same run names) takes over the folder and its run folders.
    track = tiny_track.select(agents=["random"], envs=["Bambino-v0"])
    outcome = run_track(track, tmp_path, log=lambda line: None)
    assert len(outcome.ran) == 2 and not outcome.failed
    for spec in outcome.ran:
        assert run_folder(spec, tmp_path / "runs").is_dir()
    _check_logs(tmp_path)
