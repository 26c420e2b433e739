"""REINFORCE with a moving-average baseline and entropy regularisation, for one-step episodes.

Two kinds of environment end every episode after a single action, so a plain sequence-level
policy gradient fits them:

* sequence-mode text generation (``BambinoSeq-v0``): the action is a whole continuation,
  sampled from the LM through its KV cache (:class:`~lm_gym.agents.policies.SequenceLMPolicy`);
* subset selection (the teacher envs): the action picks k of N pool items
  (:class:`~lm_gym.agents.subset_policy.SubsetPolicy`, Gumbel-top-k, scored by the exact
  Plackett-Luce probability of the draw).

One iteration of the shared loop (:meth:`lm_gym.agents.base.BaseAgent.learn`) collects
``batch_size`` episodes (:meth:`Reinforce._collect`: reset, one action per row, step) and makes
one update (:meth:`Reinforce._update`) with the loss ``-mean(A * log pi(a|s)) - ent_coef *
mean(H)``. By default the advantages ``A`` are the batch's rewards whitened (minus their mean,
divided by their standard deviation), so the step size does not depend on the reward's scale;
with ``normalize_advantages=False`` they are ``R - b``, where the baseline ``b`` is an
exponential moving average of past batch rewards (initialised to the first batch's mean).

Under data parallelism (torchrun) each rank collects ``batch_size`` episodes, so a batch is
``batch_size x world_size`` episodes: the whitening, the baseline and the logged means use the
rewards of all ranks, each rank's loss is its episodes' share of the batch mean, and the
gradients are summed over ranks, so every rank makes the one-process update of the whole batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from lm_gym.agents.base import BaseAgent, make_adam, torch_generator
from lm_gym.agents.logger import Logger
from lm_gym.agents.policies import LMPolicy, SequenceLMPolicy, resolve_policy_lm
from lm_gym.agents.rollout import step_end_info
from lm_gym.agents.subset_policy import SUBSET_FEATURES, SUBSET_LOG_PROBS, build_subset_policy
from lm_gym.utils import distributed
from lm_gym.utils.device import resolve_device
from lm_gym.utils.env_attributes import get_env_attr
from lm_gym.utils.validation import check_choice, check_positive_int

DEFAULT_LEARNING_RATES = {"sequence": 1e-4, "subset": 1e-2}
"""Learning rates used when the config leaves it ``None``: a small one for fine-tuning an LM,
a large one for the freshly initialised linear scorer of the subset policy."""


@dataclass
class ReinforceConfig:
    """REINFORCE hyperparameters (one field per hyperparameter, CleanRL style)."""

    seed: int = 0
    """Seeds action sampling, the policy's initial weights and the env's first reset."""
    device: str | None = None
    """Where the policy runs; ``None`` picks CUDA when present."""
    model: str | None = None
    """LM spec for sequence-mode envs; ``None`` uses the env's own ``generating_model``."""
    num_envs: int = 16
    """Parallel episodes when ``train_agent`` builds the env as a vector env."""
    batch_size: int = 16
    """Episodes per policy update (per rank under data parallelism)."""
    learning_rate: float | None = None
    """Adam learning rate; ``None`` picks 1e-4 for an LM policy, 1e-2 for the subset policy."""
    baseline_decay: float = 0.9
    """Weight of the old baseline in its moving-average update."""
    normalize_advantages: bool = True
    """Whiten the advantages within each batch (rewards minus their mean, over their standard
    deviation); ``False`` uses the rewards minus the moving-average baseline."""
    ent_coef: float = 0.01
    """Entropy-regularisation coefficient."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm."""
    temperature: float = 1.0
    """Sampling temperature of the LM policy."""
    subset_size: int | None = None
    """k for subset actions; ``None`` reads the env's ``budget``."""
    subset_log_prob: str = "plackett_luce"
    """Subset log-probability: ``"plackett_luce"`` (exact probability of the ordered
    Gumbel-top-k draw) or ``"sum"`` (ter Hoeve et al.'s sum of member log-softmax scores,
    biased for draws without replacement)."""
    subset_features: str = "auto"
    """What the subset scorer reads: ``"encoder"`` (the policy's own trainable encoder over the
    pool's ``input_ids``, which sees word order), ``"embeddings"`` (the env's ``embeddings``),
    or ``"auto"`` (the encoder when the observation has token ids)."""
    prepend_bos: bool = True
    """Feed ``<s>`` before each prompt (LM policy)."""
    verbose: int = 1
    """1 prints a metrics table every ``log_interval`` updates (see ``learn``), 0 is silent."""

    def __post_init__(self) -> None:
        for name in ("num_envs", "batch_size"):
            value = getattr(self, name)
            check_positive_int(f"ReinforceConfig.{name}", value)
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise ValueError(f"ReinforceConfig.learning_rate must be > 0, got {self.learning_rate}")
        if not 0 <= self.baseline_decay < 1:
            raise ValueError("ReinforceConfig.baseline_decay must lie in [0, 1)")
        check_choice("ReinforceConfig.subset_log_prob", self.subset_log_prob, SUBSET_LOG_PROBS)
        check_choice("ReinforceConfig.subset_features", self.subset_features, SUBSET_FEATURES)


