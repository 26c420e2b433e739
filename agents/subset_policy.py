"""The teacher's subset policy of ter Hoeve et al. (2022): pick k of N pool items.

Each pool item (a sentence) gets a feature vector and one linear layer turns it into a score;
the scores define a softmax over the pool. ``k`` items are drawn without replacement with the
Gumbel-top-k trick: add independent Gumbel noise to the scores and keep the ``k`` largest,
which samples exactly like drawing ``k`` items one after another from the softmax over the
items not drawn yet (a Plackett-Luce draw), and returns them in that order.

The probability of that ordered draw is the Plackett-Luce probability
``prod_j exp(s[i_j]) / sum_{n not in i_1..i_{j-1}} exp(s[n])``
(:func:`plackett_luce_log_prob`), and its score-function gradient is the unbiased REINFORCE
gradient. The paper scores a subset by the sum of its members' log-softmax scores
(:func:`summed_log_prob`), which is the probability of drawing them *with* replacement, so its
gradient is biased for draws without replacement; it stays available as ``log_prob="sum"``.

Features come from the observation: either the env's ``embeddings`` (the paper's view: mean
word embedding or mean hidden state of the teacher's LM, a bag of words) or the teacher's own
trainable :class:`PoolEncoder` over the pool's ``input_ids``, which sees word order.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
import torch.nn.functional as F
from torch import nn

SUBSET_LOG_PROBS = ("plackett_luce", "sum")
"""How a drawn subset is scored: the exact ordered-draw probability, or the paper's sum."""
SUBSET_FEATURES = ("auto", "encoder", "embeddings")
"""What the scorer reads: ``"encoder"`` (:class:`PoolEncoder` over ``input_ids``),
``"embeddings"`` (the observation's ``embeddings``), or ``"auto"`` (the encoder when the
observation has token ids, else the embeddings)."""


