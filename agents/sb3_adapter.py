"""Stable-Baselines3's PPO as the lm_gym agent ``sb3-ppo``: proof that generic RL agents plug in.

SB3 knows nothing of language: its ``MultiInputPolicy`` flattens the token-mode observation
``Dict(input_ids=Box, attention_mask=MultiBinary)`` into one float vector and learns a
``Discrete(V)`` head on top, so it suits small vocabularies (micro models, artificial
languages) rather than real LMs. The adapter maps the lm_gym protocol onto SB3: ``predict``
returns the action only, callbacks are wrapped into an SB3 callback, and the logger's folder
and formats are handed to SB3's own logger (which uses the same metric names).

Saved agents are lm_gym checkpoints, not SB3's zip archives: SB3's ``PPO.load`` unpickles
(cloudpickle) parts of its archive, so loading a crafted file could run code. :meth:`SB3PPO.save`
writes the policy's weights, the optimizer, the counters and the generators as tensors and
plain data, and :meth:`SB3PPO.load` rebuilds the model from the saved config and the env it is
given, then reads the file with ``weights_only=True``. ``lm-gym run --resume`` refuses
``sb3-ppo``: continuing from such a file is not bit-identical to an uninterrupted run (SB3
starts new episodes when ``learn`` is called again, where the first run was in the middle of
some, and its CSV writer starts ``progress.csv`` anew). A model saved with SB3's own ``save``
can still be opened with ``stable_baselines3.PPO.load``, for files you trust.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym

from lm_gym.agents.callbacks import Callback, as_callback
from lm_gym.agents.checkpoint import (
    atomic_torch_save,
    global_rng_state,
    load_checkpoint,
    set_global_rng_state,
)
from lm_gym.agents.logger import Logger, tensorboard_available
from lm_gym.agents.policies import check_token_space
from lm_gym.agents.protocol import build_config
from lm_gym.utils.device import resolve_device

SB3_CHECKPOINT_FORMAT = "lm_gym.sb3-ppo/1"


@dataclass
class SB3PPOConfig:
    """Hyperparameters passed to ``stable_baselines3.PPO`` (its names and meanings)."""

    seed: int = 0
    """Seeds SB3 (torch, NumPy, the action space) and the env's first reset."""
    device: str | None = None
    """Where SB3 trains; ``None`` picks CUDA when present."""
    num_envs: int = 1
    """Copies of the env in SB3's ``DummyVecEnv`` when ``train_agent`` builds it."""
    n_steps: int = 128
    """Env steps per copy between updates."""
    batch_size: int = 64
    """Minibatch size."""
    n_epochs: int = 4
    """Optimisation epochs per update."""
    learning_rate: float = 3e-4
    """Adam learning rate."""
    gamma: float = 1.0
    """Discount factor (episodes are at most max_new_tokens steps)."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    clip_range: float = 0.2
    """PPO clipping range."""
    ent_coef: float = 0.0
    """Entropy-bonus coefficient."""
    vf_coef: float = 0.5
    """Value-loss coefficient."""
    verbose: int = 1
    """1 prints SB3's metric table per update."""


class _CallbackBridge:
    """Builds an SB3 ``BaseCallback`` that forwards to an lm_gym :class:`Callback`."""

    @staticmethod
    def make(callback: Callback, agent: SB3PPO) -> Any:
        from stable_baselines3.common.callbacks import BaseCallback

        class Bridge(BaseCallback):
            def _on_training_start(self) -> None:
                callback.on_training_start(self.locals)

            def _on_rollout_start(self) -> None:
                # SB3 starts a rollout right after each update: the previous iteration ended.
                if self.n_calls:
                    callback.on_iteration_end()

            def _on_step(self) -> bool:
                return callback.on_step(self.locals)

            def _on_rollout_end(self) -> None:
                callback.on_rollout_end()

            def _on_training_end(self) -> None:
                callback.on_training_end()

        callback.init_callback(agent)
        return Bridge()


