"""The README's numbers for PPO on BabyStories-v0 (small vs large storyteller), from a results
folder of the ``babystories-ppo`` track (``lm-gym leaderboard --track babystories-ppo``)::

    python docs/babystories_ppo_summary.py docs/babystories-ppo

Prints, per storyteller, the untrained storyteller (``lm-sample``) and PPO's evaluation score,
the gain paired by seed, distinct-2 and words per continuation; the size effect (the large
storyteller's gain minus the small one's, paired by seed); and, per PPO run, what its training
curves did: the batch score over the first and last 10% of batches, its lowest point and
where, and the KL per episode at its highest and over the last 10% of batches. Cells are
mean ± sample std (ddof 1) [95% t-interval] over seeds. It only reads the result files.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from lm_gym.baselines.statistics import t_interval

STORYTELLERS = ("small", "large")


def cell(values: list[float]) -> str:
    """``mean ± std [low, high]`` of ``values``."""
    mean, std, interval = t_interval(values)
    return f"{mean:.3f} ± {std:.2f} [{interval.low:.3f}, {interval.high:.3f}]"


def load(folder: Path, storyteller: str, agent: str) -> dict[int, dict]:
    """Seed -> result file of one row (env label ``BabyStories-v0/<storyteller>``)."""
    results = {}
    for path in sorted((folder / "results").glob(f"BabyStories-v0_{storyteller}__{agent}__*.json")):
        result = json.loads(path.read_text())
        results[result["spec"]["seed"]] = result
    if not results:
        raise SystemExit(f"no {agent} results for the {storyteller} storyteller in {folder}")
    return results


def curve_summary(result: dict) -> str:
    """One PPO run's batch score and KL, first and last 10% of batches, lowest and highest."""
    score = result["curves"]["rollout/batch_rew_mean"]
    kl = np.asarray(result["curves"]["charts/kl"]["value"], dtype=float)
    values, steps = np.asarray(score["value"], dtype=float), score["timesteps"]
    tenth = max(1, len(values) // 10)
    low = int(values.argmin())
    return (
        f"score {values[:tenth].mean():.2f} -> {values[-tenth:].mean():.2f} "
        f"(lowest {values[low]:.2f} at {int(steps[low]):,} tokens); "
        f"KL highest {kl.max():.1f}, last 10% {kl[-tenth:].mean():.1f}"
    )


def paired(folder: Path, storyteller: str, name: str) -> dict[int, tuple[float, float]]:
    """Seed -> (untrained, PPO) value of metric ``name``, for the seeds both rows ran."""
    before, after = load(folder, storyteller, "lm-sample"), load(folder, storyteller, "ppo")
    return {
        seed: (before[seed]["metrics"][name], after[seed]["metrics"][name])
        for seed in sorted(set(before) & set(after))
    }


def changes(folder: Path, storyteller: str, name: str) -> dict[int, float]:
    """Seed -> PPO's value of metric ``name`` minus the untrained storyteller's."""
    return {
        seed: ppo - untrained
        for seed, (untrained, ppo) in paired(folder, storyteller, name).items()
    }


def table_row(folder: Path, storyteller: str) -> str:
    """The README table's row of one storyteller."""
    untrained, trained = zip(*paired(folder, storyteller, "eval/mean_return").values())
    gains = list(changes(folder, storyteller, "eval/mean_return").values())
    d2 = np.mean(list(paired(folder, storyteller, "eval/distinct_2").values()), axis=0)
    words = np.mean(list(paired(folder, storyteller, "eval/words_mean").values()), axis=0)
    return (
        f"| {storyteller} | {cell(list(untrained))} | {cell(list(trained))} | {cell(gains)} "
        f"| {d2[0]:.3f} -> {d2[1]:.3f} | {words[0]:.1f} -> {words[1]:.1f} |"
    )


def summary_table(folder: Path) -> str:
    """The README's table: one row per storyteller."""
    lines = [
        "| storyteller | untrained (`lm-sample`) | PPO | gain (paired) "
        "| distinct-2, untrained -> PPO | words per continuation |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    lines += [table_row(folder, storyteller) for storyteller in STORYTELLERS]
    return "\n".join(lines)


def size_effect(folder: Path) -> str:
    """The large storyteller's gain minus the small one's, paired by seed, as the README
    quotes it: ``mean [low, high]``."""
    small, large = (changes(folder, s, "eval/mean_return") for s in STORYTELLERS)
    mean, _, interval = t_interval([large[s] - small[s] for s in sorted(set(small) & set(large))])
    return f"{mean:.2f} [{interval.low:.2f}, {interval.high:.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="the track's output folder")
    folder = parser.parse_args().folder
    print(summary_table(folder))
    print(f"\nlarge gain - small gain (paired by seed): {size_effect(folder)}")
    for storyteller in STORYTELLERS:
        change = list(changes(folder, storyteller, "eval/distinct_2").values())
        print(f"{storyteller}: distinct-2 change {cell(change)}")
        highest = max(
            r["metrics"]["eval/repetition_rate"] for r in load(folder, storyteller, "ppo").values()
        )
        print(f"{storyteller}: highest repetition rate of a PPO run {highest:.4f}")
    for storyteller in STORYTELLERS:
        for seed, result in sorted(load(folder, storyteller, "ppo").items()):
            print(f"{storyteller} seed {seed}: {curve_summary(result)}")


if __name__ == "__main__":
    main()
