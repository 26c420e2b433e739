"""Agents that learn in lm_gym environments (imported as ``lm_gym.agents``).

The protocol, registry, callbacks and logger import at once; the agents themselves (which pull
in torch models or Stable-Baselines3) are imported on first access, so ``lm-gym list`` stays
fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from lm_gym.agents.callbacks import (
    Callback,
    CallbackList,
    CheckpointCallback,
    FunctionCallback,
    StopAfterTimesteps,
)
from lm_gym.agents.logger import Logger
from lm_gym.agents.protocol import Agent
from lm_gym.agents.registry import (
    ENTRY_POINT_GROUP,
    list_agents,
    load_entry_points,
    make_agent,
    register_agent,
)

_LAZY = {
    "PPO": "lm_gym.agents.ppo",
    "PPOConfig": "lm_gym.agents.ppo_config",
    "KLController": "lm_gym.agents.ppo_config",
    "Reinforce": "lm_gym.agents.reinforce",
    "ReinforceConfig": "lm_gym.agents.reinforce",
    "RandomAgent": "lm_gym.agents.untrained",
    "LMSampleAgent": "lm_gym.agents.untrained",
    "SB3PPO": "lm_gym.agents.sb3_adapter",
    "SubsetPolicy": "lm_gym.agents.subset_policy",
    "LMPolicy": "lm_gym.agents.lm_policy",
    "train_agent": "lm_gym.agents.run",
}

__all__ = [
    "ENTRY_POINT_GROUP",
    "Agent",
    "Callback",
    "CallbackList",
    "CheckpointCallback",
    "FunctionCallback",
    "Logger",
    "StopAfterTimesteps",
    "list_agents",
    "load_entry_points",
    "make_agent",
    "register_agent",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lm_gym.agents' has no attribute {name!r}")
