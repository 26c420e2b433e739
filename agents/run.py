"""Train, log and save one agent on one env: what ``lm-gym run`` and the leaderboard call.

``train_agent("Bambino-v0", "ppo", 20_000, seed=0)`` looks the agent up in the registry
(built-in, registered in code, or a third-party entry point), builds the env the agent asks
for (its ``make_env`` classmethod; plain ``gym.make`` for factories without one), trains with
metrics written to stdout, ``progress.csv`` and TensorBoard, and saves the agent and a
``run.json`` summary into ``out_dir/<env>__<agent>__seed<seed>/``.

A run never overwrites an earlier one: an existing run folder is an error unless ``resume``
(continue from its last checkpoint, bit-identically to a run that was never interrupted) or
``overwrite`` (delete it and start again). While training, the agent is saved every
``checkpoint_every`` timesteps to ``checkpoint.pt`` (atomically, replacing the previous one),
so a killed run loses at most one interval; at the end it is saved to ``agent.pt`` and
``checkpoint.pt`` is removed. ``run.json`` is written (atomically) when the run starts (its
settings, which a resumed run must repeat) and completed when it ends. One process at a time
works in a run folder: it holds the lock file ``out_dir/.<run folder>.lock`` for the whole run,
and a second ``lm-gym run`` of the same env, agent and seed stops at once with an error naming
the process that holds it.

Under torchrun (``lm-gym run --nproc N``) every rank calls this function: it joins the process
group first (:func:`lm_gym.utils.distributed.init_distributed`), rank 0 takes the lock and
prepares the run folder for all, every rank trains its own envs (``timesteps`` counts all
ranks' steps) and counts its own words against its share of the budget, and rank 0 alone logs
and writes ``run.json`` (the words summed over ranks), the milestones, the checkpoints and the
agent.

One env keyword is handled here rather than by the env: ``clm_alternation`` (``true`` or a dict
of :class:`lm_gym.wrappers.CLMAlternation` arguments) wraps the env so the agent's model is
also trained with CLM updates between RL episodes, as in BAMBINO-LM. The wrapper's ``seed``
(corpus order, dropout of the CLM updates) is the run's seed unless the dict gives one, so
runs of different seeds see the corpus in different orders.

Every run keeps a word ledger (:class:`lm_gym.wrappers.WordCounter`: words the student was
exposed to, by source, words it generated, epochs), logged as ``words/...``, saved in
checkpoints and written to ``run.json``; ``budget`` stops the run at BabyLM's limits and
``milestones`` saves the student at each one under ``revisions/`` (see :mod:`lm_gym.babylm`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym

import lm_gym.registration  # noqa: F401  (registers the lm_gym envs)
from lm_gym.agents.base import BaseAgent
from lm_gym.agents.callbacks import DEFAULT_CHECKPOINT_EVERY, CheckpointCallback
from lm_gym.agents.logger import Logger
from lm_gym.agents.protocol import build_config, is_env_refusal
from lm_gym.agents.registry import get_agent_spec
from lm_gym.babylm.ledger import BudgetExhausted, WordBudget, ledger_of
from lm_gym.babylm.milestones import MilestoneCallback, parse_milestones, student_of
from lm_gym.utils import distributed
from lm_gym.utils.files import atomic_write_text, naming_setting, safe_file_name
from lm_gym.utils.locks import exclusive_lock
from lm_gym.utils.validation import check_int, check_positive_int
from lm_gym.version import __version__
from lm_gym.wrappers.clm_alternation import CLMAlternation
from lm_gym.wrappers.word_counter import WordCounter

LOG_FORMATS = ("stdout", "csv", "tensorboard")
CLM_KEY = "clm_alternation"
CHECKPOINT_FILE = "checkpoint.pt"
AGENT_FILE = "agent.pt"
REVISIONS_DIR = "revisions"
"""Where ``milestones`` puts the student's revision folders (``chck_1M``, ..., ``main``)."""
SETTINGS = ("env_id", "agent", "seed", "env_kwargs", "agent_kwargs")
"""The ``run.json`` fields a resumed run must repeat (it may change timesteps and device)."""


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
    words: dict[str, Any] | None = None
    """The word ledger's summary (``None`` for an env that is not a Gymnasium env)."""


class AgentEnvError(ValueError):
    """The agent refused the env: it cannot act in its spaces (the message says why)."""


