"""The CUDA paths against the CPU: every env with ``tensor_device="cuda"``, PPO with bf16
autocast, the batched students. Marked ``gpu`` and skipped without CUDA; ``make gpu-check``
runs them (and the GPU benchmark, ``tests/benchmarks/gpu_check.py``).

Each test plays the same seeded episodes on the CPU (float32) and on the GPU and compares:

* **Observations** (token ids, masks, pools) must be equal: they come from the envs' NumPy
  generators, whatever the device.
* **Rewards of the text envs** (parent perplexity, reward model), **log-probabilities** and
  **values** come from models run under bfloat16 autocast on CUDA, whose 8-bit mantissa
  rounds every product to about 0.4%: within :data:`BF16`. **PPO's logged losses** after an
  update on the same batch: within :data:`LOSSES`. Both bounds are 4 to 10 times what the
  same comparisons measured on the CPU with bfloat16 autocast against float32 (micro models,
  seeded: rewards 0.3% relative and 0.014 absolute at most, log-probabilities 0.0085 nats,
  policy loss 1.2%, KL 5e-4), leaving room for CUDA's kernels, which were not measured.
* **The students** and the teacher envs stay in float32 on CUDA (no autocast; TF32 is off by
  PyTorch's default): students after 50 updates within :data:`FLOAT32` (a one-ulp nudge of
  their initial weights moved their perplexities by 5e-7); the teacher envs' rewards, after
  their students' 300-400 updates, within :data:`TEACHER_REWARDS`: that training amplifies
  rounding (the same one-ulp nudge moved single perplexities by 6% and the mean
  log-perplexity, the reward, by 0.17%).
"""

from __future__ import annotations

import copy
import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from support import MICRO_MODELS, MICRO_STORIES, MICRO_TEACHER

import lm_gym.registration  # noqa: F401  (registers the envs)
from lm_gym.agents import PPO, collect_token_rollout
from lm_gym.agents.base import torch_generator
from lm_gym.agents.untrained import LMSampleAgent
from lm_gym.corpora.artificial import domains_task
from lm_gym.envs.students import BatchedStudents, StudentConfig, WordVocabulary
from lm_gym.registration import ENVIRONMENTS

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (make gpu-check)"),
]

GPU = "cuda"
"""The device under test (a calibration run can point it at the CPU with bf16 autocast)."""
BF16 = {"rel": 0.05, "abs": 0.05}
"""Rewards, log-probabilities and values computed under bfloat16 autocast (module docstring)."""
LOSSES = {"rel": 0.1, "abs": 2e-3}
"""PPO's logged losses and KL after one update under bfloat16 autocast."""
FLOAT32 = {"rel": 1e-4, "abs": 1e-6}
"""Float32 work on the GPU instead of the CPU: teacher embeddings, students after 50 updates."""
TEACHER_REWARDS = {"rel": 2e-2, "abs": 1e-3}
"""The teacher envs' rewards (students trained for hundreds of updates, float32)."""
STEPS = 6
"""Env steps compared per env."""


def env_kwargs(env_id: str, device: str) -> dict:
    """The micro models of ``env_id``'s family, on ``device``."""
    family = ENVIRONMENTS[env_id]["entry_point"]
    micro = MICRO_STORIES if "babystories" in family else MICRO_MODELS
    if "teacher" in family:
        micro = MICRO_TEACHER
    kwargs = {**micro, "device": device}
    if "teacher" not in family:
        kwargs["max_new_tokens"] = STEPS
        if device != "cpu":
            kwargs["tensor_device"] = device
    return kwargs


def as_numpy(value):
    """A tensor (on any device) or array as a NumPy array."""
    return value.cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


