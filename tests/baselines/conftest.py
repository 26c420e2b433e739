"""Fixtures of the leaderboard tests: a tiny track on the micro recipes, one torch thread.

The tiny track has one text env (``Bambino-v0``, token mode) and one teacher env
(``TeacherDomains-v0``) with a handful of steps each, and a fixed agent, a learning agent and
an agent that only some envs accept, on two seeds: every part of the runner is exercised in
seconds.
"""

from __future__ import annotations

import pytest
import torch

from lm_gym.baselines.tracks import MICRO_BAMBINO, EnvSetting, Track


def make_tiny_track() -> Track:
    """Bambino and TeacherDomains x random, ppo, oracle-teacher x seeds 0 and 1."""
    return Track(
        "tiny",
        {
            "Bambino-v0": EnvSetting(
                {**MICRO_BAMBINO, "max_new_tokens": 4}, timesteps=32, eval_episodes=3
            ),
            "TeacherDomains-v0": EnvSetting(
                {
                    "teacher_model": "baby-en-micro",
                    "num_students": 1,
                    "student_steps": 5,
                    "pool_size": 20,
                    "exam_size": 4,
                    "budget": 4,
                },
                timesteps=4,
                eval_episodes=2,
            ),
        },
        {
            "random": {"num_envs": 2, "verbose": 0},
            "ppo": {"num_envs": 4, "num_minibatches": 1, "num_epochs": 1, "verbose": 0},
            "oracle-teacher": {"num_envs": 2, "verbose": 0},
        },
        (0, 1),
        "test track",
    )


@pytest.fixture
def tiny_track() -> Track:
    """A fresh copy of the tiny track."""
    return make_tiny_track()


def numbers(out_dir) -> dict[str, dict]:
    """Run name -> the compared numbers (metrics and curves) of every result under ``out_dir``."""
    from lm_gym.baselines.results import load_results
    from lm_gym.baselines.tracks import RunSpec

    return {
        RunSpec(**r["spec"]).name: {"metrics": r["metrics"], "curves": r["curves"]}
        for r in load_results(out_dir)
    }


@pytest.fixture
def compared_numbers():
    """The :func:`numbers` helper (tests import nothing from this conftest by name)."""
    return numbers


@pytest.fixture(scope="session")
def serial_run(tmp_path_factory):
    """The tiny track run once serially: ``(out_dir, outcome)``. Tests must not modify it."""
    from lm_gym.baselines.driver import run_track

    out_dir = tmp_path_factory.mktemp("serial")
    threads = torch.get_num_threads()
    outcome = run_track(make_tiny_track(), out_dir, log=lambda line: None)
    torch.set_num_threads(threads)
    return out_dir, outcome
