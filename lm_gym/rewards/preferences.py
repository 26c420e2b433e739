"""Preference data for reward models: pairs, BWS tuples and built-in story preferences.

A reward model learns from judgements that one continuation of a prompt is better than another.
Zhao et al. (2023) collected them with Best-Worst Scaling (BWS): an annotator sees a few
continuations of one story beginning and marks the best and the worst. This module holds both
shapes of judgement, converts BWS tuples to pairs and generates built-in judgements from the
story generator (:mod:`lm_gym.corpora.stories`).

**Built-in preferences.** The true continuation of a story is preferred over a corrupted one.
Each corruption is recorded by name (:data:`CORRUPTIONS`):

* ``swapped_characters``: the hero's and the helper's names are exchanged in the continuation
  (the pronouns stay, so who does what no longer matches the beginning);
* ``reordered_events``: the continuation's sentences are shuffled;
* ``repetition``: a sentence, or a short phrase, is repeated in a loop in place of what follows;
* ``other_ending``: the last one or two sentences are those of another story.

Half of the stories are cut after a random number of continuation sentences before they are
corrupted, and half of the pairs lose their last few words (both texts alike), so the reward
model also learns to judge unfinished continuations, such as a storyteller produces in a fixed
token budget.

**Cut-short pairs** (:func:`make_cut_short_pairs`, label :data:`CUT_SHORT`) are a training
augmentation, not one of the corruptions: the true continuation over the same continuation
stopped early (empty, or its first few words). A reward model that never saw a too short
continuation may rate one above every real continuation, and a policy free to stop would then
learn to stop at once.

**Garbled pairs** (:func:`make_garbled_pairs`, label :data:`GARBLED`) are the second
augmentation: the true continuation over itself with a few words replaced by words from other
stories or by spliced non-words. A policy tuned against a reward model drifts away from fluent
text; without such pairs the model has never seen broken words and may score them high.

Users' own files (JSONL pairs and BWS tuples) are read and written by
:mod:`lm_gym.rewards.preference_files`.
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from lm_gym.corpora.stories import Story, generate_stories
from lm_gym.utils.validation import check_number

CORRUPTIONS: tuple[str, ...] = (
    "swapped_characters",
    "reordered_events",
    "repetition",
    "other_ending",
)
"""Names of the built-in corruptions, in the order pairs are generated."""

CUT_SHORT = "cut_short"
"""Label of the pairs of :func:`make_cut_short_pairs` (a training augmentation, not one of
:data:`CORRUPTIONS`)."""

GARBLED = "garbled"
"""Label of the pairs of :func:`make_garbled_pairs` (a training augmentation, not one of
:data:`CORRUPTIONS`)."""


@dataclass(frozen=True)
class PreferencePair:
    """One judgement: ``chosen`` is a better continuation of ``prompt`` than ``rejected``."""

    prompt: str
    chosen: str
    rejected: str
    corruption: str | None = None
    """How ``rejected`` was made, for built-in data (``None`` for human judgements)."""


@dataclass(frozen=True)
class BWSTuple:
    """One Best-Worst-Scaling judgement over several continuations of ``prompt``."""

    prompt: str
    items: tuple[str, ...]
    best: int
    """Index of the best item."""
    worst: int
    """Index of the worst item."""
    corruptions: tuple[str | None, ...] | None = None
    """Optional label per item (``None`` for the true continuation)."""

    def to_pairs(self) -> list[PreferencePair]:
        """The best item over every other, and every other (not best) item over the worst."""
        labels = self.corruptions or (None,) * len(self.items)
        pairs = [
            PreferencePair(self.prompt, self.items[self.best], item, labels[i])
            for i, item in enumerate(self.items)
            if i != self.best
        ]
        pairs += [
            PreferencePair(self.prompt, item, self.items[self.worst], labels[self.worst])
            for i, item in enumerate(self.items)
            if i not in (self.best, self.worst)
        ]
        return pairs


def bws_to_pairs(tuples: Iterable[BWSTuple]) -> list[PreferencePair]:
    """Convert BWS tuples to pairs (see :meth:`BWSTuple.to_pairs`), tuple after tuple."""
    return [pair for judgement in tuples for pair in judgement.to_pairs()]


def split_by_prompt(
    pairs: Sequence[PreferencePair], heldout_share: float = 0.1, *, seed: int = 0
) -> tuple[list[PreferencePair], list[PreferencePair]]:
    """Split pairs into ``(train, heldout)`` by prompt: all pairs of a prompt fall on one side.

    The pairs of one BWS tuple, and any pairs that judge continuations of the same prompt,
    share texts and are not independent: a random split of pairs would put some of them on
    each side, and the held-out accuracy would partly measure pairs the model trained on.
    So whole prompts are held out: ``floor(heldout_share * n)`` of the ``n`` distinct prompts,
    drawn at random (seeded), with every pair of theirs. With fewer than
    ``1 / heldout_share`` distinct prompts nothing is held out.

    Returns:
        The training pairs and the held-out pairs, each in their input order.
    """
    check_number("heldout_share", heldout_share, minimum=0.0, maximum=1.0)
    prompts = list(dict.fromkeys(pair.prompt for pair in pairs))
    n_heldout = int(heldout_share * len(prompts))
    order = np.random.default_rng(seed).permutation(len(prompts))
    heldout_prompts = {prompts[i] for i in order[:n_heldout]}
    train = [pair for pair in pairs if pair.prompt not in heldout_prompts]
    heldout = [pair for pair in pairs if pair.prompt in heldout_prompts]
    return train, heldout


# --------------------------------------------------------------------------------------------
# Corruptions of a story's continuation (lists of sentences in, lists of sentences out)
# --------------------------------------------------------------------------------------------


def _rename(sentences: list[str], names: dict[str, str]) -> list[str]:
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b")
    return [pattern.sub(lambda match: names[match.group(0)], s) for s in sentences]


def _swap_characters(sentences: list[str], story: Story) -> list[str]:
    """Exchange the hero's and the helper's names (pronouns and kinds stay where they were)."""
    return _rename(sentences, {story.hero: story.helper, story.helper: story.hero})


def _reorder_events(sentences: list[str], rng: random.Random) -> list[str]:
    order = list(range(len(sentences)))
    while order == sorted(order):
        rng.shuffle(order)
    return [sentences[i] for i in order]


def _repetition(sentences: list[str], rng: random.Random) -> list[str]:
    if rng.random() < 0.5:  # one sentence over and over instead of what follows it
        i = rng.randrange(len(sentences))
        return sentences[: i + 1] + [sentences[i]] * max(1, len(sentences) - i - 1)
    words = " ".join(sentences).split()
    span = rng.randint(2, 4)
    start = rng.randrange(max(1, len(words) - span))
    phrase = words[start : start + span]
    loops = max(2, (len(words) - start) // span)
    return [" ".join(words[: start + span] + phrase * loops)]


def _other_ending(sentences: list[str], other: Story, rng: random.Random) -> list[str]:
    graft = list(other.sentences[-rng.choice((1, 2)) :])
    keep = max(0, len(sentences) - len(graft))
    return sentences[:keep] + graft


def _damage(
    sentences: list[str],
    story: Story,
    corruption: str,
    rng: random.Random,
    other: Story | None,
) -> list[str]:
    if corruption == "swapped_characters":
        return _swap_characters(sentences, story)
    if corruption == "reordered_events":
        if len(sentences) < 2:
            raise ValueError("reordered_events needs a continuation of at least 2 sentences")
        return _reorder_events(sentences, rng)
    if corruption == "repetition":
        return _repetition(sentences, rng)
    if corruption == "other_ending":
        if other is None:
            raise ValueError("other_ending needs the story to take the ending from (other=)")
        return _other_ending(sentences, other, rng)
    raise ValueError(f"unknown corruption {corruption!r}; known: {', '.join(CORRUPTIONS)}")


def corrupt(
    story: Story, corruption: str, rng: random.Random, *, other: Story | None = None
) -> str:
    """Return ``story``'s continuation damaged by ``corruption`` (one of :data:`CORRUPTIONS`).

    Args:
        story: the story whose continuation is corrupted.
        corruption: the corruption's name.
        rng: the source of every random choice.
        other: the story lending its ending (required for ``other_ending``; its characters
            should differ from ``story``'s).

    Raises:
        ValueError: unknown corruption, ``reordered_events`` on a one-sentence continuation,
            or ``other_ending`` without ``other``.
    """
    return " ".join(_damage(list(story.continuation_sentences), story, corruption, rng, other))


def _applicable(story: Story, corruption: str) -> bool:
    if corruption == "reordered_events":
        return len(story.continuation_sentences) >= 2
    if corruption == "swapped_characters":
        return bool(re.search(rf"\b({story.hero}|{story.helper})\b", story.continuation))
    return True


def _view(story: Story, rng: random.Random, partial: float) -> Story:
    """The whole story, or with probability ``partial`` the story cut after a random sentence."""
    longest = len(story.continuation_sentences)
    if longest < 2 or rng.random() >= partial:
        return story
    keep = story.prompt_sentences + rng.randint(1, longest - 1)
    return dataclasses.replace(story, sentences=story.sentences[:keep])


def _cut_words(chosen: str, rejected: str, rng: random.Random, partial: float) -> tuple[str, str]:
    """With probability ``partial``, drop the same few last words of both texts (mid-sentence
    ends, like a storyteller's continuation that hit its token budget), if they still differ."""
    if rng.random() >= partial:
        return chosen, rejected
    cut = rng.randint(1, 6)
    short_chosen, short_rejected = chosen.split()[:-cut], rejected.split()[:-cut]
    if not short_chosen or not short_rejected or short_chosen == short_rejected:
        return chosen, rejected
    return " ".join(short_chosen), " ".join(short_rejected)


def _donor(stories: Sequence[Story], story: Story, rng: random.Random) -> Story:
    """Another story with different characters, to take an ending from."""
    names = {story.hero, story.helper}
    for _ in range(100):
        other = rng.choice(stories)
        if not names & {other.hero, other.helper}:
            return other
    raise ValueError("no story with different characters to take an ending from")


def make_preference_pairs(
    stories: Sequence[Story],
    *,
    seed: int = 0,
    corruptions: Sequence[str] = CORRUPTIONS,
    partial: float = 0.5,
    per_story: int | None = None,
) -> list[PreferencePair]:
    """Pairs of the true continuation over a corrupted one.

    Args:
        stories: at least two stories (``other_ending`` borrows from another one).
        seed: seeds every random choice.
        corruptions: which corruptions to use.
        partial: the share of stories cut short before corrupting (see the module docstring).
        per_story: how many corruptions (drawn at random among the applicable ones) each story
            gets; ``None`` applies all of them. One per story keeps a reward model from
            memorising the true stories instead of learning what the corruptions break.
    """
    _check_corruptions(corruptions)
    if len(stories) < 2:
        raise ValueError(f"need at least 2 stories to make preference pairs, got {len(stories)}")
    if per_story is not None and (isinstance(per_story, bool) or per_story < 1):
        raise ValueError(f"per_story must be a positive int or None, got {per_story!r}")
    rng = random.Random(seed)
    pairs = []
    for full in stories:
        story = _view(full, rng, partial)
        names = [c for c in corruptions if _applicable(story, c)]
        if per_story is not None:
            names = rng.sample(names, min(per_story, len(names)))
        for name in names:
            rejected = " ".join(_corrupt_once(story, name, stories, full, rng))
            chosen, rejected = _cut_words(story.continuation, rejected, rng, partial)
            if rejected != chosen:
                pairs.append(PreferencePair(story.prompt, chosen, rejected, name))
    return pairs


def make_cut_short_pairs(
    stories: Sequence[Story], *, seed: int = 0, partial: float = 0.5, empty: float = 0.25
) -> list[PreferencePair]:
    """Pairs of the true continuation over the same continuation stopped early.

    The rejected continuation is empty with probability ``empty``, otherwise the first k words
    of the chosen one, k uniform between 1 and half its words. The chosen one is the whole
    continuation or, with probability ``partial``, the story cut after a random sentence (as in
    :func:`make_preference_pairs`). Labelled :data:`CUT_SHORT`.

    Args:
        stories: the stories (one pair each).
        seed: seeds every random choice.
        partial: the share of stories cut after a random sentence first.
        empty: the share of rejected continuations that are empty.
    """
    if not 0.0 <= empty <= 1.0:
        raise ValueError(f"empty must be a share between 0 and 1, got {empty!r}")
    rng = random.Random(seed)
    pairs = []
    for full in stories:
        story = _view(full, rng, partial)
        words = story.continuation.split()
        keep = 0 if rng.random() < empty or len(words) < 2 else rng.randint(1, len(words) // 2)
        pairs.append(
            PreferencePair(story.prompt, story.continuation, " ".join(words[:keep]), CUT_SHORT)
        )
    return pairs


def _garble(words: list[str], vocabulary: Sequence[str], rng: random.Random, share: float) -> str:
    """``words`` with between one and ``share`` of them replaced: half by a word drawn from
    ``vocabulary``, half by a non-word spliced from the word's start and a drawn word's end."""
    words = list(words)
    count = rng.randint(1, max(1, round(share * len(words))))
    for i in rng.sample(range(len(words)), count):
        drawn = rng.choice(vocabulary)
        if rng.random() < 0.5 or len(words[i]) < 3 or len(drawn) < 3:
            words[i] = drawn
        else:
            words[i] = words[i][: rng.randint(1, len(words[i]) - 1)] + drawn[rng.randint(1, 2) :]
    return " ".join(words)


def make_garbled_pairs(
    stories: Sequence[Story], *, seed: int = 0, partial: float = 0.5, share: float = 0.2
) -> list[PreferencePair]:
    """Pairs of the true continuation over the same continuation with garbled words.

    Between one and ``share`` of the rejected continuation's words (a uniform count; a single
    odd word is the subtlest case) are replaced, each either by a word of another story or by
    a non-word spliced from two words (``"every" + "table"`` -> ``"evble"``), the kinds of
    breakage a drifting policy produces. The chosen continuation is whole or, with probability
    ``partial``, cut after a random sentence (as in :func:`make_preference_pairs`). Labelled
    :data:`GARBLED`; a story whose garbling changed nothing is skipped.

    Args:
        stories: the stories (one pair each); their words are the replacement vocabulary.
        seed: seeds every random choice.
        partial: the share of stories cut after a random sentence first.
        share: the largest share of words replaced.
    """
    if not 0.0 < share <= 1.0:
        raise ValueError(f"share must be in (0, 1], got {share!r}")
    vocabulary = sorted({w for story in stories for w in story.continuation.split()})
    rng = random.Random(seed)
    pairs = []
    for full in stories:
        story = _view(full, rng, partial)
        garbled = _garble(story.continuation.split(), vocabulary, rng, share)
        if garbled != story.continuation:
            pairs.append(PreferencePair(story.prompt, story.continuation, garbled, GARBLED))
    return pairs


def make_bws_tuples(
    stories: Sequence[Story], *, seed: int = 0, partial: float = 0.5
) -> list[BWSTuple]:
    """One BWS tuple of four continuations per story, in a seeded random order.

    The items are the true continuation (best), two continuations with one corruption each,
    and one damaged twice (worst): a third corruption followed by a character swap or a
    repetition. A story whose corruptions happen to coincide is skipped.
    """
    if len(stories) < 2:
        raise ValueError(f"need at least 2 stories to make BWS tuples, got {len(stories)}")
    rng = random.Random(seed)
    tuples = []
    for full in stories:
        story = _view(full, rng, partial)
        names = [c for c in CORRUPTIONS if _applicable(story, c)]
        if len(names) < 3:
            continue
        items: dict[str, str | None] = {story.continuation: None}
        *single, first = rng.sample(names, 3)
        for name in single:
            items.setdefault(" ".join(_corrupt_once(story, name, stories, full, rng)), name)
        damaged = _corrupt_once(story, first, stories, full, rng)
        seconds = [c for c in ("swapped_characters", "repetition") if c != first]
        for second in rng.sample(seconds, len(seconds)):
            twice = _damage(list(damaged), story, second, rng, None)
            if twice != damaged:
                items.setdefault(" ".join(twice), f"{first}+{second}")
                break
        if len(items) < 4:
            continue
        order = list(items.items())
        rng.shuffle(order)
        labels = tuple(label for _, label in order)
        worst = next(i for i, label in enumerate(labels) if label and "+" in label)
        tuples.append(
            BWSTuple(story.prompt, tuple(t for t, _ in order), labels.index(None), worst, labels)
        )
    return tuples


def _corrupt_once(
    story: Story, name: str, stories: Sequence[Story], full: Story, rng: random.Random
) -> list[str]:
    other = _donor(stories, full, rng) if name == "other_ending" else None
    return _damage(list(story.continuation_sentences), story, name, rng, other)


def builtin_preferences(n_stories: int, seed: int = 0) -> list[PreferencePair]:
    """Pairs from ``n_stories`` generated stories (stories and corruptions from ``seed``)."""
    return make_preference_pairs(generate_stories(n_stories, seed), seed=seed)


def pairs_by_corruption(pairs: Iterable[PreferencePair]) -> dict[str, list[PreferencePair]]:
    """Group pairs by their corruption label (unlabelled pairs under ``"unlabelled"``)."""
    groups: dict[str, list[PreferencePair]] = {}
    for pair in pairs:
        groups.setdefault(pair.corruption or "unlabelled", []).append(pair)
    return groups


def _check_corruptions(corruptions: Sequence[str]) -> None:
    if not corruptions or any(c not in CORRUPTIONS for c in corruptions):
        raise ValueError(
            f"corruptions must be a non-empty subset of {CORRUPTIONS}, got {list(corruptions)}"
        )


# --------------------------------------------------------------------------------------------
# JSONL files
# --------------------------------------------------------------------------------------------
