"""The artificial languages of ter Hoeve et al.: constraints, ratios, determinism, errors."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from lm_gym.corpora.artificial import (
    S1,
    S2,
    V1,
    V2,
    SelectionTask,
    domain_of,
    domain_sentences,
    domains_task,
    structure_lengths,
    structure_of,
    structure_sentences,
    structures_task,
)


def _no_identical_neighbours(sentence: str) -> bool:
    tokens = sentence.split()
    return all(a != b for a, b in zip(tokens, tokens[1:]))


def _doubled(sentence: str) -> bool:
    tokens = sentence.split()
    return len(tokens) % 2 == 0 and tokens[0::2] == tokens[1::2]


# --- Task 1 -----------------------------------------------------------------------------------


def test_paper_vocabularies():
    assert tuple("abcdefghij") == V1
    assert tuple("klmnopqrst") == V2


def test_domains_task_defaults_follow_the_paper():
    task = domains_task()
    assert isinstance(task, SelectionTask)
    assert task.name == "domains"
    assert len(task.pool) == len(task.pool_labels) == 100
    assert len(task.exam) == 10
    assert sum(task.pool_labels) == 50
    assert task.vocabulary == tuple(sorted(V1 + V2))
    for sentence, label in zip(task.pool, task.pool_labels):
        assert len(sentence.split(" ")) == 10
        assert domain_of(sentence) == (1 if label == 1 else 2)
    assert all(domain_of(s) == 1 for s in task.exam)


def test_domains_task_is_distinct_and_exam_is_held_out():
    task = domains_task(pool_size=60, exam_size=20, seed=3)
    assert len(set(task.pool)) == 60
    assert not set(task.exam) & set(task.pool)
    assert len(set(task.exam)) == 20


@pytest.mark.parametrize(("pool_size", "fraction", "expected"), [(100, 0.3, 30), (7, 0.5, 4)])
def test_domains_task_ratio_is_exact(pool_size, fraction, expected):
    task = domains_task(pool_size=pool_size, v1_fraction=fraction, seed=1)
    assert sum(task.pool_labels) == expected
    assert task.exam_type_indices == tuple(i for i, s in enumerate(task.pool) if domain_of(s) == 1)


def test_domains_task_pool_is_shuffled():
    labels = domains_task(seed=0).pool_labels
    assert labels != tuple(sorted(labels)) and labels != tuple(sorted(labels, reverse=True))


def test_domains_task_custom_vocabularies_and_length():
    task = domains_task(pool_size=10, exam_size=3, length=3, v1=("x", "y"), v2=("u", "v", "w"))
    assert task.vocabulary == ("u", "v", "w", "x", "y")
    assert all(len(s.split()) == 3 for s in task.pool + task.exam)
    assert all(set(s.split()) <= {"x", "y"} for s in task.exam)


def test_domains_task_is_deterministic_by_seed():
    assert domains_task(seed=5) == domains_task(seed=5)
    assert domains_task(seed=5).pool != domains_task(seed=6).pool


def test_domains_task_rejects_overlapping_vocabularies():
    with pytest.raises(ValueError, match="disjoint"):
        domains_task(v1=("a", "b"), v2=("b", "c"))


def test_domains_task_rejects_impossible_distinct_request():
    # Two tokens, length 2: only 4 distinct V1 sentences exist, 5 + exam are requested.
    with pytest.raises(ValueError, match="distinct"):
        domains_task(pool_size=10, exam_size=2, length=2, v1=("a", "b"), v2=("c", "d"))
    # Without the distinct requirement the same request works, with repeats.
    task = domains_task(
        pool_size=10, exam_size=2, length=2, v1=("a", "b"), v2=("c", "d"), distinct=False
    )
    assert len(task.pool) == 10


def test_domain_sentences_in_bulk():
    sentences = domain_sentences(500, V2, length=4, seed=2)
    assert len(sentences) == 500
    assert all(len(s.split()) == 4 and domain_of(s) == 2 for s in sentences)
    # Uniform draws: every token of the vocabulary shows up.
    assert {t for s in sentences for t in s.split()} == set(V2)
    assert sentences == domain_sentences(500, V2, length=4, seed=2)


def test_domain_of_rejects_mixed_and_foreign():
    assert domain_of("a b c") == 1
    assert domain_of("k t") == 2
    assert domain_of("a k") is None
    assert domain_of("a z") is None
    assert domain_of("") is None


# --- Task 2 -----------------------------------------------------------------------------------


def test_structures_task_defaults_follow_the_paper():
    task = structures_task()
    assert task.name == "structures"
    assert len(task.pool) == 100 and len(task.exam) == 10
    assert sum(task.pool_labels) == 20
    assert task.vocabulary == V1
    for sentence, label in zip(task.pool, task.pool_labels):
        assert len(sentence.split()) in (2, 4, 8)
        assert set(sentence.split()) <= set(V1)
        assert structure_of(sentence) == (S1 if label == 1 else S2)
    assert all(structure_of(s) == S1 for s in task.exam)
    assert len(set(task.pool)) == 100 and not set(task.exam) & set(task.pool)


def test_sentences_have_only_the_papers_forms():
    s1 = structure_sentences(400, S1, seed=4)
    s2 = structure_sentences(400, S2, seed=4)
    assert all(_no_identical_neighbours(s) for s in s1)
    assert all(_doubled(s) for s in s2)
    for sentence in s1:  # (xy)^n
        x, y = sentence.split()[:2]
        assert x != y and sentence.split() == [x, y] * (len(sentence.split()) // 2)
    for sentence in s2:  # xx or (xxyy)^n
        tokens = sentence.split()
        if len(tokens) > 2:
            x, y = tokens[0], tokens[2]
            assert x != y and tokens == [x, x, y, y] * (len(tokens) // 4)
    assert {len(s.split()) for s in s1} == {len(s.split()) for s in s2} == {2, 4, 8}


def test_both_structures_share_their_lengths():
    assert structure_lengths(2, 10) == [2, 4, 8]
    assert structure_lengths(3, 12) == [4, 8, 12]
    # The same seed draws the same lengths for both structures, sentence by sentence.
    s1 = structure_sentences(300, S1, min_len=3, max_len=9, seed=5)
    s2 = structure_sentences(300, S2, min_len=3, max_len=9, seed=5)
    assert [len(s.split()) for s in s1] == [len(s.split()) for s in s2]
    assert {len(s.split()) for s in s1} == {4, 8}


def test_length_carries_no_information_about_the_structure():
    """In every pool the S1 and S2 length histograms have the same shares up to rounding (one
    S1 sentence), and pooled over pools P(S1 | length) is the pool's 0.2 at every length."""
    totals = {1: Counter(), 0: Counter()}
    for seed in range(20):
        task = structures_task(seed=seed)
        counts = {label: Counter() for label in (0, 1)}
        for sentence, label in zip(task.pool, task.pool_labels):
            counts[label][len(sentence.split())] += 1
        assert set(counts[1]) <= set(counts[0]) == {2, 4, 8}
        for length in (2, 4, 8):
            share_s1 = counts[1][length] / 20
            share_s2 = counts[0][length] / 80
            assert abs(share_s1 - share_s2) <= 1 / 20
        for label in (0, 1):
            totals[label].update(counts[label])
    for length in (2, 4, 8):
        s1, s2 = totals[1][length], totals[0][length]
        assert abs(s1 / (s1 + s2) - 0.2) < 0.02


