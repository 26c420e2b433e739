"""Callbacks that stop or checkpoint training, and the stdout / CSV / TensorBoard logger."""

from __future__ import annotations

import csv
import io

import pytest

from lm_gym.agents import (
    PPO,
    Callback,
    CallbackList,
    CheckpointCallback,
    Logger,
    RandomAgent,
    StopAfterTimesteps,
)
from lm_gym.agents.callbacks import as_callback
from lm_gym.agents.logger import tensorboard_available


class CountingStopper(Callback):
    """Stops after ``limit`` steps and records which hooks ran."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.hooks: list[str] = []

    def _on_training_start(self) -> None:
        self.hooks.append("start")

    def _on_step(self) -> bool:
        return self.n_calls < self.limit

    def _on_training_end(self) -> None:
        self.hooks.append("end")


def test_a_callback_returning_false_stops_ppo_at_once(toys):
    env = toys.toy_token_env(num_envs=4)
    agent = PPO(env, verbose=0)
    stopper = CountingStopper(limit=3)
    agent.learn(env, 10_000, callback=stopper, progress_bar=False)
    assert stopper.n_calls == 3 and stopper.hooks == ["start", "end"]
    assert agent.iteration == 0 and agent.num_timesteps <= 3 * 4  # stopped inside the rollout


def test_function_callbacks_and_lists(toys):
    env = toys.toy_token_env(num_envs=2)
    agent = RandomAgent(env, verbose=0)
    seen = []
    stop_at = StopAfterTimesteps(20)
    callback = [lambda locals_, globals_: seen.append(1), stop_at]
    agent.learn(env, 1_000, callback=callback, progress_bar=False)
    assert 20 <= agent.num_timesteps <= 22 and len(seen) == stop_at.n_calls
    with pytest.raises(TypeError, match="callback"):
        as_callback(42)
    assert isinstance(as_callback(None), CallbackList)


def test_checkpoint_callback_saves_loadable_checkpoints(toys, tmp_path):
    env = toys.toy_token_env(num_envs=4)
    agent = PPO(env, num_minibatches=1, verbose=0)
    saver = CheckpointCallback(save_freq=1, folder=tmp_path, prefix="ppo")
    agent.learn(env, 30, callback=saver, progress_bar=False)
    assert len(saver.saved) == agent.iteration and all(p.is_file() for p in saver.saved)
    loaded = PPO.load(saver.saved[-1], env=env)
    assert loaded.num_timesteps == agent.num_timesteps
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporary files


def test_logger_writes_stdout_csv_and_tensorboard(tmp_path):
    stream = io.StringIO()
    logger = Logger(tmp_path, ("stdout", "csv", "tensorboard"), stream=stream)
    logger.record("rollout/ep_rew_mean", 1.5)
    logger.dump(step=10)
    logger.record("rollout/ep_rew_mean", 2.5)
    logger.record("losses/approx_kl", 0.01)  # a new column appears in the second row
    logger.dump(step=20)
    logger.close()
    assert "rollout/ep_rew_mean" in stream.getvalue() and "2.5" in stream.getvalue()
    rows = list(csv.DictReader(logger.csv_path.open()))
    assert [float(r["rollout/ep_rew_mean"]) for r in rows] == [1.5, 2.5]
    assert rows[0]["losses/approx_kl"] == "" and float(rows[1]["losses/approx_kl"]) == 0.01
    if tensorboard_available():
        assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    resumed = Logger(tmp_path, ("csv",), resume=True)
    assert len(resumed.history) == 2


def test_logger_refuses_unknown_formats_and_files_without_a_folder():
    with pytest.raises(ValueError, match="unknown logger formats"):
        Logger(None, ("stdout", "wandb"))
    with pytest.raises(ValueError, match="folder"):
        Logger(None, ("csv",))
