"""Learning curves of PPO on the default Bambino-v0, with and without CLM alternation.

Three arms on ``Bambino-v0`` with its offline defaults (``baby-en`` continues Italian
parentese prompts, ``parent-it`` rewards by perplexity), the same seed and token budget:

* ``ppo+clm``: token-level PPO while :class:`~lm_gym.wrappers.CLMAlternation` interleaves
  causal-LM updates on the Italian corpus (10 CLM batches : 2 RL batches, BAMBINO-LM's schedule);
* ``clm``: the same schedule with a non-learning sampler (``clm_only``, the paper's "w/o PPO");
* ``ppo``: PPO alone (no CLM), where the KL to the reference measures PPO's own drift.

Writes ``docs/ppo_bambino.png`` and prints the numbers as JSON::

    python docs/ppo_bambino.py --budget 30720 --seed 0
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import gymnasium as gym
import numpy as np

import lm_gym.registration  # noqa: F401  (registers Bambino-v0)
from lm_gym.agents.fixed import LMSampleAgent
from lm_gym.agents.logger import Logger
from lm_gym.agents.ppo import PPO
from lm_gym.wrappers import CLMAlternation

HERE = Path(__file__).resolve().parent
ARMS = {
    "ppo+clm": "PPO + CLM (alternate 10:2)",
    "clm": "CLM only (no PPO)",
    "ppo": "PPO only (no CLM)",
}


def train(arm: str, budget: int, seed: int, num_envs: int) -> list[dict]:
    """Run one arm for ``budget`` generated tokens; return its logged rows (one per batch)."""
    env = gym.make_vec("Bambino-v0", num_envs=num_envs, device="cpu")
    logger = Logger(formats=())
    if arm == "clm":
        agent = LMSampleAgent(env, seed=seed, device="cpu", logger=logger)
    else:
        agent = PPO(env, seed=seed, device="cpu", logger=logger)
    if arm == "ppo":
        trained_env = env
    else:
        schedule = "clm_only" if arm == "clm" else "alternate"
        trained_env = CLMAlternation(env, agent.policy.model, schedule=schedule, seed=seed)
    agent.learn(trained_env, budget, progress_bar=False)
    return logger.history


def smooth(values: list[float], window: int = 10) -> np.ndarray:
    """Trailing moving average (shorter at the start)."""
    values = np.asarray(values, dtype=float)
    return np.array([values[max(0, i - window + 1) : i + 1].mean() for i in range(len(values))])


def summarise(rows: list[dict]) -> dict:
    """Means over the first and last 10% of the batches."""
    tenth = max(1, len(rows) // 10)

    def mean(key: str, part: list[dict]) -> float:
        return float(np.mean([r[key] for r in part]))

    summary = {"batches": len(rows)}
    for key, name in (
        ("rollout/batch_rew_mean", "reward"),
        ("rollout/ppl_median", "median_ppl"),
        ("rollout/ep_len_mean", "episode_length"),
    ):
        summary[f"{name}_first_10pct"] = mean(key, rows[:tenth])
        summary[f"{name}_last_10pct"] = mean(key, rows[-tenth:])
    if "charts/kl" in rows[0]:
        summary["kl_last_10pct"] = mean("charts/kl", rows[-tenth:])
        summary["kl_max"] = float(max(r["charts/kl"] for r in rows))
        summary["kl_coef_last"] = rows[-1]["charts/kl_coef"]
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=30_720, help="generated tokens per arm")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-envs", type=int, default=32)
    parser.add_argument("--out", default=str(HERE / "ppo_bambino.png"))
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = {arm: train(arm, args.budget, args.seed, args.num_envs) for arm in ARMS}
    report = {"seed": args.seed, "num_envs": args.num_envs, "budget_tokens": args.budget}
    report.update({arm: summarise(rows) for arm, rows in runs.items()})
    print(json.dumps(report, indent=2))

    figure, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    for index, (arm, rows) in enumerate(runs.items()):
        x = [r["time/total_timesteps"] for r in rows]
        y = [r["rollout/batch_rew_mean"] for r in rows]
        top.plot(x, y, alpha=0.2, color=f"C{index}")
        top.plot(x, smooth(y), label=ARMS[arm], color=f"C{index}")
        if "charts/kl" in rows[0]:
            bottom.plot(x, [r["charts/kl"] for r in rows], label=ARMS[arm], color=f"C{index}")
    top.set_ylabel("mean parent reward per episode")
    top.legend()
    bottom.set_ylabel("KL to the initial baby (nats / episode)")
    bottom.set_xlabel("generated tokens")
    bottom.legend()
    figure.suptitle(f"Bambino-v0 defaults, {args.num_envs} episodes per batch, seed {args.seed}")
    figure.tight_layout()
    figure.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
