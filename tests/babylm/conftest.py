"""A run trained with milestones, shared by the export and revision tests (built once)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lm_gym.agents import train_agent


@pytest.fixture(scope="session")
def milestone_run(toys, tmp_path_factory) -> Path:
    """The folder of a toy PPO + CLM run that stopped at a 2,000-word exposure budget, with
    revisions at 500, 1k, 1500 and 2k words (3k is never reached) and ``main``."""
    result = train_agent(
        toys.register_toy_env(),
        "ppo",
        20_000,
        seed=0,
        out_dir=tmp_path_factory.mktemp("milestone_run"),
        env_kwargs={"clm_alternation": {"r_clm": 2, "r_rl": 1, "batch_size": 8}},
        agent_kwargs={"num_envs": 4, "num_minibatches": 1, "verbose": 0},
        progress_bar=False,
        budget={"exposed": 2_000},
        milestones="500,1k,1500,2k,3k",
    )
    return result.run_dir
