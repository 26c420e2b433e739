"""Learning curves of PPO on the default Bambino-v0, with and without CLM alternation.

Four arms on ``Bambino-v0`` with its offline defaults (``baby-en`` continues Italian
parentese prompts, ``parent-it`` rewards by perplexity), the same seed and token budget:

* ``ppo+clm``: token-level PPO while :class:`~lm_gym.wrappers.CLMAlternation` interleaves
  causal-LM updates on the Italian corpus (10 CLM batches : 2 RL batches, BAMBINO-LM's
  schedule). PPO's KL reference follows the CLM updates (``reference_follows_env``, the
  default, see :mod:`lm_gym.agents.ppo`): it is the wrapper's CLM-only twin of the baby, so
  ``charts/kl`` is all the drift PPO has added, ``charts/kl_initial`` the KL to the initial
  baby;
* ``ppo+clm:initial-ref``: the same, with the initial baby as the reference throughout
  (``reference_follows_env=False``), so the penalty pulls towards the English baby;
* ``clm``: the same schedule with a non-learning sampler (``clm_only``, the paper's "w/o PPO");
* ``ppo``: PPO alone (no CLM), where the KL to the reference measures PPO's own drift.

After training, every arm's final baby is also compared with the initial one on fresh samples
of its own (``final_kl_to_initial``), so the KL the CLM updates alone cause is measured too.

Runs torch on one thread (the machine is shared). Writes ``ppo_bambino.png`` and
``ppo_bambino.json`` into ``runs/docs`` (``--update-docs``: into ``docs/``, replacing the
committed ones) and prints the numbers::

    python docs/ppo_bambino.py --budget 30720 --seed 0 --update-docs
    python docs/ppo_bambino.py --seed 1 --arms ppo+clm,clm --out s1.png --json s1.json
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from outputs import add_output_options, output_dir  # same folder

import lm_gym.registration  # noqa: F401  (registers Bambino-v0)
from lm_gym.agents import PPO, LMPolicy, LMSampleAgent, Logger, collect_token_rollout
from lm_gym.wrappers import CLMAlternation

ARMS = {
    "ppo+clm": "PPO + CLM (alternate 10:2)",
    "ppo+clm:initial-ref": "PPO + CLM, reference = initial baby",
    "clm": "CLM only (no PPO)",
    "ppo": "PPO only (no CLM)",
}

CURVES = {
    "time/total_timesteps": "tokens",
    "rollout/batch_rew_mean": "reward",
    "charts/kl": "kl",
    "charts/kl_initial": "kl_initial",
}
"""Per-batch values kept in the JSON (the data behind the figure)."""


def train(arm: str, budget: int, seed: int, num_envs: int) -> dict[str, Any]:
    """Run one arm for ``budget`` generated tokens.

    Returns:
        ``rows`` (the logged rows, one per batch), ``seconds`` (wall time of ``learn``) and
        ``final_kl_to_initial`` (see :func:`final_kl_to_initial`).
    """
    env = gym.make_vec("Bambino-v0", num_envs=num_envs, device="cpu")
    logger = Logger(formats=())
    if arm == "clm":
        agent = LMSampleAgent(env, seed=seed, device="cpu", logger=logger)
    else:
        follow = arm != "ppo+clm:initial-ref"
        agent = PPO(env, seed=seed, device="cpu", logger=logger, reference_follows_env=follow)
    initial = copy.deepcopy(agent.policy.model).eval().requires_grad_(False)
    if arm == "ppo":
        trained_env = env
    else:
        schedule = "clm_only" if arm == "clm" else "alternate"
        trained_env = CLMAlternation(
            env, agent.policy.model, schedule=schedule, seed=seed, keep_reference=arm != "clm"
        )
    start = time.perf_counter()
    agent.learn(trained_env, budget, progress_bar=False)
    seconds = time.perf_counter() - start
    final_kl = final_kl_to_initial(agent.policy, initial, env, seed)
    return {"rows": logger.history, "seconds": seconds, "final_kl_to_initial": final_kl}


def final_kl_to_initial(
    trained: LMPolicy, initial: torch.nn.Module, env: Any, seed: int, batches: int = 8
) -> float:
    """Mean KL (nats/episode) of the trained baby to the initial one, on its own fresh samples.

    The same Monte-Carlo estimate as PPO's ``charts/kl`` (sum over each episode's tokens of
    log pi - log pi_initial), on ``batches`` rollouts of the trained baby through ``env``
    without CLM and without learning, so it is measured the same way for every arm.
    """
    generator = torch.Generator(device=trained.device).manual_seed(seed + 1)
    kls = []
    for _ in range(batches):
        rollout = collect_token_rollout(env, trained, generator)
        initial_logprobs = trained.logprobs_under(initial, rollout.sequences, rollout.prompt_mask)
        kls.append(((rollout.logprobs - initial_logprobs) * rollout.mask).sum(1))
    return float(torch.cat(kls).mean())


def smooth(values: list[float], window: int = 10) -> np.ndarray:
    """Trailing moving average (shorter at the start)."""
    values = np.asarray(values, dtype=float)
    return np.array([values[max(0, i - window + 1) : i + 1].mean() for i in range(len(values))])


def summarise(run: dict[str, Any]) -> dict[str, Any]:
    """Means over the first and last 10% of the batches, KL maxima, wall time, the curves."""
    rows = run["rows"]
    tenth = max(1, len(rows) // 10)

    def mean(key: str, part: list[dict]) -> float:
        return float(np.mean([r[key] for r in part]))

    summary: dict[str, Any] = {"batches": len(rows)}
    for key, name in (
        ("rollout/batch_rew_mean", "reward"),
        ("rollout/ppl_median", "median_ppl"),
        ("rollout/ep_len_mean", "episode_length"),
    ):
        summary[f"{name}_first_10pct"] = mean(key, rows[:tenth])
        summary[f"{name}_last_10pct"] = mean(key, rows[-tenth:])
    for key, name in (("charts/kl", "kl"), ("charts/kl_initial", "kl_initial")):
        if key in rows[0]:
            summary[f"{name}_last_10pct"] = mean(key, rows[-tenth:])
            summary[f"{name}_max"] = float(max(r[key] for r in rows))
    if "charts/kl_coef" in rows[0]:
        summary["kl_coef_last"] = rows[-1]["charts/kl_coef"]
        summary["clipfrac_mean"] = mean("losses/clipfrac", rows)
    summary["final_kl_to_initial"] = run["final_kl_to_initial"]
    summary["learn_seconds"] = round(run["seconds"], 1)
    summary["curves"] = {
        name: [round(float(r[key]), 4) for r in rows]
        for key, name in CURVES.items()
        if key in rows[0]
    }
    return summary


def plot(runs: dict[str, dict[str, Any]], title: str, out: str) -> None:
    """Reward (top) and KL (bottom) curves of every arm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6.5), sharex=True)
    for index, (arm, run) in enumerate(runs.items()):
        rows, color = run["rows"], f"C{index}"
        x = [r["time/total_timesteps"] for r in rows]
        y = [r["rollout/batch_rew_mean"] for r in rows]
        top.plot(x, y, alpha=0.2, color=color)
        top.plot(x, smooth(y), label=ARMS[arm], color=color)
        if "charts/kl" in rows[0]:
            kl = [r["charts/kl"] for r in rows]
            bottom.plot(x, kl, alpha=0.2, color=color)
            bottom.plot(x, smooth(kl), color=color, label=f"{ARMS[arm]}: KL penalty")
        if arm == "ppo+clm":  # the one arm whose reference is not the initial baby
            kl_initial = [r["charts/kl_initial"] for r in rows]
            bottom.plot(x, kl_initial, "--", color=color, label=f"{ARMS[arm]}: KL to initial")
        bottom.plot(x[-1], run["final_kl_to_initial"], "o", color=color)
    top.set_ylabel("mean parent reward per episode")
    top.legend()
    bottom.set_yscale("symlog", linthresh=1.0)
    bottom.set_ylabel("KL (nats / episode, symlog)")
    bottom.set_xlabel("generated tokens (dots: final baby vs initial baby)")
    bottom.legend(fontsize="small")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(out, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=30_720, help="generated tokens per arm")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-envs", type=int, default=32)
    parser.add_argument("--out", help="figure path (default: <out dir>/ppo_bambino.png)")
    parser.add_argument("--json", help="numbers path (default: <out dir>/ppo_bambino.json)")
    add_output_options(parser)
    parser.add_argument("--arms", default=",".join(ARMS), help="comma-separated subset of arms")
    args = parser.parse_args()
    arms = args.arms.split(",")
    unknown = sorted(set(arms) - set(ARMS))
    if unknown:
        parser.error(f"unknown arms {unknown}; choose from {list(ARMS)}")
    torch.set_num_threads(1)

    runs = {arm: train(arm, args.budget, args.seed, args.num_envs) for arm in arms}
    report = {"seed": args.seed, "num_envs": args.num_envs, "budget_tokens": args.budget}
    report.update({arm: summarise(run) for arm, run in runs.items()})
    text = json.dumps(report, indent=2)
    print(text)
    folder = output_dir(args)
    json_path = Path(args.json or folder / "ppo_bambino.json")
    figure_path = Path(args.out or folder / "ppo_bambino.png")
    json_path.write_text(text + "\n")
    title = f"Bambino-v0 defaults, {args.num_envs} episodes per batch, seed {args.seed}"
    plot(runs, title, figure_path)
    print(f"wrote {figure_path} and {json_path}")


if __name__ == "__main__":
    main()
