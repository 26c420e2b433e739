"""Preference files: the JSONL schema of pairs and Best-Worst-Scaling tuples, read and written.

**JSONL schema** (one JSON object a line, UTF-8; blank lines are skipped; other keys are ignored)::

    {"prompt": str, "chosen": str, "rejected": str, "corruption": str | null}   # a pair
    {"prompt": str, "items": [str, ...], "best": int, "worst": int,
     "corruptions": [str | null, ...]}                                        # a BWS tuple

``corruption`` and ``corruptions`` are optional labels (``corruptions`` has one entry per
item). ``prompt`` may be empty; ``chosen``, ``rejected`` and every item must be non-empty,
valid Unicode text (no lone surrogates, which would crash the tokenizer in training) and
different from each other; ``best`` and ``worst`` are different 0-based indices into ``items``.
A BWS tuple of n items becomes 2n - 3 pairs: the best item over every other item, and every
other item over the worst. :func:`load_preferences` reads a file of either kind of line (or a
mix) as pairs; any malformed line raises :class:`~lm_gym.corpora.loaders.CorpusError` naming
the file, the line and what is wrong, and nothing is returned.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lm_gym.corpora.loaders import CorpusError, jsonl_records, write_jsonl
from lm_gym.rewards.preferences import BWSTuple, PreferencePair
from lm_gym.utils.validation import check_text


def to_record(judgement: PreferencePair | BWSTuple) -> dict[str, Any]:
    """The JSONL object of a pair or BWS tuple (see the module docstring)."""
    if isinstance(judgement, PreferencePair):
        return dataclasses.asdict(judgement)
    if isinstance(judgement, BWSTuple):
        record = dataclasses.asdict(judgement)
        record["items"] = list(judgement.items)
        if judgement.corruptions is None:
            del record["corruptions"]
        else:
            record["corruptions"] = list(judgement.corruptions)
        return record
    raise TypeError(f"expected a PreferencePair or BWSTuple, got {type(judgement).__name__}")


def save_preferences(
    judgements: Iterable[PreferencePair | BWSTuple], path: str | os.PathLike[str]
) -> Path:
    """Write pairs and/or BWS tuples as JSONL (atomically); return the path written."""
    return write_jsonl([to_record(j) for j in judgements], path)


def _text(record: Mapping[str, Any], key: str, *, allow_empty: bool = False) -> str:
    if key not in record:
        raise ValueError(f"missing key {key!r}")
    value = record[key]
    if not isinstance(value, str):
        raise ValueError(f"{key!r} must be a string, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise ValueError(f"{key!r} is empty")
    return check_text(repr(key), value)


def _label(value: Any, what: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{what} must be a string or null, got {type(value).__name__}")
    return value


def _index(record: Mapping[str, Any], key: str, size: int) -> int:
    if key not in record:
        raise ValueError(f"missing key {key!r}")
    value = record[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key!r} must be an integer index, got {type(value).__name__}")
    if not 0 <= value < size:
        raise ValueError(f"{key!r} = {value} is out of range for {size} items")
    return value


def _parse_bws(record: Mapping[str, Any]) -> BWSTuple:
    prompt = _text(record, "prompt", allow_empty=True)
    items = record["items"]
    if not isinstance(items, list) or len(items) < 2:
        raise ValueError("'items' must be a list of at least 2 strings")
    for i, item in enumerate(items):
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"'items'[{i}] must be a non-empty string, got {item!r}")
        check_text(f"'items'[{i}]", item)
    if len(set(items)) != len(items):
        raise ValueError("'items' holds the same text twice")
    best, worst = _index(record, "best", len(items)), _index(record, "worst", len(items))
    if best == worst:
        raise ValueError(f"'best' and 'worst' are the same item ({best})")
    labels = record.get("corruptions")
    if labels is not None:
        if not isinstance(labels, list) or len(labels) != len(items):
            raise ValueError(f"'corruptions' must be a list of {len(items)} labels (one per item)")
        labels = tuple(_label(v, f"'corruptions'[{i}]") for i, v in enumerate(labels))
    return BWSTuple(prompt, tuple(items), best, worst, labels)


def parse_record(record: Mapping[str, Any]) -> PreferencePair | BWSTuple:
    """Validate one JSONL object and return the pair or BWS tuple it holds.

    Raises:
        ValueError: saying what is wrong (missing key, wrong type, empty text, index out of
            range, identical texts).
    """
    is_pair, is_bws = "chosen" in record or "rejected" in record, "items" in record
    if is_pair == is_bws:
        raise ValueError(
            "expected either a pair ('prompt', 'chosen', 'rejected') or a BWS tuple "
            f"('prompt', 'items', 'best', 'worst'); got keys {sorted(record)}"
        )
    if is_bws:
        return _parse_bws(record)
    prompt = _text(record, "prompt", allow_empty=True)
    chosen, rejected = _text(record, "chosen"), _text(record, "rejected")
    if chosen == rejected:
        raise ValueError("'chosen' and 'rejected' are the same text")
    return PreferencePair(prompt, chosen, rejected, _label(record.get("corruption"), "corruption"))


def read_preference_file(path: str | os.PathLike[str]) -> list[PreferencePair | BWSTuple]:
    """Every judgement of a JSONL file, as written (pairs and BWS tuples), validated first.

    Raises:
        CorpusError: the file is missing, not UTF-8, has no record, or a line is malformed;
            the message names the file, the line and what is wrong.
    """
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    judgements = []
    for number, record in jsonl_records(path):
        try:
            judgements.append(parse_record(record))
        except ValueError as error:
            raise CorpusError(f"{path}, line {number}: {error}") from None
    if not judgements:
        raise CorpusError(f"{path}: no preference records (the file is empty)")
    return judgements


def load_preferences(path: str | os.PathLike[str]) -> list[PreferencePair]:
    """Read a JSONL file of pairs and/or BWS tuples as pairs (BWS tuples converted).

    Raises:
        CorpusError: see :func:`read_preference_file`.
    """
    pairs: list[PreferencePair] = []
    for judgement in read_preference_file(path):
        pairs += judgement.to_pairs() if isinstance(judgement, BWSTuple) else [judgement]
    return pairs
