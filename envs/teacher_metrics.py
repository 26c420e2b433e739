"""What a teacher's selection contains, measured against the exam (ter Hoeve et al., 2022).

The teacher environments report these in ``info`` so a learning curve can show *why* a
teacher's reward moves: does it pick sentences of the exam's type, and how much of the exam's
vocabulary and local word order (its n-grams) do the picked sentences cover?
"""

from __future__ import annotations

from collections.abc import Sequence

from lm_gym.utils.validation import check_positive_int


def ngrams(sentence: str, n: int) -> set[tuple[str, ...]]:
    """The distinct word n-grams of a whitespace-tokenised sentence (no padding symbols)."""
    check_positive_int("n", n)
    words = sentence.split()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def ngram_overlap(selected: Sequence[str], exam: Sequence[str], n: int) -> float:
    """Share of the exam's distinct n-grams that occur somewhere in the selected sentences.

    1.0 means every n-gram of the exam was seen in training; 0.0 that none was. An exam with
    no n-gram of this order (all sentences shorter than ``n``) has overlap 0.0.
    """
    exam_grams = set().union(*(ngrams(s, n) for s in exam)) if exam else set()
    if not exam_grams:
        return 0.0
    seen = set().union(*(ngrams(s, n) for s in selected)) if selected else set()
    return len(exam_grams & seen) / len(exam_grams)


def exam_type_fraction(selected: Sequence[int], pool_labels: Sequence[int]) -> float:
    """Share of the selected pool indices whose label is 1 (the exam's type); 0.0 if none."""
    if not len(selected):
        return 0.0
    return sum(int(pool_labels[i]) == 1 for i in selected) / len(selected)


def selection_metrics(
    selected: Sequence[int], pool: Sequence[str], pool_labels: Sequence[int], exam: Sequence[str]
) -> dict[str, float]:
    """The ``info`` metrics of one selection: exam-type fraction and 1/2/3-gram overlap."""
    texts = [pool[i] for i in selected]
    metrics = {"exam_type_fraction": exam_type_fraction(selected, pool_labels)}
    for n, name in ((1, "unigram"), (2, "bigram"), (3, "trigram")):
        metrics[f"{name}_overlap"] = ngram_overlap(texts, exam, n)
    return metrics
