"""Agents that do not learn, as leaderboard floors: ``random`` and ``lm-sample``.

* :class:`RandomAgent` draws every action uniformly from the action space (for subset
  selection: a uniformly random subset of the env's size k, the paper's random teacher).
* :class:`LMSampleAgent` lets the untrained policy LM sample (plain sampling, temperature 1),
  token by token through its KV cache in token mode or whole continuations in sequence mode.

They train in the shared loop (:meth:`lm_gym.agents.base.BaseAgent.learn`) like every agent,
with an update that only records the statistics of the episodes they played, so every agent of
a leaderboard row reports the same metrics; ``save``/``load`` keep their generator states.

Their collection (:meth:`_FixedAgent._collect`) steps the env without ever cutting an episode:
the env is reset once per ``learn`` call, rows run on across iterations, and an iteration ends
(one logged row) once ``num_envs`` episodes have finished since the previous one, or when the
budget is spent or a callback stops training. ``lm-sample`` in token mode instead plays the
lock-step batches of :func:`~lm_gym.agents.rollout.collect_token_rollout`, as PPO does.
"""

from __future__ import annotations

import copy
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode

from lm_gym.agents.base import BaseAgent, torch_generator
from lm_gym.agents.logger import Logger
from lm_gym.agents.policies import (
    LMPolicy,
    SequenceLMPolicy,
    as_tensor_batch,
    resolve_policy_lm,
)
from lm_gym.agents.rollout import TokenRollout, collect_token_rollout
from lm_gym.models.sampling import sample_tokens
from lm_gym.utils.device import resolve_device
from lm_gym.utils.env_attributes import get_env_attr


@dataclass
class EpisodeBatch:
    """The episodes a non-learning agent finished during one iteration."""

    returns: np.ndarray
    """Episode returns, in the order the episodes ended."""
    lengths: np.ndarray
    """Episode lengths (env steps), in the same order."""


class RunningEpisodes:
    """The episodes in progress in every row of a vector env, under any autoreset mode.

    Under ``NEXT_STEP`` a row whose episode ended spends its next step on the reset, which is
    neither counted nor recorded; when every row ended at once (and the mode is not
    ``SAME_STEP``) all rows are reset together instead, so no step is wasted; under
    ``DISABLED`` the rows that ended are reset with a ``reset_mask``.

    Args:
        env: the vector env, already reset.
        obs: the observation its reset returned.
    """

    def __init__(self, env: Any, obs: Any) -> None:
        self.env = env
        self.obs = obs
        self.mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        n = env.num_envs
        self.returns = np.zeros(n)
        self.lengths = np.zeros(n, dtype=np.int64)
        self.waiting = np.zeros(n, dtype=bool)  # NEXT_STEP: the row's next step is its reset

    def step(self, actions: Any) -> tuple[int, np.ndarray, np.ndarray]:
        """Step every row with ``actions``.

        Returns:
            ``(rows stepped, returns, lengths)``: the number of rows whose step counts, and the
            returns and lengths of the episodes that ended with this step.
        """
        env, n = self.env, self.env.num_envs
        self.obs, reward, terminated, truncated, _ = env.step(actions)
        next_step = self.mode == AutoresetMode.NEXT_STEP
        active = ~self.waiting if next_step else np.ones(n, dtype=bool)
        self.returns[active] += np.asarray(reward, dtype=np.float64)[active]
        self.lengths[active] += 1
        finished = active & np.logical_or(terminated, truncated)
        ended = (self.returns[finished], self.lengths[finished])
        self.returns[finished], self.lengths[finished] = 0.0, 0
        if next_step:
            self.waiting = finished.copy()
        if finished.all() and self.mode != AutoresetMode.SAME_STEP:
            self.obs, _ = env.reset()  # every row ended: restart them all, no wasted step
            self.waiting[:] = False
        elif finished.any() and self.mode == AutoresetMode.DISABLED:
            self.obs, _ = env.reset(options={"reset_mask": finished})
        return int(active.sum()), *ended


