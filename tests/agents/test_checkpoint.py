"""Checkpoint and resume: N steps in one go equal N/2 + N/2 with a new process in between."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from lm_gym.agents import PPO
from lm_gym.agents.checkpoint import (
    atomic_torch_save,
    env_state,
    global_rng_state,
    load_checkpoint,
    load_env_state,
    set_global_rng_state,
)
from lm_gym.wrappers import CLMAlternation

TOTAL = 96
CLM = {"r_clm": 1, "r_rl": 1, "batch_size": 8, "seed": 3}

RESUME_SCRIPT = """
import sys, torch
torch.set_num_threads({threads})
sys.path.insert(0, {tests!r})
import toys
from lm_gym.agents import PPO
from lm_gym.wrappers import CLMAlternation
env = toys.toy_token_env(num_envs=4)
wrapped = CLMAlternation(env, env.generating_model.model, **{clm!r})
agent = PPO.load({checkpoint!r}, env=wrapped)
agent.learn(wrapped, {total}, reset_num_timesteps=False, progress_bar=False)
torch.save({{"policy": agent.policy.state_dict(), "kl": agent.kl_controller.value,
            "steps": agent.num_timesteps, "clm_steps": wrapped.schedule.clm_steps,
            "reference": agent.reference.state_dict(),
            "twin": wrapped.reference_model.state_dict()}}, {out!r})
"""


def _train(toys, total: int) -> tuple[PPO, CLMAlternation]:
    env = toys.toy_token_env(num_envs=4)
    wrapped = CLMAlternation(env, env.generating_model.model, **CLM)
    agent = PPO(env, learning_rate=1e-3, num_minibatches=2, seed=7, verbose=0)
    agent.learn(wrapped, total, progress_bar=False)
    return agent, wrapped


def test_resuming_in_a_new_process_gives_bit_identical_weights(toys, tmp_path):
    full, full_env = _train(toys, TOTAL)
    half, half_env = _train(toys, TOTAL // 2)
    assert 0 < half.num_timesteps < full.num_timesteps
    assert half_env.schedule.due  # saved between an update and the CLM slot after it
    checkpoint = half.save(tmp_path / "half.pt")
    out = tmp_path / "resumed.pt"
    script = RESUME_SCRIPT.format(
        threads=torch.get_num_threads(),
        tests=str(Path(toys.__file__).parent),
        clm=CLM,
        checkpoint=str(checkpoint),
        total=TOTAL,
        out=str(out),
    )
    subprocess.run([sys.executable, "-c", textwrap.dedent(script)], check=True, timeout=300)
    resumed = torch.load(out, weights_only=False)
    assert resumed["steps"] == full.num_timesteps
    assert resumed["clm_steps"] == full_env.schedule.clm_steps
    assert resumed["kl"] == full.kl_controller.value
    assert full.env_reference is full_env.reference_model
    for key, module in (
        ("policy", full.policy),
        ("reference", full.reference),
        ("twin", full_env.reference_model),
    ):
        expected = module.state_dict()
        assert resumed[key].keys() == expected.keys()
        for name, tensor in expected.items():
            assert torch.equal(resumed[key][name], tensor), f"{key}: {name}"


def test_atomic_save_replaces_whole_files_only(tmp_path):
    path = atomic_torch_save({"a": torch.arange(3)}, tmp_path / "x.pt")
    atomic_torch_save({"a": torch.arange(5)}, path)
    assert load_checkpoint(path)["a"].tolist() == [0, 1, 2, 3, 4]
    assert [p.name for p in tmp_path.iterdir()] == ["x.pt"]

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("cannot pickle")

    with pytest.raises(RuntimeError):
        atomic_torch_save({"bad": Unpicklable()}, path)
    assert load_checkpoint(path)["a"].tolist() == [0, 1, 2, 3, 4]  # the old file survives
    assert [p.name for p in tmp_path.iterdir()] == ["x.pt"]
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_generator_and_env_states_round_trip(toys):
    state = global_rng_state()
    expected = (torch.rand(3), np.random.rand(3))
    set_global_rng_state(state)
    torch.testing.assert_close(torch.rand(3), expected[0], atol=0, rtol=0)
    np.testing.assert_array_equal(np.random.rand(3), expected[1])

    env = toys.toy_token_env(num_envs=2)
    env.reset(seed=11)
    saved = env_state(env)
    first = env.reset()[0]["input_ids"]
    other = toys.toy_token_env(num_envs=2)
    load_env_state(other, saved)
    np.testing.assert_array_equal(other.reset()[0]["input_ids"], first)
    wrapped = CLMAlternation(toys.toy_token_env(num_envs=2), toys.tiny_lm().model)
    with pytest.raises(ValueError, match="stateful layer"):
        load_env_state(env, env_state(wrapped))
