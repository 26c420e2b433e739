"""The one registration table: every lm_gym id has a class and a native vector class, each
documented in Gymnasium's layout and exported by ``lm_gym.envs``; registering imports nothing
heavy."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import pytest
from gymnasium.envs.registration import load_env_creator

import lm_gym.envs
from lm_gym.registration import ENVIRONMENTS

SECTIONS = (
    "## Description",
    "## Action Space",
    "## Observation Space",
    "## Rewards",
    "## Starting State",
    "## Episode End",
    "## Arguments",
    "## Version History",
)
"""Gymnasium's env docstring sections, in its order (``classic_control/cartpole.py``)."""

LM_GYM_IDS = sorted(
    env_id for env_id, spec in gym.registry.items() if str(spec.entry_point).startswith("lm_gym.")
)


def test_the_table_is_what_is_registered():
    assert sorted(ENVIRONMENTS) == LM_GYM_IDS
    for env_id, arguments in ENVIRONMENTS.items():
        spec = gym.spec(env_id)
        assert spec.entry_point == arguments["entry_point"]
        assert spec.vector_entry_point == arguments["vector_entry_point"]
        assert spec.kwargs == arguments["kwargs"]


@pytest.mark.parametrize("env_id", LM_GYM_IDS)
def test_every_id_has_documented_classes_exported_by_lm_gym_envs(env_id):
    spec = gym.spec(env_id)
    for entry_point, base in (
        (spec.entry_point, gym.Env),
        (spec.vector_entry_point, gym.vector.VectorEnv),
    ):
        assert isinstance(entry_point, str)  # importing lm_gym loads no env module
        env_class = load_env_creator(entry_point)
        assert isinstance(env_class, type) and issubclass(env_class, base), entry_point
        doc = env_class.__doc__ or ""
        positions = [doc.find(section) for section in SECTIONS]
        missing = [s for s, at in zip(SECTIONS, positions) if at < 0]
        assert not missing, f"{env_class.__name__} lacks {missing}"
        assert positions == sorted(positions), f"{env_class.__name__}: sections out of order"
        assert getattr(lm_gym.envs, env_class.__name__) is env_class


def test_importing_lm_gym_imports_no_env_module():
    code = (
        "import sys, lm_gym\n"
        "print(sorted(m for m in sys.modules if m.startswith('lm_gym.envs.') or m == 'torch'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
