"""The leaderboard's outputs: ``LEADERBOARD.md`` and its PNG figures.

Both are generated from the result files (and the normalisation anchors) alone, so they can be
rebuilt at any time (and a resumed track's table covers the runs of every session). Per env,
one row per agent (or arm) with the mean, sample standard deviation (ddof 1) and 95%
t-interval over seeds of each final score; then normalised scores, IQM and mean across envs
with 95% stratified-bootstrap intervals and the probability of improvement between rows
(:mod:`lm_gym.baselines.aggregate`); the header states the protocol (the track's envs,
arguments, budgets, rows, seeds), which agents could not act in which env and why (``n/a``),
which pairs failed and with what error (``**failed**``), and how the scores were measured.
Figures: :mod:`lm_gym.baselines.plots`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lm_gym.baselines.aggregate import normalised_matrices, statistics_markdown
from lm_gym.baselines.plots import (
    CURVES_DIR,
    FIGURES_DIR,
    file_name,
    plot_curves,
    plot_final_metrics,
    plot_profiles,
)
from lm_gym.baselines.results import PRIMARY_METRIC
from lm_gym.baselines.statistics import t_interval
from lm_gym.baselines.tracks import Track
from lm_gym.utils.files import atomic_write_text

LEADERBOARD_FILE = "LEADERBOARD.md"
PRIMARY = PRIMARY_METRIC
HIDDEN = {"eval/std_return", "eval/mean_length", "train/num_timesteps"}
"""Metrics kept in the result files but left out of the table."""


def group_results(
    records: Iterable[dict[str, Any]], track: Track
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """``env -> row -> records`` for the records whose spec is one of ``track``'s runs (env:
    the track's key for it; row: the agent, or the arm's label)."""
    specs = {_key(spec.to_dict()): spec for spec in track.expand()}
    grouped: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        spec = specs.get(_key(record["spec"]))
        if spec is not None:
            grouped[spec.env_key][spec.row].append(record)
    return grouped


def _key(spec: dict[str, Any]) -> str:
    return json.dumps(spec, sort_keys=True)


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    mean, std, _ = t_interval(values)
    return mean, std


def _cell(values: list[float]) -> str:
    """``mean ± sample std [95% t-interval]`` (no interval for one seed)."""
    if not values:
        return "-"
    mean, std, interval = t_interval(values)
    cell = f"{mean:.4g} ± {std:.0f}" if abs(std) >= 100 else f"{mean:.4g} ± {std:.2g}"
    return cell if len(values) < 2 else f"{cell} [{interval.low:.4g}, {interval.high:.4g}]"


def env_table(agents: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Markdown rows of one env's table, agents sorted by mean :data:`PRIMARY`, best first."""
    columns = [PRIMARY, "train/final_ep_rew_mean"]
    extra = sorted(
        {k for records in agents.values() for r in records for k in r["metrics"]}
        - HIDDEN
        - set(columns)
    )
    columns += extra

    def score(item: tuple[str, list[dict[str, Any]]]) -> float:
        return -mean_std([r["metrics"][PRIMARY] for r in item[1]])[0]

    lines = [
        "| agent | seeds | " + " | ".join(columns) + " |",
        "| --- | ---: | " + " | ".join("---:" for _ in columns) + " |",
    ]
    for agent, records in sorted(agents.items(), key=score):
        cells = [_cell([r["metrics"][c] for r in records if c in r["metrics"]]) for c in columns]
        lines.append(f"| `{agent}` | {len(records)} | " + " | ".join(cells) + " |")
    return lines


NOT_APPLICABLE = "n/a"
"""Summary cell of a pair the agent refused (or the track excludes)."""
FAILED = "**failed**"
"""Summary cell of a pair whose runs (or whose agent, when built) raised an error."""


def summary_table(
    track: Track,
    grouped: dict[str, dict[str, list[dict[str, Any]]]],
    unsupported: dict[tuple[str, str], str] | None = None,
    failures: dict[tuple[str, str], str] | None = None,
) -> list[str]:
    """Markdown rows of the env x row matrix of :data:`PRIMARY`: :data:`NOT_APPLICABLE`
    for refused pairs, :data:`FAILED` for failed ones (marked beside the score when only some
    seeds failed), ``-`` for pairs with no result yet."""
    unsupported, failures = unsupported or {}, failures or {}
    agents = list(track.rows())
    lines = [
        "| env | " + " | ".join(f"`{a}`" for a in agents) + " |",
        "| --- | " + " | ".join("---:" for _ in agents) + " |",
    ]
    for env_id in track.envs:
        runs = grouped.get(env_id, {})
        cells = []
        for agent in agents:
            cell = _cell([r["metrics"][PRIMARY] for r in runs.get(agent, [])])
            if (env_id, agent) in unsupported:
                cell = NOT_APPLICABLE
            elif (env_id, agent) in failures:
                cell = FAILED if cell == "-" else f"{cell} ({FAILED} too)"
            cells.append(cell)
        lines.append(f"| `{env_id}` | " + " | ".join(cells) + " |")
    return lines


def _grouped_reasons(pairs: dict[tuple[str, str], str]) -> list[str]:
    """``- `agent` on `env1`, `env2`: reason`` lines, one per agent and reason."""
    envs: dict[tuple[str, str], list[str]] = defaultdict(list)
    for (env_id, agent), reason in pairs.items():
        envs[(agent, reason)].append(f"`{env_id}`")
    return [
        f"- `{agent}` on {', '.join(env_ids)}: {' '.join(reason.split())}"
        for (agent, reason), env_ids in envs.items()
    ]


