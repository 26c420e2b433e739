"""The artificial languages of ter Hoeve et al.: constraints, ratios, determinism, errors."""

from __future__ import annotations

import dataclasses

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
        assert 2 <= len(sentence.split()) <= 10
        assert set(sentence.split()) <= set(V1)
        assert structure_of(sentence) == (S1 if label == 1 else S2)
    assert all(structure_of(s) == S1 for s in task.exam)
    assert len(set(task.pool)) == 100 and not set(task.exam) & set(task.pool)


def test_s1_never_has_identical_neighbours_and_s2_is_doubled():
    s1 = structure_sentences(400, S1, seed=4)
    s2 = structure_sentences(400, S2, seed=4)
    assert all(_no_identical_neighbours(s) for s in s1)
    assert all(_doubled(s) for s in s2)
    # S1 is one pair of different tokens repeated.
    assert all(len(set(s.split())) == 2 for s in s1)
    # S2 longer than "x x" alternates two different doubled tokens.
    assert all(len(set(s.split())) == 2 for s in s2 if len(s.split()) > 2)


def test_structure_lengths_cover_the_range():
    s1_lengths = {len(s.split()) for s in structure_sentences(400, S1, min_len=3, max_len=7)}
    s2_lengths = {len(s.split()) for s in structure_sentences(400, S2, min_len=3, max_len=7)}
    assert s1_lengths == {3, 4, 5, 6, 7}
    assert s2_lengths == {4, 6}


def test_structures_task_ratio_lengths_and_vocabulary_are_parameters():
    task = structures_task(
        pool_size=20, exam_size=5, min_len=4, max_len=6, s1_fraction=0.5, vocabulary=("w", "u", "v")
    )
    assert sum(task.pool_labels) == 10
    assert all(4 <= len(s.split()) <= 6 for s in task.pool + task.exam)
    assert task.vocabulary == ("u", "v", "w")


def test_structures_task_all_s1_needs_no_even_length():
    task = structures_task(pool_size=10, exam_size=3, min_len=3, max_len=3, s1_fraction=1.0)
    assert task.pool_labels == (1,) * 10


def test_structures_task_is_deterministic_by_seed():
    assert structures_task(seed=9) == structures_task(seed=9)
    assert structures_task(seed=9).pool != structures_task(seed=10).pool


def test_structure_of_examples():
    assert structure_of("a b a b a") == S1
    assert structure_of("a b") == S1
    assert structure_of("c c") == S2
    assert structure_of("c c d d c c") == S2
    assert structure_of("a b c") is None  # no repeated pair
    assert structure_of("a a a a") is None  # the doubled pairs must differ
    assert structure_of("a a b b c c") is None  # only two tokens alternate
    assert structure_of("a a b") is None
    assert structure_of("a") is None


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"min_len": 1}, ValueError, "min_len"),
        ({"min_len": 6, "max_len": 4}, ValueError, "max_len"),
        ({"min_len": 3, "max_len": 3}, ValueError, "even"),
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
    # Tokens {x, y, z}, lengths 2..5: S1 has 4 lengths x 6 ordered pairs = 24 sentences;
    # S2 has "x x" (3) and length 4 (6) = 9. Exactly that many can be drawn, one more cannot.
    vocab = ("x", "y", "z")
    full = structures_task(
        pool_size=32, exam_size=1, s1_fraction=23 / 32, vocabulary=vocab, min_len=2, max_len=5
    )
    assert sum(full.pool_labels) == 23
    assert len(set(full.pool + full.exam)) == 33
    with pytest.raises(ValueError, match="25 distinct S1"):
        structures_task(pool_size=24, exam_size=1, s1_fraction=1.0, vocabulary=vocab, max_len=5)
    with pytest.raises(ValueError, match="10 distinct S2"):
        structures_task(pool_size=10, exam_size=1, s1_fraction=0.0, vocabulary=vocab, max_len=5)
