"""PPO alone (no CLM) on Bambino-v0's default reward: what it does to the baby's samples.

The README's "PPO alone on the default reward" table: for each seed, 256 samples of the
untrained ``baby-en`` (8 rollouts of 32 prompts), PPO with its defaults for ``--timesteps``
generated tokens, then 256 samples again; mean reward, words per continuation, distinct-2,
the commonest continuations and their share, 16 samples verbatim, and PPO's last
``charts/kl``. ``--ent-coef`` adds PPO's entropy bonus and ``--kl-coef`` sets its initial KL
weight; ``--evaluate`` also scores the baby before and after on held-out Italian and English
(per-word perplexity, minimal pairs). About 2-15 minutes per seed on one CPU thread, by
the machine and its load.

    python docs/ppo_alone_bambino.py --seeds 0 1 2 --scale 40 --learning-rate 1.41e-5

It writes ``ppo_alone_bambino_scale<S>_lr<LR>[_ent<E>][_kl<K>].json`` to ``runs/docs``
(``--update-docs``: into ``docs/``, replacing the file the README quotes).
``--summarise FILE [FILE ...]`` prints the README's table of such files instead (mean, sample
std and 95% t-interval over the seeds):

    python docs/ppo_alone_bambino.py --summarise docs/ppo_alone_bambino_scale40_lr1.41e-05.json
"""

from __future__ import annotations

import argparse
import collections
import json
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from outputs import add_output_options, output_dir  # same folder

import lm_gym  # noqa: F401  (registers the envs)
from lm_gym.agents import PPO, PPOConfig, collect_token_rollout
from lm_gym.baselines.statistics import t_interval
from lm_gym.envs import BambinoConfig
from lm_gym.evaluation import evaluate_lm, text_metrics

NUM_ENVS, SAMPLE_BATCHES, VERBATIM = 32, 8, 16


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
        "samples": completions[:VERBATIM],
    }


def language_scores(agent: PPO) -> dict[str, dict[str, float]]:
    """Held-out per-word perplexity and minimal-pair accuracy of the baby, per language."""
    results = evaluate_lm(
        agent.policy.model, agent.policy.tokenizer, n_sentence_types=0, n_samples=0
    )
    return {
        lang: {key: results[lang][key] for key in ("perplexity_per_word", "minimal_pairs")}
        for lang in ("en", "it")
    }


def run_seed(args: argparse.Namespace, seed: int) -> dict[str, Any]:
    """One seed: samples before, PPO alone for ``args.timesteps`` tokens, samples after."""
    env = gym.make_vec("Bambino-v0", num_envs=NUM_ENVS, device="cpu", scale=args.scale)
    agent = PPO(
        env,
        seed=seed,
        device="cpu",
        verbose=0,
        learning_rate=args.learning_rate,
        ent_coef=args.ent_coef,
        kl_coef=args.kl_coef,
    )
    started = time.perf_counter()
    before = sample_summary(env, agent, seed)
    scores_before = language_scores(agent) if args.evaluate else None
    agent.learn(env, args.timesteps, progress_bar=False)
    after = sample_summary(env, agent, seed)
    scores_after = language_scores(agent) if args.evaluate else None
    last = agent.logger.history[-1]
    env.close()
    return {
        "seed": seed,
        "scale": args.scale,
        "learning_rate": args.learning_rate,
        "ent_coef": args.ent_coef,
        "kl_coef": args.kl_coef,
        "timesteps": args.timesteps,
        "before": before,
        "after": after,
        "language_before": scores_before,
        "language_after": scores_after,
        "kl_last": last.get("charts/kl"),
        "kl_coef_last": last.get("charts/kl_coef"),
        "seconds": round(time.perf_counter() - started),
    }


SAMPLE_ROWS = (
    ("mean reward", "reward"),
    ("words per continuation", "words"),
    ("distinct-2", "distinct_2"),
    ("share of the commonest continuation", "top_share"),
)
LANGUAGE_ROWS = (
    ("log10 perplexity per word, held-out Italian", "it", "perplexity_per_word"),
    ("log10 perplexity per word, held-out English", "en", "perplexity_per_word"),
    ("minimal pairs, Italian", "it", "minimal_pairs"),
    ("minimal pairs, English", "en", "minimal_pairs"),
)