def code_line(grouped: dict[str, dict[str, list[dict[str, Any]]]]) -> str:
    """The protocol line naming the code the results were made with, and a warning when they
    come from more than one revision (a resumed track whose code changed in between: its rows
    may not compare; rerun into a fresh folder to compare on one code)."""
    counts: dict[str, int] = {}
    for agents in grouped.values():
        for records in agents.values():
            for record in records:
                revision = record.get("git_revision") or "no git revision"
                name = f"lm_gym {record.get('lm_gym_version', '?')} ({revision})"
                counts[name] = counts.get(name, 0) + 1
    made = ", ".join(f"{name} ({n} runs)" for name, n in sorted(counts.items()))
    if len(counts) > 1:
        return (
            f"code: **results from {len(counts)} code versions**: {made}; rows made by "
            "different code may not compare: rerun into a fresh folder to compare on one;"
        )
    return f"code: {made};" if counts else "code: no results yet;"


def leaderboard_markdown(
    track: Track,
    grouped: dict[str, dict[str, list[dict[str, Any]]]],
    unsupported: dict[tuple[str, str], str],
    plotted: Iterable[str] = (),
    failures: dict[tuple[str, str], str] | None = None,
    statistics: Iterable[str] = (),
    figures: Iterable[str] = (),
) -> str:
    """The full ``LEADERBOARD.md`` text.

    Args:
        track: the track (its protocol heads the file).
        grouped: :func:`group_results` of its result records.
        unsupported: ``(env, agent) -> reason`` for the pairs the agent refused.
        plotted: env ids whose learning-curve PNG exists (linked under their table).
        failures: ``(env, agent) -> error`` for the pairs with a failed run (or whose agent
            failed when it was built on the env).
        statistics: the lines of the across-env sections (after the summary).
        figures: env ids whose final-metric figure exists (linked under their table).
    """
    failures = failures or {}
    plotted, figures = set(plotted), set(figures)
    lines = [f"# lm_gym leaderboard: track `{track.name}`", "", "## Protocol", ""]
    lines += [f"- {line}" for line in [*track.protocol(), code_line(grouped)]]
    lines += [
        f"- `{PRIMARY}`: mean return of the trained agent's `eval_episodes` episodes on a fresh "
        "env seeded with the run seed + 1000003 (other prompts and pools than training), "
        "actions from `agent.predict(obs)` (sampling, as the agents act);",
        "- `train/final_ep_rew_mean`: the last logged `rollout/ep_rew_mean` of training (mean "
        "return of the last 100 training episodes); other `eval/*` columns are means of the "
        "numeric `info` the env reports at the end of each evaluation episode;",
        "- cells are mean ± sample standard deviation (ddof 1) over seeds [95% confidence "
        f"interval of the mean, Student's t]; rows sorted by `{PRIMARY}`; wall times are in "
        "the result files, never in these numbers;",
        "- learning curves are drawn against env steps and, where the run logged them, words "
        "seen (BabyLM's x-axis): mean over seeds with its 95% t-band.",
        "",
    ]
    if unsupported:
        lines += [
            f"Not applicable ({NOT_APPLICABLE} below): each agent's factory refuses env spaces "
            "it does not handle, and the track excludes agents that accept an env but cannot "
            "finish its episodes:",
            "",
            *_grouped_reasons(unsupported),
            "",
        ]
    if failures:
        lines += [
            f"Failed ({FAILED} below): these raised an error, a bug in the agent or a config it "
            "rejects; their runs have no result and are tried again on the next call:",
            "",
            *_grouped_reasons(failures),
            "",
        ]
    lines += ["## Summary", "", f"`{PRIMARY}` per env and agent:", ""]
    lines += [*summary_table(track, grouped, unsupported, failures), ""]
    lines += [
        f"{NOT_APPLICABLE}: the agent does not act in this env; {FAILED}: it raised an error "
        "(see above); -: no result yet.",
        "",
        *statistics,
        "## Results",
        "",
    ]
    for env_id in track.envs:
        if env_id not in grouped:
            continue
        lines += [f"### {env_id}", "", *env_table(grouped[env_id]), ""]
        if env_id in plotted:
            lines += [f"![learning curves on {env_id}]({CURVES_DIR}/{file_name(env_id)})", ""]
        if env_id in figures:
            lines += [f"![final metrics on {env_id}]({FIGURES_DIR}/{file_name(env_id)})", ""]
    return "\n".join(lines)


def write_leaderboard(
    out_dir: str | Path,
    track: Track,
    records: Iterable[dict[str, Any]],
    unsupported: dict[tuple[str, str], str],
    failures: dict[tuple[str, str], str] | None = None,
    anchors: dict[str, dict[str, Any]] | None = None,
) -> Path:
    """Draw the figures and write ``LEADERBOARD.md`` into ``out_dir``; return its path.

    ``failures`` (``(env, agent) -> error``) marks the pairs that failed in this call;
    ``anchors``: env -> normalisation anchors (:func:`lm_gym.baselines.normalisation.
    track_anchors`); without them no env has a normalised score.
    """
    out_dir = Path(out_dir)
    grouped = group_results(records, track)
    plotted = plot_curves(out_dir, grouped)
    figures = plot_final_metrics(out_dir, grouped, track.figure_metrics)
    order = list(track.rows())
    profiles = plot_profiles(out_dir, normalised_matrices(grouped, anchors or {}, order))
    profiles_file = None if profiles is None else profiles.relative_to(out_dir).as_posix()
    statistics = statistics_markdown(grouped, anchors or {}, order, profiles_file)
    path = out_dir / LEADERBOARD_FILE
    text = leaderboard_markdown(track, grouped, unsupported, plotted, failures, statistics, figures)
    atomic_write_text(path, text)
    return path
