"""The leaderboard's figures, drawn from the result files alone (matplotlib, the dev extra).

* ``curves/<env>.png``: every learning curve the runs kept, one panel row per logged metric,
  against timesteps and (when the runs logged it, BabyLM's x-axis) words seen: per row of the
  table the mean over seeds with its 95% t-band, every seed as a faint line. Seeds log at
  slightly different x (episodes end at different steps), so the band is taken on a common
  grid over the x range every seed covers, each seed interpolated linearly.
* ``figures/<env>.png``: the track's ``figure_metrics`` per row: mean with 95% t-interval,
  every seed a dot.
* ``figures/profiles.png``: performance profiles of the normalised scores (the share of runs
  above each threshold, with 95% stratified-bootstrap bands; Agarwal et al. 2021).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from lm_gym.baselines.statistics import performance_profiles, t_interval
from lm_gym.baselines.tracks import env_file_stem

CURVES_DIR = "curves"
FIGURES_DIR = "figures"
PROFILES_FILE = "profiles.png"
GRID_POINTS = 60
AXES = (("timesteps", "env steps"), ("words", "words seen"))
"""Curve x-axes: the key in a result's curve and the axis label."""

Grouped = dict[str, dict[str, list[dict[str, Any]]]]


def _pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend, or ``None`` (with a note) without it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(
            "lm-gym leaderboard: matplotlib is not installed, so no PNG figures "
            "(pip install matplotlib, or the dev extra: pip install 'lm_gym[dev]')",
            file=sys.stderr,
        )
        return None
    return plt


def file_name(env_key: str) -> str:
    """The PNG name of an env's figures."""
    return env_file_stem(env_key) + ".png"


def seed_band(
    curves: list[tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """``(grid, mean, low, high)`` over seeds of curves given as ``(x, y)`` arrays, on a
    common grid of the x range all of them cover (``low``/``high``: the 95% t-interval,
    ``nan`` for a single curve); ``None`` when they share no range."""
    curves = [(x, y) for x, y in curves if len(x)]
    if not curves:
        return None
    start, stop = max(x[0] for x, _ in curves), min(x[-1] for x, _ in curves)
    if stop < start:
        return None
    grid = np.linspace(start, stop, GRID_POINTS) if stop > start else np.array([start])
    values = np.stack([np.interp(grid, x, y) for x, y in curves])
    intervals = [t_interval(values[:, i])[2] for i in range(grid.size)]
    return (
        grid,
        values.mean(0),
        np.array([i.low for i in intervals]),
        np.array([i.high for i in intervals]),
    )


def _records(agents: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [record for records in agents.values() for record in records]


def _curve_names(agents: dict[str, list[dict[str, Any]]]) -> list[str]:
    """The curves with points in any run, in the order the runs keep them."""
    names: dict[str, None] = {}
    for record in _records(agents):
        names.update({name: None for name, curve in record["curves"].items() if curve["value"]})
    return list(names)


def plot_curves(out_dir: Path, grouped: Grouped) -> list[str]:
    """One PNG per env under ``out_dir/curves`` (module docstring); the env keys plotted."""
    plt = _pyplot()
    if plt is None:
        return []
    folder = out_dir / CURVES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for env_key, agents in grouped.items():
        names = _curve_names(agents)
        if not names:
            continue
        axes_used = [
            (key, label)
            for key, label in AXES
            if any(key in curve for r in _records(agents) for curve in r["curves"].values())
        ]
        figure, grid = plt.subplots(
            len(names),
            len(axes_used),
            figsize=(5.5 * len(axes_used), 3.2 * len(names)),
            squeeze=False,
        )
        for row, name in enumerate(names):
            for column, (x_key, x_label) in enumerate(axes_used):
                axis = grid[row][column]
                for index, (agent, records) in enumerate(agents.items()):
                    color = f"C{index % 10}"
                    pairs = [
                        (np.asarray(c[x_key], float), np.asarray(c["value"], float))
                        for r in sorted(records, key=lambda r: r["spec"]["seed"])
                        if x_key in (c := r["curves"].get(name, {})) and c["value"]
                    ]
                    for x, y in pairs:
                        axis.plot(x, y, color=color, alpha=0.15, lw=0.8)
                    band = seed_band(pairs)
                    if band is None:
                        continue
                    x, mean, low, high = band
                    axis.plot(x, mean, color=color, label=f"{agent} ({len(pairs)})")
                    if np.isfinite(low).all():
                        axis.fill_between(x, low, high, color=color, alpha=0.2, lw=0)
                axis.set(xlabel=x_label, ylabel=name)
                axis.grid(alpha=0.3)
                if axis.get_legend_handles_labels()[0]:
                    axis.legend(fontsize="x-small")
        figure.suptitle(f"{env_key}: mean over seeds (n) with 95% t-band; seeds faint")
        figure.tight_layout()
        figure.savefig(folder / file_name(env_key), dpi=100)
        plt.close(figure)
        written.append(env_key)
    return written


def plot_final_metrics(out_dir: Path, grouped: Grouped, metrics: tuple[str, ...]) -> list[str]:
    """Per env, ``metrics`` per row as bars with 95% t-intervals and seed dots
    (``figures/<env>.png``); the env keys plotted."""
    plt = _pyplot() if metrics else None
    if plt is None:
        return []
    folder = out_dir / FIGURES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for env_key, agents in grouped.items():
        shown = [m for m in metrics if any(m in r["metrics"] for r in _records(agents))]
        if not shown:
            continue
        figure, axes = plt.subplots(1, len(shown), figsize=(4.2 * len(shown), 4), squeeze=False)
        labels = list(agents)
        for axis, metric in zip(axes[0], shown):
            for i, agent in enumerate(labels):
                values = [r["metrics"][metric] for r in agents[agent] if metric in r["metrics"]]
                if not values:
                    continue
                mean, _, interval = t_interval(values)
                error = None
                if np.isfinite(interval.low):
                    error = [[mean - interval.low], [interval.high - mean]]
                axis.bar(i, mean, yerr=error, color="C0", alpha=0.6, capsize=4)
                axis.plot([i] * len(values), values, "k.", ms=4)
            axis.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
            axis.set_title(metric, fontsize=9)
        figure.suptitle(f"{env_key}: mean with 95% t-interval over seeds (dots: seeds)")
        figure.tight_layout()
        figure.savefig(folder / file_name(env_key), dpi=100)
        plt.close(figure)
        written.append(env_key)
    return written


def plot_profiles(out_dir: Path, scores: dict[str, np.ndarray]) -> Path | None:
    """Performance profiles of ``row -> runs x envs`` normalised scores
    (``figures/profiles.png``), or ``None`` when nothing was drawn."""
    plt = _pyplot() if scores else None
    if plt is None:
        return None
    every = np.concatenate([s.ravel() for s in scores.values()])
    taus = np.linspace(min(0.0, every.min()), max(1.0, every.max()), 81)
    figure, axis = plt.subplots(figsize=(6, 4))
    for index, (name, (profile, band)) in enumerate(performance_profiles(scores, taus).items()):
        color = f"C{index % 10}"
        axis.plot(taus, profile, color=color, label=name)
        axis.fill_between(taus, band[0], band[1], color=color, alpha=0.2, lw=0)
    axis.set(
        xlabel="normalised score threshold (0 = random, 1 = reference)",
        ylabel="share of runs above threshold",
        title="performance profiles (95% stratified-bootstrap bands)",
    )
    axis.grid(alpha=0.3)
    axis.legend(fontsize="x-small")
    folder = out_dir / FIGURES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / PROFILES_FILE
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
