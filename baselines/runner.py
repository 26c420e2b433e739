"""One leaderboard run: train with ``train_agent``, then score the trained agent.

:func:`execute_run` is what every backend calls (in the driver for serial runs, in a spawned
worker process, or as a Ray task): it empties the run's folder (logs of an earlier, killed
attempt would otherwise mix with this one's: a second TensorBoard file, old CSV rows), seeds
the process-wide generators, runs on one torch thread, trains through
:func:`lm_gym.agents.run.train_agent` (the same code as ``lm-gym run``), reads the learning
curve from the run's log, and lets the trained agent play ``eval_episodes`` fresh episodes.
It returns plain JSON-ready data; the driver writes it.

Which agents run on which envs is the agents' own call: an agent factory raises ``TypeError``
when it is given an env whose spaces it does not handle (PPO needs token actions, REINFORCE
one-step episodes, the fixed teachers subset selection). :func:`unsupported_reason` asks each
factory once per env, on the env the run would train on and with the run's config. Anything
else the factory raises (a ``NameError`` in its code, a config field it does not know) is not
a refusal but a failure, which the driver reports with its message.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from lm_gym.agents.protocol import is_env_refusal
from lm_gym.agents.registry import get_agent_spec
from lm_gym.agents.run import CLM_KEY, run_folder_name, train_agent
from lm_gym.baselines.results import git_revision
from lm_gym.baselines.tracks import RunSpec
from lm_gym.utils.device import resolve_device
from lm_gym.version import __version__

CURVE_METRIC = "rollout/ep_rew_mean"
"""The logged metric drawn as the learning curve (SB3's name, which every built-in logs)."""

EVAL_SEED_OFFSET = 1_000_003
"""Evaluation envs are seeded with ``seed + EVAL_SEED_OFFSET``: other prompts than training."""


def run_folder(spec: RunSpec, artifacts_dir: str | Path) -> Path:
    """The folder ``train_agent`` writes the logs and agent of ``spec`` into:
    ``<artifacts_dir>/<env>__<agent>__seed<seed>``, named by
    :func:`~lm_gym.agents.run.run_folder_name` (so it never leaves ``artifacts_dir``)."""
    return Path(artifacts_dir) / run_folder_name(spec.env_id, spec.agent, spec.seed)


def clear_run_folder(spec: RunSpec, artifacts_dir: str | Path) -> None:
    """Delete what an earlier, unfinished attempt of ``spec`` left in its run folder.

    A run that starts again (it has no result file, or one for another spec) must not mix its
    ``progress.csv`` rows and TensorBoard files with those of the attempt that was killed.
    """
    folder = run_folder(spec, artifacts_dir)
    if os.path.lexists(folder):
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder)
        else:
            folder.unlink()


def gym_make_kwargs(env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The env's own keyword arguments (without ``train_agent``'s CLM wrapper option)."""
    return {k: v for k, v in env_kwargs.items() if k != CLM_KEY}


def unsupported_reason(spec: RunSpec) -> str | None:
    """Why the agent of ``spec`` refuses its env, or ``None`` when it accepts it.

    The env is built as ``train_agent`` builds it (the factory's ``make_env``, e.g. a
    vector env of ``num_envs``; plain ``gym.make`` otherwise), so the answer holds for the run.
    Only a refusal is an answer (:func:`~lm_gym.agents.protocol.is_env_refusal`: by convention
    a ``TypeError`` about spaces), returned as ``"<type>: <message>"``.

    Raises:
        KeyError: for an unknown agent name.
        Exception: whatever else building the env or the agent raised (a bug in the agent, a
            config it rejects): a failure, which the driver reports as such, not a refusal.
    """
    factory = get_agent_spec(spec.agent).load()
    kwargs = gym_make_kwargs(spec.env_kwargs)
    make_env = getattr(factory, "make_env", None)
    env = None
    try:
        if make_env is not None:
            env = make_env(
                spec.env_id,
                seed=spec.seed,
                device=None,
                env_kwargs=kwargs,
                config=dict(spec.agent_kwargs),
            )
        else:
            env = gym.make(spec.env_id, **kwargs)
        factory(env, **spec.agent_kwargs)
    except Exception as error:
        if not is_env_refusal(error):
            raise
        return f"{type(error).__name__}: {error}"
    finally:
        if env is not None:
            env.close()
    return None


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (third-party agents may use them)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def learning_curve(history: list[dict[str, float]], run_dir: Path) -> dict[str, list[float]]:
    """``{"timesteps": [...], "value": [...]}`` of :data:`CURVE_METRIC` over training.

    Built-in agents return their logged rows; agents with their own logger (``sb3-ppo``)
    leave them in the run's ``progress.csv``; agents that log nothing have an empty curve.
    """
    rows: list[dict[str, Any]] = history
    csv_path = run_dir / "progress.csv"
    if not rows and csv_path.is_file():
        with csv_path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    points = [
        (float(row["time/total_timesteps"]), float(row[CURVE_METRIC]))
        for row in rows
        if row.get(CURVE_METRIC) not in (None, "") and row.get("time/total_timesteps") is not None
    ]
    return {"timesteps": [p[0] for p in points], "value": [p[1] for p in points]}


def _scalar_info(info: dict[str, Any]) -> dict[str, float]:
    """The finite numeric scalars of an episode's final ``info`` (e.g. ``ppl``)."""
    values = {}
    for key, value in info.items():
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        if not isinstance(value, int | float | np.number | np.ndarray) or isinstance(value, bool):
            continue
        array = np.asarray(value)
        if array.size == 1 and array.dtype.kind in "iuf" and np.isfinite(array).all():
            values[key] = float(array.reshape(()))
    return values


