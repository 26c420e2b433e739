"""Scoring texts with a reward model: a small LM with a scalar head.

The functions every part of :mod:`lm_gym.rewards` shares: how a reward model reads ``prompt +
" " + continuation`` (:func:`join_text`), how token scores become a text's score
(:func:`pooling_of`), batched scoring (:func:`score_texts`, :func:`score_continuations`), the
pairwise accuracy of any reward callable on preference pairs, and loading a sequence-classification
model from a folder (:func:`from_pretrained`). Loading by recipe name and the reward callable the
envs use are in :mod:`lm_gym.rewards.reward_model`; training in :mod:`lm_gym.rewards.training`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
)
from transformers.utils import logging as transformers_logging

from lm_gym.models.clm import encode_sentences
from lm_gym.models.loading import LM, ModelLoadError, hub_offline
from lm_gym.rewards.preferences import PreferencePair
from lm_gym.utils.device import autocast
from lm_gym.utils.validation import check_text

POOLINGS = ("mean", "last")
"""How token scores become a text's score: ``"mean"`` over its tokens or the ``"last"`` token's
(see :attr:`lm_gym.rewards.training.RewardModelConfig.pooling`)."""

POOLING_KEY = "lm_gym_score_pooling"
"""The model-config attribute that records the pooling (saved with ``save_pretrained``)."""


def join_text(prompt: str, continuation: str) -> str:
    """The text a reward model scores: the prompt and its continuation, one space between."""
    return f"{prompt.strip()} {continuation.strip()}".strip()


def max_length_of(model: PreTrainedModel) -> int:
    config = model.config
    return int(getattr(config, "n_positions", None) or config.max_position_embeddings)


def pooling_of(model: PreTrainedModel) -> str:
    """How ``model`` turns token scores into a text's score (saved in its config).

    ``"last"`` (Hugging Face's own, for any model that does not say) or ``"mean"``.
    """
    pooling = getattr(model.config, POOLING_KEY, "last")
    if pooling not in POOLINGS:
        raise ModelLoadError(f"{POOLING_KEY} must be one of {POOLINGS}, got {pooling!r}")
    if pooling == "mean" and not isinstance(getattr(model, "score", None), nn.Module):
        raise ModelLoadError(
            f"{POOLING_KEY}='mean' needs a per-token 'score' head, which "
            f"{type(model).__name__} does not have"
        )
    return pooling


def forward_scores(
    model: PreTrainedModel,
    tokenizer,
    texts: Sequence[str],
    max_length: int,
    *,
    group_size: int | None = None,
) -> torch.Tensor:
    """Scores of ``texts`` (differentiable), in the order given.

    Args:
        group_size: ``None`` runs one forward pass over every text, padded to the longest;
            ``k`` sorts the texts by length and runs one pass per group of ``k``, each padded
            only to its own longest. The scores are the same up to float rounding, but far
            less padding is computed when lengths vary (what reward-model training uses:
            :attr:`~lm_gym.rewards.training.RewardModelConfig.group_size`).
    """
    device = next(model.parameters()).device
    input_ids, attention_mask = encode_sentences(tokenizer, texts, max_length)
    if group_size is None or group_size >= len(texts):
        return _pooled_scores(model, input_ids.to(device), attention_mask.to(device))
    lengths = attention_mask.sum(1)
    order = torch.argsort(lengths, stable=True)
    scores = []
    for group in order.split(group_size):
        width = int(lengths[group].max())
        ids, mask = input_ids[group, :width], attention_mask[group, :width]
        scores.append(_pooled_scores(model, ids.to(device), mask.to(device)))
    return torch.cat(scores)[torch.argsort(order)]


def _pooled_scores(
    model: PreTrainedModel, input_ids: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    """One forward pass: each row's score, pooled as the model's config says."""
    with autocast(input_ids.device):
        if pooling_of(model) == "last":
            return model(input_ids=input_ids, attention_mask=attention_mask).logits[:, 0].float()
        hidden = model.base_model(input_ids=input_ids, attention_mask=attention_mask)[0]
        token_scores = model.score(hidden)[..., 0].float()
    mask = attention_mask.float()
    return (token_scores * mask).sum(1) / mask.sum(1).clamp(min=1.0)


@torch.no_grad()
def score_texts(
    model: PreTrainedModel,
    tokenizer,
    texts: Sequence[str],
    *,
    batch_size: int = 64,
    max_length: int | None = None,
) -> list[float]:
    """Reward-model scores of ``texts`` (batched by length; finite: NaN becomes 0).

    Args:
        max_length: longest input in tokens; defaults to the model's position limit.
    """
    limit = max_length or max_length_of(model)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    scores = [0.0] * len(texts)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        values = forward_scores(model, tokenizer, [texts[i] for i in chunk], limit)
        values = torch.nan_to_num(values, nan=0.0, posinf=1e4, neginf=-1e4)
        for i, value in zip(chunk, values.tolist()):
            scores[i] = value
    return scores


def score_continuations(
    model: PreTrainedModel,
    tokenizer: Any,
    prompts: Sequence[str],
    completions: Sequence[str],
    *,
    batch_size: int = 64,
) -> list[float]:
    """Scores of ``prompt + " " + completion`` for each pair of the two lists (finite).

    Raises:
        ValueError / TypeError: for lists of different lengths or items that are not strings.
    """
    if len(prompts) != len(completions):
        raise ValueError(f"got {len(prompts)} prompts but {len(completions)} completions")
    for name, texts in (("prompts", prompts), ("completions", completions)):
        bad = next((t for t in texts if not isinstance(t, str)), None)
        if bad is not None:
            raise TypeError(f"{name} must be strings, got {type(bad).__name__}")
    if not prompts:
        return []
    texts = [join_text(p, c) for p, c in zip(prompts, completions)]
    return score_texts(model, tokenizer, texts, batch_size=batch_size)


def check_pairs(pairs: Sequence[PreferencePair]) -> None:
    """Refuse an empty list, anything that is not a :class:`PreferencePair`, and texts that are
    not valid Unicode (a lone surrogate would crash the tokenizer in the middle of training)."""
    if not pairs:
        raise ValueError("cannot train a reward model on an empty list of pairs")
    wrong = next((p for p in pairs if not isinstance(p, PreferencePair)), None)
    if wrong is not None:
        raise TypeError(f"pairs must be PreferencePair objects, got {type(wrong).__name__}")
    for index, pair in enumerate(pairs):
        for field in ("prompt", "chosen", "rejected"):
            check_text(f"pair {index} {field}", getattr(pair, field))


def pairwise_accuracy(
    reward: Callable[..., list[float]], pairs: Sequence[PreferencePair]
) -> dict[str, Any]:
    """Share of pairs whose chosen continuation gets the higher reward (ties count as wrong).

    Args:
        reward: any reward callable ``f(prompts, completions) -> list[float]``.

    Returns:
        ``{"accuracy", "n", "by_corruption": {label: {"accuracy", "n"}}}``.
    """
    check_pairs(pairs)
    prompts = [p.prompt for p in pairs]
    chosen = np.asarray(reward(prompts, [p.chosen for p in pairs]))
    rejected = np.asarray(reward(prompts, [p.rejected for p in pairs]))
    correct = chosen > rejected
    labels = np.asarray([p.corruption or "unlabelled" for p in pairs])
    return {
        "accuracy": float(correct.mean()),
        "n": len(pairs),
        "by_corruption": {
            label: {
                "accuracy": float(correct[labels == label].mean()),
                "n": int(sum(labels == label)),
            }
            for label in sorted(set(labels.tolist()))
        },
    }


@contextlib.contextmanager
def _quiet_transformers(quiet: bool) -> Iterator[None]:
    """Silence transformers' warnings (e.g. its load report) inside the block when ``quiet``."""
    if not quiet:
        yield
        return
    verbosity = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()
    try:
        yield
    finally:
        transformers_logging.set_verbosity(verbosity)


def from_pretrained(source: str | os.PathLike[str], *, new_head: bool = False) -> LM:
    """Load a sequence-classification model with one label and its tokenizer.

    Args:
        new_head: accept any pretrained model and give it a fresh scalar head (to train a
            reward model from it); otherwise the model must already be a reward model.
    """
    try:
        if not new_head:
            architectures = AutoConfig.from_pretrained(source).architectures or []
            if not any(a.endswith("ForSequenceClassification") for a in architectures):
                raise ModelLoadError(
                    f"{source} is not a reward model (architectures: {architectures}); "
                    "train one from it with "
                    "lm_gym.rewards.train_reward_model(pairs, out_dir, base=...)"
                )
        with _quiet_transformers(new_head):  # a fresh head is expected: no "MISSING" report
            model = AutoModelForSequenceClassification.from_pretrained(
                source, num_labels=1, **({"ignore_mismatched_sizes": True} if new_head else {})
            )
        tokenizer = AutoTokenizer.from_pretrained(source)
    except ModelLoadError:
        raise
    except (OSError, ValueError, KeyError) as error:
        if hub_offline() and not os.path.exists(os.path.expanduser(source)):
            raise ModelLoadError(
                f"cannot load {str(source)!r}: it is not a local folder nor in the local "
                "Hugging Face cache, and HF_HUB_OFFLINE is set, so the hub was not asked"
            ) from error
        raise ModelLoadError(f"could not load a reward model from {source}: {error}") from error
    if model.config.num_labels != 1:
        raise ModelLoadError(
            f"{source} has {model.config.num_labels} output labels; a reward model has 1"
        )
    if not new_head:
        pooling_of(model)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return LM(model, tokenizer)
