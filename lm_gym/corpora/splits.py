"""Deterministic train / exam / eval splits of a corpus.

Experiments train on one part of a corpus, let a teacher or reward look at another, and report
on a third; the parts must never share a sentence, and the same seed must give the same parts on
every machine. Identical texts are kept together in one part: child-directed corpora repeat
short utterances ("look!") a lot, and a copy in train and another in eval would leak.
"""

from __future__ import annotations

import math
import operator
import random
from collections.abc import Mapping, Sequence

DEFAULT_FRACTIONS: dict[str, float] = {"train": 0.8, "exam": 0.1, "eval": 0.1}
"""The split :func:`split_corpus` makes when given no fractions."""


def _check_fractions(fractions: object) -> dict[str, float]:
    if not isinstance(fractions, Mapping) or not fractions:
        raise TypeError("fractions must be a non-empty mapping of split name to fraction")
    checked = {}
    for name, value in fractions.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"split names must be non-empty strings, got {name!r}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"fraction of {name!r} must be a number, got {type(value).__name__}")
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"fraction of {name!r} must be positive, got {value}")
        checked[name] = float(value)
    total = math.fsum(checked.values())
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        raise ValueError(f"fractions must sum to 1, got {total} from {checked}")
    return checked


def _check_texts(texts: object) -> list[str]:
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise TypeError("texts must be a sequence of strings (a list, not a single string)")
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{index}] must be a str, got {type(text).__name__}")
    if not texts:
        raise ValueError("cannot split an empty corpus")
    return list(texts)


def _allocate(total: int, fractions: Mapping[str, float]) -> dict[str, int]:
    """Split ``total`` items into whole counts proportional to ``fractions``.

    Largest-remainder rounding, ties going to the earlier split; then every split left empty
    takes one item from the largest split, so each gets at least one when ``total`` allows.
    """
    exact = {name: total * fraction for name, fraction in fractions.items()}
    counts = {name: math.floor(value) for name, value in exact.items()}
    by_remainder = sorted(exact, key=lambda name: counts[name] - exact[name])
    for name in by_remainder[: total - sum(counts.values())]:
        counts[name] += 1
    for name in fractions:
        if counts[name] == 0:
            donor = max(counts, key=counts.__getitem__)
            counts[donor] -= 1
            counts[name] += 1
    return counts


def split_corpus(
    texts: Sequence[str], fractions: Mapping[str, float] | None = None, seed: int = 0
) -> dict[str, list[str]]:
    """Split ``texts`` into named, disjoint parts that together hold every text.

    The distinct texts are shuffled with ``random.Random(seed)`` and cut by ``fractions``;
    every copy of a repeated text then goes to the part its first copy went to, so no text is
    in two parts. Each part is shuffled too, so repeated copies do not sit side by side.

    Args:
        texts: the corpus, e.g. from :func:`lm_gym.corpora.loaders.load_texts`.
        fractions: split name to share of the distinct texts, all positive, summing to 1.
            Defaults to ``{"train": 0.8, "exam": 0.1, "eval": 0.1}``. Counts are rounded by
            largest remainder, and every part gets at least one distinct text.
        seed: the shuffle seed, any integer (NumPy integers too); the same texts and seed
            give the same parts.

    Returns:
        The parts, keyed and ordered like ``fractions``.

    Raises:
        TypeError: ``texts`` is not a sequence of strings or ``fractions`` is malformed.
        ValueError: ``texts`` is empty, a fraction is not positive, the fractions do not sum
            to 1, or there are fewer distinct texts than parts.
    """
    texts = _check_texts(texts)
    shares = _check_fractions(DEFAULT_FRACTIONS if fractions is None else fractions)
    rng = random.Random(operator.index(seed))
    distinct = list(dict.fromkeys(texts))
    if len(distinct) < len(shares):
        raise ValueError(
            f"{len(distinct)} distinct texts cannot fill {len(shares)} parts {list(shares)}"
        )
    rng.shuffle(distinct)
    part_of: dict[str, str] = {}
    start = 0
    for name, count in _allocate(len(distinct), shares).items():
        part_of.update(dict.fromkeys(distinct[start : start + count], name))
        start += count
    parts: dict[str, list[str]] = {name: [] for name in shares}
    for text in texts:
        parts[part_of[text]].append(text)
    for part in parts.values():
        rng.shuffle(part)
    return parts


def train_eval_split(
    texts: Sequence[str], eval_fraction: float = 0.1, seed: int = 0
) -> tuple[list[str], list[str]]:
    """Split ``texts`` into ``(train, eval)``; a two-part :func:`split_corpus`."""
    if isinstance(eval_fraction, bool) or not isinstance(eval_fraction, int | float):
        raise TypeError(f"eval_fraction must be a number, got {type(eval_fraction).__name__}")
    if not 0.0 < eval_fraction < 1.0:
        raise ValueError(f"eval_fraction must be strictly between 0 and 1, got {eval_fraction}")
    parts = split_corpus(texts, {"train": 1.0 - eval_fraction, "eval": eval_fraction}, seed)
    return parts["train"], parts["eval"]
