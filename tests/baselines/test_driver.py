"""Running a track: result files, the table, curves, refused pairs, determinism, resuming."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from lm_gym.baselines.driver import plan_runs, run_track
from lm_gym.baselines.normalisation import track_anchors
from lm_gym.baselines.results import RESULTS_DIR, ResultFileError, load_results, result_path

SUPPORTED = {
    ("Bambino-v0", "random"),
    ("Bambino-v0", "ppo"),
    ("TeacherDomains-v0", "random"),
    ("TeacherDomains-v0", "oracle-teacher"),
}


def test_a_serial_run_writes_one_result_per_supported_run(serial_run, tiny_track):
    out_dir, outcome = serial_run
    assert set(outcome.unsupported) == {
        ("Bambino-v0", "oracle-teacher"),
        ("TeacherDomains-v0", "ppo"),
    }
    assert "Discrete" in outcome.unsupported[("TeacherDomains-v0", "ppo")]
    assert not outcome.failed and not outcome.skipped
    records = load_results(out_dir)
    assert {(r["spec"]["env_id"], r["spec"]["agent"], r["spec"]["seed"]) for r in records} == {
        (env, agent, seed) for env, agent in SUPPORTED for seed in (0, 1)
    }
    for record in records:
        assert record["device"] == "cpu" and record["lm_gym_version"]
        assert record["wall_seconds"] > 0 and "wall_seconds" not in record["metrics"]
        assert all(math.isfinite(v) for v in record["metrics"].values())
        assert record["metrics"]["train/num_timesteps"] >= record["spec"]["timesteps"]
        curve = record["curves"]["rollout/ep_rew_mean"]
        assert len(curve["timesteps"]) == len(curve["value"]) > 0
        assert (out_dir / "runs" / f"{result_path(out_dir, _spec(record)).stem}").is_dir()
    teacher = [r for r in records if r["spec"]["env_id"] == "TeacherDomains-v0"]
    oracle = [r["metrics"]["eval/exam_type_fraction"] for r in teacher if "oracle" in str(r)]
    assert oracle == [1.0, 1.0]  # the oracle teacher only picks exam-type sentences


def _spec(record):
    from lm_gym.baselines.tracks import RunSpec

    return RunSpec(**record["spec"])


def test_the_leaderboard_table_and_curves(serial_run):
    out_dir, outcome = serial_run
    text = outcome.leaderboard.read_text()
    assert outcome.leaderboard == out_dir / "LEADERBOARD.md"
    assert "## Protocol" in text and "seeds: [0, 1]" in text and "baby-en-micro" in text
    assert "- `ppo` on `TeacherDomains-v0`: TypeError: PPO acts token by token" in text
    for env_id in ("Bambino-v0", "TeacherDomains-v0"):
        assert f"### {env_id}" in text
        assert (out_dir / "curves" / f"{env_id}.png").read_bytes()[:4] == b"\x89PNG"
    summary, results = text.split("## Summary")[1].split("## Results")
    assert "| `Bambino-v0` |" in summary and " n/a |" in summary  # oracle-teacher refused
    rows = [line for line in results.splitlines() if line.startswith("| `")]
    assert len(rows) == len(SUPPORTED) and all("| 2 |" in row for row in rows)
    bambino = text.split("### Bambino-v0")[1].split("###")[0]
    assert "eval/ppl" in bambino and " ± " in bambino


def test_the_report_has_normalised_scores_intervals_and_improvement(serial_run, tiny_track):
    out_dir, outcome = serial_run
    text = outcome.leaderboard.read_text()
    anchors = json.loads((out_dir / "normalisation" / "TeacherDomains-v0.json").read_text())
    assert anchors["reference_kind"] == "oracle-teacher"
    assert anchors["reference"] > anchors["random"]
    normalised = text.split("## Normalised scores")[1].split("## Across envs")[0]
    anchors_table, scores_table = normalised.split("| env | `random` |")
    assert "| true continuations (reward audit) |" in anchors_table  # Bambino's reference
    assert "| `TeacherDomains-v0` | " in scores_table and " [" in scores_table
    across = text.split("## Across envs and seeds (rliable)")[1].split("## Probability")[0]
    oracle = next(line for line in across.splitlines() if line.startswith("| `oracle-teacher`"))
    assert oracle.startswith("| `oracle-teacher` | 1 | 2 | ")  # 1 env x 2 seeds
    assert oracle.count("[") == 2  # IQM and mean, each with its interval
    improvement = text.split("## Probability of improvement")[1].split("## Results")[0]
    assert "| `random` | `ppo` | 1 | " in improvement
    assert "| `random` | `oracle-teacher` | 1 | " in improvement
    assert (out_dir / "figures" / "profiles.png").read_bytes()[:4] == b"\x89PNG"
    # The anchors are cached: a second pass computes nothing.
    logs: list[str] = []
    assert set(track_anchors(tiny_track, out_dir, log=logs.append)) == set(tiny_track.envs)
    assert logs == []
    # Anchors computed by other code are kept, with a warning naming their revision.
    path = next((out_dir / "normalisation").iterdir())
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "git_revision": "f" * 40}))
    assert set(track_anchors(tiny_track, out_dir, log=logs.append)) == set(tiny_track.envs)
    assert len(logs) == 1 and "f" * 40 in logs[0] and logs[0].startswith("warning: ")


def test_the_same_track_twice_gives_identical_numbers(
    serial_run, tiny_track, tmp_path, compared_numbers
):
    # The teacher env's runs (the pool test below repeats the text env's).
    run_track(tiny_track.select(envs=["TeacherDomains-v0"]), tmp_path, log=lambda line: None)
    serial = compared_numbers(serial_run[0])
    assert compared_numbers(tmp_path) == {k: v for k, v in serial.items() if "Teacher" in k}


def test_a_killed_track_keeps_its_results_and_resumes(
    serial_run, tiny_track, tmp_path, compared_numbers
):
    track = tiny_track.select(envs=["Bambino-v0"])  # 4 runs
    finished = []

    def stop_after_three(line: str) -> None:
        if line.startswith("["):
            finished.append(line)
            if len(finished) == 3:
                raise KeyboardInterrupt  # as if the process were killed here

    with pytest.raises(KeyboardInterrupt):
        run_track(track, tmp_path, log=stop_after_three)
    kept = {p.name: p.read_bytes() for p in (tmp_path / RESULTS_DIR).iterdir()}
    assert len(kept) == 3 and not any(name.endswith(".tmp") for name in kept)
    # A file of another spec (changed budget) is never overwritten: the track stops before any
    # run, naming it; moved away by the user, its run is run again.
    stale = sorted(kept)[0]
    record = json.loads(kept[stale])
    record["spec"]["timesteps"] += 1
    (tmp_path / RESULTS_DIR / stale).write_text(json.dumps(record))
    with pytest.raises(ResultFileError, match=rf"{stale} holds a run .*\(differs in timesteps\)"):
        run_track(track, tmp_path, log=lambda line: None)
    assert json.loads((tmp_path / RESULTS_DIR / stale).read_text()) == record
    (tmp_path / RESULTS_DIR / stale).rename(tmp_path / stale)
    # A kept result made by other code is reused, and both the log and the report say so.
    other = sorted(kept)[1]
    record = json.loads(kept[other])
    record["git_revision"] = "0" * 40
    kept[other] = json.dumps(record).encode()
    (tmp_path / RESULTS_DIR / other).write_bytes(kept[other])

    lines = []
    outcome = run_track(track, tmp_path, log=lines.append)
    assert len(outcome.skipped) == 2 and len(outcome.ran) == 2
    assert "2 already done" in next(line for line in lines if line.startswith("track "))
    assert any(line.startswith("warning: ") and "0" * 40 in line for line in lines)
    assert "results from 2 code versions" in (tmp_path / "LEADERBOARD.md").read_text()
    for name, content in kept.items():
        if name != stale:
            assert (tmp_path / RESULTS_DIR / name).read_bytes() == content
    serial = compared_numbers(serial_run[0])
    assert compared_numbers(tmp_path) == {k: v for k, v in serial.items() if "Bambino" in k}


# 14-25 s here: two spawned workers import torch and transformers
def test_a_local_pool_gives_the_serial_numbers(serial_run, tiny_track, tmp_path, compared_numbers):
    # The text env's runs only: two spawned workers pay their start-up once, runs stay few.
    track = tiny_track.select(envs=["Bambino-v0"])
    outcome = run_track(track, tmp_path, workers=2, log=lambda line: None)
    assert not outcome.failed and len(outcome.ran) == 4
    serial = compared_numbers(serial_run[0])
    assert compared_numbers(tmp_path) == {k: v for k, v in serial.items() if "Bambino" in k}
    assert len({r["run_dir"] for r in load_results(tmp_path)}) == 4  # logs kept per run


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"workers": 0}, "workers"),
        ({"workers": 2, "ray_address": "auto"}, "not both"),
        ({"ray_address": ""}, "Ray address"),
    ],
)
def test_bad_options_are_refused_before_any_run(tiny_track, tmp_path, options, match):
    with pytest.raises(ValueError, match=match):
        run_track(tiny_track, tmp_path, **options)
    assert not any(tmp_path.iterdir())


def test_bad_agents_and_envs_are_refused_before_any_run(tiny_track, tmp_path):
    with pytest.raises(KeyError, match="no-such-agent"):
        run_track(tiny_track.select(agents=["no-such-agent"]), tmp_path)
    broken = tiny_track.select(envs=["Bambino-v0"])
    broken.envs["Bambino-v0"].kwargs["reward_form"] = "no-such-form"
    with pytest.raises(ValueError, match="cannot be built"):
        run_track(broken, tmp_path)
    assert not any(tmp_path.iterdir())


def test_a_config_the_agent_rejects_is_a_failure_with_its_message(tiny_track, tmp_path):
    lines = []
    track = tiny_track.select(agents=["random"], envs=["Bambino-v0"], num_seeds=1)
    track.agents["random"]["learning_rate"] = 0.1  # not a field of the random agent's config
    outcome = run_track(track, tmp_path, log=lines.append)
    assert not outcome.ran and not outcome.unsupported
    assert "unknown keyword 'learning_rate'" in outcome.failed["Bambino-v0__random__seed0"]
    assert any("FAILED on Bambino-v0" in line and "RandomConfig" in line for line in lines)
    table = outcome.leaderboard.read_text()
    assert "- `random` on `Bambino-v0`: building the agent failed: ArgumentTypeError" in table


def test_a_crashing_agent_is_failed_not_not_applicable(tiny_track, tmp_path, monkeypatch):
    """Issue 19 item 9: a NameError in an agent's constructor read "not on Bambino-v0", the
    reason dropped, and failed and not-applicable cells both showed "-"."""
    from lm_gym.agents import registry
    from lm_gym.agents.untrained import RandomAgent

    class Broken(RandomAgent):
        def __init__(self, env, **config):
            super().__init__(env, **config)
            undefined_name  # noqa: B018, F821  (the bug)

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    registry.register_agent("broken", Broken)
    lines: list[str] = []
    track = tiny_track.select(agents=["broken", "ppo"], num_seeds=1)
    track.agents["broken"] = {"num_envs": 2, "verbose": 0}
    outcome = run_track(track, tmp_path, log=lines.append)
    assert outcome.unsupported == {
        ("TeacherDomains-v0", "ppo"): outcome.unsupported[("TeacherDomains-v0", "ppo")]
    }
    assert set(outcome.failed) == {"Bambino-v0__broken__seed0", "TeacherDomains-v0__broken__seed0"}
    assert (
        "NameError: name 'undefined_name' is not defined"
        in outcome.failed["Bambino-v0__broken__seed0"]
    )
    assert [spec.name for spec in outcome.ran] == ["Bambino-v0__ppo__seed0"]
    assert any(line.startswith("planning [1/2] Bambino-v0") for line in lines)
    table = outcome.leaderboard.read_text()
    assert "- `broken` on `Bambino-v0`, `TeacherDomains-v0`: building the agent failed: " in table
    assert "NameError: name 'undefined_name' is not defined" in table
    assert "- `ppo` on `TeacherDomains-v0`: TypeError: PPO acts token by token" in table
    summary = table.split("## Summary")[1].split("## Results")[0]
    assert "| `Bambino-v0` | **failed** | " in summary
    assert "| `TeacherDomains-v0` | **failed** | n/a |" in summary


def test_a_failing_run_is_reported_and_leaves_no_result(tiny_track, tmp_path):
    track = tiny_track.select(agents=["random"], envs=["Bambino-v0"], num_seeds=1)
    # clm_alternation trains the agent's model: the random agent has none, so training fails.
    setting = track.envs["Bambino-v0"]
    track.envs["Bambino-v0"] = dataclasses.replace(
        setting, kwargs={**setting.kwargs, "clm_alternation": True}
    )
    outcome = run_track(track, tmp_path, log=lambda line: None)
    assert list(outcome.failed) == ["Bambino-v0__random__seed0"] and not outcome.ran
    assert "model" in outcome.failed["Bambino-v0__random__seed0"]
    assert not (tmp_path / RESULTS_DIR).exists()  # so the next call of the track retries it


def test_a_track_can_exclude_an_agent_from_an_env(tiny_track):
    setting = tiny_track.envs["TeacherDomains-v0"]
    tiny_track.envs["TeacherDomains-v0"] = dataclasses.replace(
        setting, excluded={"random": "cannot finish these episodes"}
    )
    runs, refused, broken = plan_runs(tiny_track.select(agents=["random"], num_seeds=1))
    assert not broken
    assert refused == {("TeacherDomains-v0", "random"): "cannot finish these episodes"}
    assert [r.name for r in runs] == ["Bambino-v0__random__seed0"]