class Reinforce(BaseAgent):
    """REINFORCE for sequence-mode text envs and subset-selection envs.

    Args:
        env: an env or vector env whose episodes last one step: ``Box`` integer actions with
            a token observation (sequence mode) or ``MultiBinary(N)`` actions with an
            ``embeddings`` observation (subset selection).
        config: a :class:`ReinforceConfig` or dict; keyword ``overrides`` replace its fields.
        model: the LM for sequence mode (default ``config.model``, else the env's
            ``generating_model``).
        logger: metrics destination.

    Raises:
        TypeError: for any other kind of action space.
    """

    config_class = ReinforceConfig
    action_kinds = ("sequence", "subset")

    def __init__(
        self,
        env: Any,
        config: ReinforceConfig | dict | None = None,
        *,
        model: Any = None,
        logger: Logger | None = None,
        **overrides: Any,
    ) -> None:
        super().__init__(env, config, logger=logger, **overrides)
        cfg = self.config
        self.device = resolve_device(cfg.device)
        torch.manual_seed(cfg.seed)
        self.kind, self.policy = self._build_policy(env, model)
        self.policy.to(self.device)
        distributed.broadcast_module(self.policy)  # every rank starts from rank 0's weights
        lr = cfg.learning_rate or DEFAULT_LEARNING_RATES[self.kind]
        self.optimizer = make_adam(self.policy.parameters(), lr, self.device)
        self.generator = torch_generator(self.rank_seed(), self.device)
        self.baseline: float | None = None

    def _build_policy(self, env: Any, model: Any) -> tuple[str, nn.Module]:
        space, cfg = self.action_space, self.config
        if isinstance(space, gym.spaces.MultiBinary):
            k = cfg.subset_size or get_env_attr(env, "budget", None)
            if k is None:
                raise ValueError(
                    "the subset size k is unknown: set subset_size=k (the env has no 'budget')"
                )
            policy = build_subset_policy(
                self.observation_space,
                space,
                k,
                features=cfg.subset_features,
                log_prob=cfg.subset_log_prob,
            )
            return "subset", policy
        if (
            isinstance(space, gym.spaces.Box)
            and np.issubdtype(space.dtype, np.integer)
            and len(space.shape) == 1
        ):
            lm = resolve_policy_lm(
                env, model if model is not None else self.config.model, self.device
            )
            policy = LMPolicy(
                lm.model,
                lm.tokenizer,
                value_head=False,
                prepend_bos=self.config.prepend_bos,
                action_size=int(space.high.max()) + 1,
                observation_space=self.observation_space,
            )
            return "sequence", SequenceLMPolicy(
                policy, int(space.shape[0]), self.config.temperature
            )
        raise TypeError(
            "REINFORCE handles one-step episodes: sequence-mode text envs (integer Box actions) "
            f"or subset selection (MultiBinary actions); got {space}. Use PPO for token mode."
        )

    @property
    def model(self) -> nn.Module:
        """The trainable module (the LM in sequence mode, the subset policy in subset mode)."""
        return self.policy.lm.model if self.kind == "sequence" else self.policy

    def _obs_tensors(self, obs: dict) -> tuple[dict[str, torch.Tensor], bool]:
        """Observations as tensors on the agent's device, with a batch dimension."""
        if not isinstance(obs, dict):
            raise TypeError(f"expected a Dict observation, got {type(obs).__name__}")
        key = next(iter(obs))
        single = obs[key].ndim == len(self.observation_space[key].shape)
        batch = {name: torch.as_tensor(value, device=self.device) for name, value in obs.items()}
        if single:
            batch = {key: value.unsqueeze(0) for key, value in batch.items()}
        return batch, single

    def predict(self, obs: Any, deterministic: bool = False) -> Any:
        """The action for one observation or a batch."""
        batch, single = self._obs_tensors(obs)
        actions, _ = self.policy.act(batch, self.generator, deterministic)
        if any(isinstance(value, torch.Tensor) for value in obs.values()):
            return actions[0] if single else actions
        actions = actions.cpu().numpy()
        return actions[0] if single else actions

    # ------------------------------------------------------------------ one iteration
    def _collect(self, env: Any) -> list[tuple[dict, Any, np.ndarray, dict]] | None:
        """``batch_size`` one-step episodes as ``(obs, memo, rewards, end info)`` rounds of
        ``env``'s rows (end info: :func:`~lm_gym.agents.rollout.step_end_info`).

        Returns ``None`` when a callback stopped training.

        Raises:
            RuntimeError: when an episode does not end after its single step.
        """
        as_tensors = bool(getattr(env.unwrapped, "as_tensors", False))
        rounds, collected = [], 0
        while collected < self.config.batch_size:
            obs, _ = env.reset(seed=self._reset_seed())
            batch, single = self._obs_tensors(obs)
            actions, memo = self.policy.act(batch, self.generator, deterministic=False)
            env_actions = actions if as_tensors else actions.cpu().numpy()
            _, reward, terminated, truncated, info = env.step(
                env_actions[0] if single else env_actions
            )
            if not np.all(np.logical_or(terminated, truncated)):
                raise RuntimeError(
                    "REINFORCE needs episodes of one step (sequence mode, subset selection); "
                    "this env's episode went on after the first action"
                )
            rewards = np.asarray(reward, dtype=np.float64).reshape(-1)
            rounds.append((batch, memo, rewards, step_end_info(info, rewards.size)))
            collected += rewards.size
            if not self._count_steps(rewards.size):
                return None
        return rounds

    def _update(self, rounds: list[tuple[dict, Any, np.ndarray, dict]]) -> None:
        """One policy-gradient step on the collected episodes (of all ranks), then the
        baseline's update."""
        cfg = self.config
        own = np.concatenate([r for _, _, r, _ in rounds])
        gathered, rows = distributed.gather_rows({"rewards": own})
        rewards = gathered["rewards"]
        if self.baseline is None:
            self.baseline = float(rewards.mean())
        advantages = whiten(rewards) if cfg.normalize_advantages else rewards - self.baseline
        advantages = torch.as_tensor(advantages[rows], dtype=torch.float32, device=self.device)
        share = own.size / rewards.size  # this rank's part of the batch mean (1 in one process)
        self.policy.train()
        log_probs, entropies = zip(*(self.policy.log_prob(obs, memo) for obs, memo, _, _ in rounds))
        log_prob, entropy = torch.cat(log_probs), torch.cat(entropies)
        policy_loss = -(advantages * log_prob).mean() * share
        entropy_mean = entropy.mean() * share
        loss = policy_loss - cfg.ent_coef * entropy_mean
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        distributed.all_reduce_gradients(self.policy.parameters())
        nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.max_grad_norm)
        self.optimizer.step()
        self.policy.eval()
        self.baseline = cfg.baseline_decay * self.baseline + (1 - cfg.baseline_decay) * float(
            rewards.mean()
        )
        self._record_episodes(rewards, np.ones_like(rewards))
        self._record_episode_stats()
        self.logger.record("rollout/batch_rew_mean", rewards.mean())
        keys = sorted({key for *_, ends in rounds for key in ends})  # this rank's episodes
        missing = [np.full(r.size, np.nan) for _, _, r, _ in rounds]
        self._record_end_info(
            {
                key: np.concatenate(
                    [ends.get(key, gap) for (*_, ends), gap in zip(rounds, missing)]
                )
                for key in keys
            }
        )
        losses = torch.stack([policy_loss.detach(), entropy_mean.detach()])
        distributed.all_reduce_sum(losses)
        self.logger.record("losses/policy_loss", float(losses[0]))
        self.logger.record("losses/entropy", float(losses[1]))
        self.logger.record("charts/baseline", self.baseline)

    def _state_dict(self) -> dict:
        return {
            "policy": self.policy.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "baseline": self.baseline,
        }

    def _load_state_dict(self, state: dict) -> None:
        self.policy.load_state_dict(state["policy"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.baseline = state["baseline"]


def whiten(rewards: np.ndarray) -> np.ndarray:
    """``(rewards - mean) / std`` within the batch (all zeros when the rewards are equal)."""
    centred = rewards - rewards.mean()
    std = float(centred.std())
    return centred / std if std > 0 else centred
