"""The base of the built-in agents: config, seeding, the training loop, logging, save/load.

:meth:`BaseAgent.learn` is the one training loop of every built-in agent, as
Stable-Baselines3's ``OnPolicyAlgorithm.learn``: it validates the arguments, binds the env,
sets up the callback and progress bar, then repeats one iteration until the timestep budget is
spent::

    batch = agent._collect(env)        # act in the env; None when a callback stopped training
    callback.on_rollout_end()
    agent._update(batch)               # learn from the batch (or only record its statistics)
    logger: time/iterations, words/... (the word ledger), dump(num_timesteps)
    callback.on_iteration_end()        # the agent's state is whole here: checkpoints save

A word budget (:class:`~lm_gym.wrappers.WordCounter`) ends the loop too: its
:class:`~lm_gym.babylm.ledger.BudgetExhausted` comes from the collection before the refused
CLM batch or env step happens; the partial batch is dropped, the message printed, and the
callbacks' ``on_training_end`` runs as after any stop.

A concrete agent sets ``config_class`` and writes ``predict``, its collection (whose every env
step goes through :meth:`BaseAgent._count_steps`, which counts timesteps, moves the progress
bar and asks the callback whether to go on) and its update, plus the ``_state_dict`` /
``_load_state_dict`` pair that :meth:`BaseAgent.save` and :meth:`BaseAgent.load` wrap with the
generator and environment states needed for bit-identical resumption.

**Data parallelism.** Under torchrun (:mod:`lm_gym.utils.distributed`) every rank runs this same
loop on its own env; ranks meet only at collectives, in the same order on every rank: after
each collection they add up the timesteps they took (``num_timesteps`` counts the steps of all
ranks, so a budget of N timesteps is N in all) and agree to stop when any rank's callback asked
to or its share of the word budget refused a step (every rank then stops before the same
update, or after it when the stopped collection still made a batch); a rank whose collection
goes on meanwhile stops before its next CLM step (:class:`~lm_gym.utils.distributed.
PeerStopped`: CLM steps are taken by all ranks or none); after each update they sum their word
ledgers (:attr:`BaseAgent.run_ledger`: what is logged and what milestones read); the agents'
updates reduce their gradients and statistics;
:meth:`BaseAgent.save` gathers what differs between ranks. Each rank seeds its env's first
reset apart (:meth:`BaseAgent._reset_seed`) and samples from its own generator
(:meth:`BaseAgent.rank_seed`), while the weights, and every draw that must agree (minibatch
order), use the config's seed. Only rank 0 prints, shows progress and writes checkpoints.
One process runs exactly as before.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
import sys
import warnings
from abc import ABC, abstractmethod
from collections import deque
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from tqdm.auto import tqdm

from lm_gym.agents.callbacks import Callback, as_callback
from lm_gym.agents.checkpoint import (
    CheckpointError,
    atomic_torch_save,
    env_state,
    global_rng_state,
    load_checkpoint,
    load_env_state,
    merge_env_states,
    plain_data,
    set_global_rng_state,
)
from lm_gym.agents.logger import Logger
from lm_gym.agents.protocol import build_config, env_spaces, is_vector_env
from lm_gym.babylm.ledger import BudgetExhausted, WordLedger, ledger_of
from lm_gym.utils import distributed
from lm_gym.utils.device import resolve_device
from lm_gym.utils.validation import check_positive_int

CHECKPOINT_FORMAT = "lm_gym.agent/2"
"""Version 2 holds only tensors and plain data (version 1 pickled NumPy objects)."""
RUN_ONLY_FIELDS = ("verbose", "device")
"""Config fields that do not change what an agent learns: a resumed run may change them."""
DEFAULT_LOG_INTERVAL = 10
"""Iterations between two metric tables on stdout (SB3's ``log_interval``; the CSV and
TensorBoard logs get every iteration). The last iteration's table is always printed."""
MEDIAN_INFO_KEYS = ("ppl",)
"""Episode-end info logged with its median too: perplexities span orders of magnitude."""