class SB3PPO:
    """Stable-Baselines3 PPO with ``MultiInputPolicy`` behind the lm_gym agent protocol.

    Args:
        env: a single Gymnasium env or an SB3 ``VecEnv`` (not a Gymnasium vector env).
        config: an :class:`SB3PPOConfig` or dict; keyword ``overrides`` replace its fields.
        logger: its folder and formats configure SB3's logger.

    Raises:
        TypeError: for a Gymnasium vector env (SB3 has its own vectorisation).
    """

    config_class = SB3PPOConfig
    action_kinds = ("token",)
    """Token-mode envs only (see :func:`_check_env`)."""

    def __init__(
        self,
        env: Any,
        config: Any = None,
        *,
        logger: Logger | None = None,
        **overrides: Any,
    ) -> None:
        from stable_baselines3 import PPO as SB3Model

        self.config = build_config(SB3PPOConfig, config, **overrides)
        _check_env(env)
        cfg = self.config
        self.device = resolve_device(cfg.device)
        self.model = SB3Model(
            "MultiInputPolicy",
            env,
            n_steps=cfg.n_steps,
            batch_size=cfg.batch_size,
            n_epochs=cfg.n_epochs,
            learning_rate=cfg.learning_rate,
            gamma=cfg.gamma,
            gae_lambda=cfg.gae_lambda,
            clip_range=cfg.clip_range,
            ent_coef=cfg.ent_coef,
            vf_coef=cfg.vf_coef,
            seed=cfg.seed,
            device=str(self.device),
            verbose=0,
        )
        self.logger = logger or Logger(formats=("stdout",) if cfg.verbose else ())
        self.set_logger(self.logger)

    @property
    def num_timesteps(self) -> int:
        """SB3's timestep counter."""
        return int(self.model.num_timesteps)

    def set_logger(self, logger: Logger) -> None:
        """Write SB3's metrics to ``logger``'s folder in its formats."""
        from stable_baselines3.common import logger as sb3_logger

        self.logger = logger
        formats = [f for f in logger.formats if f != "tensorboard" or tensorboard_available()]
        if logger.folder is None:  # stdout at most; SB3's configure() would make a temp folder
            outputs = [sb3_logger.HumanOutputFormat(sys.stdout) for f in formats if f == "stdout"]
            self.model.set_logger(sb3_logger.Logger(folder=None, output_formats=outputs))
        else:
            self.model.set_logger(sb3_logger.configure(str(logger.folder), formats))

    def predict(self, obs: Any, deterministic: bool = False) -> Any:
        """The action for one observation (or an SB3 batch)."""
        action, _ = self.model.predict(obs, deterministic=deterministic)
        return action

    def learn(
        self,
        env: Any,
        total_timesteps: int,
        callback: Any = None,
        *,
        reset_num_timesteps: bool = True,
        progress_bar: bool = True,
        log_interval: int = 1,
    ) -> SB3PPO:
        """Train with SB3's PPO; ``callback`` returning ``False`` stops it.

        ``log_interval`` is SB3's: its logger writes a row (stdout, CSV, TensorBoard alike)
        every this many iterations.
        """
        _check_env(env)
        if env is not self.model.get_env() and env is not getattr(self, "_env", None):
            self.model.set_env(env)
        self._env = env
        bridge = _CallbackBridge.make(as_callback(callback), self)
        self.model.learn(
            total_timesteps,
            callback=bridge,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
            log_interval=log_interval,
        )
        return self

    def save(self, path: str | os.PathLike) -> Path:
        """Write config, policy weights, optimizer, counters and generator states atomically,
        as tensors and plain data (see the module docstring), at exactly ``path``."""
        checkpoint = {
            "format": SB3_CHECKPOINT_FORMAT,
            "config": dataclasses.asdict(self.config),
            "policy": self.model.policy.state_dict(),
            "optimizer": self.model.policy.optimizer.state_dict(),
            "num_timesteps": int(self.model.num_timesteps),
            "n_updates": int(self.model._n_updates),
            "global_rng": global_rng_state(),
        }
        return atomic_torch_save(checkpoint, path)

    @classmethod
    def load(cls, path: str | os.PathLike, env: Any = None, **overrides: Any) -> SB3PPO:
        """Rebuild an agent written by :meth:`save` on ``env``; config fields can be overridden.

        Raises:
            FileNotFoundError, CheckpointError: for a missing file or one that is not an
                ``sb3-ppo`` checkpoint (named in the message).
            ValueError: without ``env`` (the file holds no env).
        """
        checkpoint = load_checkpoint(path, SB3_CHECKPOINT_FORMAT)
        if env is None:
            raise ValueError("SB3PPO.load needs the env the agent acts in (env=...)")
        agent = cls(env, config={**checkpoint["config"], **overrides})
        agent._restore(checkpoint)
        return agent

    def _restore(self, checkpoint: dict) -> None:
        self.model.policy.load_state_dict(checkpoint["policy"])
        self.model.policy.optimizer.load_state_dict(checkpoint["optimizer"])
        self.model.num_timesteps = checkpoint["num_timesteps"]
        self.model._n_updates = checkpoint["n_updates"]
        set_global_rng_state(checkpoint["global_rng"])

    @classmethod
    def make_env(
        cls, env_id: str, *, seed: int, device: Any, env_kwargs: dict, config: dict
    ) -> Any:
        """The env ``train_agent`` trains on: SB3's ``DummyVecEnv`` of ``num_envs`` copies.

        Each copy is ``gym.make(env_id, **env_kwargs)``, as for the other agents: given an id,
        SB3's ``make_vec_env`` would ask for ``render_mode="rgb_array"``, which text envs
        (``None`` or ``"ansi"``) refuse.
        """
        from stable_baselines3.common.env_util import make_vec_env

        num_envs = build_config(SB3PPOConfig, config).num_envs
        return make_vec_env(lambda: gym.make(env_id, **env_kwargs), n_envs=num_envs, seed=seed)


def _check_env(env: Any) -> None:
    """Refuse (``TypeError``) Gymnasium vector envs and envs without token actions: SB3 samples
    a subset action unconstrained (not exactly k ones) and a sequence action as floats."""
    if isinstance(env, gym.vector.VectorEnv | gym.vector.VectorWrapper):
        raise TypeError(
            "sb3-ppo takes a single Gymnasium env or an SB3 VecEnv, not a Gymnasium vector env "
            "(SB3 vectorises by itself)"
        )
    check_token_space(env.action_space, "sb3-ppo")
