"""Deterministic, disjoint, covering corpus splits."""

from __future__ import annotations

from collections import Counter

import pytest

from lm_gym.corpora.artificial import domain_sentences
from lm_gym.corpora.splits import split_corpus, train_eval_split


@pytest.fixture
def corpus() -> list[str]:
    return [f"utterance {i}" for i in range(1000)]


def test_default_split_sizes_and_order(corpus):
    parts = split_corpus(corpus)
    assert list(parts) == ["train", "exam", "eval"]
    assert {name: len(texts) for name, texts in parts.items()} == {
        "train": 800,
        "exam": 100,
        "eval": 100,
    }


def test_parts_are_disjoint_and_cover_everything(corpus):
    parts = split_corpus(corpus, {"a": 0.5, "b": 0.3, "c": 0.2}, seed=4)
    seen = [set(texts) for texts in parts.values()]
    assert all(not x & y for i, x in enumerate(seen) for y in seen[i + 1 :])
    assert Counter(t for texts in parts.values() for t in texts) == Counter(corpus)


def test_same_seed_same_split_other_seed_other_split(corpus):
    assert split_corpus(corpus, seed=7) == split_corpus(corpus, seed=7)
    assert split_corpus(corpus, seed=7)["exam"] != split_corpus(corpus, seed=8)["exam"]


def test_split_is_shuffled_not_a_prefix(corpus):
    parts = split_corpus(corpus)
    assert parts["train"] != corpus[:800]


def test_duplicates_stay_in_one_part():
    # Real repeated data: a tiny vocabulary makes the generator repeat sentences.
    texts = domain_sentences(600, ("a", "b", "c"), length=3, seed=0)
    assert len(set(texts)) < len(texts)
    parts = split_corpus(texts, seed=1)
    owners: dict[str, set[str]] = {}
    for name, part in parts.items():
        for text in part:
            owners.setdefault(text, set()).add(name)
    assert all(len(names) == 1 for names in owners.values())
    assert sum(len(p) for p in parts.values()) == 600


def test_rounding_gives_every_part_a_text():
    parts = split_corpus(["a", "b", "c", "d", "e"])
    assert {name: len(texts) for name, texts in parts.items()} == {
        "train": 3,
        "exam": 1,
        "eval": 1,
    }
    parts = split_corpus([str(i) for i in range(7)], {"x": 1 / 3, "y": 1 / 3, "z": 1 / 3})
    assert sorted(len(p) for p in parts.values()) == [2, 2, 3]


def test_train_eval_split(corpus):
    train, held_out = train_eval_split(corpus, eval_fraction=0.25, seed=2)
    assert len(train) == 750 and len(held_out) == 250
    assert not set(train) & set(held_out)
    assert (train, held_out) == train_eval_split(corpus, eval_fraction=0.25, seed=2)


@pytest.mark.parametrize(
    ("texts", "fractions", "error", "match"),
    [
        ([], None, ValueError, "empty"),
        ("a string", None, TypeError, "sequence"),
        (["ok", 3], None, TypeError, r"texts\[1\]"),
        (["a", "b"], {"train": 0.5, "eval": 0.4}, ValueError, "sum to 1"),
        (["a", "b"], {"train": 1.2, "eval": -0.2}, ValueError, "positive"),
        (["a", "b"], {"train": 1.0, "eval": 0.0}, ValueError, "positive"),
        (["a", "b"], {}, TypeError, "non-empty mapping"),
        (["a", "b"], {"train": "0.5", "eval": 0.5}, TypeError, "number"),
        (["a", "a", "b"], None, ValueError, "2 distinct texts cannot fill 3 parts"),
    ],
)
def test_bad_input_is_rejected(texts, fractions, error, match):
    with pytest.raises(error, match=match):
        split_corpus(texts, fractions)


@pytest.mark.parametrize("fraction", [0.0, 1.0, 1.5])
def test_train_eval_split_rejects_bad_fraction(corpus, fraction):
    with pytest.raises(ValueError, match="eval_fraction"):
        train_eval_split(corpus, eval_fraction=fraction)


def test_seed_must_be_an_integer(corpus):
    np = pytest.importorskip("numpy")
    assert split_corpus(corpus, seed=np.int64(3)) == split_corpus(corpus, seed=3)
    with pytest.raises(TypeError):
        split_corpus(corpus, seed="3")  # type: ignore[arg-type]
