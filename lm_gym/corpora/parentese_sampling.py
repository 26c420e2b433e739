"""Sampling of parentese structures: noun phrases, subjects, locations and clauses.

The templates of :mod:`lm_gym.corpora.parentese_templates` draw their noun phrases and clauses
here, so that what a sentence may say (only animals bark, only containers are filled, ``a``
goes with one thing and ``two`` with several) is decided in one place. Every draw comes from
the caller's ``random.Random``.
"""

from __future__ import annotations

import bisect
import itertools
import random
from functools import cache

from lm_gym.corpora.lexicon import ADJECTIVES, NAMES, NOUNS, PLACES, VERBS, Adjective, Noun, Verb
from lm_gym.corpora.parentese_grammar import NP, POSSESSORS, PP, Clause, Pronoun

_LANDMARKS = frozenset({"table", "chair", "bed", "sofa", "door", "window", "wardrobe", "tree",
                        "house", "car"})  # fmt: skip
_LOCATIONS = {  # preposition -> tags of the nouns it sensibly takes
    "on": frozenset({"surface"}),
    "in": frozenset({"container"}),
    "under": frozenset({"table", "chair", "bed", "sofa", "tree", "shelf"}),
    "near": _LANDMARKS,
    "next to": _LANDMARKS,
    "behind": _LANDMARKS,
}
_PREPOSITIONS = tuple(_LOCATIONS)
_ANIMATE_PREPOSITIONS = tuple(p for p in _LOCATIONS if p != "in")


@cache
def nouns_with(tags: frozenset[str], countable: bool = False) -> tuple[Noun, ...]:
    """Nouns carrying any of ``tags`` (only countable ones with ``countable``)."""
    found = tuple(n for n in NOUNS if n.tags & tags and (n.countable or not countable))
    if not found:
        raise ValueError(f"no noun has any of the tags {sorted(tags)}")
    return found


@cache
def adjectives_for(noun: Noun) -> tuple[Adjective, ...]:
    return tuple(a for a in ADJECTIVES if a.targets & noun.tags)


@cache
def verbs_with(frame: str, subject: str = "") -> tuple[Verb, ...]:
    """Verbs with ``frame``, optionally only those whose subject may be tagged ``subject``."""
    return tuple(v for v in VERBS if frame in v.frames and (not subject or subject in v.subject))


@cache
def _prepared(weighted: tuple[tuple[str, int], ...]) -> tuple[tuple[str, ...], list[float]]:
    keys = tuple(k for k, _ in weighted)
    total = sum(w for _, w in weighted)
    return keys, [c / total for c in itertools.accumulate(w for _, w in weighted)]


