"""Preference data: story corruptions, pairs and BWS tuples."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from lm_gym.corpora.stories import generate_stories
from lm_gym.rewards.preferences import (
    CORRUPTIONS,
    CUT_SHORT,
    GARBLED,
    BWSTuple,
    bws_to_pairs,
    corrupt,
    make_bws_tuples,
    make_cut_short_pairs,
    make_garbled_pairs,
    make_preference_pairs,
    split_by_prompt,
)


@pytest.fixture(scope="module")
def stories():
    return generate_stories(120, seed=11)


@pytest.fixture(scope="module")
def long_story(stories):
    return next(s for s in stories if len(s.continuation_sentences) >= 5)


def test_pairs_prefer_the_true_continuation(stories):
    pairs = make_preference_pairs(stories, seed=0)
    by_prompt = {s.prompt: s for s in stories}
    assert Counter(p.corruption for p in pairs).keys() == set(CORRUPTIONS)
    for pair in pairs:
        story = by_prompt[pair.prompt]
        assert story.continuation.startswith(pair.chosen)  # whole, or cut after a sentence
        assert pair.rejected != pair.chosen
    assert make_preference_pairs(stories, seed=0) == pairs
    assert make_preference_pairs(stories, seed=1) != pairs


def test_some_pairs_judge_unfinished_continuations(stories):
    whole = {s.continuation for s in stories}
    pairs = make_preference_pairs(stories, seed=0)
    cut = [p for p in pairs if p.chosen not in whole]
    assert 0 < len(cut) < len(pairs)
    assert all(p.chosen in whole for p in make_preference_pairs(stories, seed=0, partial=0.0))


def test_cut_short_pairs_prefer_the_continuation_to_stopping_early(stories):
    pairs = make_cut_short_pairs(stories, seed=3)
    assert len(pairs) == len(stories) and CUT_SHORT not in CORRUPTIONS
    for story, pair in zip(stories, pairs):
        assert pair.prompt == story.prompt and pair.corruption == CUT_SHORT
        assert story.continuation.startswith(pair.chosen)
        chosen, rejected = pair.chosen.split(), pair.rejected.split()
        assert rejected == chosen[: len(rejected)] and len(rejected) <= len(chosen) // 2
    empty = sum(p.rejected == "" for p in pairs)
    assert 0 < empty < len(pairs)  # empty ones and a few words
    assert all(p.rejected == "" for p in make_cut_short_pairs(stories, seed=3, empty=1.0))
    assert make_cut_short_pairs(stories, seed=3) == pairs
    with pytest.raises(ValueError, match="empty must be a share"):
        make_cut_short_pairs(stories, empty=1.5)


def test_garbled_pairs_break_a_few_words_of_the_true_continuation(stories):
    pairs = make_garbled_pairs(stories, seed=3)
    assert GARBLED not in CORRUPTIONS and {p.corruption for p in pairs} == {GARBLED}
    assert len(pairs) >= len(stories) - 2  # only a no-op garbling is skipped
    by_prompt = {s.prompt: s for s in stories}
    changed = []
    for pair in pairs:
        assert by_prompt[pair.prompt].continuation.startswith(pair.chosen)
        chosen, rejected = pair.chosen.split(), pair.rejected.split()
        assert len(rejected) == len(chosen)  # words are replaced, never added or dropped
        changed.append(sum(a != b for a, b in zip(chosen, rejected)))
        assert 1 <= changed[-1] <= max(1, round(0.2 * len(chosen)))
    assert min(changed) == 1 and max(changed) > 1  # from one odd word to several
    vocabulary = {w for s in stories for w in s.continuation.split()}
    new_words = {w for p in pairs for w in p.rejected.split()} - vocabulary
    assert new_words  # spliced non-words as well as misplaced real words
    assert make_garbled_pairs(stories, seed=3) == pairs
    assert make_garbled_pairs(stories, seed=4) != pairs
    with pytest.raises(ValueError, match="share must be in"):
        make_garbled_pairs(stories, share=0.0)


def test_swapped_characters_exchange_the_names(long_story):
    swapped = corrupt(long_story, "swapped_characters", random.Random(0))
    marker = "\0"
    back = (
        swapped.replace(long_story.hero, marker)
        .replace(long_story.helper, long_story.hero)
        .replace(marker, long_story.helper)
    )
    assert swapped != long_story.continuation
    assert back == long_story.continuation


def test_reordered_events_shuffle_the_sentences(long_story):
    reordered = corrupt(long_story, "reordered_events", random.Random(0))
    assert reordered != long_story.continuation
    assert all(s in reordered for s in long_story.continuation_sentences)
    assert len(reordered) == len(long_story.continuation)


def test_repetition_repeats_a_sentence_or_a_phrase(long_story):
    for seed in range(6):
        repeated = corrupt(long_story, "repetition", random.Random(seed)).split()
        trigrams = Counter(zip(repeated, repeated[1:], repeated[2:]))
        original = long_story.continuation.split()
        before = Counter(zip(original, original[1:], original[2:]))
        assert max(trigrams.values()) > max(before.values())


def test_other_ending_comes_from_the_other_story(stories, long_story):
    other = next(
        s for s in stories if {s.hero, s.helper}.isdisjoint({long_story.hero, long_story.helper})
    )
    grafted = corrupt(long_story, "other_ending", random.Random(0), other=other)
    assert grafted.endswith(other.sentences[-1])
    assert grafted.startswith(long_story.continuation_sentences[0])


def test_corrupt_rejects_bad_requests(long_story, stories):
    with pytest.raises(ValueError, match="unknown corruption"):
        corrupt(long_story, "typos", random.Random(0))
    with pytest.raises(ValueError, match="other="):
        corrupt(long_story, "other_ending", random.Random(0))
    with pytest.raises(ValueError, match="corruptions must"):
        make_preference_pairs(stories, corruptions=["typos"])
    with pytest.raises(ValueError, match="at least 2 stories"):
        make_preference_pairs(stories[:1])


def test_bws_tuples_mark_truth_best_and_double_damage_worst(stories):
    tuples = make_bws_tuples(stories, seed=0)
    assert len(tuples) > len(stories) // 2
    by_prompt = {s.prompt: s for s in stories}
    for judgement in tuples:
        assert len(judgement.items) == len(set(judgement.items)) == 4
        assert judgement.corruptions[judgement.best] is None
        assert "+" in judgement.corruptions[judgement.worst]
        assert by_prompt[judgement.prompt].continuation.startswith(judgement.items[judgement.best])


def test_bws_to_pairs_best_over_all_and_all_over_worst():
    judgement = BWSTuple("p", ("a", "b", "c", "d"), best=2, worst=0)
    pairs = judgement.to_pairs()
    assert {(p.chosen, p.rejected) for p in pairs} == {
        ("c", "a"),
        ("c", "b"),
        ("c", "d"),
        ("b", "a"),
        ("d", "a"),
    }
    assert bws_to_pairs([judgement, judgement]) == pairs + pairs


def test_split_by_prompt_keeps_every_prompt_on_one_side(stories):
    """A BWS tuple's pairs (and any pairs sharing a prompt) never straddle the split."""
    tuples = make_bws_tuples(stories[:60], seed=3)
    pairs = bws_to_pairs(tuples) + make_preference_pairs(stories[40:80], seed=3)
    prompts = {p.prompt for p in pairs}
    train, heldout = split_by_prompt(pairs, 0.1, seed=5)
    assert {p.prompt for p in train}.isdisjoint({p.prompt for p in heldout})
    assert len({p.prompt for p in heldout}) == len(prompts) // 10 >= 1
    assert sorted(map(repr, train + heldout)) == sorted(map(repr, pairs))
    assert [p for p in pairs if p in heldout] == heldout  # input order kept
    assert split_by_prompt(pairs, 0.1, seed=5) == (train, heldout)
    assert split_by_prompt(pairs, 0.1, seed=6)[1] != heldout
    assert split_by_prompt(pairs[:5], 0.1) == (pairs[:5], [])  # one prompt: nothing held out
    with pytest.raises(ValueError, match="heldout_share"):
        split_by_prompt(pairs, 1.5)