def run_folder_name(env_id: str, agent: str, seed: int) -> str:
    """``<env>__<agent>__seed<seed>``, the run folder's name, as one safe file name.

    Env ids (``ns/Name-v0``, ``module:Name-v0``) have ``/`` and ``:`` replaced; a name from a
    registry that holds ``..`` or other unsafe characters is sanitised
    (:func:`~lm_gym.utils.files.safe_file_name`), so the folder stays inside ``out_dir``.
    """
    env_stem = env_id.replace(":", "_").replace("/", "_")
    return safe_file_name(f"{env_stem}__{agent}__seed{seed}")


def _accepts(factory: Any, name: str) -> bool:
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


def _check_args(
    env_id: Any,
    timesteps: Any,
    seed: Any,
    env_kwargs: Any,
    agent_kwargs: Any,
    resume: Any,
    overwrite: Any,
    checkpoint_every: Any,
    log_interval: Any,
) -> None:
    if not isinstance(env_id, str) or not env_id:
        raise ValueError(f"env_id must be a non-empty string, got {env_id!r}")
    check_positive_int("timesteps", timesteps)
    check_int("seed", seed)
    check_int("checkpoint_every", checkpoint_every, minimum=0)
    if log_interval is not None:
        check_positive_int("log_interval", log_interval)
    for name, value in (("env_kwargs", env_kwargs), ("agent_kwargs", agent_kwargs)):
        if not isinstance(value, dict):
            raise ValueError(f"{name} must be a JSON object (dict), got {type(value).__name__}")
    if resume and overwrite:
        raise ValueError("resume and overwrite exclude each other: give one of them")
    try:
        gym.spec(env_id)
    except gym.error.Error as error:
        known = sorted(
            i for i, s in gym.registry.items() if str(s.entry_point).startswith("lm_gym")
        )
        raise ValueError(f"unknown env {env_id!r} ({error}); lm_gym envs: {known}") from error


def _prepare_run_dir(
    run_dir: Path, settings: dict[str, Any], resume: bool, overwrite: bool, factory: Any
) -> Path | None:
    """Make ``run_dir`` ready for this run; the checkpoint to resume from, if any.

    Raises:
        ValueError: for an existing folder without ``resume`` or ``overwrite``; with
            ``resume``, for an agent that cannot resume, a folder of a run with other settings
            or one without a checkpoint.
    """
    if not os.path.lexists(run_dir):
        return None
    if overwrite:
        if run_dir.is_dir() and not run_dir.is_symlink():
            shutil.rmtree(run_dir)
        else:
            run_dir.unlink()
        return None
    if not resume:
        raise ValueError(
            f"run folder {run_dir} already exists: pass --resume (resume=True) to continue it "
            "from its last checkpoint, or --overwrite (overwrite=True) to delete it and start "
            "again"
        )
    if not callable(getattr(factory, "restore", None)):
        raise ValueError(
            f"agent {settings['agent']!r} cannot resume a run bit-identically (it has no "
            f"'restore' method); pass --overwrite to start {run_dir} again"
        )
    summary_file = run_dir / "run.json"
    if summary_file.is_file():
        saved = json.loads(summary_file.read_text())
        given = json.loads(json.dumps(settings, default=str))  # as run.json holds them
        differing = [k for k in SETTINGS if k in saved and saved[k] != given[k]]
        if differing:
            details = ", ".join(f"{k}={saved[k]!r} (now {given[k]!r})" for k in differing)
            raise ValueError(
                f"{run_dir} holds a run with other settings: {details}; resume it with its own "
                "settings, or pass --overwrite"
            )
    for name in (CHECKPOINT_FILE, AGENT_FILE):
        if (run_dir / name).is_file():
            return run_dir / name
    raise ValueError(
        f"{run_dir} has no {CHECKPOINT_FILE} or {AGENT_FILE} to resume from (the run was "
        "killed before its first checkpoint); pass --overwrite to start it again"
    )


