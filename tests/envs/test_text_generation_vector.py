"""The native vector env: batched steps, the three autoreset modes, tensors, bad actions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode

from lm_gym import check_env
from lm_gym.envs import TextGenerationVectorEnv
from lm_gym.envs.text_generation_batch import GenerationBatch  # its two update paths, below
from lm_gym.models import LM

K, NEW, N = 4, 3, 5


@pytest.fixture
def tokenizer(tiny_lm):
    return tiny_lm[1]


def make(tokenizer, sentences, reward, **kwargs) -> TextGenerationVectorEnv:
    kwargs = {"num_envs": N, "prompt_tokens": K, "max_new_tokens": NEW, **kwargs}
    return TextGenerationVectorEnv(tokenizer, sentences, reward, **kwargs)


def token(tokenizer, word: str) -> int:
    return tokenizer(word, add_special_tokens=False)["input_ids"][0]


def test_spaces_metadata_and_reset(tokenizer, sentences, length_reward):
    env = make(tokenizer, sentences, length_reward)
    assert env.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    assert env.action_space.shape == (N,) and env.single_action_space.n == len(tokenizer)
    assert env.observation_space["input_ids"].shape == (N, K + NEW)
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert info["_prompt"].all()
    for row in range(N):
        assert info["prompt"][row] == tokenizer.decode(obs["input_ids"][row, :K])


def test_a_batched_step_scores_finished_rows_in_one_call(tokenizer, sentences, length_reward):
    env = make(tokenizer, sentences, length_reward)
    obs, _ = env.reset(seed=1)
    eos, cat = tokenizer.eos_token_id, token(tokenizer, "cat")
    actions = np.array([eos, cat, eos, cat, cat])
    obs, rewards, terminated, truncated, info = env.step(actions)
    assert terminated.tolist() == [True, False, True, False, False] and not truncated.any()
    assert len(length_reward.calls) == 1 and len(length_reward.calls[0][0]) == 2
    assert info["_completion"].tolist() == terminated.tolist()
    assert info["completion"][0] == "" and rewards.tolist() == [0.0] * N
    np.testing.assert_array_equal(obs["input_ids"][:, K], actions)
    for _ in range(NEW - 1):
        obs, rewards, terminated, truncated, info = env.step(np.full(N, cat))
    # NEXT_STEP: rows 0 and 2 were reset on the step after they ended (action ignored).
    assert truncated.tolist() == [False, True, False, True, True]
    assert rewards[1] == len(info["completion"][1]) > 0
    assert info["prompt_chars"][1] == len(info["prompt"][1])
    assert obs["attention_mask"][0].sum() == K + NEW - 2


def test_next_step_autoreset_ignores_the_action_and_gives_a_new_prompt(
    tokenizer, sentences, length_reward
):
    env = make(tokenizer, sentences, length_reward)
    env.reset(seed=2)
    eos = tokenizer.eos_token_id
    env.step(np.full(N, eos))
    obs, rewards, terminated, truncated, info = env.step(np.full(N, eos))
    assert not (terminated | truncated).any() and not rewards.any()
    assert info["_prompt"].all() and "_completion" not in info
    assert obs["attention_mask"].sum(axis=1).tolist() == [K] * N


def test_same_step_autoreset_reports_the_final_episode(tokenizer, sentences, length_reward):
    env = make(tokenizer, sentences, length_reward, autoreset_mode="SameStep")
    assert env.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    env.reset(seed=3)
    eos, cat = tokenizer.eos_token_id, token(tokenizer, "cat")
    obs, rewards, terminated, _, info = env.step(np.array([eos, cat, cat, cat, eos]))
    rows = [0, 4]
    assert info["_final_obs"].tolist() == terminated.tolist() == [True, False, False, False, True]
    for row in rows:
        final = info["final_obs"][row]
        assert final["input_ids"][K] == eos and final["attention_mask"].sum() == K + 1
        assert info["final_info"]["_completion"][row]
        assert info["prompt"][row] == tokenizer.decode(obs["input_ids"][row, :K])
    assert obs["attention_mask"][rows].sum(axis=1).tolist() == [K, K]  # already reset
    assert obs["attention_mask"][1].sum() == K + 1


def test_disabled_autoreset_needs_a_masked_reset(tokenizer, sentences, length_reward):
    env = make(tokenizer, sentences, length_reward, autoreset_mode=AutoresetMode.DISABLED)
    obs, _ = env.reset(seed=4)
    eos, cat = tokenizer.eos_token_id, token(tokenizer, "cat")
    obs, _, terminated, _, _ = env.step(np.array([cat, eos, cat, cat, cat]))
    with pytest.raises(RuntimeError, match=r"rows \[1\].*reset_mask"):
        env.step(np.full(N, cat))
    before = obs["input_ids"].copy()
    obs, info = env.reset(options={"reset_mask": terminated})
    assert info["_prompt"].tolist() == terminated.tolist()
    np.testing.assert_array_equal(obs["input_ids"][~terminated], before[~terminated])
    assert obs["attention_mask"][1].sum() == K
    env.step(np.full(N, cat))  # every row is running again


@pytest.mark.parametrize(
    ("mask", "error"),
    [
        ([True] * N, TypeError),
        (np.ones(N, dtype=int), TypeError),
        (np.ones(N + 1, dtype=bool), ValueError),
        (np.zeros(N, dtype=bool), ValueError),
    ],
)
def test_bad_reset_masks(tokenizer, sentences, length_reward, mask, error):
    env = make(tokenizer, sentences, length_reward)
    env.reset(seed=0)
    with pytest.raises(error):
        env.reset(options={"reset_mask": mask})


def test_bad_reset_arguments(tokenizer, sentences, length_reward):
    env = make(tokenizer, sentences, length_reward)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(N, dtype=np.int64))
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(options={"low": 0})
    with pytest.raises(TypeError, match="seed"):
        env.reset(seed=[1, 2])
    with pytest.raises(ValueError, match="autoreset_mode"):
        make(tokenizer, sentences, length_reward, autoreset_mode="sometimes")
    with pytest.raises(ValueError, match="num_envs"):
        make(tokenizer, sentences, length_reward, num_envs=0)


def test_tensor_observations_match_numpy_bit_for_bit(tokenizer, sentences, length_reward):
    plain = make(tokenizer, sentences, length_reward)
    tensors = make(tokenizer, sentences, length_reward, tensor_device="cpu")
    obs_np, _ = plain.reset(seed=5)
    obs_t, _ = tensors.reset(seed=5)
    assert isinstance(obs_t["input_ids"], torch.Tensor) and obs_t["input_ids"].dtype == torch.int64
    generator = np.random.default_rng(0)
    for _ in range(2 * NEW + 2):
        actions = generator.integers(len(tokenizer), size=N)
        out_np = plain.step(actions)
        out_t = tensors.step(torch.from_numpy(actions))
        for key in ("input_ids", "attention_mask"):
            np.testing.assert_array_equal(out_np[0][key], out_t[0][key].numpy())
        for a, b in zip(out_np[1:4], out_t[1:4]):
            np.testing.assert_array_equal(a, b)


def test_observations_are_copies(tokenizer, sentences, length_reward):
    env = make(tokenizer, sentences, length_reward, tensor_device="cpu")
    obs, _ = env.reset(seed=0)
    kept = obs["input_ids"].clone()
    env.step(torch.full((N,), token(tokenizer, "cat")))
    assert torch.equal(obs["input_ids"], kept)


def test_bad_batched_actions_change_nothing(tokenizer, sentences, length_reward):
    env = make(tokenizer, sentences, length_reward, tensor_device="cpu", render_mode="ansi")
    env.reset(seed=6)
    before = env.render()
    rng_state = env.np_random.bit_generator.state
    bad = [
        (torch.full((N,), len(tokenizer)), ValueError),
        (np.full(N, -1), ValueError),
        (np.zeros((N, 2), dtype=np.int64), ValueError),
        (np.zeros(N + 1, dtype=np.int64), ValueError),
        (np.zeros(N, dtype=np.float32), TypeError),
        (torch.zeros(N, dtype=torch.bool), TypeError),
    ]
    for action, error in bad:
        with pytest.raises(error):
            env.step(action)
    assert env.render() == before
    assert env.np_random.bit_generator.state == rng_state
    # the next valid step gives what it gives on an env that never saw the bad actions
    fresh = make(tokenizer, sentences, length_reward, tensor_device="cpu")
    fresh.reset(seed=6)
    actions = torch.full((N,), token(tokenizer, "cat"))
    after, expected = env.step(actions), fresh.step(actions)
    assert all(torch.equal(after[0][k], expected[0][k]) for k in expected[0])
    for a, b in zip(after[1:4], expected[1:4]):
        np.testing.assert_array_equal(a, b)


def test_sequence_mode_batch(tokenizer, sentences, length_reward):
    env = make(tokenizer, sentences, length_reward, mode="sequence", autoreset_mode="SameStep")
    env.reset(seed=7)
    eos, cat = tokenizer.eos_token_id, token(tokenizer, "cat")
    actions = np.full((N, NEW), cat)
    actions[0, 0] = eos
    actions[1, 1] = eos
    _, rewards, terminated, truncated, info = env.step(actions)
    assert terminated.all() and not truncated.any()
    lengths = [final["attention_mask"].sum() - K for final in info["final_obs"]]
    assert lengths == [1, 2, NEW, NEW, NEW]
    assert rewards[0] == 0.0 and rewards[2] > 0


def test_the_generating_model_is_declared(tiny_lm, sentences, length_reward):
    model, tokenizer = tiny_lm
    assert make(tokenizer, sentences, length_reward).generating_model is None
    lm = LM(model, tokenizer)
    assert make(tokenizer, sentences, length_reward, generating_model=lm).generating_model is lm
    with pytest.raises(TypeError, match="generating_model"):
        make(tokenizer, sentences, length_reward, generating_model=(model, tokenizer, None))


def test_render(tokenizer, sentences, length_reward):
    env = make(tokenizer, sentences, length_reward, render_mode="ansi")
    _, info = env.reset(seed=0)
    assert env.render() == tuple(f"{p}[]" for p in info["prompt"])


@pytest.mark.parametrize("mode", ["token", "sequence"])
@pytest.mark.parametrize("autoreset", ["NextStep", "SameStep", "Disabled"])
def test_lm_gym_check_env_on_the_vector_env(tokenizer, sentences, length_reward, mode, autoreset):
    env = make(tokenizer, sentences, length_reward, mode=mode, autoreset_mode=autoreset)
    check_env(env, steps=12)


@pytest.mark.parametrize("mode", ["token", "sequence"])
def test_numpy_views_and_torch_updates_agree(tokenizer, sentences, length_reward, mode):
    """The CPU fast path (NumPy views) and the torch path other devices use are the same."""
    env = make(tokenizer, sentences, length_reward, mode=mode, autoreset_mode="SameStep")
    shape = (N,) if mode == "token" else (N, NEW)
    actions = np.random.default_rng(0).integers(len(tokenizer), size=(12, *shape))
    actions[3, 0] = tokenizer.eos_token_id

    def run(numpy_views: bool) -> list:
        batch = GenerationBatch(env.task, N, torch.device("cpu"), numpy_views=numpy_views)
        rng = np.random.default_rng(1)
        trace = [batch.reset_rows(np.ones(N, dtype=bool), rng)]
        for action in actions:
            rewards, terminated, truncated, _ = batch.step(torch.from_numpy(action), ~batch.done)
            trace += [batch.observation(), rewards, terminated, truncated]
            if batch.done.any():
                trace.append(batch.reset_rows(batch.done.copy(), rng))
        return trace

    assert repr(run(True)) == repr(run(False))