@pytest.mark.parametrize("env_id", sorted(ENVIRONMENTS))
def test_every_env_runs_on_cuda_as_on_the_cpu(env_id):
    cpu = gym.make_vec(env_id, num_envs=2, **env_kwargs(env_id, "cpu"))
    gpu = gym.make_vec(env_id, num_envs=2, **env_kwargs(env_id, GPU))
    text = "teacher" not in ENVIRONMENTS[env_id]["entry_point"]
    actor = LMSampleAgent(cpu, seed=0, device="cpu", verbose=0) if text else None
    cpu.action_space.seed(0)
    obs_cpu, _ = cpu.reset(seed=3)
    obs_gpu, _ = gpu.reset(seed=3)
    for _ in range(STEPS):
        for key in ("input_ids", "attention_mask"):
            np.testing.assert_array_equal(as_numpy(obs_gpu[key]), as_numpy(obs_cpu[key]))
        if not text:
            torch.testing.assert_close(
                torch.as_tensor(as_numpy(obs_gpu["embeddings"])),
                torch.as_tensor(as_numpy(obs_cpu["embeddings"])),
                rtol=FLOAT32["rel"],
                atol=FLOAT32["abs"],
            )
        action = actor.predict(obs_cpu) if text else cpu.action_space.sample()
        gpu_action = torch.as_tensor(action, device=GPU) if text else action
        obs_cpu, reward_cpu, *ends_cpu, _ = cpu.step(action)
        obs_gpu, reward_gpu, *ends_gpu, _ = gpu.step(gpu_action)
        for end_cpu, end_gpu in zip(ends_cpu, ends_gpu):
            np.testing.assert_array_equal(as_numpy(end_gpu), as_numpy(end_cpu))
        tolerance = BF16 if text else TEACHER_REWARDS
        assert as_numpy(reward_gpu) == pytest.approx(as_numpy(reward_cpu), **tolerance)
        assert np.isfinite(as_numpy(reward_gpu)).all()


def _agent(device: str, num_envs: int = 8) -> tuple[gym.vector.VectorEnv, PPO]:
    """Bambino on ``device`` (its own copy of the micro models) and PPO acting in it."""
    env = gym.make_vec("Bambino-v0", num_envs=num_envs, **env_kwargs("Bambino-v0", device))
    return env, PPO(env, seed=0, device=device, verbose=0)


def _moved(rollout, device: str):
    """``rollout`` with its tensors on ``device``."""
    moved = copy.copy(rollout)
    for name, value in vars(rollout).items():
        if isinstance(value, torch.Tensor):
            setattr(moved, name, value.to(device))
    return moved


def test_a_ppo_iteration_with_bf16_autocast_on_cuda():
    env, agent = _agent(GPU)
    before = [p.detach().clone() for p in agent.policy.parameters()]
    agent.learn(env, 8 * STEPS, progress_bar=False)
    row = agent.logger.history[-1]
    assert all(math.isfinite(value) for value in row.values()), row
    assert all(p.device.type == torch.device(GPU).type for p in agent.policy.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, agent.policy.parameters()))


def test_ppo_on_cuda_scores_and_updates_a_batch_as_on_the_cpu():
    env, cpu_agent = _agent("cpu")
    rollout = collect_token_rollout(env, cpu_agent.policy, torch_generator(0, "cpu"), seed=0)
    _, gpu_agent = _agent(GPU)
    gpu_agent.policy.load_state_dict(cpu_agent.policy.state_dict())
    gpu_agent.reference.load_state_dict(cpu_agent.reference.state_dict())
    moved = _moved(rollout, GPU)
    logprobs, _, values = gpu_agent.policy.evaluate(moved.sequences, moved.prompt_mask)
    mask = rollout.mask.bool()
    assert logprobs.detach().cpu()[mask] == pytest.approx(rollout.logprobs[mask], **BF16)
    assert values.detach().cpu()[mask] == pytest.approx(rollout.values[mask], **BF16)
    cpu_agent._update(rollout)
    gpu_agent._update(moved)
    cpu_row, gpu_row = cpu_agent.logger.dump(0), gpu_agent.logger.dump(0)
    for key in ("losses/policy_loss", "losses/value_loss", "losses/entropy", "charts/kl"):
        assert gpu_row[key] == pytest.approx(cpu_row[key], **LOSSES), key


def test_batched_students_on_cuda_train_as_on_the_cpu():
    task = domains_task(pool_size=40, exam_size=6, seed=1)
    vocab = WordVocabulary(task.vocabulary)
    train, exam = vocab.encode(task.pool[:10]), vocab.encode(task.exam)
    config = StudentConfig()
    results = {}
    for device in ("cpu", GPU):
        students = BatchedStudents(len(vocab), [1, 2, 3, 4], config, device)
        students.train_on(*train, 50)
        results[device] = students.perplexity(*exam).cpu().flatten().tolist()
    assert results[GPU] == pytest.approx(results["cpu"], **FLOAT32)
