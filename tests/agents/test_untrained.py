"""The leaderboard floors: uniform random actions and the untrained LM sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lm_gym.agents import LMSampleAgent, RandomAgent, make_agent
from lm_gym.envs.text_generation_vector import TextGenerationVectorEnv


@pytest.mark.parametrize("mode", ["NextStep", "SameStep", "Disabled"])
def test_random_agent_plays_whole_episodes_under_every_autoreset_mode(toys, mode):
    env = toys.toy_token_env(num_envs=3, max_new_tokens=4, autoreset_mode=mode)
    agent = RandomAgent(env, seed=0, verbose=0)
    agent.learn(env, 60, progress_bar=False)
    assert 60 <= agent.num_timesteps <= 62  # whole vector steps of up to 3 rows
    assert agent.episode_lengths and max(agent.episode_lengths) <= 4
    # Uniform over ~35 tokens, EOS ends an episode rarely: most run to the 4-token limit.
    assert np.mean(agent.episode_lengths) > 3


def test_random_agent_is_seeded_and_respects_subset_budgets(toys):
    env = toys.toy_token_env(num_envs=2)
    obs, _ = env.reset(seed=0)
    first = [RandomAgent(env, seed=5, verbose=0).predict(obs).tolist() for _ in range(2)]
    assert first[0] == first[1] and env.action_space.contains(np.array(first[0]))
    bandit = toys.SubsetBandit(num_items=10, budget=4)
    agent = RandomAgent(bandit, verbose=0)
    obs, _ = bandit.reset(seed=0)
    picks = np.stack([agent.predict(obs) for _ in range(200)])
    assert (picks.sum(1) == 4).all() and (picks.mean(0) > 0.25).all()
    agent.learn(bandit, 50, progress_bar=False)
    assert len(agent.episode_returns) == 50


def test_lm_sample_plays_token_mode_without_changing_the_model(toys):
    env = toys.toy_token_env(num_envs=4)
    agent = LMSampleAgent(env, verbose=0)
    before = [p.detach().clone() for p in agent.policy.model.parameters()]
    agent.learn(env, 40, progress_bar=False)
    assert len(agent.episode_returns) == 4 * agent.iteration
    assert agent.logger.history[-1]["rollout/ep_rew_mean"] >= 0
    for old, new in zip(before, agent.policy.model.parameters()):
        assert torch.equal(old, new)
    obs, _ = env.reset(seed=0)
    assert agent.predict(obs).shape == (4,)


def test_lm_sample_generates_whole_continuations_in_sequence_mode(toys):
    lm = toys.tiny_lm()
    env = TextGenerationVectorEnv(
        lm.tokenizer,
        toys.toy_texts(),
        toys.CountTarget(5),
        num_envs=4,
        prompt_tokens=3,
        max_new_tokens=5,
        mode="sequence",
    )
    agent = LMSampleAgent(env, model=lm, verbose=0)
    agent.learn(env, 12, progress_bar=False)
    assert len(agent.episode_returns) == 12 and set(agent.episode_lengths) == {1.0}
    obs, _ = env.reset(seed=0)
    single = {key: value[0] for key, value in obs.items()}
    assert agent.predict(single).shape == (5,)


@pytest.mark.parametrize(
    ("agent_name", "mode"), [("ppo", "token"), ("lm-sample", "token"), ("reinforce", "sequence")]
)
def test_an_env_whose_observations_outgrow_the_policy_models_context_is_refused(
    toys, agent_name, mode
):
    lm = toys.tiny_lm()  # 64 positions; the env has no generating model to check against
    env = TextGenerationVectorEnv(
        lm.tokenizer,
        toys.toy_texts(),
        lambda p, c, **k: [0.0] * len(p),
        num_envs=2,
        prompt_tokens=3,
        max_new_tokens=150,
        mode=mode,
    )
    with pytest.raises(ValueError, match=r"needs 154 positions \(BOS 1 \+ input_ids 153\).* 64"):
        make_agent(agent_name, env, model=lm, verbose=0)