class _FixedAgent(BaseAgent):
    """An agent that plays without learning; subclasses provide ``_act(obs_batch)``.

    Single envs run as a vector env of one row (``vectorizes_single_envs``).
    """

    vectorizes_single_envs = True

    def __init__(
        self, env: Any, config: Any = None, *, logger: Logger | None = None, **overrides: Any
    ) -> None:
        super().__init__(env, config, logger=logger, **overrides)
        self._running: RunningEpisodes | None = None

    @abstractmethod
    def _act(self, obs: Any) -> Any:
        """Actions for a batch of observations."""

    def _prepare_learn(self, env: Any) -> None:
        """Every ``learn`` call starts its episodes afresh (one env reset)."""
        self._running = None

    def _collect(self, env: Any) -> EpisodeBatch | None:
        """Step ``env`` until ``num_envs`` episodes have finished since the last iteration.

        Stops early at the budget or when a callback asks to; the episodes finished by then
        still make a (last) batch. ``None`` when no episode finished.
        """
        if self._running is None:
            obs, _ = env.reset(seed=self._reset_seed())
            self._running = RunningEpisodes(env, obs)
        returns: list[np.ndarray] = []
        lengths: list[np.ndarray] = []
        finished = 0
        while self.num_timesteps < self._total_timesteps:
            stepped, ended_returns, ended_lengths = self._running.step(self._act(self._running.obs))
            returns.append(ended_returns)
            lengths.append(ended_lengths)
            finished += ended_returns.size
            if not self._count_steps(stepped) or finished >= env.num_envs:
                break
        if not finished:
            return None
        return EpisodeBatch(np.concatenate(returns), np.concatenate(lengths))

    def _update(self, batch: EpisodeBatch) -> None:
        """Nothing to learn: record the episodes (of all ranks) and their running statistics."""
        returns, lengths, _ = self._gather_episodes(batch.returns, batch.lengths, {})
        self._record_episodes(returns, lengths)
        self._record_episode_stats()

    def _batched(self, obs: Any) -> tuple[Any, bool]:
        """``(batch size, single)``, where ``single`` says ``obs`` is one observation."""
        if isinstance(obs, dict):
            key = next(iter(obs))
            return obs[key].shape[0], obs[key].ndim == len(self.observation_space[key].shape)
        array = np.asarray(obs)
        return array.shape[0], array.ndim == len(self.observation_space.shape)


@dataclass
class RandomConfig:
    """Uniform random actions."""

    seed: int = 0
    """Seeds the action sampler and the env's first reset."""
    device: str | None = None
    """Unused (kept so every agent accepts ``device``)."""
    num_envs: int = 16
    """Parallel episodes when ``train_agent`` builds the env as a vector env."""
    subset_size: int | None = None
    """For ``MultiBinary`` actions: choose exactly k items (``None`` reads the env's budget)."""
    verbose: int = 1
    """1 prints a metrics table every ``log_interval`` batches (see ``learn``), 0 is silent."""


class RandomAgent(_FixedAgent):
    """Uniform actions: ``action_space.sample()`` (a random k-subset for subset selection)."""

    config_class = RandomConfig
    rank_state_keys = ("space_rng",)
    action_kinds = ("token", "sequence", "subset", "lessons")

    def __init__(
        self, env: Any, config: Any = None, *, logger: Logger | None = None, **overrides: Any
    ) -> None:
        super().__init__(env, config, logger=logger, **overrides)
        self.space = copy.deepcopy(self.action_space)
        self.space.seed(self.rank_seed())
        self.subset_size = None
        if isinstance(self.space, gym.spaces.MultiBinary):
            self.subset_size = self.config.subset_size or get_env_attr(env, "budget", None)

    def _sample(self) -> Any:
        if self.subset_size is None:
            return self.space.sample()
        action = np.zeros(self.space.shape, dtype=self.space.dtype)
        chosen = self.space.np_random.choice(action.size, self.subset_size, replace=False)
        action[chosen] = 1
        return action

    def _act(self, obs: Any) -> Any:
        size, single = self._batched(obs)
        if single:
            return self._sample()
        return np.stack([self._sample() for _ in range(size)])

    def predict(self, obs: Any, deterministic: bool = False) -> Any:
        """A uniformly random action (``deterministic`` is ignored: there is no mode)."""
        return self._act(obs)

    def _state_dict(self) -> dict:
        return {"space_rng": self.space.np_random.bit_generator.state}

    def _load_state_dict(self, state: dict) -> None:
        self.space.np_random.bit_generator.state = state["space_rng"]


