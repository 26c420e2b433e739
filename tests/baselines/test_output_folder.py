"""The leaderboard's output folder: one driver at a time, result files that are checked, agent
names that cannot escape it, run folders that a restarted run empties first."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from lm_gym.agents import registry
from lm_gym.baselines.driver import LOCK_FILE, run_track
from lm_gym.baselines.results import RESULT_FORMAT, ResultFileError, load_results, result_path
from lm_gym.baselines.runner import run_folder
from lm_gym.utils.files import LocationError
from lm_gym.utils.locks import exclusive_lock


@pytest.fixture
def one_run(tiny_track):
    """The tiny track cut to one cheap run: random on Bambino, seed 0."""
    return tiny_track.select(agents=["random"], envs=["Bambino-v0"], num_seeds=1)


@pytest.fixture
def isolated_registry(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


def record_of_another_spec(spec) -> str:
    """A complete result file for ``spec``'s run, made when its budget was one step larger."""
    other = {**spec.to_dict(), "timesteps": spec.timesteps + 1}
    metrics = {"eval/mean_return": 0.5}
    return json.dumps({"format": RESULT_FORMAT, "spec": other, "metrics": metrics, "curves": {}})


@pytest.mark.parametrize(
    "content",
    [
        "RECORD_WITHOUT_METRICS",
        '{"format": "lm_gym.baselines.run/1", "spec": {"env_id": "Bam',  # truncated
        "",
        '["someone else\'s", "json"]',
        "RECORD_OF_ANOTHER_SPEC",  # the track's budget changed since: never overwritten
    ],
)
def test_a_broken_result_file_is_named_before_any_run(one_run, tmp_path, content):
    [spec] = one_run.expand()
    path = result_path(tmp_path, spec)
    path.parent.mkdir(parents=True)
    if content == "RECORD_WITHOUT_METRICS":
        content = json.dumps({"format": RESULT_FORMAT, "spec": spec.to_dict(), "curves": {}})
    if content == "RECORD_OF_ANOTHER_SPEC":
        content = record_of_another_spec(spec)
    path.write_text(content)
    lines: list[str] = []
    with pytest.raises(ResultFileError) as caught:
        run_track(one_run, tmp_path, log=lines.append)
    message = str(caught.value)
    assert str(path) in message and "move it out of" in message
    assert all(line.startswith("planning") for line in lines), "nothing ran"
    assert path.read_text() == content, "the file is left for the user to look at"


def test_every_result_file_of_another_spec_is_named_at_once(tiny_track, tmp_path):
    track = tiny_track.select(agents=["random"], envs=["Bambino-v0"], num_seeds=2)
    paths = []
    for spec in track.expand():  # the track's budget changed since both runs
        paths.append(result_path(tmp_path, spec))
        paths[-1].parent.mkdir(parents=True, exist_ok=True)
        paths[-1].write_text(record_of_another_spec(spec))
    with pytest.raises(ResultFileError, match="2 result files stop the track") as caught:
        run_track(track, tmp_path, log=lambda line: None)
    assert str(paths[0]) in str(caught.value) and paths[1].name in str(caught.value)
    assert "differs in timesteps" in str(caught.value)


def test_a_foreign_json_file_among_the_results_is_named(one_run, tmp_path):
    notes = tmp_path / "results" / "notes.json"
    notes.parent.mkdir(parents=True)
    notes.write_text('{"my": "notes"}')
    with pytest.raises(ResultFileError, match="notes.json is not a complete lm_gym"):
        load_results(tmp_path)


def test_an_output_folder_that_is_a_file_names_the_setting(one_run, tmp_path):
    out = tmp_path / "out"
    out.write_text("a file, not a folder")
    with pytest.raises(LocationError, match=f"cannot use {out} as the leaderboard output folder"):
        run_track(one_run, out, log=lambda line: None)


