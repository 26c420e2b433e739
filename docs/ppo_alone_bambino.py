"""PPO alone (no CLM) on Bambino-v0's default reward: what it does to the baby's samples.

The README's "PPO alone on the default reward" table: for each seed, 256 samples of the
untrained ``baby-en`` (8 rollouts of 32 prompts), PPO with its defaults for ``--timesteps``
generated tokens, then 256 samples again; mean reward, words per continuation, distinct-2,
the commonest continuations and their share, and PPO's last ``charts/kl``. About 15 minutes per
seed on one CPU thread.

    python docs/ppo_alone_bambino.py --seeds 0 1 2 --scale 40 --learning-rate 1.41e-5

It writes ``ppo_alone_bambino_scale<S>_lr<LR>.json`` to ``runs/docs`` (``--update-docs``: into
``docs/``, replacing the file the README quotes).
"""

from __future__ import annotations

import argparse
import collections
import json
import time
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from outputs import add_output_options, output_dir  # same folder

import lm_gym  # noqa: F401  (registers the envs)
from lm_gym.agents import PPO, PPOConfig, collect_token_rollout
from lm_gym.envs import BambinoConfig
from lm_gym.evaluation import text_metrics

NUM_ENVS, SAMPLE_BATCHES = 32, 8


def sample_summary(env: Any, agent: PPO, seed: int) -> dict[str, Any]:
    """Reward, length, distinct-n and the commonest continuations of 256 fresh samples."""
    completions: list[str] = []
    rewards: list[float] = []
    generator = torch.Generator().manual_seed(1000 + seed)
    for batch in range(SAMPLE_BATCHES):
        rollout = collect_token_rollout(env, agent.policy, generator, seed=10_000 + batch)
        completions += rollout.completions
        rewards += rollout.returns.tolist()
    counts = collections.Counter(text.strip() for text in completions)
    metrics = text_metrics([text for text in completions if text.strip()] or ["."])
    return {
        "reward": float(np.mean(rewards)),
        "words": float(np.mean([len(text.split()) for text in completions])),
        "distinct_2": metrics["distinct_2"],
        "top_share": counts.most_common(1)[0][1] / len(completions),
        "top": counts.most_common(3),
    }


def run_seed(seed: int, scale: float, timesteps: int, learning_rate: float) -> dict[str, Any]:
    """One seed: samples before, PPO alone for ``timesteps`` tokens, samples after."""
    env = gym.make_vec("Bambino-v0", num_envs=NUM_ENVS, device="cpu", scale=scale)
    agent = PPO(env, seed=seed, device="cpu", verbose=0, learning_rate=learning_rate)
    started = time.perf_counter()
    before = sample_summary(env, agent, seed)
    agent.learn(env, timesteps, progress_bar=False)
    after = sample_summary(env, agent, seed)
    last = agent.logger.history[-1]
    env.close()
    return {
        "seed": seed,
        "scale": scale,
        "learning_rate": learning_rate,
        "timesteps": timesteps,
        "before": before,
        "after": after,
        "kl_last": last.get("charts/kl"),
        "kl_coef_last": last.get("charts/kl_coef"),
        "seconds": round(time.perf_counter() - started),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--scale", type=float, default=BambinoConfig.scale, help="tanh(SLOR / scale)"
    )
    parser.add_argument("--timesteps", type=int, default=30_720)
    parser.add_argument("--learning-rate", type=float, default=PPOConfig.learning_rate)
    add_output_options(parser)
    args = parser.parse_args()
    torch.set_num_threads(1)
    runs = [run_seed(seed, args.scale, args.timesteps, args.learning_rate) for seed in args.seeds]
    out = output_dir(args) / f"ppo_alone_bambino_scale{args.scale:g}_lr{args.learning_rate:g}.json"
    out.write_text(json.dumps(runs, indent=1))
    for run in runs:
        b, a = run["before"], run["after"]
        print(
            f"seed {run['seed']}: reward {b['reward']:.3f} -> {a['reward']:.3f}, words "
            f"{b['words']:.2f} -> {a['words']:.2f}, distinct-2 {b['distinct_2']:.3f} -> "
            f"{a['distinct_2']:.3f}, top share {b['top_share']:.0%} -> {a['top_share']:.0%}"
        )
    print(f"written to {out}")


if __name__ == "__main__":
    main()
