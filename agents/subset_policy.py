"""A set-valued policy that picks k of N items: ter Hoeve et al. (2022)'s teacher.

Each item (a pool sentence) comes with an embedding; one linear layer turns it into a score,
and the scores define a softmax over the pool. A subset of ``k`` items is drawn without
replacement with the Gumbel-top-k trick (add independent Gumbel noise to the scores and keep
the ``k`` largest), which samples exactly as drawing ``k`` items one after another from the
softmax without putting them back. As in the paper, the log-probability of the subset is
approximated by the sum of the members' log-softmax scores, and the entropy regulariser is the
entropy of the softmax over the pool.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from torch import nn


class SubsetPolicy(nn.Module):
    """Linear scores over item embeddings; Gumbel-top-k subsets of size ``subset_size``.

    Args:
        embedding_dim: size ``D`` of each item's embedding.
        subset_size: ``k``, how many items an action selects.
    """

    def __init__(self, embedding_dim: int, subset_size: int) -> None:
        super().__init__()
        if subset_size < 1:
            raise ValueError(f"subset_size must be >= 1, got {subset_size}")
        self.subset_size = subset_size
        self.scorer = nn.Linear(embedding_dim, 1)

    def scores(self, embeddings: torch.Tensor) -> torch.Tensor:
        """``(B, N)`` item scores for ``(B, N, D)`` embeddings."""
        return self.scorer(embeddings.to(self.scorer.weight.dtype)).squeeze(-1)

    @torch.no_grad()
    def sample(
        self, embeddings: torch.Tensor, generator: torch.Generator, deterministic: bool = False
    ) -> torch.Tensor:
        """``(B, k)`` chosen item indices: the top-k of the scores plus Gumbel noise.

        Raises:
            ValueError: when the pool has fewer than ``k`` items.
        """
        scores = self.scores(embeddings)
        if scores.shape[-1] < self.subset_size:
            raise ValueError(
                f"cannot choose {self.subset_size} items from a pool of {scores.shape[-1]}"
            )
        if not deterministic:
            uniform = torch.rand(scores.shape, generator=generator, device=scores.device)
            tiny = torch.finfo(uniform.dtype).tiny
            scores = scores - torch.log(-torch.log(uniform.clamp(min=tiny)))
        return scores.topk(self.subset_size, dim=-1).indices

    def log_prob(
        self, embeddings: torch.Tensor, indices: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log_prob, entropy)``, each ``(B,)``: summed member log-softmax, pool entropy."""
        log_softmax = torch.log_softmax(self.scores(embeddings).float(), dim=-1)
        entropy = -(log_softmax.exp() * log_softmax).sum(-1)
        return log_softmax.gather(-1, indices).sum(-1), entropy

    @staticmethod
    def to_action(indices: torch.Tensor, num_items: int) -> torch.Tensor:
        """``(B, N)`` int8 indicator (``MultiBinary``) of the chosen indices."""
        action = torch.zeros((indices.shape[0], num_items), dtype=torch.int8, device=indices.device)
        return action.scatter_(1, indices, 1)

    @staticmethod
    def from_action(action: torch.Tensor) -> torch.Tensor:
        """Indices of the ones of each ``(B, N)`` indicator row (rows must have equal counts)."""
        counts = action.sum(-1)
        if not bool((counts == counts[0]).all()):
            raise ValueError("every action row must select the same number of items")
        return action.nonzero()[:, 1].reshape(action.shape[0], int(counts[0]))


def subset_spaces(observation_space: gym.Space, action_space: gym.Space) -> tuple[int, int]:
    """``(num_items, embedding_dim)`` of a subset-selection env.

    Raises:
        TypeError: unless actions are ``MultiBinary(N)`` and observations a ``Dict`` with an
            ``embeddings`` Box of shape ``(N, D)``.
    """
    if not isinstance(action_space, gym.spaces.MultiBinary) or len(action_space.shape) != 1:
        raise TypeError(f"subset selection needs a MultiBinary(N) action space, got {action_space}")
    embeddings = (
        observation_space.spaces.get("embeddings")
        if isinstance(observation_space, gym.spaces.Dict)
        else None
    )
    num_items = int(action_space.shape[0])
    if not isinstance(embeddings, gym.spaces.Box) or embeddings.shape[:1] != (num_items,):
        raise TypeError(
            "subset selection needs a Dict observation with an 'embeddings' Box of shape "
            f"({num_items}, D), got {observation_space}"
        )
    return num_items, int(embeddings.shape[1])


def find_subset_size(env: Any) -> int | None:
    """The env's subset size ``k`` (an attribute ``budget`` or ``subset_size``), if it has one."""
    layers = [env, getattr(env, "unwrapped", env)]
    for layer in layers:
        for name in ("budget", "subset_size"):
            value = getattr(layer, name, None)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
    return None
