"""PPO for LM policies: its pieces against hand computations, and learning on a toy env."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lm_gym.agents import (
    PPO,
    KLController,
    LMPolicy,
    PPOConfig,
    Reinforce,
    collect_token_rollout,
)
from lm_gym.agents.ppo import gae, stack_rollouts, whiten
from lm_gym.wrappers import CLMAlternation


def test_gae_matches_a_hand_computation():
    rewards = torch.tensor([[0.0, 0.0, 1.0], [0.0, 2.0, 0.0]])
    values = torch.tensor([[0.5, 0.2, 0.1], [0.3, 0.6, 9.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])  # row 2 ends after two tokens
    advantages = gae(rewards, values, mask, gamma=1.0, lam=0.95)
    a2 = 1.0 - 0.1
    a1 = (0.1 - 0.2) + 0.95 * a2
    a0 = (0.2 - 0.5) + 0.95 * a1
    b1 = 2.0 - 0.6  # no bootstrap from the (masked) value 9.0
    b0 = (0.6 - 0.3) + 0.95 * b1
    expected = torch.tensor([[a0, a1, a2], [b0, b1, 0.0]])
    torch.testing.assert_close(advantages, expected)


def test_whiten_uses_only_masked_entries():
    values = torch.tensor([[1.0, 3.0, 100.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    torch.testing.assert_close(
        whiten(values, mask), torch.tensor([[-1.0, 1.0, 0.0]]), atol=1e-4, rtol=0
    )


def test_adaptive_kl_controller_moves_towards_the_target_and_fixed_does_not():
    adaptive = KLController(0.2, adaptive=True, target=6.0, horizon=10_000)
    adaptive.update(kl=30.0, n_episodes=100)  # error clipped at +20%
    assert adaptive.value == pytest.approx(0.2 * (1 + 0.2 * 100 / 10_000))
    adaptive.update(kl=3.0, n_episodes=100)  # error -50% clipped at -20%
    assert adaptive.value == pytest.approx(0.2 * (1 + 0.002) * (1 - 0.002))
    fixed = KLController(0.2, adaptive=False)
    fixed.update(kl=30.0, n_episodes=100)
    assert fixed.value == 0.2


def test_config_rejects_bad_values_and_unknown_fields(toys):
    with pytest.raises(ValueError, match="num_epochs"):
        PPOConfig(num_epochs=0)
    with pytest.raises(ValueError, match="learning_rate"):
        PPOConfig(learning_rate=-1.0)
    with pytest.raises(ValueError, match="value_learning_rate"):
        PPOConfig(value_learning_rate=0.0)
    match = r"PPOConfig got unknown keyword 'lerning_rate' \(did you mean 'learning_rate'\?\)"
    with pytest.raises(TypeError, match=match):
        PPO(toys.toy_token_env(), lerning_rate=1e-3)


def test_ppo_refuses_sequence_mode(toys):
    with pytest.raises(TypeError, match="Discrete"):
        PPO(toys.toy_single_env(mode="sequence"), verbose=0)


def test_rollout_logprobs_from_the_kv_cache_match_a_full_forward(toys):
    env = toys.toy_token_env(num_envs=6)
    lm = env.generating_model
    policy = LMPolicy(lm.model, lm.tokenizer, action_size=env.single_action_space.n)
    generator = torch.Generator().manual_seed(0)
    rollout = collect_token_rollout(env, policy, generator, seed=3)
    logprobs, _, values = policy.evaluate(rollout.sequences, rollout.prompt_mask)
    mask = rollout.mask.bool()
    torch.testing.assert_close(rollout.logprobs[mask], logprobs.detach()[mask], atol=1e-5, rtol=0)
    torch.testing.assert_close(rollout.values[mask], values.detach()[mask], atol=1e-5, rtol=0)
    # Every row ended exactly once; lengths match the masks and EOS only ends episodes.
    assert (rollout.lengths == rollout.mask.sum(1).numpy()).all()
    assert rollout.lengths.max() <= 6 and len(rollout.completions) == 6


@pytest.mark.parametrize("mode", ["NextStep", "SameStep", "Disabled"])
def test_each_rollout_is_one_episode_per_row_under_every_autoreset_mode(mode, toys):
    env = toys.toy_token_env(num_envs=4, autoreset_mode=mode)
    agent = PPO(env, learning_rate=1e-3, num_minibatches=2, verbose=0)
    agent.learn(env, 40, progress_bar=False)
    rows = agent.logger.history
    assert len(agent.episode_lengths) == 4 * len(rows)
    assert agent.num_timesteps == sum(agent.episode_lengths)  # timesteps = generated tokens


def test_ppo_raises_the_reward_on_a_toy_task_with_bounded_kl(toys):
    env = toys.toy_token_env(num_envs=16)
    agent = PPO(env, learning_rate=3e-3, seed=1, verbose=0)
    agent.learn(env, 16 * 6 * 25, progress_bar=False)
    rewards = [row["rollout/batch_rew_mean"] for row in agent.logger.history]
    kls = [row["charts/kl"] for row in agent.logger.history]
    assert np.mean(rewards[-5:]) > np.mean(rewards[:5]) + 1.0
    assert all(np.isfinite(kls)) and max(kls) < 50
    for name in ("losses/policy_loss", "losses/value_loss", "losses/approx_kl", "charts/kl_coef"):
        assert np.isfinite(agent.logger.history[-1][name])


def test_value_head_learns_at_its_own_rate(toys):
    """Only the head gets ``value_learning_rate``: after one Adam step (whose size per weight
    is about its rate) the head has moved by 3e-2 and the LM by at most 1e-4."""
    env = toys.toy_token_env(num_envs=8)
    agent = PPO(
        env,
        learning_rate=1e-4,
        value_learning_rate=3e-2,
        num_epochs=1,
        num_minibatches=1,
        seed=1,
        verbose=0,
    )
    head = list(agent.policy.value_head.parameters())
    trunk = [p for p in agent.policy.parameters() if all(p is not h for h in head)]
    before = [p.detach().clone() for p in head + trunk]
    agent.learn(env, 8, progress_bar=False)  # one batch of episodes: one optimiser step
    moved = [(p.detach() - b).abs().max().item() for p, b in zip(head + trunk, before)]
    assert 0.9 * 3e-2 < max(moved[: len(head)]) <= 1.01 * 3e-2
    assert 0 < max(moved[len(head) :]) <= 1.01 * 1e-4


def test_predict_single_and_batched_observations(toys):
    env = toys.toy_token_env(num_envs=3)
    agent = PPO(env, verbose=0)
    obs, _ = env.reset(seed=0)
    batch_actions = agent.predict(obs, deterministic=True)
    assert batch_actions.shape == (3,) and env.action_space.contains(batch_actions)
    single = {key: value[1] for key, value in obs.items()}
    assert agent.predict(single, deterministic=True) == batch_actions[1]
    prompts = torch.as_tensor(obs["input_ids"][:, :3])
    greedy = agent.policy.start(prompts, torch.ones_like(prompts))[0].argmax(-1)
    assert batch_actions.tolist() == greedy.tolist()
    tensor_obs = {key: torch.as_tensor(value) for key, value in obs.items()}
    assert isinstance(agent.predict(tensor_obs), torch.Tensor)


def test_a_single_env_runs_as_a_batch_of_one(toys):
    env = toys.toy_single_env()
    agent = PPO(env, verbose=0, num_minibatches=1)
    agent.learn(env, 12, progress_bar=False)
    assert agent.num_timesteps >= 12 and len(agent.episode_returns) >= 2


def _learn_inside_clm(toys, total: int, **config) -> tuple[PPO, CLMAlternation]:
    env = toys.toy_token_env(num_envs=4)
    agent = PPO(env, learning_rate=1e-3, num_minibatches=1, verbose=0, **config)
    wrapped = CLMAlternation(env, agent.model, r_clm=1, r_rl=2, batch_size=8)
    agent.learn(wrapped, total, progress_bar=False)
    return agent, wrapped


def _equal_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))


def test_ppo_inside_clm_alternation_measures_its_own_drift_on_every_batch(toys):
    agent, wrapped = _learn_inside_clm(toys, 100)
    rows = agent.logger.history
    assert len(rows) >= 5 and wrapped.schedule.clm_steps == (len(rows) + 1) // 2
    assert rows[-1]["rollout/clm_loss_mean"] > 0
    # Slots c r r c r r ...: the reference is the wrapper's CLM-only twin, so the penalty sees
    # all the drift PPO has accumulated, on the first batch after each CLM block too (a
    # reference re-taken from the policy after each block made it exactly 0 there). Before
    # PPO's first update the policy is the twin: KL 0.
    kls = [row["charts/kl"] for row in rows]
    assert abs(kls[0]) < 1e-6
    assert all(kl > 1e-3 for kl in kls[1:])
    assert all(kl > 1e-3 for kl in kls[2::2])  # the first batches after a CLM block
    assert agent.env_reference is wrapped.reference_model
    # The twin got the CLM updates and none of PPO's: it is a CLM-only replay of the initial
    # model, and the policy is not.
    replay = toys.tiny_lm().model
    schedule = CLMAlternation(toys.toy_token_env(), replay, r_clm=1, batch_size=8).schedule
    for _ in range(wrapped.model_updates):
        schedule.clm_step()
    assert _equal_weights(wrapped.reference_model, replay)
    assert not _equal_weights(agent.model, replay)
    # The KL to the initial model is still reported, and the initial model is kept intact.
    assert all(row["charts/kl_initial"] != row["charts/kl"] for row in rows[1:])
    assert max(row["charts/kl_initial"] for row in rows) > 0.1
    assert _equal_weights(agent.reference, toys.tiny_lm().model)
    assert agent.reference is not agent.model and not agent.reference.training


def test_ppo_can_keep_the_initial_model_as_its_reference(toys):
    agent, _ = _learn_inside_clm(toys, 60, reference_follows_env=False)
    assert agent.env_reference is None
    assert _equal_weights(agent.reference, toys.tiny_lm().model)
    assert all(row["charts/kl"] == row["charts/kl_initial"] for row in agent.logger.history)


def test_a_single_env_reference_follows_only_the_wrapper_training_the_policy(toys):
    """PPO runs a single env as a one-row vector env, yet reads the wrapper's declared
    ``trained_model`` / ``model_updates`` from the env it was given."""
    env = toys.toy_single_env()
    agent = PPO(env, num_envs=1, num_minibatches=1, verbose=0)
    wrapped = CLMAlternation(env, agent.model, r_clm=2, batch_size=8)
    agent.learn(wrapped, 1, progress_bar=False)  # one episode: two CLM updates before it
    assert wrapped.model_updates == 2 and agent.env_reference is wrapped.reference_model

    env = toys.toy_single_env()
    agent = PPO(env, num_envs=1, num_minibatches=1, verbose=0)
    other = CLMAlternation(env, toys.tiny_lm().model, r_clm=2, batch_size=8)
    agent.learn(other, 1, progress_bar=False)
    assert other.model_updates == 2
    assert agent.env_reference is None  # another model's updates are no concern of PPO's


def test_a_wrapper_training_the_policy_without_a_twin_is_refused_before_training(toys):
    env = toys.toy_token_env(num_envs=2)
    agent = PPO(env, num_minibatches=1, verbose=0)
    wrapped = CLMAlternation(env, agent.model, batch_size=8, keep_reference=False)
    with pytest.raises(ValueError, match="reference_follows_env=False"):
        agent.learn(wrapped, 4, progress_bar=False)
    assert agent.num_timesteps == 0 and wrapped.model_updates == 0
    agent = PPO(env, num_minibatches=1, verbose=0, reference_follows_env=False)
    agent.learn(wrapped, 4, progress_bar=False)
    assert agent.iteration == 1 and agent.env_reference is None


def test_min_new_tokens_rules_out_early_eos_when_sampling_and_scoring(toys):
    env = toys.toy_token_env(num_envs=8, max_new_tokens=5)
    lm = env.generating_model
    eos = lm.tokenizer.eos_token_id
    with torch.no_grad():  # make EOS the likeliest token by far
        lm.model.get_output_embeddings().weight[eos] *= 0
        lm.model.get_output_embeddings().bias = torch.nn.Parameter(
            torch.nn.functional.one_hot(torch.tensor(eos), len(lm.tokenizer)).float() * 20
        )
    free = LMPolicy(lm.model, lm.tokenizer, action_size=env.single_action_space.n)
    forced = LMPolicy(
        lm.model, lm.tokenizer, action_size=env.single_action_space.n, min_new_tokens=5
    )
    generator = torch.Generator().manual_seed(0)
    assert collect_token_rollout(env, free, generator, seed=0).lengths.max() == 1
    rollout = collect_token_rollout(env, forced, generator, seed=0)
    assert (rollout.lengths == 5).all()
    logprobs, entropy, _ = forced.evaluate(rollout.sequences, rollout.prompt_mask)
    torch.testing.assert_close(rollout.logprobs, logprobs.detach(), atol=1e-5, rtol=0)
    assert torch.isfinite(entropy).all()


def test_save_and_load_with_an_in_memory_model(toys, tmp_path):
    env = toys.toy_token_env(num_envs=4)
    agent = PPO(env, num_minibatches=1, verbose=0)
    agent.learn(env, 20, progress_bar=False)
    path = agent.save(tmp_path / "ppo.pt")
    fresh = toys.tiny_lm(seed=5)
    loaded = PPO.load(path, env=env, model=fresh, verbose=0)
    assert loaded.model is fresh.model and loaded.config.verbose == 0
    for name, tensor in agent.policy.state_dict().items():
        assert torch.equal(loaded.policy.state_dict()[name], tensor), name
    with pytest.raises(ValueError, match="not a"):
        Reinforce.load(path, env=env)


def test_a_single_env_plays_num_envs_episodes_per_update(toys):
    """Issue 19 item 4: a single env trained on one episode per batch whatever num_envs said."""
    env = toys.toy_single_env(max_new_tokens=4)
    agent = PPO(env, num_envs=5, num_minibatches=1, num_epochs=1, verbose=0)
    agent.learn(env, total_timesteps=1, progress_bar=False)  # the first batch is finished
    assert agent.iteration == 1 and len(agent.episode_returns) == 5
    assert agent.num_timesteps == sum(agent.episode_lengths)


def test_stacked_episodes_keep_prompts_of_other_widths_right_aligned_and_masked(toys):
    """A single env's episodes may have prompt blocks of different widths (prompts cut by
    words): stacking pads the narrower ones on the left, masked, and scores them unchanged."""
    env = toys.toy_token_env(num_envs=3, max_new_tokens=4)
    lm = env.generating_model
    policy = LMPolicy(lm.model, lm.tokenizer, action_size=env.single_action_space.n)
    wide = collect_token_rollout(env, policy, torch.Generator().manual_seed(0), seed=1)
    narrow = collect_token_rollout(env, policy, torch.Generator().manual_seed(1), seed=2)
    narrow.prompt_ids, narrow.prompt_mask = narrow.prompt_ids[:, 1:], narrow.prompt_mask[:, 1:]
    stacked = stack_rollouts([wide, narrow], filler=0)
    assert stacked.prompt_ids.shape == (6, 3)
    assert stacked.prompt_mask[3:, 0].sum() == 0
    assert torch.equal(stacked.prompt_ids[3:, 1:], narrow.prompt_ids)
    alone, _, _ = policy.evaluate(narrow.sequences, narrow.prompt_mask, with_values=False)
    together, _, _ = policy.evaluate(stacked.sequences, stacked.prompt_mask, with_values=False)
    steps = narrow.actions.shape[1]
    mask = narrow.mask.bool()
    torch.testing.assert_close(
        together[3:, :steps].detach()[mask], alone.detach()[mask], atol=1e-5, rtol=0
    )


def test_tables_are_printed_every_log_interval_iterations_and_after_the_last(toys, monkeypatch):
    """Issue 19 item 4: one table per update flooded stdout; the CSV rows stay complete."""
    import io

    from lm_gym.agents import Logger, base

    stream = io.StringIO()
    env = toys.toy_token_env(num_envs=2, max_new_tokens=3)
    agent = PPO(env, num_minibatches=1, num_epochs=1, logger=Logger(stream=stream))
    bars = []

    class RecordingBar:
        def __init__(self, *, total, initial, **_):
            self.total, self.n = total, initial
            bars.append(self)

        def update(self, steps):
            self.n += steps

        def close(self):
            pass

    monkeypatch.setattr(base, "tqdm", RecordingBar)
    agent.learn(env, total_timesteps=13, log_interval=2)  # 3 steps a row: past 13 mid-batch
    assert agent.iteration == 3 and agent.num_timesteps > 13
    assert len(agent.logger.history) == 3
    assert stream.getvalue().count("| time/iterations") == 2  # after iterations 2 and 3
    assert bars[0].n == 13  # the bar stops at its total
    with pytest.raises(ValueError, match="log_interval"):
        agent.learn(env, total_timesteps=1, log_interval=0)
