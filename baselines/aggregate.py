"""The across-env sections of ``LEADERBOARD.md``: normalised scores, IQM and mean with 95%
intervals, the probability of improvement between rows, performance profiles.

Built from the result files and the normalisation anchors alone (see
:mod:`lm_gym.baselines.statistics` for the estimators and
:mod:`lm_gym.baselines.normalisation` for the anchors). Rows (agents or arms) rarely run on
the same envs (PPO needs token actions, the teachers subset selection), so each row is
aggregated over the normalised envs it ran on, with the seeds every one of them has, and two
rows are compared only over the envs both ran on.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from lm_gym.baselines.results import PRIMARY_METRIC
from lm_gym.baselines.statistics import (
    BOOTSTRAP_REPS,
    aggregate,
    normalise,
    probability_of_improvement,
    t_interval,
)

Grouped = dict[str, dict[str, list[dict[str, Any]]]]


@dataclass
class ScoreMatrix:
    """One row's scores: ``runs x envs``, runs being the seeds every env has."""

    envs: list[str]
    seeds: list[int]
    scores: np.ndarray


def scale_problems(anchors: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Env -> why it has no normalised score (no reference, or one that does not beat random)."""
    problems = {}
    for env, anchor in anchors.items():
        if anchor["reference"] is None:
            problems[env] = "no reference policy for this env"
        elif not anchor["reference"] > anchor["random"]:
            problems[env] = (
                f"its reference ({anchor['reference']:.4g}) does not beat random "
                f"({anchor['random']:.4g}): the reward cannot tell them apart"
            )
    return problems


def normalised_scores(grouped: Grouped, anchors: dict[str, dict[str, Any]]) -> Grouped:
    """``grouped`` restricted to the normalisable envs, each record's ``eval/mean_return``
    replaced by its normalised score (as ``{"seed": ..., "score": ...}`` records)."""
    problems = scale_problems(anchors)
    usable = {env: a for env, a in anchors.items() if env not in problems}
    return {
        env: {
            row: [
                {
                    "seed": r["spec"]["seed"],
                    "score": normalise(
                        r["metrics"][PRIMARY_METRIC],
                        usable[env]["random"],
                        usable[env]["reference"],
                    ),
                }
                for r in records
            ]
            for row, records in rows.items()
        }
        for env, rows in grouped.items()
        if env in usable
    }


def score_matrix(by_env: dict[str, list[dict[str, Any]]], envs: list[str]) -> ScoreMatrix | None:
    """The ``runs x envs`` matrix of one row over ``envs`` (records with ``seed`` and
    ``score``), on the seeds all of them have; ``None`` when they share no seed."""
    seeds = sorted(set.intersection(*({r["seed"] for r in by_env[env]} for env in envs)))
    if not seeds:
        return None
    table = {(env, r["seed"]): r["score"] for env in envs for r in by_env[env]}
    scores = np.array([[table[(env, seed)] for env in envs] for seed in seeds], dtype=float)
    return ScoreMatrix(list(envs), seeds, scores)


def _by_row(scores: Grouped) -> dict[str, dict[str, list[dict[str, Any]]]]:
    rows: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for env, by_row in scores.items():
        for row, records in by_row.items():
            if records:
                rows.setdefault(row, {})[env] = records
    return rows


def row_matrices(scores: Grouped, order: list[str]) -> dict[str, ScoreMatrix]:
    """Row -> its score matrix over every env it has scores on (rows in ``order`` first)."""
    rows = _by_row(scores)
    ordered = [r for r in order if r in rows] + sorted(set(rows) - set(order))
    matrices = {}
    for row in ordered:
        matrix = score_matrix(rows[row], sorted(rows[row]))
        if matrix is not None:
            matrices[row] = matrix
    return matrices


def _raw(grouped: Grouped) -> Grouped:
    return {
        env: {
            row: [{"seed": r["spec"]["seed"], "score": r["metrics"][PRIMARY_METRIC]} for r in rs]
            for row, rs in rows.items()
        }
        for env, rows in grouped.items()
    }


def improvement_rows(grouped: Grouped, order: list[str]) -> list[tuple[str, str, int, Any]]:
    """``(X, Y, shared envs, P(X > Y) interval)`` for every pair of rows that ran on a common
    env, on the raw ``eval/mean_return`` (a rank statistic per env: no scale needed)."""
    rows = _by_row(_raw(grouped))
    ordered = [r for r in order if r in rows] + sorted(set(rows) - set(order))
    table = []
    for x, y in combinations(ordered, 2):
        shared = sorted(set(rows[x]) & set(rows[y]))
        if not shared:
            continue
        mx, my = score_matrix(rows[x], shared), score_matrix(rows[y], shared)
        if mx is None or my is None:
            continue
        table.append((x, y, len(shared), probability_of_improvement(mx.scores, my.scores)))
    return table


def _normalised_cell(records: list[dict[str, Any]]) -> str:
    if not records:
        return "-"
    _, _, interval = t_interval([r["score"] for r in records])
    return str(interval)


def normalised_matrices(
    grouped: Grouped, anchors: dict[str, dict[str, Any]], order: list[str]
) -> dict[str, np.ndarray]:
    """Row -> its ``runs x envs`` matrix of normalised scores (the performance profiles')."""
    return {
        row: m.scores for row, m in row_matrices(normalised_scores(grouped, anchors), order).items()
    }


def statistics_markdown(
    grouped: Grouped,
    anchors: dict[str, dict[str, Any]],
    order: list[str],
    profiles_file: str | None,
) -> list[str]:
    """The markdown lines of the normalised, aggregate and improvement sections.

    Args:
        grouped: env -> row -> result records.
        anchors: env -> its anchors (:func:`lm_gym.baselines.normalisation.track_anchors`).
        order: the track's rows, in order.
        profiles_file: the performance-profile PNG to link, relative to the markdown file.
    """
    problems = scale_problems(anchors)
    scores = normalised_scores(grouped, anchors)
    lines = [
        "## Normalised scores",
        "",
        f"`{PRIMARY_METRIC}` on a common scale per env: 0 = the `random` agent's mean return, "
        "1 = the reference's, each over the env's evaluation episodes on reset seeds no run "
        "uses (cached in `normalisation/`). Cells: mean [95% t-interval] over seeds.",
        "",
        "| env | random (0) | reference (1) | reference |",
        "| --- | ---: | ---: | --- |",
    ]
    for env in grouped:
        anchor = anchors.get(env)
        if anchor is None:
            lines.append(f"| `{env}` | - | - | not computed (see the driver's log) |")
            continue
        reference = "-" if anchor["reference"] is None else f"{anchor['reference']:.4g}"
        kind = anchor["reference_kind"] or "-"
        if env in problems:
            kind = f"{kind}; not normalised: {problems[env]}"
        lines.append(f"| `{env}` | {anchor['random']:.4g} | {reference} | {kind} |")
    lines.append("")
    rows = [r for r in order if any(r in by_row for by_row in scores.values())]
    if scores and rows:
        lines += [
            "| env | " + " | ".join(f"`{r}`" for r in rows) + " |",
            "| --- | " + " | ".join("---:" for _ in rows) + " |",
        ]
        for env, by_row in scores.items():
            cells = [_normalised_cell(by_row.get(r, [])) for r in rows]
            lines.append(f"| `{env}` | " + " | ".join(cells) + " |")
        lines.append("")
    matrices = row_matrices(scores, order)
    lines += [
        "## Across envs and seeds (rliable)",
        "",
        "Interquartile mean (IQM) and mean of the normalised scores of a row's runs, with 95% "
        f"stratified-bootstrap intervals ({BOOTSTRAP_REPS:,} resamples of the runs within "
        "each env; Agarwal et al. 2021). Each row is aggregated over the normalised envs it "
        "ran on, on the seeds all of them have.",
        "",
    ]
    if matrices:
        lines += [
            "| row | envs | runs | IQM [95% CI] | mean [95% CI] |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for row, matrix in matrices.items():
            stats = aggregate(matrix.scores)
            lines.append(
                f"| `{row}` | {len(matrix.envs)} | {matrix.scores.size} | {stats['iqm']} | "
                f"{stats['mean']} |"
            )
        lines.append("")
        if profiles_file:
            lines += [f"![performance profiles]({profiles_file})", ""]
    else:
        lines += ["No normalised scores yet.", ""]
    pairs = improvement_rows(grouped, order)
    lines += [
        "## Probability of improvement",
        "",
        f"P(X > Y): the probability that a run of X has a higher `{PRIMARY_METRIC}` than a "
        "run of Y on the same env (Mann-Whitney U / n_X n_Y), averaged over the envs both ran "
        "on, with its 95% stratified-bootstrap interval. An interval wholly above 0.5: X is "
        "better; wholly below: Y is; containing 0.5: no significant difference.",
        "",
    ]
    if pairs:
        lines += ["| X | Y | envs | P(X > Y) [95% CI] |", "| --- | --- | ---: | ---: |"]
        lines += [f"| `{x}` | `{y}` | {n} | {p} |" for x, y, n, p in pairs]
    else:
        lines.append("No two rows ran on a common env.")
    lines.append("")
    return lines