def test_structures_task_ratio_lengths_and_vocabulary_are_parameters():
    task = structures_task(
        pool_size=12, exam_size=2, min_len=4, max_len=8, s1_fraction=0.5, vocabulary=("w", "u", "v")
    )
    assert sum(task.pool_labels) == 6
    assert all(len(s.split()) in (4, 8) for s in task.pool + task.exam)
    assert task.vocabulary == ("u", "v", "w")


def test_structures_task_is_deterministic_by_seed():
    assert structures_task(seed=9) == structures_task(seed=9)
    assert structures_task(seed=9).pool != structures_task(seed=10).pool


def test_structure_of_examples():
    assert structure_of("a b a b") == S1
    assert structure_of("a b") == S1
    assert structure_of("c c") == S2
    assert structure_of("c c d d") == S2
    assert structure_of("c c d d c c d d") == S2
    assert structure_of("a b a b a") is None  # odd: not (xy)^n
    assert structure_of("c c d d c c") is None  # neither xx nor (xxyy)^n
    assert structure_of("a b c d") is None  # no repeated pair
    assert structure_of("a a a a") is None  # the doubled pairs must differ
    assert structure_of("a a b b c c d d") is None  # only two tokens alternate
    assert structure_of("a a b") is None
    assert structure_of("a") is None


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"min_len": 1}, ValueError, "min_len"),
        ({"min_len": 6, "max_len": 4}, ValueError, "max_len"),
        ({"min_len": 5, "max_len": 7}, ValueError, "share only"),
        ({"s1_fraction": 1.5}, ValueError, "s1_fraction"),
        ({"pool_size": -1}, ValueError, "pool_size"),
        ({"exam_size": 0}, ValueError, "exam_size"),
        ({"pool_size": 2.0}, TypeError, "pool_size"),
        ({"vocabulary": "abc"}, TypeError, "vocabulary"),
        ({"vocabulary": ("a",)}, ValueError, "at least 2"),
        ({"vocabulary": ("a", "a b")}, ValueError, "whitespace"),
        ({"vocabulary": ("a", "a")}, ValueError, "repeated"),
        ({"pool_size": 300, "s1_fraction": 0.0, "max_len": 4}, ValueError, "distinct"),
    ],
)
def test_structures_task_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        structures_task(**kwargs)


def test_structure_sentences_rejects_unknown_structure():
    with pytest.raises(ValueError, match="structure"):
        structure_sentences(3, 3)


def test_selection_task_is_immutable():
    task = structures_task(pool_size=5, exam_size=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.pool = ()  # type: ignore[misc]


def test_numpy_integer_seed_matches_int_seed():
    np = pytest.importorskip("numpy")
    assert structures_task(seed=np.int64(4)) == structures_task(seed=4)
    assert domain_sentences(5, seed=np.int32(2)) == domain_sentences(5, seed=2)
    with pytest.raises(TypeError):
        domains_task(seed=1.5)  # type: ignore[arg-type]


def test_distinct_capacity_is_exact():
    # Tokens {x, y, z}, lengths 2..5 share lengths 2 and 4. S2 has "x x" (3 forms) and
    # "x x y y" (6), so a pool of 9 S2 sentences (3 + 6, the weights' shares) is exactly full;
    # 10 would need 7 of length 4.
    vocab = ("x", "y", "z")
    full = structures_task(pool_size=9, exam_size=1, s1_fraction=0.0, vocabulary=vocab, max_len=5)
    assert len(set(full.pool + full.exam)) == 10
    with pytest.raises(ValueError, match="7 distinct S2 length-4"):
        structures_task(pool_size=10, exam_size=1, s1_fraction=0.0, vocabulary=vocab, max_len=5)
    with pytest.raises(ValueError, match="distinct S1 length-4"):
        structures_task(pool_size=12, exam_size=1, s1_fraction=1.0, vocabulary=vocab, max_len=5)
