"""English inflection for the parentese lexicon: plurals, verb forms and ``a``/``an``.

The lexicon (:mod:`lm_gym.corpora.lexicon`) lists only what is irregular; everything else is
derived here by the ordinary spelling rules (``box`` -> ``boxes``, ``cry`` -> ``cries``,
``run`` -> ``running``, ``hug`` -> ``hugged``), so a regular word is written once.
"""

from __future__ import annotations

_VOWELS = frozenset("aeiou")
_SIBILANT_ENDINGS = ("s", "x", "z", "ch", "sh")


def noun_plural(singular: str) -> str:
    """The regular plural of a noun: ``dog`` -> ``dogs``, ``box`` -> ``boxes``, ``cherry`` ->
    ``cherries``, ``tomato`` -> ``tomatoes``."""
    if singular.endswith(_SIBILANT_ENDINGS):
        return singular + "es"
    if singular.endswith("y") and singular[-2] not in _VOWELS:
        return singular[:-1] + "ies"
    if singular.endswith("o") and singular[-2] not in _VOWELS:
        return singular + "es"
    return singular + "s"


def third_singular(base: str) -> str:
    """Present tense, third person singular: ``run`` -> ``runs``, ``wash`` -> ``washes``."""
    if base == "have":
        return "has"
    if base.endswith(_SIBILANT_ENDINGS) or base.endswith("o"):
        return base + "es"
    if base.endswith("y") and base[-2] not in _VOWELS:
        return base[:-1] + "ies"
    return base + "s"


def _doubles_final_consonant(base: str) -> bool:
    """True for one-syllable verbs ending consonant-vowel-consonant (``run``, ``hug``, ``pet``),
    whose final consonant doubles before ``-ing`` and ``-ed``."""
    if len(base) < 3 or base[-1] in _VOWELS or base[-1] in "wxy":
        return False
    if base[-2] not in _VOWELS or base[-3] in _VOWELS:
        return False
    vowel_groups = sum(
        1 for i, c in enumerate(base) if c in _VOWELS and (i == 0 or base[i - 1] not in _VOWELS)
    )
    return vowel_groups == 1


def present_participle(base: str) -> str:
    """The ``-ing`` form: ``run`` -> ``running``, ``dance`` -> ``dancing``, ``see`` ->
    ``seeing``."""
    if base.endswith("ie"):
        return base[:-2] + "ying"
    if base.endswith("e") and not base.endswith(("ee", "ye", "oe")):
        return base[:-1] + "ing"
    if _doubles_final_consonant(base):
        return base + base[-1] + "ing"
    return base + "ing"


def regular_past(base: str) -> str:
    """The regular past (and past participle): ``jump`` -> ``jumped``, ``cry`` -> ``cried``,
    ``dance`` -> ``danced``, ``hug`` -> ``hugged``."""
    if base.endswith("e"):
        return base + "d"
    if base.endswith("y") and base[-2] not in _VOWELS:
        return base[:-1] + "ied"
    if _doubles_final_consonant(base):
        return base + base[-1] + "ed"
    return base + "ed"


def indefinite_article(next_word: str) -> str:
    """``an`` before a word spelled with a vowel first (the lexicon has no ``unicorn``-like
    exceptions), else ``a``."""
    return "an" if next_word[:1].lower() in _VOWELS else "a"
