"""REINFORCE and the Gumbel-top-k subset policy."""

from __future__ import annotations

import collections
import itertools

import gymnasium as gym
import numpy as np
import pytest
import torch

import lm_gym.registration  # noqa: F401  (registers the teacher ids)
from lm_gym.agents import PoolEncoder, Reinforce, SubsetPolicy, plackett_luce_log_prob
from lm_gym.agents.reinforce import whiten
from lm_gym.agents.subset_policy import summed_log_prob
from lm_gym.corpora import structures_task
from lm_gym.envs.students import WordVocabulary
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


def test_subsets_have_k_distinct_items_and_the_papers_summed_log_probability():
    torch.manual_seed(0)
    policy = SubsetPolicy(embedding_dim=4, subset_size=3, log_prob="sum")
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


def _draw_probabilities(scores: np.ndarray, k: int) -> dict[tuple[int, ...], float]:
    """Every ordered draw of k items without replacement and its probability, by definition:
    each draw picks among the items left with probability proportional to exp(score)."""
    weights = np.exp(scores.astype(np.float64))
    out = {}
    for draw in itertools.permutations(range(len(scores)), k):
        probability, left = 1.0, list(range(len(scores)))
        for item in draw:
            probability *= weights[item] / weights[left].sum()
            left.remove(item)
        out[draw] = probability
    return out


@pytest.mark.parametrize(("num_items", "k"), [(4, 2), (5, 3)])
def test_plackett_luce_log_probability_matches_brute_force_enumeration(num_items, k):
    scores = torch.tensor([0.3, -1.2, 1.5, 0.0, 0.8][:num_items])
    probabilities = _draw_probabilities(scores.numpy(), k)
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-12)
    draws = torch.tensor(list(probabilities))
    log_prob = plackett_luce_log_prob(scores.expand(len(draws), -1), draws)
    np.testing.assert_allclose(
        log_prob.exp().numpy(), np.array(list(probabilities.values())), rtol=1e-5
    )
    # The policy's Gumbel-top-k samples, in draw order, come with exactly these frequencies.
    policy = SubsetPolicy(embedding_dim=1, subset_size=k)
    with torch.no_grad():
        policy.scorer.weight.fill_(1.0)
        policy.scorer.bias.zero_()
    samples = 200_000
    picks = policy.sample(scores.reshape(1, -1, 1).expand(samples, -1, -1), torch.Generator())
    counts = collections.Counter(map(tuple, picks.tolist()))
    assert set(counts) <= set(probabilities)  # k distinct items every time
    for draw, probability in probabilities.items():
        frequency = counts[draw] / samples
        assert abs(frequency - probability) < 4.5 * np.sqrt(probability / samples) + 1e-4
    # The policy's own log_prob is the Plackett-Luce one by default.
    own, _ = policy.log_prob(scores.reshape(1, -1, 1).expand(len(draws), -1, -1), draws)
    torch.testing.assert_close(own, log_prob)


def test_only_the_plackett_luce_score_function_is_unbiased():
    """The expected REINFORCE gradient, computed exactly over every draw, equals the true
    gradient of the expected reward with the Plackett-Luce log-probability, not with the sum."""
    scores = torch.tensor([0.5, -0.3, 1.0, 0.0, -1.0], dtype=torch.float64, requires_grad=True)
    reward = torch.tensor([1.0, 0.0, 0.2, 0.7, 0.4], dtype=torch.float64)
    draws = torch.tensor(list(itertools.permutations(range(5), 3)))
    batch = scores.expand(len(draws), -1)
    exact_log_prob = plackett_luce_log_prob(batch, draws)
    returns = reward[draws].mean(1)
    true_gradient = torch.autograd.grad((exact_log_prob.exp() * returns).sum(), scores)[0]
    weights = exact_log_prob.exp().detach() * returns
    for log_prob, unbiased in ((plackett_luce_log_prob, True), (summed_log_prob, False)):
        estimate = torch.autograd.grad((weights * log_prob(batch, draws)).sum(), scores)[0]
        assert torch.allclose(estimate, true_gradient, atol=1e-10) == unbiased


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


def _weights_after_training(env, **config) -> list[torch.Tensor]:
    agent = Reinforce(env, batch_size=8, seed=0, verbose=0, **config)
    agent.learn(env, 8 * 6, progress_bar=False)
    return [p.detach().clone() for p in agent.policy.parameters()]


