"""One run of a track: train with ``train_agent``, then score the trained agent.

:func:`execute_run` is what every backend calls (in the driver for serial runs, in a spawned
worker process, or as a Ray task): it empties the run's folder (logs of an earlier, killed
attempt would otherwise mix with this one's: a second TensorBoard file, old CSV rows), seeds
the process-wide generators, runs on one torch thread, trains through
:func:`lm_gym.agents.run.train_agent` (the same code as ``lm-gym run``) for the spec's
timesteps or, with an ``epochs`` option, for the RL batches of that many passes over the CLM
corpus (:mod:`lm_gym.baselines.ablation`), reads the learning curves from the run's log, lets
the trained agent play ``eval_episodes`` fresh episodes, and adds what the spec's
:class:`~lm_gym.baselines.tracks.RunOptions` ask for (:mod:`lm_gym.baselines.measurements`).
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
from lm_gym.agents.run import CLM_KEY, RunResult, run_folder_name, train_agent
from lm_gym.baselines.ablation import StopAfterIterations, planned_batches
from lm_gym.baselines.measurements import measure
from lm_gym.baselines.results import git_revision
from lm_gym.baselines.tracks import CURVE_METRIC, RunOptions, RunSpec
from lm_gym.evaluation.diversity import text_metrics, words
from lm_gym.utils.device import resolve_device
from lm_gym.version import __version__

WORDS_METRICS = ("words/exposed", "rollout/words_seen_mean")
"""Logged metrics that count the words the learner was trained on, preferred first: the word
ledger's ``words/exposed`` when a run logs it, else the mean over a batch's episodes of
:class:`~lm_gym.wrappers.CLMAlternation`'s ``words_seen`` (the same for all of them: the CLM
updates run between batches)."""

UNBOUNDED_TIMESTEPS = 2**62
"""The timestep budget of a run whose budget is counted in batches (a callback stops it)."""

EVAL_SEED_OFFSET = 1_000_003
"""Evaluation envs are seeded with ``seed + EVAL_SEED_OFFSET``: other prompts than training."""


def run_folder(spec: RunSpec, artifacts_dir: str | Path) -> Path:
    """The folder ``train_agent`` writes the logs and agent of ``spec`` into:
    ``<artifacts_dir>/<env>__<agent>__seed<seed>``, named by
    :func:`~lm_gym.agents.run.run_folder_name` (so it never leaves ``artifacts_dir``). A run
    with an env label or an arm label (two rows may share env and agent) gets its own parent
    folder, named as its result file."""
    parent = Path(artifacts_dir)
    if spec.env_label or spec.arm:
        parent = parent / spec.name
    return parent / run_folder_name(spec.env_id, spec.agent, spec.seed)


def clear_run_folder(spec: RunSpec, artifacts_dir: str | Path) -> None:
    """Delete what an earlier, unfinished attempt of ``spec`` left in its run folder.

    A run that starts again (it has no result file, or one for another spec) must not mix its
    ``progress.csv`` rows and TensorBoard files with those of the attempt that was killed.
    """
    folder = run_folder(spec, artifacts_dir)
    if spec.env_label or spec.arm:
        folder = folder.parent
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


def _rows(history: list[dict[str, float]], run_dir: Path | None) -> list[dict[str, Any]]:
    """The logged rows: those ``train_agent`` returned, else the run's ``progress.csv``
    (agents with their own logger, such as ``sb3-ppo``)."""
    csv_path = None if run_dir is None else run_dir / "progress.csv"
    if not history and csv_path is not None and csv_path.is_file():
        with csv_path.open(newline="") as handle:
            return list(csv.DictReader(handle))
    return history


def _number(value: Any) -> float | None:
    """``value`` as a finite float, or ``None`` (missing, empty CSV cell, NaN)."""
    if value in (None, ""):
        return None
    number = float(value)
    return number if np.isfinite(number) else None


def learning_curves(
    history: list[dict[str, float]], run_dir: Path | None, metrics: tuple[str, ...]
) -> dict[str, dict[str, list[float]]]:
    """``{metric: {"timesteps": [...], "value": [...], "words": [...]}}`` over training.

    One point per logged row that has the metric. ``words`` (the words the learner was
    trained on by then, see :data:`WORDS_METRICS`) is there only when every point has it.
    A metric the agent never logged has no curve, except :data:`CURVE_METRIC`, which is
    always there (empty for agents that log nothing).
    """
    rows = _rows(history, run_dir)
    words_key = next((k for k in WORDS_METRICS if any(k in row for row in rows)), None)
    curves = {}
    for metric in metrics:
        points = [
            (_number(row.get("time/total_timesteps")), value, _number(row.get(words_key)))
            for row in rows
            if (value := _number(row.get(metric))) is not None
        ]
        points = [p for p in points if p[0] is not None]
        curve = {"timesteps": [p[0] for p in points], "value": [p[1] for p in points]}
        if points and words_key is not None and all(p[2] is not None for p in points):
            curve["words"] = [p[2] for p in points]
        if points or metric == CURVE_METRIC:
            curves[metric] = curve
    return curves


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
        ``eval/mean_return``, ``eval/std_return`` (sample std, ddof 1), ``eval/mean_length``
        and, for every finite numeric scalar in the episodes' final ``info``, its mean as
        ``eval/<key>``; for text envs (a ``completion`` in the final ``info``) also the
        distinct-1/2 and repetition rate of the completions and their mean length in words
        (``eval/words_mean``).
    """
    if getattr(agent, "env", None) is not None:
        agent.env = env
    returns, lengths, infos, completions = [], [], [], []
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
        if isinstance(info.get("completion"), str):
            completions.append(info["completion"])
        obs, _ = env.reset()
    metrics = {
        "eval/mean_return": float(np.mean(returns)),
        "eval/std_return": float(np.std(returns, ddof=1)) if len(returns) > 1 else 0.0,
        "eval/mean_length": float(np.mean(lengths)),
    }
    for key in sorted({k for info in infos for k in info}):
        values = [info[key] for info in infos if key in info]
        metrics[f"eval/{key}"] = float(np.mean(values))
    if completions:
        metrics.update({f"eval/{k}": v for k, v in text_metrics(completions).items()})
        metrics["eval/words_mean"] = float(np.mean([len(words(c)) for c in completions]))
    return metrics


