"""Stable-Baselines3's PPO behind the lm_gym protocol, on a token-mode env."""

from __future__ import annotations

import csv
import json
import tempfile

import gymnasium as gym
import numpy as np
import pytest

from lm_gym.agents import SB3PPO, Logger, train_agent


def test_sb3_ppo_trains_on_the_token_env_and_logs_sb3_metrics(toys, tmp_path):
    env = gym.make(toys.register_toy_env())
    agent = SB3PPO(env, n_steps=64, batch_size=32, n_epochs=2, seed=0, verbose=0)
    agent.set_logger(Logger(tmp_path, ("csv",)))
    stops = []
    agent.learn(env, 256, callback=lambda locals_, globals_: stops.append(1), progress_bar=False)
    assert agent.num_timesteps == 256 and len(stops) == 256
    rows = list(csv.DictReader((tmp_path / "progress.csv").open()))
    assert rows and "rollout/ep_rew_mean" in rows[-1] and "train/approx_kl" in rows[-1]
    obs, _ = env.reset(seed=0)
    action = agent.predict(obs, deterministic=True)
    assert env.action_space.contains(int(action))
    path = agent.save(tmp_path / "sb3.zip")
    loaded = SB3PPO.load(path, env=env)
    assert int(loaded.predict(obs, deterministic=True)) == int(action)


def test_sb3_ppo_stops_when_a_callback_says_so(toys):
    env = gym.make(toys.register_toy_env())
    agent = SB3PPO(env, n_steps=32, batch_size=32, verbose=0)
    agent.learn(env, 10_000, callback=lambda locals_, globals_: False, progress_bar=False)
    assert agent.num_timesteps == 1


def test_sb3_ppo_without_a_log_folder_leaves_no_temp_folder(toys, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where SB3 would put SB3-<time>
    env = gym.make(toys.register_toy_env())
    for verbose in (0, 1):
        agent = SB3PPO(env, n_steps=32, batch_size=32, n_epochs=1, verbose=verbose)
        agent.learn(env, 32, progress_bar=False)
    assert list(tmp_path.iterdir()) == []
    assert "ep_rew_mean" in capsys.readouterr().out  # verbose=1 still prints SB3's table


def test_sb3_ppo_runs_by_name_and_refuses_gymnasium_vector_envs(toys, tmp_path):
    result = train_agent(
        toys.register_toy_env(),
        "sb3-ppo",
        64,
        out_dir=tmp_path,
        agent_kwargs={"n_steps": 32, "batch_size": 32, "num_envs": 2, "verbose": 0},
        progress_bar=False,
    )
    assert result.agent_file.is_file() and (result.run_dir / "progress.csv").is_file()
    assert np.isfinite(
        float(
            list(csv.DictReader((result.run_dir / "progress.csv").open()))[-1][
                "rollout/ep_rew_mean"
            ]
        )
    )
    with pytest.raises(TypeError, match="vector env"):
        SB3PPO(toys.toy_token_env(num_envs=2))


def test_sb3_ppo_runs_from_the_cli_and_on_the_leaderboard(tmp_path, capsys):
    """Issue 19 item 1: SB3's make_vec_env asked Bambino-v0 for render_mode='rgb_array'."""
    from support import MICRO_MODELS

    from lm_gym.baselines import run_track
    from lm_gym.baselines.tracks import MICRO_TEACHER, EnvSetting, Track
    from lm_gym.cli import main

    config = {"n_steps": 32, "batch_size": 32, "n_epochs": 1, "verbose": 0}
    args = ["run", "Bambino-v0", "--agent", "sb3-ppo", "--timesteps", "32", "--out", str(tmp_path)]
    args += ["--env-kwargs", json.dumps(MICRO_MODELS), "--agent-kwargs", json.dumps(config)]
    assert main(args) == 0, capsys.readouterr().err
    assert (tmp_path / "Bambino-v0__sb3-ppo__seed0" / "agent.pt").is_file()

    track = Track(
        "sb3",
        {
            "Bambino-v0": EnvSetting({**MICRO_MODELS, "max_new_tokens": 4}, 32, 2),
            "TeacherDomains-v0": EnvSetting({**MICRO_TEACHER, "pool_size": 20, "budget": 4}, 4, 1),
        },
        {"sb3-ppo": config},
        (0,),
    )
    outcome = run_track(track, tmp_path / "board", log=lambda line: None)
    assert [spec.env_id for spec in outcome.ran] == ["Bambino-v0"] and not outcome.failed
    assert "Discrete" in outcome.unsupported[("TeacherDomains-v0", "sb3-ppo")]