def test_whitened_advantages_make_updates_independent_of_the_reward_scale(toys):
    """With whitening (the default) rewards 1e6 * r - 3e6 train exactly as r does; with the raw
    moving-baseline advantages they do not (the entropy term's weight changes)."""
    for normalize, same in ((True, True), (False, False)):
        plain = _weights_after_training(toys.SubsetBandit(), normalize_advantages=normalize)
        scaled_env = gym.wrappers.TransformReward(toys.SubsetBandit(), lambda r: 1e6 * r - 3e6)
        scaled = _weights_after_training(scaled_env, normalize_advantages=normalize)
        close = all(torch.allclose(a, b, atol=1e-5) for a, b in zip(plain, scaled))
        assert close == same


def test_whiten_centres_and_scales_a_batch():
    out = whiten(np.array([1.0, 2.0, 3.0, 6.0]))
    assert out.mean() == pytest.approx(0.0, abs=1e-12) and out.std() == pytest.approx(1.0)
    np.testing.assert_array_equal(whiten(np.full(4, -7.5)), np.zeros(4))


def test_pool_encoder_sees_word_order_and_ignores_padding():
    torch.manual_seed(0)
    encoder = PoolEncoder(vocab_size=8, dim=4)
    # <s>=2 a=4 b=5 </s>=3: "a b a b" and "a a b b" hold the same tokens in another order.
    rows = torch.tensor([[2, 4, 5, 4, 5, 3, 0], [2, 4, 4, 5, 5, 3, 0]])
    mask = (rows != 0).long()
    features = encoder(rows, mask)
    assert features.shape == (2, 8)
    torch.testing.assert_close(features[0, :4], features[1, :4])  # same mean embedding
    assert not torch.allclose(features[0, 4:], features[1, 4:])  # different neighbours
    wider = torch.nn.functional.pad(rows, (0, 5))
    torch.testing.assert_close(encoder(wider, (wider != 0).long()), features)


def test_subset_features_follow_the_observation(toys):
    teacher_env = gym.make("TeacherStructures-v0", embedding="bag", student_steps=1)
    assert isinstance(Reinforce(teacher_env, verbose=0).policy.encoder, PoolEncoder)
    chosen = Reinforce(teacher_env, subset_features="embeddings", verbose=0)
    assert chosen.policy.encoder is None
    toy = toys.SubsetBandit()  # embeddings only
    assert Reinforce(toy, verbose=0).policy.encoder is None
    with pytest.raises(TypeError, match="input_ids"):
        Reinforce(toy, subset_features="encoder", verbose=0)
    with pytest.raises(ValueError, match="subset_log_prob"):
        Reinforce(toy, subset_log_prob="exact", verbose=0)


class _StructurePicking(gym.Env):
    """Pick 10 of a Task 2 pool (new every episode); the reward is the share of S1 picked.
    Only word order tells S1 (x y x y) from S2 (x x y y): every token is as frequent in both."""

    def __init__(self) -> None:
        self.vocabulary = WordVocabulary(structures_task().vocabulary)
        self.budget = 10
        self.action_space = gym.spaces.MultiBinary(100)
        self.observation_space = gym.spaces.Dict(
            {
                "input_ids": gym.spaces.Box(0, len(self.vocabulary) - 1, (100, 10), np.int64),
                "attention_mask": gym.spaces.MultiBinary((100, 10)),
            }
        )

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.task = structures_task(seed=int(self.np_random.integers(2**31)))
        ids, mask = self.vocabulary.encode(self.task.pool, 10)
        return {"input_ids": ids.numpy(), "attention_mask": mask.numpy().astype(np.int8)}, {}

    def step(self, action):
        share = float(np.asarray(self.task.pool_labels)[np.asarray(action) == 1].mean())
        return self.reset()[0], share, True, False, {}


def test_the_teachers_encoder_learns_a_choice_only_word_order_reveals():
    env = _StructurePicking()
    agent = Reinforce(env, batch_size=16, learning_rate=0.05, seed=0, verbose=0)
    agent.learn(env, 16 * 16, progress_bar=False)
    rewards = [row["rollout/batch_rew_mean"] for row in agent.logger.history]
    assert np.mean(rewards[:2]) < 0.3  # about the pool's 0.2 at first
    assert np.mean(rewards[-3:]) > 0.75
