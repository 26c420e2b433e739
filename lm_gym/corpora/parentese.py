"""Parentese: a seeded generator of parallel child-directed English and Italian.

The built-in L1/L2 data of lm_gym (see DESIGN.md, section 4). Every utterance is drawn once as
a language-neutral structure and realized in both languages, so the two sides of a pair mean
the same thing::

    >>> generate_parallel(3, seed=0)  # doctest: +NORMALIZE_WHITESPACE
    [('Do you want these bags? Yes, I want them.', 'Vuoi queste borse? Sì, le voglio.'),
     ('The ducks want to play with a castle.', 'Le anatre vogliono giocare con un castello.'),
     ('Shall we play with the slides?', 'Giochiamo con gli scivoli?')]

Utterances are short and of the kinds parents use with small children: naming games, "what
is this?", descriptions, statements about now and about the past, questions, imperatives,
counting, praise. The morphology is real: English subject-verb agreement, ``a``/``an``,
irregular plurals and past tenses; Italian gender and number on articles (``il``, ``lo``,
``l'``, ``i``, ``gli``, ``la``, ``le``, ``un``, ``uno``, ``una``, ``un'``), articulated
prepositions, adjectives, possessives, demonstratives, clitics and past participles, and
person-number agreement of verbs. :mod:`lm_gym.corpora.minimal_pairs` generates BLiMP-style
minimal pairs from the same grammar.

Randomness comes only from one ``random.Random(seed)`` per call, so the same seed gives the
same utterances on every machine, and a different seed gives different ones.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from functools import cache
from types import MappingProxyType

from lm_gym.corpora import lexicon_it
from lm_gym.corpora.lexicon import ADJECTIVES, NAMES, NOUNS, PLACES, VERBS
from lm_gym.corpora.lexicon_it import ItalianVerb
from lm_gym.corpora.parentese_grammar import (
    AVERE,
    EN_BE,
    EN_NUMBERS,
    EN_REFLEXIVE,
    EN_REFLEXIVE_3SG,
    EN_WAS,
    ESSERE,
    IT_ALCUNO,
    IT_CLITIC,
    IT_MOLTO,
    IT_NUMBERS,
    IT_POSSESSIVE,
    IT_QUANTO,
    IT_QUELLO_PRONOUN,
    IT_QUESTO,
    IT_REFLEXIVE,
    IT_TUTTO,
    IT_WAS,
    POTERE,
    STARE,
    render,
)
from lm_gym.corpora.parentese_templates import TEMPLATES, choose
from lm_gym.utils.validation import check_int

LANGUAGES = ("en", "it")
"""The languages the generator speaks: English and Italian."""

_WEIGHTED = tuple((name, weight) for name, (_, weight) in TEMPLATES.items())
_WORD = re.compile(r"\w+'|\w+")


def check_language(lang: object) -> str:
    """``lang`` if it is one of :data:`LANGUAGES`, else a ValueError naming the choices."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}; choose one of {LANGUAGES}")
    return lang  # type: ignore[return-value]


def check_count(name: str, value: object) -> int:
    """A non-negative int (NumPy integers included), else a TypeError/ValueError."""
    return check_int(name, value, minimum=0)


def check_seed(seed: object) -> int:
    """An int seed (NumPy integers included), else a TypeError."""
    return check_int("seed", seed)