@dataclass
class LMSampleConfig:
    """The untrained policy LM, sampling."""

    seed: int = 0
    """Seeds the sampling generator and the env's first reset."""
    device: str | None = None
    """Where the LM runs; ``None`` picks CUDA when present."""
    model: str | None = None
    """LM spec; ``None`` uses the env's own ``generating_model``."""
    num_envs: int = 32
    """Parallel episodes when ``train_agent`` builds the env as a vector env."""
    temperature: float = 1.0
    """Sampling temperature (1 = the LM's own distribution, no top-k/top-p)."""
    prepend_bos: bool = True
    """Feed ``<s>`` before each prompt."""
    verbose: int = 1
    """1 prints a metrics table every ``log_interval`` batches (see ``learn``), 0 is silent."""


class LMSampleAgent(_FixedAgent):
    """The policy LM as it is, sampling tokens (token mode) or continuations (sequence mode)."""

    config_class = LMSampleConfig
    action_kinds = ("token", "sequence")

    def __init__(
        self,
        env: Any,
        config: Any = None,
        *,
        model: Any = None,
        logger: Logger | None = None,
        **overrides: Any,
    ) -> None:
        super().__init__(env, config, logger=logger, **overrides)
        cfg = self.config
        self.device = resolve_device(cfg.device)
        space = self.action_space
        token_mode = isinstance(space, gym.spaces.Discrete)
        if not token_mode and not (
            isinstance(space, gym.spaces.Box) and np.issubdtype(space.dtype, np.integer)
        ):
            raise TypeError(f"lm-sample needs a token or sequence action space, got {space}")
        lm = resolve_policy_lm(env, model if model is not None else cfg.model, self.device)
        vocab = int(space.n) if token_mode else int(space.high.max()) + 1
        self.policy = LMPolicy(
            lm.model,
            lm.tokenizer,
            value_head=False,
            prepend_bos=cfg.prepend_bos,
            action_size=vocab,
            observation_space=self.observation_space,
        )
        self.sequence = (
            None
            if token_mode
            else SequenceLMPolicy(self.policy, int(space.shape[0]), cfg.temperature)
        )
        self.generator = torch_generator(self.rank_seed(), self.device)

    @property
    def model(self) -> torch.nn.Module:
        """The policy LM (what a :class:`~lm_gym.wrappers.CLMAlternation` wrapper trains: a
        sampler that does not learn by itself, under CLM, is BAMBINO-LM's "w/o PPO")."""
        return self.policy.model

    def predict(self, obs: Any, deterministic: bool = False) -> Any:
        """The next token (token mode) or a continuation (sequence mode)."""
        batch, single = as_tensor_batch(obs, self.device)
        if self.sequence is not None:
            actions, _ = self.sequence.act(batch, self.generator, deterministic)
        else:
            logits = self.policy.next_token_logits(batch["input_ids"], batch["attention_mask"])
            actions = sample_tokens(
                logits, self.generator, temperature=self.config.temperature, greedy=deterministic
            )
        if isinstance(obs["input_ids"], torch.Tensor):
            return actions[0] if single else actions
        actions = actions.cpu().numpy()
        return actions[0] if single else actions

    def _act(self, obs: Any) -> Any:
        return self.predict(obs)

    def _collect(self, env: Any) -> EpisodeBatch | TokenRollout | None:
        """Sequence mode: as every fixed agent; token mode: one lock-step token rollout."""
        if self.sequence is not None:
            return super()._collect(env)
        return collect_token_rollout(
            env,
            self.policy,
            self.generator,
            temperature=self.config.temperature,
            seed=self._reset_seed(),
            on_step=self._count_steps,
        )

    def _update(self, batch: EpisodeBatch | TokenRollout) -> None:
        """Record the episodes; a token rollout also logs its mean return and end info."""
        if isinstance(batch, EpisodeBatch):
            super()._update(batch)
            return
        returns, lengths, end_info = self._gather_episodes(
            batch.returns, batch.lengths, batch.end_info
        )
        self._record_episodes(returns, lengths)
        self.logger.record("rollout/batch_rew_mean", returns.mean())
        self._record_end_info(end_info)
        self._record_episode_stats()

    def _state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def _load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
