"""One PPO iteration: lm_gym's token-level PPO vs TRL's GRPOTrainer doing the same work.

Both sides use the tiny default baby (``baby-en``) as the policy and the parent-perplexity
reward of ``parent-it``, and per iteration: sample 16 completions of exactly 20 new tokens
(TRL: 4 prompts x 4 generations, ``min_new_tokens=20``; lm_gym: 16 prompts, EOS ruled out for
20 tokens), score them with the parent, run a frozen reference model for the KL term, and take
4 optimisation steps over the whole batch (TRL: ``num_iterations=4``; lm_gym: 4 epochs of one
minibatch). TRL's config is the one in DESIGN.md section 7 (``beta=0.04``, CPU, no bf16).
Both sides run single-threaded: on a shared 2-core machine, two torch threads per process
make timings swing by several times, and a single thread is the conservative choice for
lm_gym, whose time is mostly matrix products that would gain from a second thread.

Run with ``make bench`` (or ``pytest tests/benchmarks/test_bench_ppo.py --benchmark-enable``);
the group is ``ppo_iteration`` with params ``lm_gym`` and ``reference``, and the claim is
reference / lm_gym median >= 2.5, read from the benchmark table. Without
``--benchmark-enable`` each side runs once as a plain test, on the micro recipes so that
``make test`` stays fast.
"""

from __future__ import annotations

import functools

import gymnasium as gym
import pytest
import torch
from support import MICRO_MODELS

import lm_gym.registration  # noqa: F401  (registers Bambino-v0)
from lm_gym.agents.ppo import PPO

PROMPTS, NEW_TOKENS, EPOCHS, GENERATIONS = 16, 20, 4, 4
SEED = 0


DEFAULT_MODELS = {"baby_model": "baby-en", "parent_model": "parent-it", "device": "cpu"}


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    """One torch thread during these benchmarks (see the module docstring)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@functools.cache
def bambino_env(models: str):
    """Token-mode Bambino with 16 rows and 20-token episodes (``"default"`` or ``"micro"``)."""
    kwargs = DEFAULT_MODELS if models == "default" else MICRO_MODELS
    return gym.make_vec("Bambino-v0", num_envs=PROMPTS, max_new_tokens=NEW_TOKENS, **kwargs)


def _lm_gym_iteration(env):
    agent = PPO(
        env,
        num_epochs=EPOCHS,
        num_minibatches=1,
        min_new_tokens=NEW_TOKENS,
        seed=SEED,
        device="cpu",
        verbose=0,
    )

    def iteration() -> None:
        agent.learn(env, PROMPTS * NEW_TOKENS, progress_bar=False)

    return iteration, agent


def _reference_iteration(env, folder):
    trl = pytest.importorskip("trl", reason="TRL (the 'bench' extra) is not installed: skipped")
    datasets = pytest.importorskip("datasets", reason="datasets is not installed: skipped")
    model, tokenizer = env.unwrapped.generating_model
    # TRL rebuilds the reference model from the policy's folder (an in-memory model with
    # beta > 0 fails), so the baby is saved first.
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    prompts = list(env.unwrapped.task.prompt_texts[: PROMPTS // GENERATIONS])
    args = trl.GRPOConfig(
        output_dir=str(folder / "out"),
        per_device_train_batch_size=PROMPTS,
        num_generations=GENERATIONS,
        max_completion_length=NEW_TOKENS,
        steps_per_generation=1,
        num_iterations=EPOCHS,
        beta=0.04,
        use_cpu=True,
        bf16=False,
        generation_kwargs={"min_new_tokens": NEW_TOKENS},
        max_steps=EPOCHS,  # one generation, then 4 optimisation steps on it
        report_to=[],
        save_strategy="no",
        logging_steps=EPOCHS,
        disable_tqdm=True,
        seed=SEED,
    )
    trainer = trl.GRPOTrainer(
        model=str(folder),
        reward_funcs=env.unwrapped.task.reward_fn,
        args=args,
        train_dataset=datasets.Dataset.from_dict({"prompt": prompts * GENERATIONS}),
        processing_class=tokenizer,
    )
    return trainer.train, trainer


@pytest.mark.benchmark(group="ppo_iteration")
@pytest.mark.filterwarnings("ignore::FutureWarning")  # TRL internals
@pytest.mark.parametrize("side", ["lm_gym", "reference"])
def test_ppo_iteration(benchmark, side, tmp_path):
    env = bambino_env("micro" if benchmark.disabled else "default")
    if side == "lm_gym":
        iteration, agent = _lm_gym_iteration(env)
    else:
        iteration, trainer = _reference_iteration(env, tmp_path)
    iteration()  # warm-up outside the timing (first-call allocations, TRL's lazy setup)
    benchmark.pedantic(iteration, rounds=10, iterations=1)
    if side == "lm_gym":
        assert agent.logger.history[-1]["rollout/ep_len_mean"] == NEW_TOKENS
        assert agent.num_timesteps == PROMPTS * NEW_TOKENS
    else:
        logged = [row for row in trainer.state.log_history if "reward" in row]
        assert logged, "GRPOTrainer logged no reward"