def _write_summary(run_dir: Path, summary: dict[str, Any]) -> None:
    atomic_write_text(run_dir / "run.json", json.dumps(summary, indent=2, default=str))


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
    resume: bool = False,
    overwrite: bool = False,
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
    log_interval: int | None = None,
    callback: Any = None,
    budget: Any = None,
    milestones: Any = None,
) -> RunResult:
    """Train agent ``agent`` on ``env_id`` for ``timesteps`` steps; log and save everything.

    Args:
        env_id: a registered Gymnasium id (``import lm_gym`` registers ours).
        agent: a registered agent name (see ``lm-gym list``).
        timesteps: training budget in env steps (a resumed run's overall target).
        seed: seeds the agent and the env's first reset.
        device: where the agent runs (``None``: CUDA when present).
        out_dir: parent folder of the run folder.
        env_kwargs: env keyword arguments, plus the optional ``clm_alternation``.
        agent_kwargs: agent config overrides.
        progress_bar: show a progress bar while training.
        resume: continue the run in an existing run folder from its ``checkpoint.pt`` (or its
            final ``agent.pt``), with the same settings; bit-identical to an uninterrupted run
            for agents with a ``restore`` method (the built-in ones except ``sb3-ppo``).
            Without a run folder the run starts afresh.
        overwrite: delete an existing run folder first.
        checkpoint_every: save ``checkpoint.pt`` every this many timesteps (0: never).
        log_interval: print the metrics table every this many iterations (``None``: the
            agent's default, 10 for the built-in agents; ``progress.csv`` gets every one).
        callback: passed to ``learn`` beside the checkpoint callback (e.g. one that stops
            training after a number of iterations); agents whose ``learn`` takes no callback
            refuse it.
        budget: BabyLM word budget (:meth:`lm_gym.babylm.WordBudget.parse`: ``"strict"``,
            ``"strict-small"``, ``"strict-small/1000"``, or explicit numbers); the run stops
            at it. ``None``: words are counted, never refused.
        milestones: save the student under ``revisions/`` at these milestones of words
            exposed and at the end as ``main`` (:func:`lm_gym.babylm.milestones.
            parse_milestones`: ``"official"``, ``"strict-small/1000"``, ``"10k,20k"``).

    Raises:
        ValueError: for bad arguments, an unknown env, or an existing run folder without
            ``resume``/``overwrite``, before anything is built; :class:`AgentEnvError` (a
            ``ValueError``) when the agent refuses the env.
        KeyError: for an unknown agent name.
        LockTimeout: another process is running in the same run folder.
    """
    env_kwargs = {} if env_kwargs is None else env_kwargs
    agent_kwargs = {} if agent_kwargs is None else agent_kwargs
    _check_args(
        env_id,
        timesteps,
        seed,
        env_kwargs,
        agent_kwargs,
        resume,
        overwrite,
        checkpoint_every,
        log_interval,
    )
    budget = WordBudget.parse(budget)
    if milestones is not None:
        parse_milestones(milestones, budget)  # a bad schedule fails before anything is built
    distributed.init_distributed(device)
    factory = get_agent_spec(agent).load()
    if distributed.world_size() > 1 and not (
        isinstance(factory, type) and issubclass(factory, BaseAgent)
    ):
        raise ValueError(
            f"agent {agent!r} cannot train on several processes (only lm_gym's BaseAgent "
            "subclasses reduce their updates across ranks): run it in one process"
        )
    config_class = getattr(factory, "config_class", None)
    if dataclasses.is_dataclass(config_class):  # unknown or bad fields fail before any build
        build_config(config_class, agent_kwargs)
    run_dir = Path(out_dir) / run_folder_name(env_id, agent, seed)
    settings = {
        "env_id": env_id,
        "agent": agent,
        "seed": seed,
        "env_kwargs": env_kwargs,
        "agent_kwargs": agent_kwargs,
    }
    with contextlib.ExitStack() as stack:
        if distributed.is_main_process():  # rank 0 owns the run folder for all ranks
            with naming_setting("--out (out_dir)", out_dir, "the parent folder of run folders"):
                Path(out_dir).mkdir(parents=True, exist_ok=True)
                stack.enter_context(
                    exclusive_lock(
                        Path(out_dir) / f".{run_dir.name}.lock",
                        what=f"the run folder {run_dir}",
                        timeout=0,
                    )
                )
        checkpoint = distributed.run_on_main_process(
            _prepare_run_dir, run_dir, settings, resume, overwrite, factory
        )
        return _train(
            factory,
            run_dir,
            settings,
            checkpoint,
            timesteps,
            device,
            progress_bar,
            checkpoint_every,
            log_interval,
            callback,
            budget,
            milestones,
        )


