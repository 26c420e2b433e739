"""Train, log and save one agent on one env: what ``lm-gym run`` and the leaderboard call.

``train_agent("Bambino-v0", "ppo", 20_000, seed=0)`` looks the agent up in the registry
(built-in, registered in code, or a third-party entry point), builds the env the agent asks
for (its ``make_env`` classmethod; plain ``gym.make`` for factories without one), trains with
metrics written to stdout, ``progress.csv`` and TensorBoard, and saves the agent and a
``run.json`` summary into ``out_dir/<env>__<agent>__seed<seed>/``.

One env keyword is handled here rather than by the env: ``clm_alternation`` (``true`` or a dict
of :class:`lm_gym.wrappers.CLMAlternation` arguments) wraps the env so the agent's model is
also trained with CLM updates between RL episodes, as in BAMBINO-LM.
"""

from __future__ import annotations

import inspect
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym

import lm_gym.registration  # noqa: F401  (registers the lm_gym envs)
from lm_gym.agents.logger import Logger
from lm_gym.agents.registry import get_agent_spec
from lm_gym.utils.validation import check_int, check_positive_int
from lm_gym.version import __version__
from lm_gym.wrappers.clm_alternation import CLMAlternation

LOG_FORMATS = ("stdout", "csv", "tensorboard")
CLM_KEY = "clm_alternation"


@dataclass
class RunResult:
    """What a run produced."""

    run_dir: Path
    """Folder with ``progress.csv``, TensorBoard files, the saved agent and ``run.json``."""
    agent: Any
    """The trained agent."""
    agent_file: Path
    """Where the agent was saved."""
    history: list[dict[str, float]] = field(default_factory=list)
    """The logged metric rows (empty for agents that log through their own logger)."""


def _accepts(factory: Any, name: str) -> bool:
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


def _check_args(env_id: Any, timesteps: Any, seed: Any, env_kwargs: Any, agent_kwargs: Any) -> None:
    if not isinstance(env_id, str) or not env_id:
        raise ValueError(f"env_id must be a non-empty string, got {env_id!r}")
    check_positive_int("timesteps", timesteps)
    check_int("seed", seed)
    for name, value in (("env_kwargs", env_kwargs), ("agent_kwargs", agent_kwargs)):
        if not isinstance(value, dict):
            raise ValueError(f"{name} must be a JSON object (dict), got {type(value).__name__}")
    try:
        gym.spec(env_id)
    except gym.error.Error as error:
        known = sorted(
            i for i, s in gym.registry.items() if str(s.entry_point).startswith("lm_gym")
        )
        raise ValueError(f"unknown env {env_id!r} ({error}); lm_gym envs: {known}") from error


def train_agent(
    env_id: str,
    agent: str,
    timesteps: int,
    seed: int = 0,
    device: str | None = None,
    out_dir: str | Path = "runs",
    env_kwargs: dict | None = None,
    agent_kwargs: dict | None = None,
    *,
    progress_bar: bool = True,
) -> RunResult:
    """Train agent ``agent`` on ``env_id`` for ``timesteps`` steps; log and save everything.

    Args:
        env_id: a registered Gymnasium id (``import lm_gym`` registers ours).
        agent: a registered agent name (see ``lm-gym list``).
        timesteps: training budget in env steps.
        seed: seeds the agent and the env's first reset.
        device: where the agent runs (``None``: CUDA when present).
        out_dir: parent folder of the run folder.
        env_kwargs: env keyword arguments, plus the optional ``clm_alternation``.
        agent_kwargs: agent config overrides.
        progress_bar: show a progress bar while training.

    Raises:
        ValueError: for bad arguments or an unknown env, before anything is built.
        KeyError: for an unknown agent name.
    """
    env_kwargs = {} if env_kwargs is None else env_kwargs
    agent_kwargs = {} if agent_kwargs is None else agent_kwargs
    _check_args(env_id, timesteps, seed, env_kwargs, agent_kwargs)
    factory = get_agent_spec(agent).load()
    env_kwargs = dict(env_kwargs)
    clm = env_kwargs.pop(CLM_KEY, None)
    config = dict(agent_kwargs)
    for name, value in (("seed", seed), ("device", device)):
        if _accepts(factory, name) and name not in config:
            config[name] = value

    started = time.perf_counter()
    make_env = getattr(factory, "make_env", None)
    if make_env is not None:
        env = make_env(env_id, seed=seed, device=device, env_kwargs=env_kwargs, config=config)
    else:
        env = gym.make(env_id, **env_kwargs)
    safe_id = env_id.replace(":", "_").replace("/", "_")
    run_dir = Path(out_dir) / f"{safe_id}__{agent}__seed{seed}"
    logger = Logger(run_dir, LOG_FORMATS)
    built = factory(env, **config)
    if hasattr(built, "set_logger"):
        built.set_logger(logger)
    if clm:
        env = CLMAlternation(env, built.model, **(clm if isinstance(clm, dict) else {}))
    learn_kwargs = {"progress_bar": progress_bar} if _accepts(built.learn, "progress_bar") else {}
    built.learn(env, total_timesteps=timesteps, **learn_kwargs)
    agent_file = Path(built.save(run_dir / "agent.pt") or run_dir / "agent.pt")
    logger.close()
    summary = {
        "env_id": env_id,
        "agent": agent,
        "timesteps": timesteps,
        "seed": seed,
        "device": device,
        "env_kwargs": {**env_kwargs, **({CLM_KEY: clm} if clm else {})},
        "agent_kwargs": agent_kwargs,
        "num_timesteps": int(getattr(built, "num_timesteps", timesteps)),
        "seconds": round(time.perf_counter() - started, 2),
        "final_metrics": logger.history[-1] if logger.history else {},
        "agent_file": agent_file.name,
        "lm_gym_version": __version__,
    }
    (run_dir / "run.json").write_text(json.dumps(summary, indent=2, default=str))
    print(f"run saved to {run_dir}")
    return RunResult(run_dir, built, agent_file, list(logger.history))
