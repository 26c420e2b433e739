"""Teachers for the data-selection envs (ter Hoeve et al., 2022).

The agent registry (:mod:`lm_gym.agents.registry`) lists them by import path under these names:

* ``oracle-teacher``: picks ``k`` pool sentences of the exam's type, uniformly at random
  (the paper's "oracle": only exam-type sentences).
* ``worst-teacher``: picks ``k`` sentences *not* of the exam's type (the paper's "worst case
  (none)": no exam-type sentence). Should the pool hold fewer than ``k`` sentences of the
  other type, the rest are exam-type sentences, the fewest possible.
* the random teacher is lm_gym's ``random`` agent (a uniform ``k``-subset).
* ``reinforce-teacher``: the paper's learning teacher, :class:`~lm_gym.agents.reinforce.Reinforce`
  with its subset policy (one linear layer over sentence features, Gumbel-top-k sampling scored
  by the exact Plackett-Luce probability, entropy regularisation, whitened advantages) and
  defaults tuned for these envs. Its features come from its own
  :class:`~lm_gym.agents.subset_policy.PoolEncoder` over the pool's token ids, which sees
  word order; ``subset_features="embeddings"`` reads the env's embeddings as the paper did.

The fixed teachers read the pool's labels from the env (its ``pool_labels`` attribute), which
is privileged information no learning agent gets in its observation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from lm_gym.agents.logger import Logger
from lm_gym.agents.protocol import is_vector_env
from lm_gym.agents.reinforce import Reinforce, ReinforceConfig
from lm_gym.agents.untrained import RandomAgent


@dataclass
class FixedTeacherConfig:
    """A fixed teacher's settings."""

    seed: int = 0
    """Seeds which sentences are picked among the allowed ones, and the env's first reset."""
    device: str | None = None
    """Unused (kept so every agent accepts ``device``)."""
    num_envs: int = 4
    """Parallel episodes when ``train_agent`` builds the env as a vector env."""
    subset_size: int | None = None
    """How many sentences to pick; ``None`` reads the env's ``budget``."""
    verbose: int = 1
    """1 prints a metrics table every ``log_interval`` batches (see ``learn``), 0 is silent."""


class _LabelTeacher(RandomAgent):
    """Picks ``k`` sentences, those with label ``preferred`` first, uniformly within a group."""

    config_class = FixedTeacherConfig
    action_kinds = ("subset", "lessons")
    preferred: ClassVar[int]

    def __init__(
        self, env: Any, config: Any = None, *, logger: Logger | None = None, **overrides: Any
    ) -> None:
        super().__init__(env, config, logger=logger, **overrides)
        if self.subset_size is None:
            raise TypeError(f"{type(self).__name__} needs a MultiBinary subset-selection env")
        self.label_env = env

    def _labels(self) -> np.ndarray:
        """``(B, N)`` labels of the current pools of the bound env."""
        env = self.env if self.env is not None else self.label_env
        if is_vector_env(env):
            return np.stack([np.asarray(labels) for labels in env.get_attr("pool_labels")])
        return np.asarray(env.unwrapped.pool_labels)[None]

    def _pick(self, labels: np.ndarray) -> np.ndarray:
        rng, k = self.space.np_random, self.subset_size
        first = np.flatnonzero(labels == self.preferred)
        rest = np.flatnonzero(labels != self.preferred)
        chosen = rng.choice(first, min(k, first.size), replace=False)
        if chosen.size < k:
            chosen = np.concatenate([chosen, rng.choice(rest, k - chosen.size, replace=False)])
        action = np.zeros(labels.shape, dtype=self.space.dtype)
        action[chosen] = 1
        return action

    def _act(self, obs: Any) -> Any:
        size, single = self._batched(obs)
        labels = self._labels()
        if labels.shape[0] != (1 if single else size):
            raise ValueError(
                f"the env holds {labels.shape[0]} pools but the observation has "
                f"{1 if single else size}: pass the env the observations come from"
            )
        actions = np.stack([self._pick(row) for row in labels])
        return actions[0] if single else actions


class OracleTeacher(_LabelTeacher):
    """Selects only sentences of the exam's type (label 1)."""

    preferred = 1


class WorstCaseTeacher(_LabelTeacher):
    """Selects no sentence of the exam's type where the pool allows (label 0 first)."""

    preferred = 0


@dataclass
class ReinforceTeacherConfig(ReinforceConfig):
    """REINFORCE settings for the teacher envs (the fields and meanings of ReinforceConfig)."""

    num_envs: int = 8
    """Parallel episodes when ``train_agent`` builds the env as a vector env."""
    batch_size: int = 8
    """Episodes (selections) per policy update."""
    learning_rate: float | None = 0.05
    """Adam learning rate of the subset policy (its encoder and linear scorer)."""
    ent_coef: float = 0.01
    """Entropy-regularisation coefficient (entropy of the softmax over the pool)."""


class ReinforceTeacher(Reinforce):
    """The paper's learning teacher: REINFORCE over the subset policy, teacher defaults."""

    config_class = ReinforceTeacherConfig
