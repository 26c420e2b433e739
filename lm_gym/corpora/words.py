"""Words as BabyLM counts them: whitespace-separated pieces of text.

BabyLM budgets count "words" as the whitespace-separated tokens of the text a model is
exposed to (punctuation attached to a word is part of it). Prompts cut "after k words" use the
same notion, so a prompt always ends at a word boundary whatever the model's tokenizer.
"""

from __future__ import annotations

import re

_PIECE = re.compile(r"\S+")


def count_words(text: str) -> int:
    """The number of whitespace-separated words of ``text`` (BabyLM's count)."""
    return len(text.split())


def split_after_words(text: str, count: int) -> tuple[str, str] | None:
    """``(head, rest)``: ``text`` cut right after its ``count``-th word, or ``None`` when
    nothing would be left after it. ``rest`` keeps its leading whitespace, so ``head + rest ==
    text``."""
    ends = [match.end() for match in _PIECE.finditer(text)]
    if len(ends) <= count:
        return None
    return text[: ends[count - 1]], text[ends[count - 1] :]