def evaluate_agent(agent: Any, env: gym.Env, episodes: int, seed: int) -> dict[str, float]:
    """Let ``agent`` play ``episodes`` episodes of ``env`` through ``predict``; no learning.

    Agents that keep the env they act in (``agent.env``, e.g. the fixed teachers, which read
    the pool's labels from it) are pointed at ``env`` first.

    Returns:
        ``eval/mean_return``, ``eval/std_return``, ``eval/mean_length`` and, for every finite
        numeric scalar in the episodes' final ``info``, its mean as ``eval/<key>``.
    """
    if getattr(agent, "env", None) is not None:
        agent.env = env
    returns, lengths, infos = [], [], []
    obs, _ = env.reset(seed=seed)
    for _ in range(episodes):
        total, length, done = 0.0, 0, False
        while not done:
            obs, reward, terminated, truncated, info = env.step(agent.predict(obs))
            total += float(reward)
            length += 1
            done = bool(terminated or truncated)
        returns.append(total)
        lengths.append(length)
        infos.append(_scalar_info(info))
        obs, _ = env.reset()
    metrics = {
        "eval/mean_return": float(np.mean(returns)),
        "eval/std_return": float(np.std(returns)),
        "eval/mean_length": float(np.mean(lengths)),
    }
    for key in sorted({k for info in infos for k in info}):
        values = [info[key] for info in infos if key in info]
        metrics[f"eval/{key}"] = float(np.mean(values))
    return metrics


def execute_run(spec: RunSpec, artifacts_dir: str | Path | None = None) -> dict[str, Any]:
    """Train and evaluate one run; return its outcome for :func:`~lm_gym.baselines.results.
    write_result`.

    Args:
        spec: the run.
        artifacts_dir: parent folder of the run's logs and saved agent (``train_agent``'s
            ``out_dir``); ``None`` keeps them in a temporary folder that is deleted (Ray
            workers on other machines).

    Returns:
        ``metrics`` (deterministic: eval scores, last logged training reward, timesteps),
        ``curve``, the run's word ledger ``words`` (words exposed by source, generated,
        epochs; see :mod:`lm_gym.babylm.ledger`), and the non-compared facts
        ``wall_seconds``, ``device``, ``lm_gym_version``, ``git_revision`` and ``run_dir``.
    """
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    started = time.perf_counter()
    try:
        with contextlib.ExitStack() as stack:
            keep = artifacts_dir is not None
            if keep:
                clear_run_folder(spec, artifacts_dir)
            else:
                artifacts_dir = stack.enter_context(tempfile.TemporaryDirectory())
            seed_everything(spec.seed)
            with contextlib.redirect_stdout(io.StringIO()):  # the per-iteration tables
                result = train_agent(
                    spec.env_id,
                    spec.agent,
                    spec.timesteps,
                    seed=spec.seed,
                    out_dir=artifacts_dir,
                    env_kwargs=spec.env_kwargs,
                    agent_kwargs=spec.agent_kwargs,
                    progress_bar=False,
                )
            curve = learning_curve(result.history, result.run_dir)
            seed_everything(spec.seed + EVAL_SEED_OFFSET)
            env = gym.make(spec.env_id, **gym_make_kwargs(spec.env_kwargs))
            metrics = evaluate_agent(
                result.agent, env, spec.eval_episodes, spec.seed + EVAL_SEED_OFFSET
            )
            env.close()
            run_dir = str(result.run_dir) if keep else None
    finally:
        torch.set_num_threads(threads)
    metrics["train/num_timesteps"] = float(getattr(result.agent, "num_timesteps", spec.timesteps))
    if curve["value"]:
        metrics["train/final_ep_rew_mean"] = curve["value"][-1]
    device = getattr(result.agent, "device", None)
    return {
        "metrics": metrics,
        "curve": curve,
        "words": result.words,
        "wall_seconds": round(time.perf_counter() - started, 2),
        "device": str(device if device is not None else resolve_device(None)),
        "lm_gym_version": __version__,
        "git_revision": git_revision(),
        "run_dir": run_dir,
    }
