"""Data parallelism when one rank ends its collection alone: no rank may then enter a collective
the others do not (a hang, or two different reductions summed into each other).

A rank's collection ends early on its own when its share of a word budget refuses an env step
that the other rank's share admits, or when a callback stops it alone. The other rank's
collection goes on, and with :class:`~lm_gym.wrappers.CLMAlternation` it can reach a CLM step
(whose gradients are all-reduced) in the same collection: REINFORCE's next round, a
non-learning agent's reset after each batch, PPO's next episode on a single env. The scenarios
(``tests/parallel_stops.py``, one launch of 2 ranks) drive each of these for real; every run
must stop on both ranks at the same update, with the same weights and CLM steps. Before the
ranks met at every CLM step (:func:`lm_gym.utils.distributed.meet_before_joint_step`), each of
them crashed on gloo ("Received data size doesn't match expected size ... collective
mismatch") where NCCL would hang or mix the two reductions.
"""

from __future__ import annotations

import parallel_stops as stops
import pytest
from ranks import run_ranks

TIMEOUT = 180
"""Seconds the launch may take: 10-20 on a quiet machine, several times that on a busy one (so
not less); a hang fails in 3 minutes rather than :data:`ranks.TIMEOUT`'s 10."""


@pytest.fixture(scope="module")
def launch(tmp_path_factory):
    """Every scenario of ``tests/parallel_stops.py`` on 2 ranks: their results, rank by rank."""
    folder = tmp_path_factory.mktemp("stops")
    return run_ranks("parallel_stops:everything", 2, folder, timeout=TIMEOUT)


def both(launch, scenario: str, agent: str | None = None) -> tuple[dict, dict]:
    """Rank 0's and rank 1's result of ``scenario`` (of ``agent`` for the fixed agents)."""
    results = [result[scenario] for result in launch]
    return tuple(result[agent] if agent else result for result in results)


def assert_stopped_together(one: dict, two: dict, iteration: int, clm_steps: int) -> None:
    """Both ranks stopped after the same update, with the same weights and CLM steps."""
    for key in ("iteration", "num_timesteps", "clm_steps", "weights", "stopped_by_budget"):
        assert one[key] == two[key], key
    assert one["iteration"] == iteration and one["clm_steps"] == clm_steps
    assert one["run_exposed"] == two["run_exposed"] == one["own_exposed"] + two["own_exposed"]


def assert_refused_by_rank_1(one: dict, two: dict) -> None:
    """Rank 1's share refused an env step; rank 0's admitted it; the run reports rank 1's."""
    assert not one["own_refused"] and two["own_refused"]
    assert "the next env step" in one["stopped_by_budget"]
    assert "rank 1's share" in one["stopped_by_budget"]


def test_reinforce_stops_on_both_ranks_when_one_share_refuses_before_a_clm_step(launch):
    one, two = both(launch, "reinforce_refused")
    # Rounds 1-3 each ran their CLM step on both ranks; rank 1 refused round 3's env step,
    # rank 0 played it and stopped before round 4's CLM step instead of running it alone.
    assert_stopped_together(one, two, iteration=1, clm_steps=3)
    assert_refused_by_rank_1(one, two)
    assert [one["own_exposed"], two["own_exposed"]] == [3 * stops.ROUND, 3 * stops.ROUND - 4]
    assert one["num_timesteps"] == 2 * 2 * 2 + 2  # the first batch, and rank 0's round 3


def test_reinforce_stops_on_both_ranks_when_a_callback_stops_one(launch):
    one, two = both(launch, "reinforce_stopped")
    assert_stopped_together(one, two, iteration=1, clm_steps=3)
    assert one["stopped_by_budget"] is None
    assert one["own_exposed"] == two["own_exposed"] == 3 * stops.ROUND


@pytest.mark.parametrize("agent", ["lm-sample", "random"])
def test_a_non_learning_agent_stops_on_both_ranks_when_one_share_refuses(launch, agent):
    one, two = both(launch, "fixed_refused", agent)
    # Rank 0 played the step rank 1 refused; the reset after it would have run the next CLM
    # step: it was not run on either rank.
    assert_stopped_together(one, two, iteration=1, clm_steps=2)
    assert_refused_by_rank_1(one, two)
    assert [one["own_exposed"], two["own_exposed"]] == [2 * stops.ROUND, 2 * stops.ROUND - 4]


@pytest.mark.parametrize("agent", ["lm-sample", "random"])
def test_a_non_learning_agent_stopped_on_one_rank_updates_once_more_on_both(launch, agent):
    one, two = both(launch, "fixed_stopped", agent)
    # The callback stopped rank 1 at its third step, whose episodes still made a batch: both
    # ranks updated on it and stopped (rank 0 did not go on to a fourth collection alone).
    assert_stopped_together(one, two, iteration=3, clm_steps=4)
    assert one["num_timesteps"] == 3 * 2 * stops.NUM_ENVS


def test_ppo_on_a_single_env_stops_on_both_ranks_before_the_next_episodes_clm_step(launch):
    one, two = both(launch, "ppo_single_refused")
    assert_stopped_together(one, two, iteration=1, clm_steps=3)
    assert_refused_by_rank_1(one, two)
    episode = stops.CLM_WORDS + stops.PROMPT_WORDS
    assert [one["own_exposed"], two["own_exposed"]] == [3 * episode, 3 * episode - 2]


def test_ppo_stops_together_when_the_ranks_took_different_numbers_of_steps(launch):
    one, two = both(launch, "ppo_refused")
    # Rank 1 refused the third rollout's first step, rank 0 played all of it; the CLM step
    # due after that rollout never runs (nor would it have before: PPO's fall at resets).
    assert_stopped_together(one, two, iteration=2, clm_steps=3)
    assert_refused_by_rank_1(one, two)
    rollout = stops.PPO_ROWS * stops.PPO_TOKENS
    assert one["num_timesteps"] == 2 * 2 * rollout + rollout


def test_ranks_that_cannot_meet_again_fail_on_every_rank_instead_of_hanging(launch):
    one, two = both(launch, "out_of_step")
    for name in ("collected", "joint_steps"):
        assert one[name] == two[name] != "no error", name
        assert "out of step" in one[name]
    assert "rank 0: joint step 5; rank 1: collected True" in one["collected"]
    assert "rank 0: joint step 5; rank 1: joint step 6" in one["joint_steps"]