def test_an_agent_name_cannot_write_outside_the_output_folder(isolated_registry, one_run, tmp_path):
    registry.register_agent("x/../../../ESCAPED", "lm_gym.agents.untrained:RandomAgent")
    out = tmp_path / "a" / "b" / "out"
    track = one_run.select(agents=["x/../../../ESCAPED"])
    outcome = run_track(track, out, log=lambda line: None)
    assert not outcome.failed and len(outcome.ran) == 1
    written = [p for p in tmp_path.rglob("*") if "ESCAPED" in p.name]
    assert written and all(p.is_relative_to(out) for p in written)  # sanitised names, inside


def test_a_registry_name_with_a_slash_becomes_one_result_file(isolated_registry, one_run, tmp_path):
    registry.register_agent("org/random", "lm_gym.agents.untrained:RandomAgent")
    track = one_run.select(agents=["org/random"])
    outcome = run_track(track, tmp_path, log=lambda line: None)
    assert not outcome.failed
    [result] = (tmp_path / "results").iterdir()  # not results/Bambino-v0__org/...
    assert result.is_file() and result.name.startswith("Bambino-v0__org_random__seed0-")
    assert [r["spec"]["agent"] for r in load_results(tmp_path)] == ["org/random"]
    assert "| `org/random` | 1 |" in outcome.leaderboard.read_text()


def test_a_restarted_run_does_not_keep_the_logs_of_the_killed_attempt(one_run, tmp_path):
    [spec] = one_run.expand()
    folder = run_folder(spec, tmp_path / "runs")
    (folder / "tensorboard").mkdir(parents=True)
    (folder / "tensorboard" / "events.out.tfevents.1.killed-attempt").write_bytes(b"stale")
    stale = "time/total_timesteps,rollout/ep_rew_mean\n-999,1.0\n"
    (folder / "progress.csv").write_text(stale)
    run_track(one_run, tmp_path, log=lambda line: None)
    [record] = load_results(tmp_path)
    assert record["run_dir"] == str(folder)  # the folder train_agent wrote, as run_folder says
    stored = json.loads(result_path(tmp_path, spec).read_text())["run_dir"]
    assert stored == folder.relative_to(tmp_path).as_posix()  # the file names no machine path
    events = list((folder / "tensorboard").iterdir())
    assert len(events) == 1 and "killed-attempt" not in events[0].name
    rows = (folder / "progress.csv").read_text().splitlines()
    assert "-999,1.0" not in rows
    assert len(rows) == 1 + len(record["curves"]["rollout/ep_rew_mean"]["timesteps"])


def test_run_dir_is_stored_relative_to_a_relative_out_folder(one_run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # as `lm-gym leaderboard` writes to runs/leaderboard-<track>
    run_track(one_run, "lb", log=lambda line: None)
    [spec] = one_run.expand()
    stored = json.loads(result_path("lb", spec).read_text())["run_dir"]
    assert stored == run_folder(spec, Path("runs")).as_posix()  # not lb/runs/...
    [record] = load_results("lb")
    assert (Path(record["run_dir"]) / "progress.csv").is_file()


def test_a_second_driver_waits_for_the_first_then_skips_its_runs(one_run, tmp_path):
    lines: list[str] = []
    waiting = threading.Event()

    def log(line: str) -> None:
        if not line.startswith("planning"):
            lines.append(line)
        if line.startswith("waiting for"):
            waiting.set()

    run_track(one_run, tmp_path, log=lambda line: None)  # the first driver's work
    outcome = []
    with exclusive_lock(tmp_path / LOCK_FILE, what="the test"):  # a driver still at work
        second = threading.Thread(
            target=lambda: outcome.append(run_track(one_run, tmp_path, log=log))
        )
        second.start()
        assert waiting.wait(timeout=120), "the second driver did not wait for the lock"
        assert not outcome
    second.join()
    assert lines[0] == (
        f"waiting for process {os.getpid()}, which holds the lock on the leaderboard folder "
        f"{tmp_path} ({tmp_path / LOCK_FILE})"
    )
    assert not outcome[0].ran and len(outcome[0].skipped) == 1
    assert not (tmp_path / LOCK_FILE).exists()