class BaseAgent(ABC):
    """The training loop and the bookkeeping the built-in agents share.

    Args:
        env: the env or vector env the agent will act in (its spaces shape the policy).
        config: a ``config_class`` instance or dict; keyword ``overrides`` replace fields.
        logger: where metrics go; default prints to stdout when ``config.verbose`` is true.

    Attributes:
        env: the env of the latest ``learn`` (or ``load``) call, as the caller passed it;
            declared attributes (``trained_model``, ``words_seen``, ...) are read from it.
        num_timesteps: env steps taken so far (over every ``learn`` call unless reset).
        iteration: collect-and-update iterations so far (one logged row each).
        world_size, rank: the data-parallel process group when the agent was made (1 and 0
            in one process); it must not change before ``learn``.
        run_ledger: the env's word ledger (:class:`~lm_gym.wrappers.WordCounter`) as of the
            latest iteration, summed over ranks under data parallelism (``None`` without one).
    """

    config_class: ClassVar[type]
    action_kinds: ClassVar[tuple[str, ...]] = ()
    """The kinds of env it acts in (keys of :data:`lm_gym.registration.ACTION_KINDS`), as its
    constructor checks them: ``lm-gym list`` reads them without building any env."""
    vectorizes_single_envs: ClassVar[bool] = False
    """True for agents that run a single env as a vector env of one row."""
    rank_state_keys: ClassVar[tuple[str, ...]] = ("generator",)
    """Keys of :meth:`_state_dict` that differ between the ranks of a data-parallel run (each
    rank samples from its own generator); checkpoints keep them for every rank."""

    def __init__(
        self, env: Any, config: Any = None, *, logger: Logger | None = None, **overrides: Any
    ) -> None:
        self.config = build_config(self.config_class, config, **overrides)
        self.observation_space, self.action_space, self.num_envs = env_spaces(env)
        self.num_timesteps = 0
        self.iteration = 0
        self.world_size, self.rank = distributed.world_size(), distributed.rank()
        self.env: Any = None
        self.run_ledger: WordLedger | None = None
        self._seeded_env: Any = None
        self._vector_view: tuple[Any, Any] | None = None
        verbose = getattr(self.config, "verbose", 1)
        printing = verbose and self.rank == 0
        self.logger = logger or Logger(formats=("stdout",) if printing else ())
        self.episode_returns: deque[float] = deque(maxlen=100)
        self.episode_lengths: deque[float] = deque(maxlen=100)
        self.rng = np.random.default_rng(self.config.seed)
        # Set by _setup_learn for the duration of one learn call.
        self._callback: Callback = as_callback(None)
        self._progress: tqdm | None = None
        self._total_timesteps = 0
        self._continue_training = True

    @classmethod
    def make_env(
        cls, env_id: str, *, seed: int, device: Any, env_kwargs: dict, config: dict
    ) -> Any:
        """The env ``train_agent`` trains this agent on: ``gym.make_vec`` of ``num_envs``.

        Registered lm_gym envs come as their native batched vector env; on CUDA their
        observations stay on the agent's device (``tensor_device``) when the env supports it.
        """
        num_envs = build_config(cls.config_class, config).num_envs
        kwargs = dict(env_kwargs)
        spec = gym.spec(env_id)
        if spec.vector_entry_point is not None and "tensor_device" not in kwargs:
            entry = spec.vector_entry_point
            if isinstance(entry, str):
                module, _, name = entry.partition(":")
                entry = getattr(importlib.import_module(module), name)
            target = resolve_device(device)
            if target.type == "cuda" and "tensor_device" in inspect.signature(entry).parameters:
                kwargs["tensor_device"] = target
        return gym.make_vec(env_id, num_envs=num_envs, **kwargs)

    def set_logger(self, logger: Logger) -> None:
        """Send metrics to ``logger`` from now on."""
        self.logger = logger

    @abstractmethod
    def predict(self, obs: Any, deterministic: bool = False) -> Any:
        """The action for one observation or a batch of them."""

    # ------------------------------------------------------------------ the training loop
    def learn(
        self,
        env: Any,
        total_timesteps: int,
        callback: Any = None,
        *,
        reset_num_timesteps: bool = True,
        progress_bar: bool = True,
        log_interval: int = DEFAULT_LOG_INTERVAL,
    ) -> BaseAgent:
        """Collect and update until ``total_timesteps`` env steps have been taken.

        Timesteps count the env steps of recorded episodes (for token-level agents, generated
        tokens). The collection decides what happens at the budget: PPO and REINFORCE finish
        the batch in progress, the non-learning agents stop at once.

        Args:
            env: the env or vector env to train on (its action space must be the agent's).
            total_timesteps: the budget; with ``reset_num_timesteps=False`` (resuming) the
                count continues from the agent's and this is the overall target, as in SB3.
                Under data parallelism it counts the steps of all ranks together.
            callback: ``None``, a :class:`~lm_gym.agents.callbacks.Callback`, a list of them or
                a function ``f(locals_, globals_) -> bool``; returning ``False`` stops training.
            reset_num_timesteps: start counting timesteps and iterations from 0.
            progress_bar: show a tqdm bar of the timesteps.
            log_interval: print the metrics table on stdout every this many iterations (and
                after the last one); every iteration still goes to the CSV and TensorBoard logs.

        Returns:
            The agent itself.
        """
        check_positive_int("log_interval", log_interval)
        training_env = self._setup_learn(
            env, total_timesteps, callback, reset_num_timesteps, progress_bar
        )
        callback = self._callback
        ledger = ledger_of(self.env)
        self.run_ledger = self._sum_ledger(ledger)
        callback.on_training_start(locals())
        while self.num_timesteps < self._total_timesteps:
            start = self.num_timesteps
            refusal = None
            try:
                batch = self._collect(training_env)
            except BudgetExhausted as stop:  # refused before it happened: the state is whole
                batch, refusal = None, stop
            except distributed.PeerStopped:  # another rank stopped first: stop with it
                batch = None
            if not self._all_ranks_collected(batch is not None, start):
                self._stopped(ledger, refusal)
                break
            callback.on_rollout_end()
            self._update(batch)
            self.iteration += 1
            self.logger.record("time/iterations", self.iteration)
            self.run_ledger = self._sum_ledger(ledger)
            if self.run_ledger is not None:
                for key, value in self.run_ledger.metrics().items():
                    self.logger.record(key, value)
            self.logger.dump(self.num_timesteps, stdout=self.iteration % log_interval == 0)
            callback.on_iteration_end()
            if not self._continue_training:
                break
        self._progress.close()
        self.logger.print_last()
        callback.on_training_end()
        return self

    def _setup_learn(
        self,
        env: Any,
        total_timesteps: int,
        callback: Any,
        reset_num_timesteps: bool,
        progress_bar: bool,
    ) -> Any:
        """Validate the arguments, bind ``env``, prepare the callback and the progress bar.

        Returns:
            The env the loop steps (see :meth:`_training_env`).

        Raises:
            ValueError: for a non-positive budget or an env with another action space.
        """
        if not isinstance(total_timesteps, (int, np.integer)) or total_timesteps < 1:
            raise ValueError(f"total_timesteps must be a positive integer, got {total_timesteps}")
        _, action_space, _ = env_spaces(env)
        if action_space != self.action_space:
            raise ValueError(
                f"env action space {action_space} differs from the agent's {self.action_space}"
            )
        if (self.world_size, self.rank) != (distributed.world_size(), distributed.rank()):
            raise RuntimeError(
                f"{type(self).__name__} was made as rank {self.rank} of {self.world_size} "
                f"processes but learns as rank {distributed.rank()} of "
                f"{distributed.world_size()}: join the process group (init_distributed) before "
                "making the agent"
            )
        self._prepare_learn(env)
        if reset_num_timesteps:
            self.num_timesteps = 0
            self.iteration = 0
        self.env = env
        self._total_timesteps = int(total_timesteps)
        self._continue_training = True
        self._callback = as_callback(callback)
        self._callback.init_callback(self)
        self._progress = tqdm(
            total=self._total_timesteps,
            initial=min(self.num_timesteps, self._total_timesteps),
            desc=f"{type(self).__name__}",
            unit="step",
            disable=not progress_bar or self.rank != 0,
            leave=False,
        )
        return self._training_env(env)

    def _prepare_learn(self, env: Any) -> None:
        """An agent's own set-up for a ``learn`` call on ``env``, after the base's checks and
        before any state changes (an error here leaves the agent as it was). Default: none."""
        return None

    @abstractmethod
    def _collect(self, env: Any) -> Any:
        """Act in ``env`` for one iteration; the batch to update on, or ``None`` to stop.

        Every env step must go through :meth:`_count_steps`; an on-policy agent returns
        ``None`` as soon as that asks to stop (the partial batch is dropped, as in SB3).
        """

    @abstractmethod
    def _update(self, batch: Any) -> None:
        """Learn from ``batch`` and record the iteration's metrics (the loop dumps them)."""

    def _all_ranks_collected(self, collected: bool, start: int) -> bool:
        """After a collection: add the other ranks' timesteps to ``num_timesteps`` (which
        counted this rank's since ``start``) and go on only if every rank collected a batch;
        a callback's request to stop on any rank (whose batch still makes a last update)
        stops every rank after this update.

        In one process this is ``collected``.
        """
        if self.world_size == 1:
            return collected
        own = self.num_timesteps - start
        steps, collected, self._continue_training = distributed.meet_after_collection(
            own, collected, self._continue_training
        )
        self.num_timesteps = start + steps
        self._progress.update(steps - own)
        return collected

    def _sum_ledger(self, ledger: WordLedger | None) -> WordLedger | None:
        """The run's word ledger: ``ledger`` itself in one process; under data parallelism a
        copy holding the sum of every rank's counts (one all-reduce, on every rank)."""
        if ledger is None or self.world_size == 1:
            return ledger
        return ledger.reduced(
            lambda counts: distributed.all_reduce_sum(torch.tensor(counts)).tolist()
        )

    def _stopped(self, ledger: WordLedger | None, refusal: BudgetExhausted | None) -> None:
        """After the ranks agreed to stop before an update: the budget's refusal, if a rank
        had one, goes into the run ledger (summed again: the dropped batch's finished
        episodes were charged) and is printed once."""
        name = type(self).__name__
        if self.world_size > 1:
            refusals = distributed.all_gather_objects(refusal)
            refused = [rank for rank, stop in enumerate(refusals) if stop is not None]
            refusal = refusals[refused[0]] if refused else None
            name += f" (rank {refused[0]})" if refused else ""
            self.run_ledger = self._sum_ledger(ledger)
            if self.run_ledger is not None:
                self.run_ledger.refusal = refusal
        if refusal is not None and self.rank == 0:
            print(f"{name}: {refusal}", file=sys.stderr)

    def _count_steps(self, steps: int) -> bool:
        """Count ``steps`` env steps (timesteps and progress bar), then call the callback.

        Returns:
            ``False`` when the callback asked to stop training.
        """
        self.num_timesteps += steps
        # A batch in progress may end past the budget: the bar stops at its total.
        shown = min(self.num_timesteps, self._total_timesteps) - self._progress.n
        if shown > 0:
            self._progress.update(shown)
        self._continue_training = self._callback.on_step()
        return self._continue_training

    def _training_env(self, env: Any) -> Any:
        """The env the loop steps: ``env`` itself, or one cached one-row ``SyncVectorEnv`` of
        it for agents that run single envs as a batch (``vectorizes_single_envs``)."""
        if not self.vectorizes_single_envs or is_vector_env(env):
            return env
        if self._vector_view is None or self._vector_view[0] is not env:
            self._vector_view = (env, gym.vector.SyncVectorEnv([lambda: env]))
        return self._vector_view[1]

    def _reset_seed(self) -> int | None:
        """The seed for ``env.reset``: the config seed at the first reset of an env, else None.

        An env is seeded once, the first time this agent resets it; later iterations and
        ``learn`` calls continue its prompt stream, and a loaded agent continues the stream
        restored from the checkpoint. Under data parallelism rank ``r`` adds ``r * num_envs``:
        vector envs seed their row ``i`` with ``seed + i``, so this keeps every row of every
        rank apart (``seed + r`` would give row ``i`` of rank 1 the stream of row ``i + 1`` of
        rank 0).
        """
        if self._seeded_env is self.env:
            return None
        self._seeded_env = self.env
        return self.config.seed + self.rank * int(getattr(self.env, "num_envs", 1))

    def rank_seed(self) -> int:
        """The seed of this rank's sampling generators: the config seed plus the rank."""
        return self.config.seed + self.rank

    # ------------------------------------------------------------------ metrics
    def _record_episodes(self, returns: Any, lengths: Any) -> None:
        """Add finished episodes (returns and lengths as sequences) to the running stats."""
        self.episode_returns.extend(float(r) for r in returns)
        self.episode_lengths.extend(float(n) for n in lengths)

    def _gather_episodes(
        self, returns: np.ndarray, lengths: np.ndarray, end_info: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """The returns, lengths and episode-end info of the episodes of all ranks, so logged
        means cover the whole batch (the arguments themselves in one process)."""
        arrays = {"returns": returns, "lengths": lengths}
        arrays.update({f"info/{key}": value for key, value in end_info.items()})
        gathered, _ = distributed.gather_rows(arrays)
        info = {key[5:]: value for key, value in gathered.items() if key.startswith("info/")}
        return gathered["returns"], gathered["lengths"], info

    def _record_end_info(self, end_info: dict[str, np.ndarray]) -> None:
        """Log the mean of each numeric episode-end info (e.g. the parent's ``ppl``).

        Heavy-tailed ones (:data:`MEDIAN_INFO_KEYS`) also get their median.
        """
        for key, values in end_info.items():
            if np.isfinite(values).any():
                self.logger.record(f"rollout/{key}_mean", np.nanmean(values))
                if key in MEDIAN_INFO_KEYS:
                    self.logger.record(f"rollout/{key}_median", np.nanmedian(values))

    def _record_episode_stats(self) -> None:
        """Log the mean return and length of the last 100 episodes (SB3's ``rollout/`` pair)."""
        if self.episode_returns:
            self.logger.record("rollout/ep_rew_mean", np.mean(self.episode_returns))
            self.logger.record("rollout/ep_len_mean", np.mean(self.episode_lengths))

    # ------------------------------------------------------------------ save / load
    @abstractmethod
    def _state_dict(self) -> dict:
        """Agent-specific state (weights, optimizer, controllers, generators) for ``save``."""

    @abstractmethod
    def _load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`_state_dict` returned."""

    def save(self, path: str | os.PathLike) -> os.PathLike:
        """Write config, weights, optimizer, generator states and env state atomically.

        The file holds only tensors and plain data (see :mod:`lm_gym.agents.checkpoint`).
        Config fields holding objects (an in-memory ``model``) are saved as ``None`` and
        named in ``config_objects``: :meth:`load` asks for them again.

        Under data parallelism every rank must call it (it gathers the ranks' generator and env
        states, which differ); rank 0 alone writes the file, with a ``world_size`` and each
        rank's own states beside rank 0's.

        Returns:
            The path written.
        """
        ranks = distributed.all_gather_objects(self._rank_state()) if self.world_size > 1 else None
        if self.rank != 0:
            return Path(path)
        config, objects = {}, []
        for field in dataclasses.fields(self.config):
            try:
                config[field.name] = plain_data(getattr(self.config, field.name))
            except TypeError:
                config[field.name], objects = None, [*objects, field.name]
        checkpoint = {
            "format": CHECKPOINT_FORMAT,
            "agent_class": f"{type(self).__module__}:{type(self).__qualname__}",
            "config": config,
            "config_objects": objects,
            "num_timesteps": self.num_timesteps,
            "iteration": self.iteration,
            "episode_returns": list(self.episode_returns),
            "episode_lengths": list(self.episode_lengths),
            "agent_rng": self.rng.bit_generator.state,
            "global_rng": global_rng_state(),
            "state": self._state_dict(),
            "env": env_state(self._training_env(self.env)) if self.env is not None else None,
        }
        if ranks is not None:
            checkpoint["world_size"] = self.world_size
            checkpoint["ranks"] = ranks
        return atomic_torch_save(checkpoint, path)

    def _rank_state(self) -> dict:
        """What a checkpoint keeps per rank: generators and this rank's part of the env."""
        state = self._state_dict()
        env = self._training_env(self.env) if self.env is not None else None
        return {
            "global_rng": global_rng_state(),
            "env": env_state(env, rank_only=True) if env is not None else None,
            "state": {key: state[key] for key in self.rank_state_keys if key in state},
        }

    @classmethod
    def _read_checkpoint(cls, path: str | os.PathLike) -> dict:
        """The checkpoint at ``path``, checked to be one of this agent class.

        Raises:
            FileNotFoundError, CheckpointError: see :func:`~lm_gym.agents.checkpoint.
                load_checkpoint`; also for a checkpoint of another agent class.
        """
        checkpoint = load_checkpoint(path, CHECKPOINT_FORMAT)
        expected = f"{cls.__module__}:{cls.__qualname__}"
        if checkpoint.get("agent_class") != expected:
            raise CheckpointError(
                f"{path} holds a {checkpoint.get('agent_class')} agent, not a {expected} agent"
            )
        return checkpoint

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        env: Any = None,
        *,
        logger: Logger | None = None,
        model: Any = None,
        **overrides: Any,
    ) -> BaseAgent:
        """Rebuild an agent saved by :meth:`save`; ``env`` is required to act and resume.

        The env's state (data position, CLM schedule) is restored too, so
        ``agent.learn(env, total, reset_num_timesteps=False)`` continues the saved run.
        ``model`` gives LM agents an in-memory model of the right architecture (the saved
        weights are loaded into it); config fields can be overridden by keyword.

        Raises:
            FileNotFoundError, CheckpointError: when the file is missing or not a checkpoint of
                this agent class (named in the message).
            ValueError: without ``env``, for an env unlike the saved one, or when a config
                field that held an object when saving is not given again.
        """
        checkpoint = cls._read_checkpoint(path)
        if env is None:
            raise ValueError(f"{cls.__name__}.load needs the env the agent acts in (env=...)")
        given = {*overrides, *(["model"] if model is not None else [])}
        missing = [name for name in checkpoint["config_objects"] if name not in given]
        if missing:
            raise ValueError(
                f"{path}: config field(s) {missing} held in-memory objects when the agent was "
                f"saved; pass them again, e.g. {cls.__name__}.load(path, env, {missing[0]}=...)"
            )
        extra = {"model": model} if model is not None else {}
        agent = cls(env, config={**checkpoint["config"], **overrides}, logger=logger, **extra)
        agent._restore(checkpoint, env, path, same_world=False)
        return agent

    def restore(self, path: str | os.PathLike, env: Any) -> BaseAgent:
        """Load a checkpoint of this agent into this agent, to resume its run on ``env``.

        Unlike :meth:`load` this keeps the agent object (and its model, which a
        ``CLMAlternation`` wrapper around ``env`` may already hold); the checkpoint must have
        been saved with the same config, except the fields in :data:`RUN_ONLY_FIELDS`.

        Raises:
            FileNotFoundError, CheckpointError: as :meth:`load`.
            ValueError: naming the config fields that differ, for an env unlike the saved
                one, or for a checkpoint of a run on another number of processes; the agent
                is unchanged then.
        """
        checkpoint = self._read_checkpoint(path)
        ours = dataclasses.asdict(self.config)
        differing = sorted(
            name
            for name, value in checkpoint["config"].items()
            if name not in RUN_ONLY_FIELDS
            and name not in checkpoint["config_objects"]
            and value != ours.get(name)
        )
        if differing:
            details = ", ".join(
                f"{name}={checkpoint['config'][name]!r} (now {ours.get(name)!r})"
                for name in differing
            )
            raise ValueError(f"{path} was saved with another config: {details}")
        self._restore(checkpoint, env, path, same_world=True)
        return self

    def _restore(
        self, checkpoint: dict, env: Any, path: str | os.PathLike, *, same_world: bool
    ) -> None:
        """Put the saved env state, counters, generators and agent state into place.

        A checkpoint of a data-parallel run gives each rank its own generators and env state.
        ``same_world`` refuses one saved by another number of processes (resuming); otherwise
        (loading an agent to use it) that is allowed with a warning, each rank taking the
        states of the saved rank of its number, or rank 0's.
        """
        saved_world = int(checkpoint.get("world_size", 1))
        if saved_world != self.world_size:
            message = (
                f"{path} was saved by a run on {saved_world} process(es) and this one has "
                f"{self.world_size}"
            )
            if same_world:
                raise ValueError(
                    f"{message}: resume it on {saved_world} (torchrun --nproc_per_node "
                    f"{saved_world}, or lm-gym run --nproc {saved_world})"
                )
            warnings.warn(
                f"{message}; training it further does not continue the saved run", stacklevel=3
            )
        ranks = checkpoint.get("ranks") or [None]
        own = ranks[self.rank] if self.rank < len(ranks) else ranks[0]
        saved_env = checkpoint["env"]
        if own is not None and saved_env is not None and own["env"] is not None:
            saved_env = merge_env_states(saved_env, own["env"])
        if saved_env is not None:
            try:
                load_env_state(self._training_env(env), saved_env)
            except ValueError as error:
                raise ValueError(f"{path}: {error}") from error
        self.num_timesteps = checkpoint["num_timesteps"]
        self.iteration = checkpoint["iteration"]
        self.episode_returns.clear()
        self.episode_returns.extend(checkpoint["episode_returns"])
        self.episode_lengths.clear()
        self.episode_lengths.extend(checkpoint["episode_lengths"])
        self.rng.bit_generator.state = checkpoint["agent_rng"]
        self._load_state_dict({**checkpoint["state"], **(own["state"] if own else {})})
        self.env = self._seeded_env = env
        set_global_rng_state(own["global_rng"] if own else checkpoint["global_rng"])


def torch_generator(seed: int, device: torch.device) -> torch.Generator:
    """A seeded generator on ``device``, for sampling that never touches the global RNG."""
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator


def make_adam(parameters: Any, lr: float, device: torch.device) -> torch.optim.Adam:
    """Adam with the fused kernel on CPU and CUDA (several times faster for small models)."""
    return torch.optim.Adam(parameters, lr=lr, fused=device.type in ("cpu", "cuda"))
