"""Diversity and repetition of generated texts: distinct-n and the repetition rate.

A policy trained against a learned reward can "hack" it, for instance by repeating a phrase
the reward model likes. These two numbers, measured on samples before and after training,
make that visible (they are what BabyStories and the leaderboard report):

* :func:`distinct_n` (Li et al., 2016): the share of *distinct* word n-grams among all word
  n-grams of a set of texts, pooled over the set. 1.0 means no n-gram occurs twice anywhere;
  a policy that says the same thing to every prompt drives it towards 0.
* :func:`repetition_rate` (``seq-rep-n`` of Welleck et al., 2019): for each text, the share
  of its n-grams that repeat an earlier n-gram *of the same text*, averaged over the texts.
  0.0 means no text repeats itself; a text stuck in a loop approaches 1.0.

Words are lower-cased runs of letters and digits, and every punctuation mark is a word of its
own (so "ball." and "ball" share the n-gram "ball"); texts shorter than ``n`` words have no
n-gram and add nothing to the counts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from lm_gym.utils.validation import check_positive_int

_WORD = re.compile(r"\w+|[^\w\s]")


def words(text: str) -> list[str]:
    """The lower-cased words and punctuation marks of ``text``, in order."""
    return _WORD.findall(text.lower())


def word_ngrams(text: str, n: int) -> list[tuple[str, ...]]:
    """Every word n-gram of ``text`` in order, repeats included (see :func:`words`)."""
    _check_n(n)
    tokens = words(text)
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct word n-grams divided by all word n-grams, pooled over ``texts``.

    Returns:
        A value in [0, 1]; 0.0 when no text has ``n`` words.

    Raises:
        TypeError: ``texts`` is not a list of strings.
        ValueError: ``n`` is not a positive integer.
    """
    _check_texts(texts)
    _check_n(n)
    grams = [gram for text in texts for gram in word_ngrams(text, n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def repetition_rate(texts: Sequence[str], n: int = 4) -> float:
    """Mean over texts of the share of a text's n-grams that already occurred in it.

    Texts with fewer than ``n`` words cannot repeat an n-gram and are left out of the mean.

    Returns:
        A value in [0, 1); 0.0 when no text has ``n`` words.

    Raises:
        TypeError: ``texts`` is not a list of strings.
        ValueError: ``n`` is not a positive integer.
    """
    _check_texts(texts)
    _check_n(n)
    rates = []
    for text in texts:
        grams = word_ngrams(text, n)
        if grams:
            rates.append(1.0 - len(set(grams)) / len(grams))
    return sum(rates) / len(rates) if rates else 0.0


def text_metrics(texts: Sequence[str]) -> dict[str, float]:
    """``distinct_1``, ``distinct_2`` and ``repetition_rate`` (4-grams) of ``texts``."""
    return {
        "distinct_1": distinct_n(texts, 1),
        "distinct_2": distinct_n(texts, 2),
        "repetition_rate": repetition_rate(texts, 4),
    }


def _check_n(n: object) -> None:
    check_positive_int("n", n)


def _check_texts(texts: object) -> None:
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise TypeError(f"texts must be a list of strings, got {type(texts).__name__}")
    bad = next((t for t in texts if not isinstance(t, str)), None)
    if bad is not None:
        raise TypeError(f"texts must be strings, got {type(bad).__name__}")
