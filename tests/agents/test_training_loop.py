"""The one training loop every built-in agent shares (``BaseAgent.learn``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from lm_gym.agents import (
    PPO,
    BaseAgent,
    Callback,
    CheckpointCallback,
    LMSampleAgent,
    RandomAgent,
    Reinforce,
)


class HookRecorder(Callback):
    """Records the loop's hooks other than ``on_step``."""

    def __init__(self) -> None:
        super().__init__()
        self.hooks: list[str] = []

    def _on_training_start(self) -> None:
        self.hooks.append("start")

    def _on_rollout_end(self) -> None:
        self.hooks.append("rollout_end")

    def _on_iteration_end(self) -> None:
        self.hooks.append("iteration_end")

    def _on_training_end(self) -> None:
        self.hooks.append("end")


def _agents(toys) -> dict[str, tuple]:
    return {
        "ppo": (PPO, toys.toy_token_env(num_envs=4), {"num_minibatches": 1}),
        "reinforce": (Reinforce, toys.SubsetBandit(), {"batch_size": 4}),
        "random": (RandomAgent, toys.toy_token_env(num_envs=3), {}),
        "lm-sample": (LMSampleAgent, toys.toy_token_env(num_envs=4), {}),
    }


@pytest.mark.parametrize("name", ["ppo", "reinforce", "random", "lm-sample"])
def test_every_agent_runs_the_same_iteration_hooks(toys, name):
    agent_class, env, config = _agents(toys)[name]
    agent = agent_class(env, verbose=0, **config)
    recorder = HookRecorder()
    agent.learn(env, 40, callback=recorder, progress_bar=False)
    iterations = agent.iteration
    assert iterations >= 2 and agent.num_timesteps >= 40
    assert recorder.hooks == ["start", *["rollout_end", "iteration_end"] * iterations, "end"]
    rows = agent.logger.history
    assert [row["time/iterations"] for row in rows] == list(range(1, iterations + 1))
    assert all(np.isfinite(row["rollout/ep_rew_mean"]) for row in rows)
    assert recorder.n_calls >= iterations  # on_step ran for every env step


def test_fixed_agents_save_checkpoints_at_iteration_ends_like_learning_ones(toys, tmp_path):
    env = toys.toy_token_env(num_envs=3, max_new_tokens=4)
    agent = RandomAgent(env, seed=2, verbose=0)
    saver = CheckpointCallback(save_freq=1, folder=tmp_path, prefix="random")
    agent.learn(env, 24, callback=saver, progress_bar=False)
    assert len(saver.saved) == agent.iteration >= 2
    other_env = toys.toy_token_env(num_envs=3, max_new_tokens=4)
    resumed = RandomAgent.load(saver.saved[0], env=other_env, verbose=0)
    assert resumed.num_timesteps < agent.num_timesteps and resumed.iteration == 1
    resumed.learn(other_env, 24, reset_num_timesteps=False, progress_bar=False)
    assert resumed.num_timesteps >= 24 and resumed.iteration > 1


@dataclass
class FirstItemsConfig:
    seed: int = 0
    verbose: int = 0


class FirstItems(BaseAgent):
    """A minimal agent on the shared loop: it always picks the first k items of a subset env."""

    config_class = FirstItemsConfig

    def __init__(self, env, **config) -> None:
        super().__init__(env, **config)
        self.budget = env.budget

    def predict(self, obs, deterministic=False):
        action = np.zeros(len(obs["embeddings"]), dtype=np.int8)
        action[: self.budget] = 1
        return action

    def _collect(self, env):
        obs, _ = env.reset()
        _, reward, _, _, _ = env.step(self.predict(obs))
        return reward if self._count_steps(1) else None

    def _update(self, reward):
        self._record_episodes([reward], [1])
        self._record_episode_stats()

    def _state_dict(self):
        return {}

    def _load_state_dict(self, state):
        pass


def test_a_new_agent_writes_only_its_collection_and_update(toys):
    env = toys.SubsetBandit(budget=2)
    agent = FirstItems(env)
    agent.learn(env, 5, progress_bar=False)
    assert agent.num_timesteps == agent.iteration == len(agent.logger.history) == 5
    expected = float(env.quality[:2].mean())
    assert agent.logger.history[-1]["rollout/ep_rew_mean"] == pytest.approx(expected)