def choose(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    """One key of ``(key, weight)`` pairs, drawn with probability proportional to its weight."""
    keys, cumulative = _prepared(weighted)
    return keys[min(bisect.bisect(cumulative, rng.random()), len(keys) - 1)]


_DETS_SG = (("the", 40), ("a", 25), ("this", 7), ("that", 6), ("poss", 14))
_DETS_PL = (("the", 36), ("some", 5), ("this", 7), ("that", 6), ("poss", 12), ("num", 18),
            ("many", 10), ("all", 4))  # fmt: skip
_DETS_MASS = (("the", 80), ("this", 8), ("that", 4), ("poss", 8))
_PLURAL_ONLY = frozenset({"num", "many", "all", "some"})


@cache
def _fitting(dets: tuple[tuple[str, int], ...], number: int) -> tuple[tuple[str, int], ...]:
    """The determiners of ``dets`` that go with ``number``: ``a`` only with the singular,
    ``num``/``many``/``all``/``some`` only with the plural, the others with both."""
    return tuple(
        (det, weight)
        for det, weight in dets
        if (number == 0 if det == "a" else number == 1 if det in _PLURAL_ONLY else True)
    )


def make_np(
    rng: random.Random,
    noun: Noun,
    *,
    number: int | None = None,
    dets: tuple[tuple[str, int], ...] | None = None,
    adj_p: float = 0.25,
) -> NP:
    """A noun phrase around ``noun`` with a sampled number, determiner and adjective.

    ``dets`` are ``(determiner, weight)`` pairs; those that do not fit the number are left
    out, and a countable noun switches number when none fits (``a`` makes it singular).
    """
    tags = noun.tags
    if "name" in tags:
        return NP(noun, 0, "bare")
    if "kin" in tags:
        return NP(noun, 0, "the" if rng.random() < 0.7 else rng.choice(POSSESSORS))
    if not noun.countable:
        number = 0
    elif number is None:
        number = int(rng.random() < 0.4)
    if dets is None:
        dets = _DETS_MASS if not noun.countable else _DETS_PL if number else _DETS_SG
    fitting = _fitting(dets, number)
    if not fitting and noun.countable:
        number = 1 - number
        fitting = _fitting(dets, number)
    det = choose(rng, fitting or (("the", 1),))
    if det == "poss":
        owned = "person" not in tags or "rel" in tags
        det = rng.choice(POSSESSORS) if owned else "the"
    adjectives = adjectives_for(noun)
    adj = rng.choice(adjectives) if adjectives and rng.random() < adj_p else None
    count = 2 + int(rng.random() * 4) if det == "num" else 2
    return NP(noun, number, det, adj, count=count)


def pick_np(rng: random.Random, tags: frozenset[str], **options) -> NP:
    return make_np(rng, rng.choice(nouns_with(tags, options.pop("countable", False))), **options)


def make_subject(rng: random.Random, verb: Verb, np_only: bool = False) -> NP | Pronoun:
    """A pronoun, a name or a noun phrase that can do what ``verb`` says."""
    persons = "person" in verb.subject
    draw = rng.random()
    if persons and not np_only and draw < 0.3:
        return Pronoun(rng.randrange(6), int(rng.random() < 0.45), overt=rng.random() < 0.2)
    if persons and not np_only and draw < 0.4:
        return NP(rng.choice(NAMES), 0, "bare")
    return pick_np(rng, verb.subject, adj_p=0.15)


def location(rng: random.Random, animate: bool = False) -> PP:
    """Where something is: ``on the table``, ``in my bag`` (not *in* anything for animals)."""
    prep = rng.choice(_ANIMATE_PREPOSITIONS if animate else _PREPOSITIONS)
    np = pick_np(rng, _LOCATIONS[prep], number=int(rng.random() < 0.15),
                 dets=(("the", 80), ("poss", 20)), adj_p=0.1)  # fmt: skip
    return PP(prep, np)


_FRAMES = (("intr", 16), ("place", 10), ("tr", 40), ("go", 12), ("give", 5), ("with", 5),
           ("refl", 8))  # fmt: skip
_TENSES = (("pres", 48), ("past", 24), ("perf", 6), ("prog", 10), ("want", 12))


def make_clause(
    rng: random.Random,
    *,
    frame: str | None = None,
    tense: str | None = None,
    neg: bool | None = None,
    subject: NP | Pronoun | None = None,
    np_subject: bool = False,
    needs: str = "",
) -> Clause:
    """A clause with a sampled verb, subject, complements, tense and polarity.

    ``needs`` restricts the verb to those whose subject may have that tag (``person``).
    """
    frame = frame or choose(rng, _FRAMES)
    verb = rng.choice(verbs_with(frame, needs))
    subj = subject or make_subject(rng, verb, np_only=np_subject)
    c = Clause(subj, verb, frame, tense or choose(rng, _TENSES))
    c.neg = rng.random() < 0.12 if neg is None else neg
    if frame in ("tr", "give"):
        c.obj = pick_np(rng, verb.object)
    if frame == "give":
        c.recipient = pick_np(rng, frozenset({"person", "animal"}), dets=(("the", 3), ("poss", 1)),
                              adj_p=0.1)  # fmt: skip
    elif frame == "go":
        c.place = rng.choice(PLACES)
    elif frame == "place":
        if rng.random() < 0.5:
            c.place = rng.choice(PLACES)
        else:
            c.loc = location(rng, animate=True)
    elif frame == "with":
        c.loc = PP("with", pick_np(rng, verb.object, dets=(("the", 2), ("poss", 1), ("a", 1))))
    return c
