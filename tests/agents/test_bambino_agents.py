"""Every built-in agent on the real Bambino environments (micro recipes, a few steps each)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from support import MICRO_MODELS

import lm_gym.registration  # noqa: F401  (registers Bambino-v0)
from lm_gym.agents import PPO, SB3PPO, Reinforce, train_agent
from lm_gym.wrappers import CLMAlternation


def test_ppo_on_bambino_inside_clm_alternation_resumes_from_its_checkpoint(tmp_path):
    env = gym.make_vec("Bambino-v0", num_envs=8, max_new_tokens=8, **MICRO_MODELS)
    agent = PPO(env, num_minibatches=2, verbose=0)
    wrapped = CLMAlternation(env, agent.model, r_clm=2, r_rl=1, batch_size=16)
    agent.learn(wrapped, 4 * 8 * 8, progress_bar=False)
    rows = agent.logger.history
    row = rows[-1]
    assert row["rollout/ppl_median"] > 1 and np.isfinite(row["charts/kl"])
    # The reference is the wrapper's CLM-only twin: the penalty KL is PPO's own drift, smaller
    # than the KL to the initial baby, which the CLM updates moved (means over the batches:
    # one batch's estimate is noisy).
    penalty = np.mean([r["charts/kl"] for r in rows[1:]])
    assert 0 < penalty < np.mean([r["charts/kl_initial"] for r in rows[1:]])
    assert -1 <= row["rollout/batch_rew_mean"] <= 1  # the slor reward's range
    assert wrapped.schedule.clm_steps >= 2 * agent.iteration
    path = agent.save(tmp_path / "ppo.pt")

    env2 = gym.make_vec("Bambino-v0", num_envs=8, max_new_tokens=8, **MICRO_MODELS)
    wrapped2 = CLMAlternation(
        env2, env2.unwrapped.generating_model.model, r_clm=2, r_rl=1, batch_size=16
    )
    resumed = PPO.load(path, env=wrapped2)
    assert wrapped2.schedule.state_dict()["stream"] == wrapped.schedule.state_dict()["stream"]
    assert resumed.kl_controller.value == agent.kl_controller.value
    assert resumed.env_reference is None  # chosen by learn, for the env it is given
    for saved, loaded in (
        (agent.policy, resumed.policy),
        (agent.reference, resumed.reference),
        (wrapped.reference_model, wrapped2.reference_model),
    ):
        for name, tensor in saved.state_dict().items():
            assert torch.equal(loaded.state_dict()[name], tensor), name
    resumed.learn(
        wrapped2, resumed.num_timesteps + 1, reset_num_timesteps=False, progress_bar=False
    )
    assert resumed.iteration == agent.iteration + 1
    assert resumed.env_reference is wrapped2.reference_model


def test_reinforce_on_bambino_seq():
    env = gym.make_vec("BambinoSeq-v0", num_envs=8, max_new_tokens=8, **MICRO_MODELS)
    agent = Reinforce(env, batch_size=8, verbose=0)
    agent.learn(env, 16, progress_bar=False)
    assert agent.iteration == 2 and np.isfinite(agent.logger.history[-1]["losses/policy_loss"])
    obs, _ = env.reset(seed=0)
    actions = agent.predict(obs)
    assert env.action_space.contains(actions)


@pytest.mark.parametrize("agent", ["random", "lm-sample"])
def test_leaderboard_floors_run_by_name_on_bambino(tmp_path, agent):
    result = train_agent(
        "Bambino-v0",
        agent,
        64,
        seed=0,
        out_dir=tmp_path,
        env_kwargs={**MICRO_MODELS, "max_new_tokens": 8},
        agent_kwargs={"num_envs": 8, "verbose": 0},
        progress_bar=False,
    )
    final = result.history[-1]
    assert -1 <= final["rollout/ep_rew_mean"] <= 1 and result.agent.num_timesteps >= 64


def test_sb3_ppo_runs_a_few_hundred_steps_on_bambino(tmp_path):
    env = gym.make("Bambino-v0", max_new_tokens=8, **MICRO_MODELS)
    agent = SB3PPO(env, n_steps=128, batch_size=64, n_epochs=2, seed=0, verbose=0)
    agent.learn(env, 384, progress_bar=False)
    assert agent.num_timesteps == 384
    obs, _ = env.reset(seed=0)
    assert env.action_space.contains(int(agent.predict(obs)))
