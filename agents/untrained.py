"""Agents that do not learn, as leaderboard floors: ``random`` and ``lm-sample``.

* :class:`RandomAgent` draws every action uniformly from the action space (for subset
  selection: a uniformly random subset of the env's size k, the paper's random teacher).
* :class:`LMSampleAgent` lets the untrained policy LM sample (plain sampling, temperature 1),
  token by token through its KV cache in token mode or whole continuations in sequence mode.

Their ``learn`` only plays episodes and logs the returns, so every agent of a leaderboard row
reports the same metrics; ``save``/``load`` keep their generator states.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode

from lm_gym.agents.base import BaseAgent, torch_generator
from lm_gym.agents.lm_policy import LMPolicy, as_tensor_batch, sample_tokens
from lm_gym.agents.logger import Logger
from lm_gym.agents.policy_model import resolve_policy_lm
from lm_gym.agents.reinforce import SequenceLMPolicy
from lm_gym.agents.rollout import collect_token_rollout
from lm_gym.agents.subset_policy import find_subset_size
from lm_gym.utils.device import resolve_device


class _FixedAgent(BaseAgent, ABC):
    """Plays episodes without learning; subclasses provide ``_act(obs_batch)``."""

    vectorizes_single_envs = True

    @abstractmethod
    def _act(self, obs: Any) -> Any:
        """Actions for a batch of observations."""

    def learn(
        self,
        env: Any,
        total_timesteps: int,
        callback: Any = None,
        *,
        reset_num_timesteps: bool = True,
        progress_bar: bool = True,
    ) -> _FixedAgent:
        """Play until ``total_timesteps`` env steps (of recorded episodes) were taken."""
        env = self._vectorized(env)
        callback, bar, target = self._start_learning(
            env, total_timesteps, callback, reset_num_timesteps, progress_bar
        )
        callback.on_training_start(locals())
        self._play(env, target, callback, bar)
        bar.close()
        callback.on_training_end()
        return self

    def _play(self, env: Any, target: int, callback: Any, bar: Any) -> None:
        """Step ``env`` with ``_act``, tracking episodes under every autoreset mode."""
        mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        n = env.num_envs
        returns, lengths = np.zeros(n), np.zeros(n, dtype=np.int64)
        waiting = np.zeros(n, dtype=bool)  # NEXT_STEP: the row's next step is its reset
        obs, _ = env.reset(seed=self._reset_seed())
        since_dump = 0
        while self.num_timesteps < target:
            obs, reward, terminated, truncated, _ = env.step(self._act(obs))
            active = ~waiting if mode == AutoresetMode.NEXT_STEP else np.ones(n, dtype=bool)
            returns[active] += np.asarray(reward, dtype=np.float64)[active]
            lengths[active] += 1
            finished = active & np.logical_or(terminated, truncated)
            stepped = int(active.sum())
            self.num_timesteps += stepped
            bar.update(stepped)
            if finished.any():
                self._record_episodes(returns[finished], lengths[finished])
                since_dump += int(finished.sum())
                returns[finished], lengths[finished] = 0.0, 0
            if mode == AutoresetMode.NEXT_STEP:
                waiting = finished.copy()
            if finished.all() and mode != AutoresetMode.SAME_STEP:
                obs, _ = env.reset()  # every row ended: restart them all, no wasted step
                waiting[:] = False
            elif finished.any() and mode == AutoresetMode.DISABLED:
                obs, _ = env.reset(options={"reset_mask": finished})
            if since_dump >= n:
                self._dump()
                since_dump = 0
            if not callback.on_step():
                break
        if since_dump:
            self._dump()

    def _dump(self) -> None:
        self.iteration += 1
        self._record_episode_stats()
        self.logger.record("time/iterations", self.iteration)
        self.logger.dump(self.num_timesteps)

    def _batched(self, obs: Any) -> tuple[Any, bool]:
        """Whether ``obs`` is one observation (``single``) and its batch size."""
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
    """1 prints a metrics table per batch of episodes."""


class RandomAgent(_FixedAgent):
    """Uniform actions: ``action_space.sample()`` (a random k-subset for subset selection)."""

    config_class = RandomConfig

    def __init__(
        self, env: Any, config: Any = None, *, logger: Logger | None = None, **overrides: Any
    ) -> None:
        super().__init__(env, config, logger=logger, **overrides)
        self.space = copy.deepcopy(self.action_space)
        self.space.seed(self.config.seed)
        self.subset_size = None
        if isinstance(self.space, gym.spaces.MultiBinary):
            self.subset_size = self.config.subset_size or find_subset_size(env)

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
    """LM spec; ``None`` uses the env's own baby model."""
    num_envs: int = 32
    """Parallel episodes when ``train_agent`` builds the env as a vector env."""
    temperature: float = 1.0
    """Sampling temperature (1 = the LM's own distribution, no top-k/top-p)."""
    prepend_bos: bool = True
    """Feed ``<s>`` before each prompt."""
    verbose: int = 1
    """1 prints a metrics table per batch of episodes."""


class LMSampleAgent(_FixedAgent):
    """The policy LM as it is, sampling tokens (token mode) or continuations (sequence mode)."""

    config_class = LMSampleConfig

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
            lm.model, lm.tokenizer, value_head=False, prepend_bos=cfg.prepend_bos, action_size=vocab
        )
        self.sequence = (
            None
            if token_mode
            else SequenceLMPolicy(self.policy, int(space.shape[0]), cfg.temperature)
        )
        self.generator = torch_generator(cfg.seed, self.device)

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

    def _play(self, env: Any, target: int, callback: Any, bar: Any) -> None:
        if self.sequence is not None:
            super()._play(env, target, callback, bar)
            return

        def on_step(live_rows: int) -> bool:
            self.num_timesteps += live_rows
            bar.update(live_rows)
            return callback.on_step()

        while self.num_timesteps < target:
            rollout = collect_token_rollout(
                env,
                self.policy,
                self.generator,
                temperature=self.config.temperature,
                seed=self._reset_seed(),
                on_step=on_step,
            )
            if rollout is None:
                break
            self._record_episodes(rollout.returns, rollout.lengths)
            self.logger.record("rollout/batch_rew_mean", rollout.returns.mean())
            self._record_end_info(rollout.end_info)
            self._dump()

    def _state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def _load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
