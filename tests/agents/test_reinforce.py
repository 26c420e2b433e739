"""REINFORCE and the Gumbel-top-k subset policy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lm_gym.agents import Reinforce, SubsetPolicy
from lm_gym.envs.text_generation_vector import TextGenerationVectorEnv


def test_gumbel_top_1_samples_from_the_softmax():
    policy = SubsetPolicy(embedding_dim=2, subset_size=1)
    with torch.no_grad():
        policy.scorer.weight.copy_(torch.tensor([[1.0, 0.0]]))
        policy.scorer.bias.zero_()
    embeddings = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]]]).expand(20_000, 3, 2)
    picks = policy.sample(embeddings, torch.Generator().manual_seed(0))[:, 0]
    frequencies = torch.bincount(picks, minlength=3).float() / len(picks)
    torch.testing.assert_close(frequencies, torch.softmax(torch.arange(3.0), 0), atol=0.015, rtol=0)


def test_subsets_have_k_distinct_items_and_summed_log_probabilities():
    torch.manual_seed(0)
    policy = SubsetPolicy(embedding_dim=4, subset_size=3)
    embeddings = torch.randn(5, 8, 4)
    indices = policy.sample(embeddings, torch.Generator().manual_seed(1))
    action = SubsetPolicy.to_action(indices, 8)
    assert action.shape == (5, 8) and (action.sum(1) == 3).all()
    assert all(len(set(row.tolist())) == 3 for row in indices)
    torch.testing.assert_close(
        SubsetPolicy.from_action(action).sort(1).values, indices.sort(1).values
    )
    log_prob, entropy = policy.log_prob(embeddings, indices)
    scores = (embeddings @ policy.scorer.weight[0] + policy.scorer.bias).detach().numpy()
    log_softmax = scores - np.log(np.exp(scores).sum(1, keepdims=True))
    expected = np.take_along_axis(log_softmax, indices.numpy(), 1).sum(1)
    np.testing.assert_allclose(log_prob.detach().numpy(), expected, rtol=1e-5)
    expected_entropy = -(np.exp(log_softmax) * log_softmax).sum(1)
    np.testing.assert_allclose(entropy.detach().numpy(), expected_entropy, rtol=1e-5)
    deterministic = policy.sample(embeddings, torch.Generator(), deterministic=True)
    torch.testing.assert_close(deterministic, torch.as_tensor(scores).topk(3, dim=1).indices)


def test_reinforce_teacher_learns_to_pick_the_best_items(toys):
    env = toys.SubsetBandit(num_items=12, budget=3)
    agent = Reinforce(env, batch_size=16, seed=0, verbose=0)
    obs, _ = env.reset(seed=0)
    first = env.step(agent.predict(obs, deterministic=True))[1]
    agent.learn(env, 16 * 100, progress_bar=False)
    learned = env.step(agent.predict(obs, deterministic=True))[1]
    rewards = [row["rollout/batch_rew_mean"] for row in agent.logger.history]
    assert np.mean(rewards[-10:]) > np.mean(rewards[:10]) + 0.3
    random_mean = float(env.quality.mean())
    assert first < 0.5 * env.best_reward() and random_mean < 0.3 * env.best_reward()
    assert learned > 0.9 * env.best_reward()  # close to the oracle (2 of the 3 best, here)
    assert agent.predict(obs).sum() == 3


def test_subset_size_must_be_known(toys):
    env = toys.SubsetBandit()
    del env.budget
    with pytest.raises(ValueError, match="subset size"):
        Reinforce(env, verbose=0)
    assert Reinforce(env, subset_size=2, verbose=0).policy.subset.subset_size == 2


def test_reinforce_raises_the_reward_of_sequence_generation(toys):
    lm = toys.tiny_lm()
    target = lm.tokenizer.convert_tokens_to_ids(toys.TARGET_PIECE)
    env = TextGenerationVectorEnv(
        lm.tokenizer,
        toys.toy_texts(),
        toys.CountTarget(target),
        num_envs=16,
        prompt_tokens=3,
        max_new_tokens=6,
        mode="sequence",
    )
    agent = Reinforce(env, model=lm, learning_rate=3e-3, batch_size=32, seed=0, verbose=0)
    agent.learn(env, 32 * 40, progress_bar=False)
    rewards = [row["rollout/batch_rew_mean"] for row in agent.logger.history]
    assert np.mean(rewards[-5:]) > np.mean(rewards[:5]) + 0.5
    obs, _ = env.reset(seed=1)
    actions = agent.predict(obs)
    assert actions.shape == (16, 6) and env.action_space.contains(actions)


def test_reinforce_refuses_token_mode(toys):
    with pytest.raises(TypeError, match="PPO"):
        Reinforce(toys.toy_token_env(), verbose=0)


def test_subset_agent_save_and_load_round_trip(toys, tmp_path):
    env = toys.SubsetBandit()
    agent = Reinforce(env, batch_size=8, verbose=0)
    agent.learn(env, 32, progress_bar=False)
    path = agent.save(tmp_path / "teacher.pt")
    loaded = Reinforce.load(path, env=env)
    assert loaded.num_timesteps == agent.num_timesteps and loaded.baseline == agent.baseline
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(
        loaded.predict(obs, deterministic=True), agent.predict(obs, deterministic=True)
    )
    for a, b in zip(agent.policy.parameters(), loaded.policy.parameters()):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