def plackett_luce_log_prob(scores: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """Log-probability of drawing ``indices`` in order, without replacement, from
    ``softmax(scores)``.

    Args:
        scores: ``(B, N)`` item scores.
        indices: ``(B, k)`` distinct item indices in draw order.

    Returns:
        ``(B,)``: ``sum_j scores[i_j] - logsumexp(scores of the items not among i_1..i_{j-1})``.
    """
    drawn = F.one_hot(indices, scores.shape[-1])  # (B, k, N)
    before = (drawn.cumsum(1) - drawn).bool()  # item n was drawn before draw j
    remaining = scores.unsqueeze(1).masked_fill(before, float("-inf"))
    return (scores.gather(-1, indices) - torch.logsumexp(remaining, dim=-1)).sum(-1)


def summed_log_prob(scores: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """The paper's subset score: the sum of the members' log-softmax scores, ``(B,)``."""
    return torch.log_softmax(scores, dim=-1).gather(-1, indices).sum(-1)


_LOG_PROBS = {"plackett_luce": plackett_luce_log_prob, "sum": summed_log_prob}


class PoolEncoder(nn.Module):
    """The teacher's own sentence encoder over token ids: a bag of embeddings and of bigrams.

    Each token ``t`` gets a trainable embedding ``e_t``. A sentence's feature vector is its mean
    token embedding next to the mean over neighbouring pairs of ``e_t * (W e_{t+1})``
    (elementwise), a bilinear bigram feature: ``W`` starts as the identity, where the feature
    measures how alike neighbours are (a repeated token gives ``e_t ** 2``, positive in every
    dimension, so "x x y y" and "x y x y" differ at once although they hold the same tokens);
    training can make ``W`` asymmetric, so the feature can also tell "x y" from "y x". Means run
    over real tokens only (``<s>`` and ``</s>`` included, padding left out). The encoder is
    trained with the scorer.

    Args:
        vocab_size: number of token ids.
        dim: embedding size; the features have ``2 * dim`` entries.
    """

    def __init__(self, vocab_size: int, dim: int = 16) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dim)
        self.next = nn.Linear(dim, dim, bias=False)
        with torch.no_grad():
            self.next.weight.copy_(torch.eye(dim))
        self.out_dim = 2 * dim

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """``(..., N, 2 * dim)`` features of ``(..., N, L)`` right-padded rows."""
        shape = input_ids.shape
        ids = input_ids.reshape(-1, shape[-1]).long()
        mask = attention_mask.reshape(-1, shape[-1]).to(self.embedding.weight.dtype)
        tokens = self.embedding(ids)  # (R, L, dim)
        mean_token = (tokens * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        bigrams = tokens[:, :-1] * self.next(tokens[:, 1:])  # (R, L - 1, dim)
        both = (mask[:, 1:] * mask[:, :-1]).unsqueeze(-1)
        mean_bigram = (bigrams * both).sum(1) / both.sum(1).clamp(min=1)
        return torch.cat([mean_token, mean_bigram], dim=-1).reshape(*shape[:-1], self.out_dim)


class SubsetPolicy(nn.Module):
    """Linear scores over item features; Gumbel-top-k subsets of size ``subset_size``.

    Args:
        embedding_dim: size ``D`` of each item's feature vector.
        subset_size: ``k``, how many items an action selects.
        log_prob: ``"plackett_luce"`` (exact, default) or ``"sum"`` (the paper's).

    The entropy regulariser is the entropy of the softmax over the pool.
    """

    def __init__(
        self, embedding_dim: int, subset_size: int, log_prob: str = "plackett_luce"
    ) -> None:
        super().__init__()
        if subset_size < 1:
            raise ValueError(f"subset_size must be >= 1, got {subset_size}")
        if log_prob not in SUBSET_LOG_PROBS:
            raise ValueError(f"log_prob must be one of {SUBSET_LOG_PROBS}, got {log_prob!r}")
        self.subset_size = subset_size
        self.log_prob_kind = log_prob
        self.scorer = nn.Linear(embedding_dim, 1)

    def scores(self, embeddings: torch.Tensor) -> torch.Tensor:
        """``(B, N)`` item scores for ``(B, N, D)`` features."""
        return self.scorer(embeddings.to(self.scorer.weight.dtype)).squeeze(-1)

    @torch.no_grad()
    def sample(
        self, embeddings: torch.Tensor, generator: torch.Generator, deterministic: bool = False
    ) -> torch.Tensor:
        """``(B, k)`` chosen item indices in draw order: the top-k of the scores plus Gumbel
        noise (of the scores alone when ``deterministic``), largest first.

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
        """``(log_prob, entropy)``, each ``(B,)``: the draw's log-probability (``indices`` in
        draw order, as :meth:`sample` returns them) and the pool softmax's entropy."""
        scores = self.scores(embeddings).float()
        log_softmax = torch.log_softmax(scores, dim=-1)
        entropy = -(log_softmax.exp() * log_softmax).sum(-1)
        return _LOG_PROBS[self.log_prob_kind](scores, indices), entropy

    @staticmethod
    def to_action(indices: torch.Tensor, num_items: int) -> torch.Tensor:
        """``(B, N)`` int8 indicator (``MultiBinary``) of the chosen indices."""
        action = torch.zeros((indices.shape[0], num_items), dtype=torch.int8, device=indices.device)
        return action.scatter_(1, indices, 1)

    @staticmethod
    def from_action(action: torch.Tensor) -> torch.Tensor:
        """Indices of the ones of each ``(B, N)`` indicator row, ascending (the draw order is
        not in an indicator; rows must have equal counts)."""
        counts = action.sum(-1)
        if not bool((counts == counts[0]).all()):
            raise ValueError("every action row must select the same number of items")
        return action.nonzero()[:, 1].reshape(action.shape[0], int(counts[0]))


class SubsetSelectionPolicy(nn.Module):
    """:class:`SubsetPolicy` over the observation's features, behind the one-step ``act`` /
    ``log_prob`` interface REINFORCE trains.

    Args:
        num_items: pool size ``N``.
        embedding_dim: feature size (``encoder.out_dim`` with an encoder).
        subset_size: ``k``.
        encoder: a :class:`PoolEncoder` over ``input_ids``; ``None`` reads ``embeddings``.
        log_prob: see :class:`SubsetPolicy`.
    """

    def __init__(
        self,
        num_items: int,
        embedding_dim: int,
        subset_size: int,
        *,
        encoder: PoolEncoder | None = None,
        log_prob: str = "plackett_luce",
    ) -> None:
        super().__init__()
        if subset_size > num_items:
            raise ValueError(f"subset_size {subset_size} exceeds the pool size {num_items}")
        self.num_items = num_items
        self.encoder = encoder
        self.subset = SubsetPolicy(embedding_dim, subset_size, log_prob)

    def features(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """``(B, N, D)`` item features: the encoder's, or the observation's embeddings."""
        if self.encoder is None:
            return obs["embeddings"]
        return self.encoder(obs["input_ids"], obs["attention_mask"])

    def act(
        self, obs: dict[str, torch.Tensor], generator: torch.Generator, deterministic: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(MultiBinary actions (B, N), chosen indices in draw order (B, k))``."""
        with torch.no_grad():
            features = self.features(obs)
        indices = self.subset.sample(features, generator, deterministic)
        return SubsetPolicy.to_action(indices, self.num_items), indices

    def log_prob(self, obs: dict, memo: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probability of the draw ``memo`` and the pool entropy, each ``(B,)``."""
        return self.subset.log_prob(self.features(obs), memo)


def build_subset_policy(
    observation_space: gym.Space,
    action_space: gym.Space,
    subset_size: int,
    *,
    features: str = "auto",
    log_prob: str = "plackett_luce",
) -> SubsetSelectionPolicy:
    """The subset policy for a subset-selection env's spaces.

    Args:
        observation_space: a ``Dict`` with ``input_ids`` / ``attention_mask`` Boxes of shape
            ``(N, L)`` (for the encoder) and/or an ``embeddings`` Box of shape ``(N, D)``.
        action_space: ``MultiBinary(N)``.
        subset_size: ``k``.
        features: one of :data:`SUBSET_FEATURES`.
        log_prob: one of :data:`SUBSET_LOG_PROBS`.

    Raises:
        TypeError: when the spaces do not provide what ``features`` needs.
        ValueError: for an unknown ``features`` or ``log_prob``.
    """
    if not isinstance(action_space, gym.spaces.MultiBinary) or len(action_space.shape) != 1:
        raise TypeError(f"subset selection needs a MultiBinary(N) action space, got {action_space}")
    if features not in SUBSET_FEATURES:
        raise ValueError(f"features must be one of {SUBSET_FEATURES}, got {features!r}")
    num_items = int(action_space.shape[0])
    spaces: dict[str, Any] = (
        dict(observation_space.spaces) if isinstance(observation_space, gym.spaces.Dict) else {}
    )

    def item_space(name: str) -> gym.Space | None:
        """The ``(N, X)`` Box (or ``MultiBinary``) ``name`` of the observation, if any."""
        space = spaces.get(name)
        if isinstance(space, gym.spaces.Box | gym.spaces.MultiBinary) and len(space.shape) == 2:
            return space if space.shape[0] == num_items else None
        return None

    ids = item_space("input_ids")
    has_tokens = isinstance(ids, gym.spaces.Box) and item_space("attention_mask") is not None
    if features == "auto":
        features = "encoder" if has_tokens else "embeddings"
    if features == "encoder":
        if not has_tokens:
            raise TypeError(
                "features='encoder' needs a Dict observation with 'input_ids' and "
                f"'attention_mask' Boxes of shape ({num_items}, L), got {observation_space}"
            )
        encoder = PoolEncoder(int(ids.high.max()) + 1)
        return SubsetSelectionPolicy(
            num_items, encoder.out_dim, subset_size, encoder=encoder, log_prob=log_prob
        )
    embeddings = item_space("embeddings")
    if not isinstance(embeddings, gym.spaces.Box):
        raise TypeError(
            "subset selection needs a Dict observation with an 'embeddings' Box of shape "
            f"({num_items}, D), got {observation_space}"
        )
    return SubsetSelectionPolicy(
        num_items, int(embeddings.shape[1]), subset_size, log_prob=log_prob
    )
