"""Tests of the BLiMP-style minimal pairs generated from the parentese grammar."""

from __future__ import annotations

import collections

import pytest

from lm_gym.corpora.minimal_pairs import PHENOMENA, generate_minimal_pairs, write_jsonl
from lm_gym.corpora.parentese import LANGUAGES, generate_parentese, lemma_forms, words
from lm_gym.evaluation.scoring import read_minimal_pairs

KEYS = {"sentence_good", "sentence_bad", "field", "linguistics_term", "UID", "pair_id", "lang"}


@pytest.fixture(scope="module", params=LANGUAGES)
def pairs(request) -> tuple[str, list[dict]]:
    return request.param, generate_minimal_pairs(request.param, seed=1)


def test_phenomena_catalogue():
    assert set(PHENOMENA) == set(LANGUAGES)
    for lang, uids in PHENOMENA.items():
        assert len(uids) >= 6 and len(set(uids)) == len(uids)
        assert all(uid.startswith(f"{lang}_") for uid in uids)


def test_records_are_blimp_shaped_and_complete(pairs):
    lang, records = pairs
    by_uid = collections.defaultdict(list)
    for record in records:
        assert set(record) == KEYS
        assert record["lang"] == lang and record["field"] in ("morphology", "syntax")
        assert record["linguistics_term"]
        by_uid[record["UID"]].append(record)
    assert tuple(by_uid) == PHENOMENA[lang]
    for uid, group in by_uid.items():
        assert [r["pair_id"] for r in group] == list(range(200)), uid
        goods = [r["sentence_good"] for r in group]
        assert len(set(goods)) == len(goods), f"{uid} repeats a good sentence"


def test_each_pair_differs_in_one_word_of_one_lemma(pairs):
    lang, records = pairs
    forms = lemma_forms(lang)
    for record in records:
        good, bad = words(record["sentence_good"]), words(record["sentence_bad"])
        assert len(good) == len(bad), record
        assert sum(g != b for g, b in zip(good, bad)) == 1, record
        g, b = _changed_words(record)
        assert any(g in f and b in f for f in forms.values()), f"{g}/{b} share no lemma"


def test_formatting_matches_the_corpus(pairs):
    _, records = pairs
    for record in records:
        for text in (record["sentence_good"], record["sentence_bad"]):
            assert text[0].isupper() and text[-1] in ".!?" and "  " not in text, text


def test_good_sentences_are_corpus_sentences_and_bad_ones_never_are(pairs):
    """The grammar that writes the corpus writes the good sentences, never the bad ones."""
    lang, records = pairs
    corpus = set(generate_parentese(lang, 20_000, seed=0))
    assert not any(r["sentence_bad"] in corpus for r in records)
    held_out = sum(r["sentence_good"] not in corpus for r in records) / len(records)
    assert held_out > 0.8


def _changed_words(record: dict) -> tuple[str, str]:
    (changed,) = [
        (good, bad)
        for good, bad in zip(words(record["sentence_good"]), words(record["sentence_bad"]))
        if good != bad
    ]
    return changed


def test_good_forms_occur_in_training_text():
    """The good word of almost every pair occurs in a corpus of the size tiny LMs train on."""
    for lang in LANGUAGES:
        vocabulary = collections.Counter(
            w for text in generate_parentese(lang, 20_000, seed=0) for w in words(text)
        )
        seen = collections.defaultdict(list)
        for record in generate_minimal_pairs(lang, 50, seed=2):
            seen[record["UID"]].append(vocabulary[_changed_words(record)[0]] > 0)
        for uid, flags in seen.items():
            assert sum(flags) >= 0.95 * len(flags), uid


def test_same_seed_same_pairs_other_seed_other_pairs():
    first = generate_minimal_pairs("it", 20, seed=5)
    assert first == generate_minimal_pairs("it", 20, seed=5)
    assert first != generate_minimal_pairs("it", 20, seed=6)


def test_a_phenomenon_gives_the_same_pairs_alone_or_with_others():
    uid = PHENOMENA["en"][2]
    alone = generate_minimal_pairs("en", 30, seed=3, phenomena=[uid])
    together = [r for r in generate_minimal_pairs("en", 30, seed=3) if r["UID"] == uid]
    assert alone == together
    assert generate_minimal_pairs("en", 0) == []


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="unknown language"):
        generate_minimal_pairs("fr")
    with pytest.raises(ValueError, match="unknown it phenomenon"):
        generate_minimal_pairs("it", 5, phenomena=["en_be_agreement"])
    with pytest.raises(TypeError, match="sequence of UIDs"):
        generate_minimal_pairs("en", 5, phenomena="en_be_agreement")
    with pytest.raises(TypeError, match="UID strings"):
        generate_minimal_pairs("en", 5, phenomena=[3])
    with pytest.raises(ValueError, match="repeats"):
        generate_minimal_pairs("en", 5, phenomena=["en_be_agreement"] * 2)
    with pytest.raises(ValueError, match="n_per_phenomenon must be an integer >= 0"):
        generate_minimal_pairs("en", -1)
    with pytest.raises(TypeError, match="seed must be an int"):
        generate_minimal_pairs("en", 1, seed=1.5)


def test_jsonl_round_trip(tmp_path):
    records = generate_minimal_pairs("it", 3, seed=0)
    path = write_jsonl(records, tmp_path / "pairs" / "it.jsonl")
    assert read_minimal_pairs(path) == records
    assert "è" in path.read_text(encoding="utf-8")  # written as UTF-8, not escaped
