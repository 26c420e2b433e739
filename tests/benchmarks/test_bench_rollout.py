"""Benchmark: a 64-env Bambino rollout through ``make_vec`` against a bare sampling loop.

Both sides run the same baby LM with a key/value cache on the same 64 prompts: ``<s>`` and
the prompt are fed once, then 16 tokens are sampled one at a time (EOS suppressed, so every
row makes exactly 16 tokens), and the 64 continuations are decoded and scored by the same
parent reward in one call. The lm_gym side gets its prompts from ``env.reset``, feeds each
token to ``env.step`` (tensor observations on the CPU) and takes the rewards the env returns;
the reference draws the prompts itself and decodes and scores the texts by hand. The
difference is the env's own per-step cost, which has to stay small (target: lm_gym
throughput >= 0.9 of the reference).

Run with ``make bench`` (or ``pytest tests/benchmarks/test_bench_rollout.py
--benchmark-enable``); without ``--benchmark-enable`` each side runs once, as a plain test.
The peak-memory test of the default env (``-m slow``) builds the full default models.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import gymnasium as gym
import numpy as np
import pytest
import torch
from support import MICRO_MODELS

import lm_gym.registration  # noqa: F401  (registers Bambino-v0)
from lm_gym.models.clm import bos_id
from lm_gym.models.sampling import continue_decoding, start_decoding

NUM_ENVS, NEW_TOKENS = 64, 16


@pytest.fixture(scope="module")
def env():
    return gym.make_vec(
        "Bambino-v0",
        num_envs=NUM_ENVS,
        max_new_tokens=NEW_TOKENS,
        tensor_device="cpu",
        **MICRO_MODELS,
    )


def sample_next(output, generator: torch.Generator, eos: int) -> torch.Tensor:
    """One sampled token per row from the last position's logits (EOS never sampled)."""
    logits = output.logits[:, -1].float()
    logits[:, eos] = -torch.inf
    return torch.multinomial(logits.softmax(-1), 1, generator=generator)[:, 0]


def rollout_lm_gym(env, seed: int) -> np.ndarray:
    model, tokenizer = env.generating_model
    generator = torch.Generator().manual_seed(seed)
    obs, _ = env.reset(seed=seed)
    width = env.task.prompt_width
    prompts, masks = obs["input_ids"][:, :width], obs["attention_mask"][:, :width]
    with torch.inference_mode():
        output, state = start_decoding(model, prompts, masks, bos_id=bos_id(tokenizer))
        for _ in range(NEW_TOKENS):
            actions = sample_next(output, generator, tokenizer.eos_token_id)
            obs, rewards, terminated, truncated, info = env.step(actions)
            output, state = continue_decoding(model, actions, state)
    assert truncated.all()
    return rewards


def rollout_reference(env, seed: int) -> np.ndarray:
    """The same work without the env: prompts, cached sampling, decoding, one reward call."""
    model, tokenizer = env.generating_model
    prompt_set = env.task.prompts  # the left-padded prompt block, as the env uses it
    reward = env.task.reward_fn
    generator = torch.Generator().manual_seed(seed)
    chosen = np.random.default_rng(seed).integers(len(prompt_set), size=NUM_ENVS)
    prompts = torch.from_numpy(prompt_set.ids[chosen])
    masks = torch.from_numpy(prompt_set.mask[chosen])
    new = []
    with torch.inference_mode():
        output, state = start_decoding(model, prompts, masks, bos_id=bos_id(tokenizer))
        for _ in range(NEW_TOKENS):
            actions = sample_next(output, generator, tokenizer.eos_token_id)
            new.append(actions[:, None])
            output, state = continue_decoding(model, actions, state)
    full = tokenizer.batch_decode(torch.cat([prompts, *new], dim=1), skip_special_tokens=True)
    prompt_texts = [prompt_set.texts[i] for i in chosen]
    completions = [text[len(prompt) :] for text, prompt in zip(full, prompt_texts)]
    return np.asarray(reward(prompt_texts, completions))


@pytest.mark.benchmark(group="rollout")
@pytest.mark.parametrize("side", ["lm_gym", "reference"], ids=["lm_gym", "reference"])
def test_rollout(benchmark, env, side):
    rollout = rollout_lm_gym if side == "lm_gym" else rollout_reference
    # Both sides warm up first: the side that runs first would otherwise pay the one-off
    # costs (allocator growth, first-call dispatch) that the other side finds already paid.
    rounds, warmup = (1, 0) if benchmark.disabled else (40, 5)
    rewards = benchmark.pedantic(
        rollout, args=(env.unwrapped, 0), rounds=rounds, warmup_rounds=warmup, iterations=1
    )
    assert rewards.shape == (NUM_ENVS,) and np.all(np.isfinite(rewards))


def test_both_sides_compute_the_same_rewards(env):
    """The env is a drop-in for the hand-written loop: same prompts, samples and rewards."""
    np.testing.assert_array_equal(
        rollout_lm_gym(env.unwrapped, 3), rollout_reference(env.unwrapped, 3)
    )


MEMORY_SCRIPT = textwrap.dedent(
    """
    import resource
    import gymnasium as gym
    import lm_gym.registration

    env = gym.make_vec("Bambino-v0", num_envs=64, device="cpu")
    env.reset(seed=0)
    env.action_space.seed(0)
    for _ in range(1000):
        env.step(env.action_space.sample())
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """
)


@pytest.mark.slow
def test_default_vector_env_peak_memory():
    """Peak RSS of the default ``Bambino-v0`` with 64 envs over 1,000 random steps <= 1.5 GiB."""
    from lm_gym.models.building import build_recipe

    for name in ("baby-en", "parent-it"):  # build outside the measured process
        build_recipe(name)
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT], capture_output=True, text=True, check=True
    )
    peak_kib = int(result.stdout.split()[-1])
    print(f"peak RSS of Bambino-v0 x64 over 1000 steps: {peak_kib / 1024:.0f} MiB")
    assert peak_kib <= 1.5 * 1024 * 1024
