"""Checkpoints: N steps in one go equal N/2 + N/2 with a new process in between; files are
read safely (no pickled code runs) and every bad file or mismatched env is a clear error."""

from __future__ import annotations

import pickle
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from lm_gym.agents import PPO, Reinforce
from lm_gym.agents.checkpoint import (
    CheckpointError,
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
    resumed = torch.load(out, weights_only=True)
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

    with pytest.raises(TypeError, match=r"checkpoint\['bad'\] is a object; .*plain data"):
        atomic_torch_save({"a": torch.arange(2), "bad": object()}, path)
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


class _Payload:
    """Unpickling this creates ``marker``: what a crafted checkpoint's shell command would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _malicious_files(folder: Path) -> list[Path]:
    """The payload as a checkpoint in three shapes: a torch archive that claims the agent
    format, torch's legacy (non-zip) format, and a bare pickle."""
    marker = folder / "payload-ran"
    checkpoint = {"format": "lm_gym.agent/2", "config": _Payload(marker)}
    archive, legacy, bare = folder / "archive.pt", folder / "legacy.pt", folder / "bare.pt"
    torch.save(checkpoint, archive)
    torch.save(checkpoint, legacy, _use_new_zipfile_serialization=False)
    bare.write_bytes(pickle.dumps(checkpoint))
    return [archive, legacy, bare]


@pytest.mark.parametrize("loader", ["ppo", "sb3-ppo"])
def test_a_malicious_checkpoint_is_refused_and_its_payload_never_runs(toys, tmp_path, loader):
    if loader == "sb3-ppo":
        pytest.importorskip("stable_baselines3")
        from lm_gym.agents import SB3PPO

        def load(path):
            return SB3PPO.load(path, env=toys.toy_single_env())
    else:

        def load(path):
            return PPO.load(path, env=toys.toy_token_env(num_envs=2))

    for path in _malicious_files(tmp_path):
        with pytest.raises(CheckpointError, match=re.escape(str(path))):
            load(path)
        assert not (tmp_path / "payload-ran").exists(), f"{path.name} ran its payload"


def test_empty_truncated_and_foreign_files_are_named_errors(toys, tmp_path):
    env = toys.toy_token_env(num_envs=2)
    agent = PPO(env, num_minibatches=1, seed=0, verbose=0)
    whole = agent.save(tmp_path / "whole.pt").read_bytes()
    files = {
        "empty": b"",
        "truncated": whole[: len(whole) // 2],
        "text": b"not a checkpoint",
        "foreign": None,
    }
    for name, content in files.items():
        path = tmp_path / f"{name}.pt"
        if content is None:
            torch.save({"weights": torch.zeros(2)}, path)
        else:
            path.write_bytes(content)
        with pytest.raises(CheckpointError, match=re.escape(str(path))):
            PPO.load(path, env=env)
    with pytest.raises(CheckpointError, match="lm_gym.agents.ppo:PPO agent, not a"):
        Reinforce.load(tmp_path / "whole.pt", env=toys.toy_single_env("sequence"))


def test_a_checkpoint_loaded_into_another_env_shape_says_what_was_saved_and_given(toys, tmp_path):
    vector = toys.toy_token_env(num_envs=8)
    agent = PPO(vector, num_minibatches=1, seed=0, verbose=0)
    agent.learn(vector, 48, progress_bar=False)
    path = agent.save(tmp_path / "eight.pt")
    cases = [
        (
            toys.toy_single_env(),
            r"saved from a vector env TextGenerationVectorEnv of num_envs=8.*"
            r"loaded into a vector env SyncVectorEnv\[TextGenerationEnv\] of num_envs=1",
        ),
        (toys.toy_token_env(num_envs=4), "num_envs=8.*loaded into .*num_envs=4"),
    ]
    for env, match in cases:
        with pytest.raises(ValueError, match=match):
            PPO.load(path, env=env)


def test_checkpoints_hold_only_tensors_and_plain_data(toys, tmp_path):
    env = toys.toy_token_env(num_envs=2)
    wrapped = CLMAlternation(env, env.generating_model.model, **CLM)
    agent = PPO(env, num_minibatches=1, seed=0, verbose=0)
    agent.learn(wrapped, 24, progress_bar=False)
    path = agent.save(tmp_path / "agent.pt")
    checkpoint = torch.load(path, weights_only=True)  # raises on any other object
    assert checkpoint["format"] == "lm_gym.agent/2"
    resumed = PPO.load(path, env=wrapped)
    assert resumed.num_timesteps == agent.num_timesteps
