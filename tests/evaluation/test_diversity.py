"""distinct-n and repetition rate on small hand-checked texts."""

from __future__ import annotations

import pytest

from lm_gym.evaluation.diversity import (
    distinct_n,
    repetition_rate,
    text_metrics,
    word_ngrams,
    words,
)


def test_words_are_lower_cased_with_punctuation_split_off():
    assert words('Tom said, "Hi!" Tom') == ["tom", "said", ",", '"', "hi", "!", '"', "tom"]
    assert word_ngrams("A b. A b.", 2) == [
        ("a", "b"),
        ("b", "."),
        (".", "a"),
        ("a", "b"),
        ("b", "."),
    ]
    assert word_ngrams("one", 2) == []


def test_distinct_n_pools_the_texts():
    # unigrams: the(2) cat sat ran -> 4 distinct of 5; across texts "the cat" occurs twice
    texts = ["the cat sat", "the cat ran"]
    assert distinct_n(texts, 1) == pytest.approx(4 / 6)
    assert distinct_n(texts, 2) == pytest.approx(3 / 4)
    assert distinct_n(["same words"] * 4, 2) == pytest.approx(1 / 4)
    assert distinct_n(["a b c d"], 1) == 1.0
    assert distinct_n(["a", ""], 2) == 0.0  # no bigram at all
    assert distinct_n([], 1) == 0.0


def test_repetition_rate_counts_repeats_within_each_text():
    loop = "the dog ran . the dog ran . the dog ran ."  # 12 words, 9 4-grams, 4 distinct
    assert repetition_rate([loop], 4) == pytest.approx(1 - 4 / 9)
    assert repetition_rate(["a b c d e f"], 4) == 0.0
    # the same text twice is not repetition *within* a text
    assert repetition_rate(["a b c d e", "a b c d e"], 4) == 0.0
    # texts shorter than n are left out of the mean
    assert repetition_rate([loop, "too short"], 4) == pytest.approx(1 - 4 / 9)
    assert repetition_rate(["x x x"], 1) == pytest.approx(2 / 3)
    assert repetition_rate(["short"], 4) == 0.0


def test_text_metrics_bundles_the_three_numbers():
    texts = ["Tom found his red ball in the park.", "Mia went home. Mia went home."]
    metrics = text_metrics(texts)
    assert set(metrics) == {"distinct_1", "distinct_2", "repetition_rate"}
    assert metrics["distinct_2"] == distinct_n(texts, 2)
    assert metrics["repetition_rate"] == repetition_rate(texts, 4) > 0


def test_bad_input_is_a_clear_error():
    with pytest.raises(TypeError, match="list of strings"):
        distinct_n("one string", 1)
    with pytest.raises(TypeError, match="must be strings"):
        repetition_rate(["ok", 3])
    with pytest.raises(ValueError, match="positive int"):
        distinct_n([], 0)
    with pytest.raises(ValueError, match="positive int"):
        repetition_rate(["a b"], True)
