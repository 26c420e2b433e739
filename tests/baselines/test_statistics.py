"""The statistics of the report against cases whose answer is known by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lm_gym.baselines.statistics import (
    aggregate,
    normalise,
    probability_of_improvement,
    t_interval,
)


def test_t_interval_is_the_student_t_interval_with_the_sample_std():
    mean, std, interval = t_interval([1.0, 2.0, 3.0])
    assert (mean, std) == (2.0, 1.0)  # ddof 1: the population std would be 0.816
    half = 4.302652729911275 / np.sqrt(3)  # t(0.975, 2 degrees of freedom) * std / sqrt(n)
    assert interval.low == pytest.approx(2 - half) and interval.high == pytest.approx(2 + half)
    mean, std, interval = t_interval([5.0])
    assert (mean, std) == (5.0, 0.0) and np.isnan(interval.low) and str(interval) == "5"


def test_point_estimates_are_numpys_iqm_and_mean():
    scores = np.random.default_rng(3).normal(size=(5, 3))  # 5 runs x 3 envs
    stats = aggregate(scores)
    middle = np.sort(scores.ravel())[3:12]  # 15 scores, the lowest and highest 25% (3) cut
    assert stats["iqm"].point == pytest.approx(middle.mean())
    assert stats["mean"].point == pytest.approx(scores.mean())
    for interval in stats.values():
        assert interval.low < interval.point < interval.high


def test_the_bootstrap_resamples_runs_within_each_env():
    # Every run of env 0 scores 0, every run of env 1 scores 1: a stratified resample keeps
    # 4 of each, so mean and IQM are 0.5 in every resample and the interval has no width
    # (pooling the runs before resampling would give a wide one).
    scores = np.array([[0.0, 1.0]] * 4)
    stats = aggregate(scores)
    for interval in stats.values():
        assert (interval.point, interval.low, interval.high) == (0.5, 0.5, 0.5)


def test_the_percentile_interval_matches_the_exact_bootstrap_distribution():
    # One env, 5 runs: all 5**5 equally likely resamples can be enumerated, so the exact 2.5%
    # and 97.5% quantiles of the resampled mean are known; 2,000 draws land within one atom
    # (0.2) of them.
    runs = np.arange(5.0)
    means = np.sort([np.mean(draw) for draw in itertools.product(runs, repeat=5)])
    low, high = np.quantile(means, [0.025, 0.975])
    stats = aggregate(runs[:, None])
    assert stats["mean"].point == 2.0
    assert abs(stats["mean"].low - low) <= 0.2 and abs(stats["mean"].high - high) <= 0.2
    assert low < 2.0 - 0.6 and high > 2.0 + 0.6  # not a trivial interval


def test_the_same_scores_give_the_same_intervals():
    scores = np.random.default_rng(0).normal(size=(4, 2))
    assert aggregate(scores) == aggregate(scores.copy())


def test_probability_of_improvement():
    # Per env, the share of (x, y) run pairs where x wins: 3 of 4 here (1 > 0, 3 > 0, 3 > 2).
    x, y = np.array([[1.0], [3.0]]), np.array([[0.0], [2.0]])
    assert probability_of_improvement(x, y).point == 0.75
    assert probability_of_improvement(x, x).point == 0.5
    better = probability_of_improvement(np.array([[5.0, 9.0]] * 3), np.array([[1.0, 2.0]] * 4))
    assert (better.point, better.low, better.high) == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="same envs"):
        probability_of_improvement(np.ones((2, 2)), np.ones((2, 3)))


def test_normalise():
    assert normalise(3.0, random=1.0, reference=5.0) == 0.5
    with pytest.raises(ValueError, match="does not beat random"):
        normalise(3.0, random=1.0, reference=1.0)
