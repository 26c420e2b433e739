"""The leaderboard's outputs: the ``LEADERBOARD.md`` table and PNG learning curves.

Both are generated from the result files alone, so they can be rebuilt at any time (and a
resumed track's table covers the runs of every session). Per env, one row per agent with the
mean and sample standard deviation over seeds of each final score; the header states the
protocol (the track's envs, arguments, budgets, agents, seeds), which agents could not act in
which env and why (``n/a``), which pairs failed and with what error (``**failed**``), and how
the scores were measured.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from lm_gym.baselines.results import PRIMARY_METRIC
from lm_gym.baselines.tracks import Track, env_file_stem
from lm_gym.utils.files import atomic_write_text

LEADERBOARD_FILE = "LEADERBOARD.md"
CURVES_DIR = "curves"
PRIMARY = PRIMARY_METRIC
HIDDEN = {"eval/std_return", "eval/mean_length", "train/num_timesteps"}
"""Metrics kept in the result files but left out of the table."""


def group_results(
    records: Iterable[dict[str, Any]], track: Track
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """``env -> agent -> records`` for the records whose spec is one of ``track``'s runs."""
    specs = {_key(spec.to_dict()) for spec in track.expand()}
    grouped: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        spec = record["spec"]
        if _key(spec) in specs:
            grouped[spec["env_id"]][spec["agent"]].append(record)
    return grouped


def _key(spec: dict[str, Any]) -> str:
    return json.dumps(spec, sort_keys=True)


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    array = np.asarray(values, dtype=np.float64)
    return float(array.mean()), float(array.std(ddof=1)) if array.size > 1 else 0.0


def _cell(values: list[float]) -> str:
    if not values:
        return "-"
    mean, std = mean_std(values)
    return f"{mean:.4g} ± {std:.0f}" if abs(std) >= 100 else f"{mean:.4g} ± {std:.2g}"


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
    """Markdown rows of the env x agent matrix of :data:`PRIMARY`: :data:`NOT_APPLICABLE`
    for refused pairs, :data:`FAILED` for failed ones (marked beside the score when only some
    seeds failed), ``-`` for pairs with no result yet."""
    unsupported, failures = unsupported or {}, failures or {}
    agents = list(track.agents)
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


def leaderboard_markdown(
    track: Track,
    grouped: dict[str, dict[str, list[dict[str, Any]]]],
    unsupported: dict[tuple[str, str], str],
    plotted: Iterable[str] = (),
    failures: dict[tuple[str, str], str] | None = None,
) -> str:
    """The full ``LEADERBOARD.md`` text.

    Args:
        track: the track (its protocol heads the file).
        grouped: :func:`group_results` of its result records.
        unsupported: ``(env, agent) -> reason`` for the pairs the agent refused.
        plotted: env ids whose learning-curve PNG exists (linked under their table).
        failures: ``(env, agent) -> error`` for the pairs with a failed run (or whose agent
            failed when it was built on the env).
    """
    failures = failures or {}
    plotted = set(plotted)
    lines = [f"# lm_gym leaderboard: track `{track.name}`", "", "## Protocol", ""]
    lines += [f"- {line}" for line in track.protocol()]
    lines += [
        f"- `{PRIMARY}`: mean return of the trained agent's `eval_episodes` episodes on a fresh "
        "env seeded with the run seed + 1000003 (other prompts and pools than training), "
        "actions from `agent.predict(obs)` (sampling, as the agents act);",
        "- `train/final_ep_rew_mean`: the last logged `rollout/ep_rew_mean` of training (mean "
        "return of the last 100 training episodes); other `eval/*` columns are means of the "
        "numeric `info` the env reports at the end of each evaluation episode;",
        "- cells are mean ± sample standard deviation over seeds; rows sorted by "
        f"`{PRIMARY}`; wall times are in the result files, never in these numbers.",
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
        "## Results",
        "",
    ]
    for env_id in track.envs:
        if env_id not in grouped:
            continue
        lines += [f"### {env_id}", "", *env_table(grouped[env_id]), ""]
        if env_id in plotted:
            lines += [f"![learning curves on {env_id}]({CURVES_DIR}/{_file_name(env_id)})", ""]
    return "\n".join(lines)


def _file_name(env_id: str) -> str:
    return env_file_stem(env_id) + ".png"


def plot_curves(out_dir: Path, grouped: dict[str, dict[str, list[dict[str, Any]]]]) -> list[str]:
    """One PNG per env under ``out_dir/curves``: each agent's training curve, every seed.

    Returns:
        The env ids plotted; none (with a note on stderr) when matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(
            "lm-gym leaderboard: matplotlib is not installed, so no learning-curve PNGs "
            "(pip install matplotlib, or the dev extra: pip install 'lm_gym[dev]')",
            file=sys.stderr,
        )
        return []
    folder = out_dir / CURVES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for env_id, agents in grouped.items():
        figure, axes = plt.subplots(figsize=(6, 4))
        for index, (agent, records) in enumerate(sorted(agents.items())):
            color = f"C{index % 10}"
            for number, record in enumerate(sorted(records, key=lambda r: r["spec"]["seed"])):
                curve = record["curve"]
                if curve["value"]:
                    label = agent if number == 0 else None
                    axes.plot(curve["timesteps"], curve["value"], color=color, label=label)
        axes.set(title=env_id, xlabel="env steps", ylabel="rollout/ep_rew_mean")
        if axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize="small")
        path = folder / _file_name(env_id)
        figure.tight_layout()
        figure.savefig(path, dpi=100)
        plt.close(figure)
        written.append(env_id)
    return written


def write_leaderboard(
    out_dir: str | Path,
    track: Track,
    records: Iterable[dict[str, Any]],
    unsupported: dict[tuple[str, str], str],
    failures: dict[tuple[str, str], str] | None = None,
) -> Path:
    """Plot the curves and write ``LEADERBOARD.md`` into ``out_dir``; return its path.

    ``failures`` (``(env, agent) -> error``) marks the pairs that failed in this call."""
    out_dir = Path(out_dir)
    grouped = group_results(records, track)
    plotted = plot_curves(out_dir, grouped)
    path = out_dir / LEADERBOARD_FILE
    text = leaderboard_markdown(track, grouped, unsupported, plotted, failures)
    atomic_write_text(path, text)
    return path
