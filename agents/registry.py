"""The agent registry: names -> factories, fed by code and by the ``lm_gym.agents`` entry points.

A factory is any callable ``factory(env, **config) -> agent`` (an agent class is one). Built-in
agents are registered here by import path, so listing them imports nothing heavy. A third-party
package makes its agent available to ``make_agent``, ``lm-gym run`` and the leaderboard by
declaring an entry point, with no import of lm_gym needed on its side::

    # setup.cfg of the other package
    [options.entry_points]
    lm_gym.agents =
        my-agent = my_package.agent:MyAgent

Names registered in code take precedence: an entry point with a taken name is skipped with a
warning rather than silently replacing an agent.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lm_gym.utils.validation import did_you_mean

ENTRY_POINT_GROUP = "lm_gym.agents"


@dataclass(frozen=True)
class AgentSpec:
    """One registered agent."""

    name: str
    """Name used by ``make_agent`` and ``lm-gym run --agent``."""
    factory: Callable[..., Any] | str | importlib.metadata.EntryPoint
    """``factory(env, **config)``, its ``"module:attribute"`` import path, or an entry point."""
    source: str
    """``"lm_gym"``, ``"code"`` or ``"entry point of <distribution>"``."""

    def load(self) -> Callable[..., Any]:
        """The factory itself, importing it on first use."""
        try:
            if isinstance(self.factory, importlib.metadata.EntryPoint):
                return self.factory.load()
            if isinstance(self.factory, str):
                module_name, _, attribute = self.factory.partition(":")
                return getattr(importlib.import_module(module_name), attribute)
            return self.factory
        except (ImportError, AttributeError) as error:
            raise ImportError(
                f"agent {self.name!r} ({self.source}) points to {self.factory!r}, "
                f"which cannot be imported: {error}"
            ) from error


_REGISTRY: dict[str, AgentSpec] = {}


def register_agent(
    name: str, factory: Callable[..., Any] | str, *, overwrite: bool = False, source: str = "code"
) -> None:
    """Register ``factory`` under ``name``.

    Args:
        name: the agent's name (non-empty, no whitespace).
        factory: ``factory(env, **config) -> agent`` or an import path ``"module:attribute"``.
        overwrite: replace an existing registration instead of raising.
        source: where the registration comes from (shown by ``lm-gym list``).

    Raises:
        ValueError: for a bad name, a bad import path or a taken name.
        TypeError: when ``factory`` is neither callable nor a string.
    """
    if not isinstance(name, str) or not name or any(c.isspace() for c in name):
        raise ValueError(f"agent name must be a non-empty string without spaces, got {name!r}")
    if isinstance(factory, str):
        if factory.count(":") != 1 or not all(factory.split(":")):
            raise ValueError(
                f"agent {name!r}: import path must be 'module:attribute', got {factory!r}"
            )
    elif not callable(factory):
        raise TypeError(f"agent {name!r}: factory must be callable, got {type(factory).__name__}")
    if name in _REGISTRY and not overwrite:
        raise ValueError(
            f"agent {name!r} is already registered ({_REGISTRY[name].source}); "
            "pass overwrite=True to replace it"
        )
    _REGISTRY[name] = AgentSpec(name, factory, source)


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    return list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))


def load_entry_points() -> list[str]:
    """Register the agents of every installed package's ``lm_gym.agents`` entry points.

    Safe to call repeatedly (newly installed packages are picked up).

    Returns:
        The names newly registered.
    """
    added = []
    for entry_point in _entry_points():
        distribution = getattr(entry_point.dist, "name", None) or "an unknown distribution"
        source = f"entry point of {distribution}"
        known = _REGISTRY.get(entry_point.name)
        if known is not None:
            if known.source != source:
                warnings.warn(
                    f"ignoring entry point agent {entry_point.name!r} of {distribution}: the name "
                    f"is already registered ({known.source})",
                    stacklevel=2,
                )
            continue
        _REGISTRY[entry_point.name] = AgentSpec(entry_point.name, entry_point, source)
        added.append(entry_point.name)
    return added


def get_agent_spec(name: str) -> AgentSpec:
    """The registration of ``name`` (entry points are rescanned when it is unknown).

    Raises:
        KeyError: naming the registered agents.
    """
    if name not in _REGISTRY:
        load_entry_points()
    if name not in _REGISTRY:
        known = list_agents()
        raise KeyError(
            f"unknown agent {name!r}{did_you_mean(name, known)}; registered agents: "
            f"{', '.join(known)}"
        )
    return _REGISTRY[name]


def make_agent(name: str, env: Any, **config: Any) -> Any:
    """Build the agent registered as ``name`` for ``env`` with config overrides ``config``."""
    return get_agent_spec(name).load()(env, **config)


def list_agents() -> list[str]:
    """Names of all registered agents (built-in, code and entry points), sorted."""
    load_entry_points()
    return sorted(_REGISTRY)


for _name, _path in {
    "ppo": "lm_gym.agents.ppo:PPO",
    "reinforce": "lm_gym.agents.reinforce:Reinforce",
    "random": "lm_gym.agents.untrained:RandomAgent",
    "lm-sample": "lm_gym.agents.untrained:LMSampleAgent",
    "sb3-ppo": "lm_gym.agents.sb3_adapter:SB3PPO",
    "oracle-teacher": "lm_gym.agents.teachers:OracleTeacher",
    "worst-teacher": "lm_gym.agents.teachers:WorstCaseTeacher",
    "reinforce-teacher": "lm_gym.agents.teachers:ReinforceTeacher",
}.items():
    register_agent(_name, _path, source="lm_gym")
