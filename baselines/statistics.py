"""Statistics of a track's results, as RL researchers now expect them (Agarwal et al. 2021).

* Per env and row: mean, sample standard deviation (ddof 1) and the 95% confidence interval
  of the mean over seeds (Student's t with n - 1 degrees of freedom): :func:`t_interval`.
* Normalised scores: ``(score - random) / (reference - random)`` per env, 0 = the ``random``
  agent, 1 = a reference (the oracle teacher, the true continuations of the reward audit; see
  :mod:`lm_gym.baselines.normalisation`), like Atari's human-normalised scores.
* Across envs and seeds, with `rliable <https://github.com/google-research/rliable>`_: the
  interquartile mean (IQM) and the mean of the normalised scores with 95% stratified-bootstrap
  intervals (runs resampled within each env), the probability of improvement P(X > Y) of one
  row over another (Mann-Whitney per env, averaged over the envs both ran on; it needs no
  normalisation) with its bootstrap interval, and performance profiles (the share of runs
  whose normalised score exceeds each threshold).

Every bootstrap is seeded here, so the same results give the same intervals: rliable 1.2
draws its resamples from NumPy's global generator whatever ``random_state`` it is given, so
that generator is seeded for the bootstrap and restored afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
BOOTSTRAP_REPS = 2_000
"""Bootstrap resamples per interval (rliable's default for profiles; 50,000 for aggregates
takes minutes for a handful of rows, and 2,000 move the bounds by about 1% of their width)."""
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class Interval:
    """A point estimate and its 95% interval (``nan`` bounds when there is none)."""

    point: float
    low: float
    high: float

    def __str__(self) -> str:
        if not np.isfinite(self.low):
            return f"{self.point:.3g}"
        return f"{self.point:.3g} [{self.low:.3g}, {self.high:.3g}]"


def t_interval(values: list[float] | np.ndarray) -> tuple[float, float, Interval]:
    """``(mean, sample std, 95% t-interval of the mean)`` of ``values`` (one value: std 0 and
    no interval).

    Raises:
        ValueError: for no values.
    """
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        raise ValueError("no values to summarise")
    mean = float(array.mean())
    if array.size == 1:
        return mean, 0.0, Interval(mean, float("nan"), float("nan"))
    std = float(array.std(ddof=1))
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, array.size - 1)) * std / np.sqrt(array.size)
    return mean, std, Interval(mean, mean - half, mean + half)


def normalise(score: float, random: float, reference: float) -> float:
    """``score`` on the scale where ``random`` is 0 and ``reference`` is 1.

    Raises:
        ValueError: when the reference does not score above random (no scale).
    """
    if not reference > random:
        raise ValueError(f"the reference ({reference:.4g}) does not beat random ({random:.4g})")
    return (score - random) / (reference - random)


@contextlib.contextmanager
def _seeded_global_numpy() -> Iterator[None]:
    """NumPy's global generator seeded with :data:`BOOTSTRAP_SEED`, restored afterwards."""
    state = np.random.get_state()
    np.random.seed(BOOTSTRAP_SEED)
    try:
        yield
    finally:
        np.random.set_state(state)


def _estimates(scores: object, func: object) -> tuple[np.ndarray, np.ndarray]:
    """rliable's point estimate and 95% interval of ``func`` on one score array (or pair)."""
    from rliable import library

    with _seeded_global_numpy():
        points, intervals = library.get_interval_estimates(
            {"x": scores}, func, reps=BOOTSTRAP_REPS, confidence_interval_size=CONFIDENCE
        )
    return np.atleast_1d(points["x"]), np.asarray(intervals["x"]).reshape(2, -1)


def aggregate(scores: np.ndarray) -> dict[str, Interval]:
    """IQM and mean of a ``runs x envs`` matrix of normalised scores, with 95%
    stratified-bootstrap intervals (rliable).

    Raises:
        ValueError: for an empty matrix or one that is not 2-D.
    """
    from rliable import metrics

    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or not scores.size:
        raise ValueError(f"scores must be a non-empty runs x envs matrix, got {scores.shape}")
    points, bounds = _estimates(
        scores, lambda x: np.array([metrics.aggregate_iqm(x), metrics.aggregate_mean(x)])
    )
    return {
        name: Interval(float(points[i]), float(bounds[0, i]), float(bounds[1, i]))
        for i, name in enumerate(("iqm", "mean"))
    }


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> Interval:
    """P(X > Y) of two ``runs x envs`` score matrices over the same envs (runs may differ in
    number), with its 95% bootstrap interval (rliable, runs resampled per env and row)."""
    from rliable import metrics

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1] or not x.size or not y.size:
        raise ValueError(
            f"need two runs x envs matrices over the same envs, got {x.shape}, {y.shape}"
        )
    points, bounds = _estimates([x, y], metrics.probability_of_improvement)
    return Interval(float(points[0]), float(bounds[0, 0]), float(bounds[1, 0]))


def performance_profiles(
    score_dict: Mapping[str, np.ndarray], taus: np.ndarray
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Row -> ``(share of runs above each tau, 2 x len(taus) 95% bootstrap band)``."""
    from rliable import library

    return {
        name: tuple(
            _estimates(scores, lambda s: library.score_distributions(s, taus))  # type: ignore[misc]
        )
        for name, scores in score_dict.items()
    }
