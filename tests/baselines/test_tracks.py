"""Tracks: every registered lm_gym env joins, selection and expansion, result files."""

from __future__ import annotations

import json

import gymnasium as gym
import pytest

from lm_gym.baselines import get_track, results
from lm_gym.baselines.tracks import (
    QUICK_AGENTS,
    QUICK_DEFAULT,
    RunSpec,
    lm_gym_env_ids,
    quick_track,
    standard_track,
)


def test_the_built_in_tracks_cover_every_registered_lm_gym_env():
    expected = sorted(i for i, s in gym.registry.items() if str(s.entry_point).startswith("lm_gym"))
    assert {"Bambino-v0", "TeacherDomains-v0"} <= set(expected)
    for track in (quick_track(), standard_track()):
        assert sorted(track.envs) == expected == lm_gym_env_ids()
        assert {"random", "ppo", "reinforce", "oracle-teacher"} <= set(track.agents)
    assert quick_track().seeds == (0, 1)
    assert all("micro" in json.dumps(s.kwargs) for s in quick_track().envs.values())


def test_an_env_registered_later_joins_with_the_default_budget():
    env_id = "LeaderboardLateEnv-v0"
    gym.register(id=env_id, entry_point="lm_gym.envs.bambino:BambinoEnv")
    try:
        assert quick_track().envs[env_id] == QUICK_DEFAULT
    finally:
        del gym.registry[env_id]
    assert env_id not in quick_track().envs


def test_select_and_expand():
    track = quick_track().select(
        agents=["random", "ppo", "someone-elses-agent"], envs=["Bambino-v0"], num_seeds=3
    )
    assert track.agents == {
        "random": QUICK_AGENTS["random"],
        "ppo": QUICK_AGENTS["ppo"],
        "someone-elses-agent": {},
    }
    runs = track.expand()
    assert len(runs) == 1 * 3 * 3 and [r.seed for r in runs[:3]] == [0, 1, 2]
    assert runs[0].name == "Bambino-v0__random__seed0"
    runs[0].env_kwargs["baby_model"] = "changed"  # specs are copies: the track is unchanged
    assert track.envs["Bambino-v0"].kwargs["baby_model"] == "baby-en-micro"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"envs": ["NoSuchEnv-v0"]}, "not in track"), ({"num_seeds": 0}, "seeds")],
)
def test_bad_selections_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        quick_track().select(**kwargs)


def test_unknown_track():
    with pytest.raises(ValueError, match="quick"):
        get_track("huge")


def test_result_files_are_matched_to_their_spec(tmp_path):
    spec = RunSpec("Bambino-v0", {"tau": 70.0}, "random", {"num_envs": 2}, 0, 32, 3)
    curves = {"x": {"timesteps": [], "value": []}}
    outcome = {"metrics": {"eval/mean_return": 1.5}, "curves": curves}
    path = results.write_result(tmp_path, spec, outcome)
    assert path == results.result_path(tmp_path, spec)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    assert results.finished_result(tmp_path, spec)["metrics"] == outcome["metrics"]
    other = RunSpec("Bambino-v0", {"tau": 71.0}, "random", {"num_envs": 2, "x": 1}, 0, 32, 3)
    assert other.name == spec.name  # the same run's file, another spec: never overwritten
    with pytest.raises(results.ResultFileError, match=r"differs in agent_kwargs.x, env_kwargs"):
        results.finished_result(tmp_path, other)
    assert results.finished_result(tmp_path, spec)["metrics"] == outcome["metrics"]
    path.write_text(path.read_text()[:20])  # a truncated file is not a result: it is named
    with pytest.raises(results.ResultFileError, match=f"{path} is not a complete"):
        results.finished_result(tmp_path, spec)
    with pytest.raises(results.ResultFileError, match=f"{path} is not a complete"):
        results.load_results(tmp_path)
    path.unlink()
    assert results.finished_result(tmp_path, spec) is None and results.load_results(tmp_path) == []


def test_non_finite_metrics_are_never_written(tmp_path):
    spec = RunSpec("Bambino-v0", {}, "random", {}, 0, 32, 3)
    with pytest.raises(ValueError):
        results.write_result(tmp_path, spec, {"metrics": {"eval/mean_return": float("nan")}})
    folder = results.result_path(tmp_path, spec).parent
    assert not folder.exists() or not any(folder.iterdir())


def test_the_quick_tracks_story_reward_ranks_true_continuations_above_random_tokens():
    """At the quick track's setting the micro reward model must tell real text from noise, or
    BabyStories cannot be normalised there (at 16-token continuations it could not: 47%)."""
    from lm_gym.rewards.audit import audit_env
    from lm_gym.rewards.audit_policies import TEXT_POLICIES

    setting = quick_track().envs["BabyStories-v0"]
    env = gym.make("BabyStories-v0", **{**setting.kwargs, "device": "cpu"})
    policies = {"random_tokens": TEXT_POLICIES["random_tokens"]}
    report = audit_env(env, episodes=60, seed=0, policies=policies)
    env.close()
    assert report.mean("reference") > report.mean("random_tokens")
    assert report.win_rate("random_tokens") >= 0.8
