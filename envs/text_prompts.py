"""Prompts of the text-generation envs: where each prompt ends, and its true continuation.

A prompt is the beginning of a corpus text; the rest of that text is its *true continuation*,
the reference the reward audit (:mod:`lm_gym.rewards.audit`) plays against degenerate policies.
Three ways to cut them:

* :func:`cut_by_words`: the first ``k`` whitespace-separated words (Bambino's default), so a
  prompt always ends at a word boundary and means the same whatever the tokenizer;
* :func:`cut_by_tokens`: the first ``k`` tokens of the generating model (the paper's "first k
  tokens"; with a tokenizer that splits words finely, a prompt may end inside a word);
* :func:`from_pairs`: explicit ``(prompt, continuation)`` pairs (BabyStories' story beginnings).

Prompts differ in length, so :class:`PromptSet` keeps them right-aligned in a block of
``width`` columns, padded on the left (mask 0), as batched generation does: every episode's
first generated token then sits in the same column ``width``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lm_gym.corpora.words import split_after_words
from lm_gym.utils.validation import check_positive_int


@dataclass(frozen=True)
class PromptSet:
    """Tokenized prompts, right-aligned and left-padded, with their texts and continuations."""

    ids: np.ndarray
    """``(n, width)`` int64 prompt ids, right-aligned; the pad id on the left."""
    mask: np.ndarray
    """``(n, width)`` int8: 1 on the prompt's own ids."""
    texts: tuple[str, ...]
    """Each prompt as text (what the reward callable receives as ``prompts``)."""
    continuations: tuple[str, ...]
    """Each prompt's true continuation (the rest of its source text)."""

    @property
    def width(self) -> int:
        """Columns of the prompt block: the longest prompt, in tokens."""
        return int(self.ids.shape[1])

    def __len__(self) -> int:
        return len(self.texts)


def cut_by_words(texts: Sequence[str], count: int) -> list[tuple[str, str]]:
    """The first ``count`` words of each text that has more, and the rest."""
    check_positive_int("prompt_words", count)
    return [pair for text in texts if (pair := split_after_words(text, count)) is not None]


def cut_by_tokens(tokenizer: Any, texts: Sequence[str], count: int) -> PromptSet:
    """The first ``count`` tokens of each text that has more, and the rest.

    The prompt ids are the text's own first ids (a prompt cut inside a word would tokenize
    differently on its own), so this returns the tokenized :class:`PromptSet` directly.
    """
    check_positive_int("prompt_tokens", count)
    pairs, rows = [], []
    for text, ids in zip(texts, tokenizer(list(texts), add_special_tokens=False)["input_ids"]):
        if len(ids) <= count:
            continue
        prompt = tokenizer.decode(ids[:count], skip_special_tokens=True)
        rest = text[len(prompt) :] if text.startswith(prompt) else tokenizer.decode(ids[count:])
        pairs.append((prompt, rest))
        rows.append(ids[:count])
    return _aligned(pairs, rows, pad_id=_pad_id(tokenizer))


def from_pairs(pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Explicit ``(prompt, continuation)`` pairs, checked."""
    checked = []
    for index, pair in enumerate(pairs):
        if not (isinstance(pair, tuple | list) and len(pair) == 2):
            raise TypeError(f"prompt pair {index} must be (prompt, continuation), got {pair!r}")
        prompt, rest = pair
        if not isinstance(prompt, str) or not isinstance(rest, str) or not prompt.strip():
            raise ValueError(f"prompt pair {index} needs a non-empty prompt string and a string")
        checked.append((prompt, rest))
    return checked


def build_prompts(
    tokenizer: Any,
    texts: Sequence[str] = (),
    *,
    words: int | None = None,
    tokens: int | None = None,
    pairs: Sequence[tuple[str, str]] | None = None,
) -> PromptSet:
    """The env's prompts: ``texts`` cut after ``words`` words or ``tokens`` tokens, or the
    explicit ``pairs``; exactly one of the three.

    Raises:
        ValueError: for none or several ways at once, no usable prompt, or a prompt with no
            token under ``tokenizer``.
    """
    given = [
        name
        for name, value in (("words", words), ("tokens", tokens), ("pairs", pairs))
        if value is not None
    ]
    if len(given) != 1:
        raise ValueError(f"give exactly one of prompt words, prompt tokens or pairs, got {given}")
    if tokens is not None:
        return cut_by_tokens(tokenizer, texts, tokens)
    chosen = cut_by_words(texts, words) if words is not None else from_pairs(pairs)
    rows = tokenizer([prompt for prompt, _ in chosen], add_special_tokens=False)["input_ids"]
    return _aligned(chosen, rows, _pad_id(tokenizer))


def _pad_id(tokenizer: Any) -> int:
    pad = tokenizer.pad_token_id
    return int(tokenizer.eos_token_id if pad is None else pad)


def _aligned(
    pairs: Sequence[tuple[str, str]], rows: Sequence[Sequence[int]], pad_id: int
) -> PromptSet:
    """The block of ``rows`` (one prompt's ids each), right-aligned, padded with ``pad_id``."""
    if not rows:
        raise ValueError(
            "no prompt: every text is too short to be cut into a prompt and a continuation "
            "(use a longer corpus or shorter prompts)"
        )
    empty = next((prompt for (prompt, _), row in zip(pairs, rows) if not row), None)
    if empty is not None:
        raise ValueError(f"the prompt {empty!r} has no token under the generating model")
    width = max(len(row) for row in rows)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int8)
    for index, row in enumerate(rows):
        ids[index, width - len(row) :] = row
        mask[index, width - len(row) :] = 1
    return PromptSet(ids, mask, tuple(p for p, _ in pairs), tuple(rest for _, rest in pairs))