def _generate(n: int, seed: int, sides: tuple[int, ...]) -> list[tuple[str, ...]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        pair = TEMPLATES[choose(rng, _WEIGHTED)][0](rng)
        out.append(tuple(render(pair[side]) for side in sides))
    return out


def generate_parallel(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` parallel utterances as ``(english, italian)`` pairs.

    Args:
        n: how many utterances (>= 0).
        seed: seed of the generator; the same seed gives the same utterances.

    Raises:
        TypeError: ``n`` or ``seed`` is not an int.
        ValueError: ``n`` is negative.
    """
    n, seed = check_count("n", n), check_seed(seed)
    return _generate(n, seed, (0, 1))  # type: ignore[return-value]


def generate_parentese(lang: str, n: int, seed: int = 0) -> list[str]:
    """``n`` utterances in one language: the ``lang`` side of :func:`generate_parallel`.

    Args:
        lang: ``"en"`` or ``"it"``.
        n: how many utterances (>= 0).
        seed: seed of the generator; the same seed gives the same utterances.

    Raises:
        ValueError: unknown ``lang`` or negative ``n``.
        TypeError: ``n`` or ``seed`` is not an int.
    """
    side = LANGUAGES.index(check_language(lang))
    n, seed = check_count("n", n), check_seed(seed)
    return [texts[0] for texts in _generate(n, seed, (side,))]


def words(text: str) -> list[str]:
    """The lowercased words of an utterance, elided forms kept apart (``l'`` + ``albero``)."""
    return _WORD.findall(text.lower())


def lemmas(lang: str) -> set[str]:
    """The lemmas of the ``lang`` lexicon: content words, function words and names."""
    return set(lemma_forms(lang))


# --------------------------------------------------------------------------------- lemmas
_EN_FUNCTION = {
    "the": "the", "a": "a an", "some": "some", "this": "this these", "that": "that those",
    "all": "all", "many": "many", "my": "my", "your": "your", "his": "his", "her": "her",
    "our": "our", "their": "their", "I": "i me", "you": "you", "he": "he", "she": "she",
    "it": "it", "we": "we", "they": "they them", "oneself": " ".join(EN_REFLEXIVE),
    "be": " ".join(EN_BE + EN_WAS), "do": "do does did doing done", "can": "can",
    "shall": "shall", "not": "not", "to": "to", "at": "at", "on": "on", "in": "in",
    "under": "under", "near": "near", "next": "next", "behind": "behind", "with": "with",
    "for": "for", "up": "up", "down": "down", "back": "back", "out": "out", "off": "off",
    "here": "here", "there": "there", "yesterday": "yesterday", "morning": "morning",
    "who": "who", "what": "what", "where": "where", "how": "how", "color": "color",
    "please": "please", "yes": "yes", "no": "no", "wow": "wow", "well": "well", "very": "very",
}  # fmt: skip
_IT_FUNCTION = {
    "il": "il lo l' la i gli le", "uno": "un uno una un'", "quello": "quel quell' quei quegli",
    "io": "io me mi", "tu": "tu ti", "lui": "lui", "lei": "lei", "noi": "noi ci",
    "voi": "voi vi", "loro": "loro", "si": "si", "lo": " ".join(IT_CLITIC) + " l'",
    "non": "non", "di": "di", "con": "con", "sotto": "sotto", "vicino": "vicino",
    "accanto": "accanto", "dietro": "dietro", "che": "che", "cosa": "cosa cos'", "chi": "chi",
    "dove": "dove dov'", "colore": "colore", "ci": "c' ci", "qui": "qui", "ieri": "ieri",
    "stamattina": "stamattina", "sì": "sì", "no": "no", "per": "per", "favore": "favore",
    "wow": "wow",
}  # fmt: skip
_IT_AGREEING = {
    "questo": IT_QUESTO, "quello": IT_QUELLO_PRONOUN, "tutto": IT_TUTTO, "molto": IT_MOLTO,
    "alcuno": IT_ALCUNO, "quanto": IT_QUANTO, **{f[0]: f for f in IT_POSSESSIVE.values()},
}  # fmt: skip


def _italian_verb_forms(verb: ItalianVerb) -> set[str]:
    forms = {verb.infinitive, verb.gerund, *verb.present}
    forms.update(lexicon_it.adjective_forms(verb.participle))
    forms.update(verb.infinitive[:-1] + clitic for clitic in IT_REFLEXIVE)
    if verb.imperative:
        forms.update((verb.imperative, verb.imperative + "ti"))
    return forms


@cache
def _lemma_forms(lang: str) -> Mapping[str, frozenset[str]]:
    table: dict[str, set[str]] = {}

    def add(lemma: str, forms) -> None:
        table.setdefault(lemma, set()).update(f.lower() for f in forms)

    if lang == "en":
        for lemma, forms in _EN_FUNCTION.items():
            add(lemma, forms.split())
        add("oneself", EN_REFLEXIVE_3SG.values())
        for noun in (*NOUNS, *NAMES):
            add(noun.key, noun.en)
        for adjective in ADJECTIVES:
            add(adjective.en, [adjective.en])
        for verb in VERBS:
            add(verb.en_base, [verb.en_base, verb.en_s3, verb.en_past, verb.en_participle,
                               verb.en_ing])  # fmt: skip
        for place in PLACES:
            add(place.en_lemma, [place.en_to.split()[-1]])
        for number in EN_NUMBERS:
            add(number, [number])
        return MappingProxyType({lemma: frozenset(forms) for lemma, forms in table.items()})
    for lemma, forms in _IT_FUNCTION.items():
        add(lemma, forms.split())
    for lemma, forms in _IT_AGREEING.items():
        add(lemma, forms)
    for preposition in ("a", "in", "su"):
        add(preposition, [preposition] + [lexicon_it.articulated(preposition, article)
                                          for article in _IT_FUNCTION["il"].split()])  # fmt: skip
    for number in IT_NUMBERS:
        add(number, [number])
    for noun in (*NOUNS, *NAMES):
        add(noun.it[0], noun.it)
    for adjective in ADJECTIVES:
        add(adjective.it[0], adjective.it)
    for verb in (*(v.it for v in VERBS), ESSERE, AVERE, STARE, POTERE):
        add(verb.infinitive, _italian_verb_forms(verb))
    add("essere", IT_WAS)
    add("dare", ["dammi"])
    for verb in VERBS:
        for complement in verb.it_complement.split():
            add(complement, [complement])  # farsi *male*
    for place in PLACES:
        add(place.it_lemma, [words(place.it_at)[-1]])
    return MappingProxyType({lemma: frozenset(forms) for lemma, forms in table.items()})


def lemma_forms(lang: str) -> Mapping[str, frozenset[str]]:
    """Every lemma of the ``lang`` lexicon with its lowercased word forms (``"dog": {"dog",
    "dogs"}``, ``"il": {"il", "lo", "l'", ...}``), as :func:`words` splits them; a form may
    belong to several lemmas (``orange``, ``rotto``)."""
    return _lemma_forms(check_language(lang))
