"""PPO on BabyStories-v0 with the small and the larger storyteller (Zhao et al.'s size axis).

Two arms on ``BabyStories-v0`` with the offline ``reward-stories`` reward model and the default
story-beginning prompts, the same seed, PPO settings and token budget; only the storyteller
differs (``storyteller-small``, 2x128, or ``storyteller-large``, 4x128). For each arm:

* the reward-model score of the training batches (first and last 10% of the batches) and the
  KL to the initial storyteller (``charts/kl``; mean of the last 10% of batches, and max);
* ``n_samples`` continuations of the same prompts sampled before and after training, with their
  mean score, length, distinct-1/2 and repetition rate (:mod:`lm_gym.evaluation.text_metrics`), so a
  policy that games the reward model by repeating itself (or by stopping early) would show.

Writes ``babystories_ppo.png`` and ``babystories_ppo.json`` into ``runs/docs``
(``--update-docs``: into ``docs/``, the README's run)::

    python docs/babystories_ppo.py --seed 0 --update-docs

The defaults hold KL near 3 nats per episode with a fast adaptive controller (target 3,
horizon 500 episodes). A slower controller barely moves in a run this short: with target 2 and
horizon 2,000, KL ended near 6 nats per episode.

``--value-learning-rate 1.41e-3 --out docs/babystories_ppo_fast_value`` is the README's second
run: a value head that learns 100 times faster than the LM.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from outputs import add_output_options, output_dir  # same folder
from ppo_bambino import smooth  # the moving average of the Bambino curves, same folder

import lm_gym.registration  # noqa: F401  (registers BabyStories-v0)
from lm_gym.agents import PPO, Logger
from lm_gym.evaluation.text_metrics import text_metrics, words

ARMS = {"small": "storyteller-small", "large": "storyteller-large"}


def sample_continuations(
    agent: PPO, env_kwargs: dict, n_samples: int, seed: int
) -> tuple[list[str], np.ndarray]:
    """The first episode of each of ``n_samples`` rows: continuations and their rewards.

    The prompts depend only on ``seed``, so samples before and after training continue the
    same story beginnings.
    """
    env = gym.make_vec(
        "BabyStories-v0", num_envs=n_samples, autoreset_mode="SameStep", **env_kwargs
    )
    obs, _ = env.reset(seed=seed)
    texts: list[str] = [""] * n_samples
    rewards = np.full(n_samples, np.nan)
    while np.isnan(rewards).any():
        obs, reward, terminated, truncated, info = env.step(agent.predict(obs))
        first = (terminated | truncated) & np.isnan(rewards)
        for row in np.flatnonzero(first):
            texts[row] = str(info["final_info"]["completion"][row])
            rewards[row] = reward[row]
    return texts, rewards


def sample_summary(texts: list[str], rewards: np.ndarray) -> dict:
    """Mean score, mean length in words and the text metrics of one set of samples, with
    three examples."""
    return {
        "score_mean": float(rewards.mean()),
        "words_mean": float(np.mean([len(words(text)) for text in texts])),
        **text_metrics(texts),
        "examples": texts[:3],
    }


def run_arm(env_kwargs: dict, budget: int, seed: int, num_envs: int, n_samples: int, **ppo) -> dict:
    """Train PPO on ``BabyStories-v0(**env_kwargs)`` for ``budget`` generated tokens.

    ``ppo`` overrides PPO's defaults (e.g. ``min_new_tokens``, ``learning_rate``).

    Returns:
        The logged rows (one per batch), the before/after samples and the training time.
    """
    torch.manual_seed(seed)
    env = gym.make_vec("BabyStories-v0", num_envs=num_envs, **env_kwargs)
    logger = Logger(formats=())
    agent = PPO(env, seed=seed, device="cpu", logger=logger, **ppo)
    eval_seed = seed + 1_000
    before = sample_summary(*sample_continuations(agent, env_kwargs, n_samples, eval_seed))
    start = time.perf_counter()
    agent.learn(env, budget, progress_bar=False)
    seconds = time.perf_counter() - start
    after = sample_summary(*sample_continuations(agent, env_kwargs, n_samples, eval_seed))
    return {"rows": logger.history, "before": before, "after": after, "train_seconds": seconds}


def summarise(record: dict) -> dict:
    """Scores of the first / last 10% of training batches, KL, and the before/after samples."""
    rows = record["rows"]
    tenth = max(1, len(rows) // 10)
    rewards = [r["rollout/batch_rew_mean"] for r in rows]
    kls = [r["charts/kl"] for r in rows]
    return {
        "batches": len(rows),
        "train_seconds": round(record["train_seconds"], 1),
        "score_first_10pct": float(np.mean(rewards[:tenth])),
        "score_last_10pct": float(np.mean(rewards[-tenth:])),
        "kl_last_10pct": float(np.mean(kls[-tenth:])),
        "kl_max": float(max(kls)),
        "kl_coef_last": float(rows[-1]["charts/kl_coef"]),
        "before": record["before"],
        "after": record["after"],
    }


def plot(records: dict[str, dict], title: str, out: Path) -> None:
    """Reward-model score and KL per batch for every arm (raw, faint, and smoothed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    for index, (arm, record) in enumerate(records.items()):
        rows = record["rows"]
        x = [r["time/total_timesteps"] for r in rows]
        y = [r["rollout/batch_rew_mean"] for r in rows]
        top.plot(x, y, alpha=0.2, color=f"C{index}")
        top.plot(x, smooth(y), label=ARMS[arm], color=f"C{index}")
        bottom.plot(x, [r["charts/kl"] for r in rows], label=ARMS[arm], color=f"C{index}")
    top.set_ylabel("mean reward-model score")
    top.legend()
    bottom.set_ylabel("KL to the initial storyteller\n(nats / episode)")
    bottom.set_xlabel("generated tokens")
    bottom.legend()
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(out, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=153_600, help="generated tokens per arm")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-envs", type=int, default=32, help="episodes per PPO batch")
    parser.add_argument("--samples", type=int, default=128, help="continuations before/after")
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--reward-model", default="reward-stories", help="any reward-model spec")
    parser.add_argument("--learning-rate", type=float, default=1.41e-5, help="PPO's Adam rate")
    parser.add_argument(
        "--min-new-tokens",
        type=int,
        default=0,
        help="no EOS before this many tokens (0: the policy may stop whenever it likes, the "
        "README's run; 48 forces every continuation to the env's maximum length)",
    )
    parser.add_argument(
        "--value-learning-rate",
        type=float,
        default=None,
        help="Adam rate of the value head (default: --learning-rate)",
    )
    parser.add_argument("--kl-coef", type=float, default=0.2, help="initial KL coefficient")
    parser.add_argument(
        "--kl-target", type=float, default=3.0, help="KL (nats/episode) the controller aims at"
    )
    parser.add_argument(
        "--kl-horizon", type=int, default=500, help="adaptive KL controller horizon (episodes)"
    )
    parser.add_argument("--out", help="path without suffix (default: <out dir>/babystories_ppo)")
    add_output_options(parser)
    args = parser.parse_args()
    torch.set_num_threads(1)

    records = {}
    for arm in args.arms:
        env_kwargs = {"storyteller": ARMS[arm], "reward_model": args.reward_model, "device": "cpu"}
        records[arm] = run_arm(
            env_kwargs,
            args.budget,
            args.seed,
            args.num_envs,
            args.samples,
            min_new_tokens=args.min_new_tokens,
            learning_rate=args.learning_rate,
            value_learning_rate=args.value_learning_rate,
            kl_coef=args.kl_coef,
            kl_target=args.kl_target,
            kl_horizon=args.kl_horizon,
        )
    report = {
        "reward_model": args.reward_model,
        "min_new_tokens": args.min_new_tokens,
        "learning_rate": args.learning_rate,
        "value_learning_rate": args.value_learning_rate,
        "kl_coef": args.kl_coef,
        "kl_target": args.kl_target,
        "kl_horizon": args.kl_horizon,
        "seed": args.seed,
        "num_envs": args.num_envs,
        "budget_tokens": args.budget,
        "samples": args.samples,
        **{arm: summarise(record) for arm, record in records.items()},
    }
    out = Path(args.out or output_dir(args) / "babystories_ppo")
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    title = f"BabyStories-v0, {args.num_envs} episodes per batch, seed {args.seed}"
    plot(records, title, out.with_suffix(".png"))
    print(json.dumps(report, indent=2))
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
