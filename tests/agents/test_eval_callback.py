"""EvalCallback: evaluates every N timesteps, logs, and leaves training exactly as it was."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch
from support import MICRO_MODELS

import lm_gym.registration  # noqa: F401  (registers Bambino-v0)
from lm_gym.agents import PPO, EvalCallback, Logger
from lm_gym.wrappers import CLMAlternation

TINY_EVAL = {"n_heldout": 20, "n_pairs": 2, "n_sentence_types": 4, "n_samples": 8}


def _train(callback=None) -> tuple[PPO, CLMAlternation]:
    env = gym.make_vec("Bambino-v0", num_envs=4, max_new_tokens=4, **MICRO_MODELS)
    agent = PPO(env, num_minibatches=2, verbose=0, logger=Logger(formats=()))
    wrapped = CLMAlternation(env, agent.model, r_clm=1, r_rl=1, batch_size=4)
    agent.learn(wrapped, 48, callback=callback, progress_bar=False)
    return agent, wrapped


def test_evaluates_every_n_timesteps_logs_and_changes_nothing():
    callback = EvalCallback(16, eval_at_start=True, **TINY_EVAL)
    agent, wrapped = _train(callback)
    steps = [timesteps for timesteps, _ in callback.history]
    assert steps[0] == 0  # eval_at_start
    later = steps[1:]
    assert len(later) == agent.num_timesteps // 16
    # One evaluation per 16 timesteps passed; a vector step moves the counter by at most 4.
    assert all(16 * (i + 1) <= t < 16 * (i + 1) + 4 for i, t in enumerate(later))
    results = callback.history[-1][1]
    assert results["words_seen"] > 0 and set(results["it"]) >= {"perplexity", "distinct_2"}
    logged = [row for row in agent.logger.history if "eval/it/minimal_pairs" in row]
    assert logged and "eval/words_seen" in logged[-1]
    assert logged[-1]["eval/it/perplexity_per_word"] == results["it"]["perplexity_per_word"]
    assert 0 < logged[-1]["eval/words_seen"] <= wrapped.words_seen  # declared by the wrapper

    plain, _ = _train()
    for name, tensor in plain.policy.state_dict().items():
        assert torch.equal(agent.policy.state_dict()[name], tensor), name


def test_bad_frequency_is_rejected():
    with pytest.raises(ValueError, match="eval_freq"):
        EvalCallback(0)