def summary_cell(values: list[float]) -> str:
    """``mean ± sample std [95% t-interval]`` of ``values``."""
    mean, std, interval = t_interval(values)
    return f"{mean:.3f} ± {std:.3f} [{interval.low:.3f}, {interval.high:.3f}]"


def summary_table(runs: list[dict[str, Any]]) -> str:
    """The README's Markdown table of one setting's seeds: before and after, then the change."""
    rows: list[tuple[str, list[float], list[float]]] = [
        (label, [run["before"][key] for run in runs], [run["after"][key] for run in runs])
        for label, key in SAMPLE_ROWS
    ]
    if all(run.get("language_after") for run in runs):
        for label, lang, key in LANGUAGE_ROWS:
            scale = np.log10 if key == "perplexity_per_word" else float
            rows.append(
                (
                    label,
                    [float(scale(run["language_before"][lang][key])) for run in runs],
                    [float(scale(run["language_after"][lang][key])) for run in runs],
                )
            )
    seeds = ", ".join(str(run["seed"]) for run in runs)
    lines = [
        f"| seeds {seeds} | before | after | after - before |",
        "| --- | ---: | ---: | ---: |",
    ]
    for label, before, after in rows:
        change = [a - b for a, b in zip(after, before, strict=True)]
        cells = " | ".join(summary_cell(values) for values in (before, after, change))
        lines.append(f"| {label} | {cells} |")
    kl = [run["kl_last"] for run in runs]
    lines.append(f"| PPO's `charts/kl` at the last batch | - | {summary_cell(kl)} | - |")
    return "\n".join(lines)


def result_name(args: argparse.Namespace) -> str:
    """The JSON's name; the entropy bonus and the KL coefficient are named only when they are
    not PPO's defaults, so the files the README already quotes keep their names."""
    name = f"ppo_alone_bambino_scale{args.scale:g}_lr{args.learning_rate:g}"
    if args.ent_coef != PPOConfig.ent_coef:
        name += f"_ent{args.ent_coef:g}"
    if args.kl_coef != PPOConfig.kl_coef:
        name += f"_kl{args.kl_coef:g}"
    return name + ".json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--scale", type=float, default=BambinoConfig.scale, help="tanh(SLOR / scale)"
    )
    parser.add_argument("--timesteps", type=int, default=30_720)
    parser.add_argument("--learning-rate", type=float, default=PPOConfig.learning_rate)
    parser.add_argument(
        "--ent-coef", type=float, default=PPOConfig.ent_coef, help="PPO's entropy bonus"
    )
    parser.add_argument(
        "--kl-coef", type=float, default=PPOConfig.kl_coef, help="PPO's initial KL coefficient"
    )
    parser.add_argument(
        "--evaluate", action="store_true", help="held-out perplexity and minimal pairs too"
    )
    parser.add_argument(
        "--summarise",
        nargs="+",
        type=Path,
        metavar="FILE",
        help="print the table of these result files (their seeds together) and stop",
    )
    add_output_options(parser)
    args = parser.parse_args()
    if args.summarise:
        runs = [run for path in args.summarise for run in json.loads(path.read_text())]
        print(summary_table(sorted(runs, key=lambda run: run["seed"])))
        return
    torch.set_num_threads(1)
    runs = [run_seed(args, seed) for seed in args.seeds]
    out = output_dir(args) / result_name(args)
    out.write_text(json.dumps(runs, indent=1))
    for run in runs:
        b, a = run["before"], run["after"]
        print(
            f"seed {run['seed']}: reward {b['reward']:.3f} -> {a['reward']:.3f}, words "
            f"{b['words']:.2f} -> {a['words']:.2f}, distinct-2 {b['distinct_2']:.3f} -> "
            f"{a['distinct_2']:.3f}, top share {b['top_share']:.0%} -> {a['top_share']:.0%}"
        )
        if run["language_after"]:
            for lang in ("it", "en"):
                before, after = run["language_before"][lang], run["language_after"][lang]
                print(
                    f"  {lang}: perplexity per word {before['perplexity_per_word']:.0f} -> "
                    f"{after['perplexity_per_word']:.0f}, minimal pairs "
                    f"{before['minimal_pairs']:.3f} -> {after['minimal_pairs']:.3f}"
                )
    print(f"written to {out}")


if __name__ == "__main__":
    main()