def train_run(spec: RunSpec, options: RunOptions, artifacts_dir: str | Path) -> RunResult:
    """Train the agent of ``spec`` with ``train_agent``: for ``spec.timesteps``, or under an
    ``epochs`` option for the RL batches :func:`~lm_gym.baselines.ablation.planned_batches`
    counts (0: the agent is built and stopped at its first step, untrained)."""
    timesteps, callback = spec.timesteps, None
    if options.epochs is not None:
        timesteps = UNBOUNDED_TIMESTEPS
        callback = StopAfterIterations(planned_batches(spec, options))
    with contextlib.redirect_stdout(io.StringIO()):  # the per-iteration tables
        return train_agent(
            spec.env_id,
            spec.agent,
            timesteps,
            seed=spec.seed,
            out_dir=run_folder(spec, artifacts_dir).parent,
            env_kwargs=spec.env_kwargs,
            agent_kwargs=spec.agent_kwargs,
            progress_bar=False,
            callback=callback,
        )


def execute_run(spec: RunSpec, artifacts_dir: str | Path | None = None) -> dict[str, Any]:
    """Train and evaluate one run; return its outcome for :func:`~lm_gym.baselines.results.
    write_result`.

    Args:
        spec: the run.
        artifacts_dir: parent folder of the run's logs and saved agent (``train_agent``'s
            ``out_dir``); ``None`` keeps them in a temporary folder that is deleted (Ray
            workers on other machines).

    Returns:
        ``metrics`` (deterministic: eval scores, the options' measurements, last logged
        training reward, timesteps), ``curves``, the run's word ledger ``words`` (words
        exposed by source, generated, epochs; see :mod:`lm_gym.babylm.ledger`), and the
        non-compared facts ``wall_seconds``, ``device``, ``lm_gym_version``, ``git_revision``
        and ``run_dir``.
    """
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    options = RunOptions.from_dict(spec.options)
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
            result = train_run(spec, options, artifacts_dir)
            names = tuple(dict.fromkeys((CURVE_METRIC, *options.curves)))
            curves = learning_curves(result.history, result.run_dir, names)
            eval_seed = spec.seed + EVAL_SEED_OFFSET
            measured = measure(spec, options, result.agent, eval_seed)  # reads the training env
            seed_everything(eval_seed)
            env = gym.make(spec.env_id, **gym_make_kwargs(spec.env_kwargs))
            metrics = evaluate_agent(result.agent, env, spec.eval_episodes, eval_seed)
            env.close()
            metrics.update(measured)
            run_dir = str(result.run_dir) if keep else None
    finally:
        torch.set_num_threads(threads)
    metrics["train/num_timesteps"] = float(getattr(result.agent, "num_timesteps", spec.timesteps))
    final = curves.get(CURVE_METRIC, {}).get("value")
    if final:
        metrics["train/final_ep_rew_mean"] = final[-1]
    device = getattr(result.agent, "device", None)
    return {
        "metrics": metrics,
        "curves": curves,
        "words": result.words,
        "wall_seconds": round(time.perf_counter() - started, 2),
        "device": str(device if device is not None else resolve_device(None)),
        "lm_gym_version": __version__,
        "git_revision": git_revision(),
        "run_dir": run_dir,
    }
