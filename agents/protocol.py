"""The agent protocol every lm_gym agent follows, and helpers for dataclass configs.

An agent is anything with these four methods (Stable-Baselines3's shape, minus the recurrent
state SB3's ``predict`` also returns)::

    agent = SomeAgent(env, seed=0)                 # or make_agent("name", env, seed=0)
    action = agent.predict(obs, deterministic=False)
    agent.learn(env, total_timesteps=10_000, callback=None)
    agent.save("agent.pt")
    agent = SomeAgent.load("agent.pt", env=env)     # a classmethod, as in SB3

An agent may declare ``action_kinds``, the kinds of env it acts in (keys of
:data:`lm_gym.registration.ACTION_KINDS`: ``token``, ``sequence``, ``subset``, ``lessons``), so
``lm-gym list`` can say where it acts without building an env.

An agent that can continue a run bit-identically also offers ``agent.restore(path, env)``:
load a checkpoint of its own into the agent as built (``lm-gym run --resume`` needs it; the
built-in agents have it through :class:`~lm_gym.agents.base.BaseAgent`, ``sb3-ppo`` does not).

Hyperparameters live in a dataclass with a one-line docstring per field (CleanRL style); an
agent's constructor takes the config and/or keyword overrides of its fields.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Protocol, TypeVar, runtime_checkable

import gymnasium as gym

from lm_gym.utils.validation import check_keywords

ConfigT = TypeVar("ConfigT")


@runtime_checkable
class Agent(Protocol):
    """What the CLI, the leaderboard and the registry rely on."""

    num_timesteps: int

    def predict(self, obs: Any, deterministic: bool = False) -> Any:
        """The action for ``obs`` (one observation, or a batch from a vector env)."""

    def learn(self, env: Any, total_timesteps: int, callback: Any = None) -> Agent:
        """Train on ``env`` until ``total_timesteps`` environment steps have been taken."""

    def save(self, path: str | os.PathLike) -> Any:
        """Write everything needed to resume training (atomically)."""

    @classmethod
    def load(cls, path: str | os.PathLike, env: Any = None, **overrides: Any) -> Agent:
        """Rebuild a saved agent, optionally bound to ``env``."""


def build_config(config_class: type[ConfigT], config: Any = None, **overrides: Any) -> ConfigT:
    """Make a ``config_class`` instance from a config, a dict and/or keyword overrides.

    Raises:
        ArgumentTypeError: naming unknown fields (with the closest valid name) and listing the
            valid ones, before any work starts; a ``TypeError`` and a ``ValueError``.
    """
    if config is None:
        values: dict[str, Any] = {}
    elif isinstance(config, config_class):
        values = dataclasses.asdict(config)
    elif isinstance(config, dict):
        values = dict(config)
    else:
        raise TypeError(
            f"config must be a {config_class.__name__} or a dict, got {type(config).__name__}"
        )
    values.update(overrides)
    names = [f.name for f in dataclasses.fields(config_class)]
    check_keywords(config_class.__name__, values, names)
    return config_class(**values)


def is_env_refusal(error: BaseException) -> bool:
    """True when ``error`` is an agent factory's refusal of an env it cannot act in.

    By convention a factory refuses an env's spaces with a ``TypeError`` (PPO needs token
    actions, REINFORCE one-step episodes, ...). A bad argument (lm_gym's
    :class:`~lm_gym.utils.validation.ArgumentTypeError`, also a ``ValueError``: an unknown
    config field, say) and every other exception are failures, not refusals.
    """
    return isinstance(error, TypeError) and not isinstance(error, ValueError)


def env_spaces(env: Any) -> tuple[gym.Space, gym.Space, int]:
    """``(observation_space, action_space, num_envs)`` of one env or a vector env.

    For a vector env the spaces are those of a single sub-environment.

    Raises:
        TypeError: when ``env`` has no Gymnasium spaces.
    """
    if not hasattr(env, "action_space") or not hasattr(env, "observation_space"):
        raise TypeError(f"expected a Gymnasium env or vector env, got {type(env).__name__}")
    if is_vector_env(env):
        return env.single_observation_space, env.single_action_space, int(env.num_envs)
    return env.observation_space, env.action_space, 1


def is_vector_env(env: Any) -> bool:
    """True for Gymnasium vector envs (and wrappers of them)."""
    return hasattr(env, "num_envs") and hasattr(env, "single_action_space")