def _train(
    factory: Any,
    run_dir: Path,
    settings: dict[str, Any],
    checkpoint: Path | None,
    timesteps: int,
    device: str | None,
    progress_bar: bool,
    checkpoint_every: int,
    log_interval: int | None,
    callback: Any,
    budget: Any,
    milestones: Any,
) -> RunResult:
    """The body of :func:`train_agent`, run while it holds the run folder's lock (on every
    rank under data parallelism; rank 0 alone writes)."""
    env_id, agent, seed = settings["env_id"], settings["agent"], settings["seed"]
    main = distributed.is_main_process()
    env_kwargs = dict(settings["env_kwargs"])
    clm = env_kwargs.pop(CLM_KEY, None)
    config = dict(settings["agent_kwargs"])
    for name, value in (("seed", seed), ("device", device)):
        if _accepts(factory, name) and name not in config:
            config[name] = value

    started = time.perf_counter()
    make_env = getattr(factory, "make_env", None)
    if make_env is not None:
        env = make_env(env_id, seed=seed, device=device, env_kwargs=env_kwargs, config=config)
    else:
        env = gym.make(env_id, **env_kwargs)
    try:
        built = factory(env, **config)
    except Exception as error:
        if not is_env_refusal(error):
            raise
        raise AgentEnvError(f"agent {agent!r} cannot act in {env_id}: {error}") from error
    if isinstance(env, gym.Env | gym.vector.VectorEnv):
        env = WordCounter(env, budget=budget)
    elif budget is not None or milestones is not None:
        raise ValueError(
            f"agent {agent!r} trains on a non-Gymnasium env: it takes no budget or milestones"
        )
    if clm:
        clm_args = {"seed": seed, **(clm if isinstance(clm, dict) else {})}
        env = CLMAlternation(env, built.model, **clm_args)
    if milestones is not None:
        student_of(built, env)  # an agent without a student LM fails before the run folder
    if checkpoint is not None:
        built.restore(checkpoint, env)
        if main:
            print(f"resuming {run_dir} from {checkpoint.name} at {built.num_timesteps} timesteps")
    elif main:
        run_dir.mkdir(parents=True, exist_ok=True)
        _write_summary(run_dir, {**settings, "timesteps": timesteps, "finished": False})
    logger = Logger(
        run_dir if main else None,
        LOG_FORMATS if main else (),
        resume=checkpoint is not None,
        resume_step=int(getattr(built, "num_timesteps", 0)),
    )
    if hasattr(built, "set_logger"):
        built.set_logger(logger)
    learn_kwargs: dict[str, Any] = {}
    if _accepts(built.learn, "progress_bar"):
        learn_kwargs["progress_bar"] = progress_bar and main
    if log_interval is not None:
        learn_kwargs["log_interval"] = log_interval
    if checkpoint is not None:
        learn_kwargs["reset_num_timesteps"] = False
    callbacks = [] if callback is None else [callback]
    if milestones is not None:
        callbacks.append(MilestoneCallback(run_dir / REVISIONS_DIR, milestones))
    if checkpoint_every:
        callbacks.append(
            CheckpointCallback(
                checkpoint_every, run_dir, CHECKPOINT_FILE.removesuffix(".pt"), latest_only=True
            )
        )
    if callback is not None and not _accepts(built.learn, "callback"):
        raise ValueError(f"agent {agent!r} takes no callback in learn(), so none can be given")
    if callbacks and _accepts(built.learn, "callback"):
        learn_kwargs["callback"] = callbacks
    try:
        built.learn(env, total_timesteps=timesteps, **learn_kwargs)
    except BudgetExhausted as stop:  # agents outside BaseAgent's loop stop here
        print(f"{agent}: {stop}")
    agent_file = Path(built.save(run_dir / AGENT_FILE) or run_dir / AGENT_FILE)
    logger.close()
    ledger = getattr(built, "run_ledger", None) or ledger_of(env)  # summed over ranks
    words = ledger.summary() if ledger is not None else None
    if not main:  # rank 0 writes for all (the save above gathered what it needs)
        return RunResult(run_dir, built, agent_file, list(logger.history), words)
    (run_dir / CHECKPOINT_FILE).unlink(missing_ok=True)
    summary = {
        **settings,
        "timesteps": timesteps,
        "device": device,
        "processes": distributed.world_size(),
        "num_timesteps": int(getattr(built, "num_timesteps", timesteps)),
        "seconds": round(time.perf_counter() - started, 2),
        "final_metrics": logger.history[-1] if logger.history else {},
        "agent_file": agent_file.name,
        "lm_gym_version": __version__,
        "words": words,
        "milestones": milestones,
        "finished": True,
    }
    _write_summary(run_dir, summary)
    print(f"run saved to {run_dir}")
    return RunResult(run_dir, built, agent_file, list(logger.history), words)
