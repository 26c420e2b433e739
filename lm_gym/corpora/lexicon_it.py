"""Italian inflection for the parentese lexicon: plurals, agreement, articles and verbs.

Agreement forms are indexed by ``gender * 2 + number`` with gender 0 = masculine, 1 = feminine
and number 0 = singular, 1 = plural, so ``forms[agreement(gender, number)]`` is one tuple
lookup. Articles depend on the next word's first sounds (``il cane``, ``lo zaino``,
``l'albero``, ``gli alberi``), so they are chosen from that word. Only irregular verbs are
spelled out; the rest are conjugated from the infinitive by the three regular patterns.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

MASC, FEM = 0, 1
SG, PL = 0, 1
_VOWELS = frozenset("aeiouàèéìòù")
_ACCENTED = frozenset("àèéìòù")


def agreement(gender: int, number: int) -> int:
    """Index of the form for ``gender`` and ``number`` in a 4-form agreement tuple."""
    return gender * 2 + number


def noun_plural(singular: str, gender: int) -> str:
    """The regular plural of a noun (irregular ones are given in the lexicon).

    ``cane`` -> ``cani``, ``parco`` -> ``parchi``, ``orologio`` -> ``orologi``,
    ``mucca`` -> ``mucche``, ``arancia`` -> ``arance``, ``ciliegia`` -> ``ciliegie``,
    ``pirata`` (m) -> ``pirati``; words ending in a consonant or an accented vowel
    (``autobus``, ``città``) do not change.
    """
    last = singular[-1]
    if last in _ACCENTED or last not in _VOWELS:
        return singular
    if singular.endswith(("co", "go")):
        return singular[:-1] + "hi"
    if singular.endswith("io"):
        return singular[:-1]
    if last in "oe" or gender == MASC:
        return singular[:-1] + "i"
    if singular.endswith(("ca", "ga")):
        return singular[:-1] + "he"
    if singular.endswith(("cia", "gia")) and singular[-4] not in _VOWELS:
        return singular[:-2] + "e"
    return singular[:-1] + "e"


def adjective_forms(masculine: str, invariable: bool = False) -> tuple[str, str, str, str]:
    """The four agreement forms (m sg, m pl, f sg, f pl) of an adjective or participle.

    ``rosso`` -> rosso/rossi/rossa/rosse, ``grande`` -> grande/grandi/grande/grandi,
    ``stanco`` -> stanco/stanchi/stanca/stanche, ``grigio`` -> grigio/grigi/grigia/grigie;
    ``blu`` (``invariable=True``) never changes.
    """
    if invariable:
        return (masculine,) * 4
    if masculine.endswith("e"):
        plural = masculine[:-1] + "i"
        return masculine, plural, masculine, plural
    stem = masculine[:-1]
    if masculine.endswith(("co", "go")):
        return masculine, stem + "hi", stem + "a", stem + "he"
    if masculine.endswith("io"):
        return masculine, stem, stem + "a", stem + "e"
    return masculine, stem + "i", stem + "a", stem + "e"


@cache
def onset(word: str) -> str:
    """How a word starts, for article choice: ``vowel``, ``impure`` (s + consonant, z, gn, ps,
    x, y: the ``lo``/``gli``/``uno`` words) or ``consonant``."""
    first = word[0].lower()
    if first in _VOWELS:
        return "vowel"
    if (first == "s" and word[1:2].lower() not in _VOWELS) or first in "zxy":
        return "impure"
    return "impure" if word.lower().startswith(("gn", "ps", "pn")) else "consonant"


# (gender, number) -> form before a vowel, an impure consonant, another consonant.
_DEFINITE = {
    (MASC, SG): ("l'", "lo", "il"),
    (MASC, PL): ("gli", "gli", "i"),
    (FEM, SG): ("l'", "la", "la"),
    (FEM, PL): ("le", "le", "le"),
}
_INDEFINITE = {MASC: ("un", "uno", "un"), FEM: ("un'", "una", "una")}
_QUELLO = {
    (MASC, SG): ("quell'", "quello", "quel"),
    (MASC, PL): ("quegli", "quegli", "quei"),
    (FEM, SG): ("quell'", "quella", "quella"),
    (FEM, PL): ("quelle", "quelle", "quelle"),
}
_ONSET_INDEX = {"vowel": 0, "impure": 1, "consonant": 2}


def definite_article(gender: int, number: int, next_word: str) -> str:
    """``il``/``lo``/``l'``/``i``/``gli``/``la``/``le`` for the word that follows."""
    return _DEFINITE[gender, number][_ONSET_INDEX[onset(next_word)]]


def indefinite_article(gender: int, next_word: str) -> str:
    """``un``/``uno``/``una``/``un'`` for the word that follows (singular only)."""
    return _INDEFINITE[gender][_ONSET_INDEX[onset(next_word)]]


def quello(gender: int, number: int, next_word: str) -> str:
    """The demonstrative ``quello`` before a noun, which inflects like the definite article."""
    return _QUELLO[gender, number][_ONSET_INDEX[onset(next_word)]]


_PREPOSITION_BASE = {"di": "de", "a": "a", "da": "da", "in": "ne", "su": "su"}
_ARTICLE_TAIL = {"il": "l", "lo": "llo", "l'": "ll'", "la": "lla", "i": "i", "gli": "gli"}


def articulated(preposition: str, article: str) -> str:
    """A preposition fused with a definite article: ``su`` + ``il`` -> ``sul``, ``a`` + ``l'``
    -> ``all'``, ``in`` + ``le`` -> ``nelle``."""
    return _PREPOSITION_BASE[preposition] + _ARTICLE_TAIL.get(article, "lle")


@dataclass(frozen=True)
class ItalianVerb:
    """The forms of one Italian verb that the generator uses."""

    infinitive: str
    """Without a reflexive ``si``: ``lavare`` for ``lavarsi``."""
    present: tuple[str, str, str, str, str, str]
    """Present indicative, persons 1sg, 2sg, 3sg, 1pl, 2pl, 3pl."""
    participle: str
    """Past participle, masculine singular (see :func:`adjective_forms` for agreement)."""
    gerund: str
    imperative: str
    """Second person singular affirmative imperative."""


_ENDINGS = {
    "are": ("o", "i", "a", "iamo", "ate", "ano"),
    "ere": ("o", "i", "e", "iamo", "ete", "ono"),
    "ire": ("o", "i", "e", "iamo", "ite", "ono"),
    "isc": ("isco", "isci", "isce", "iamo", "ite", "iscono"),
}
_PARTICIPLE = {"are": "ato", "ere": "uto", "ire": "ito"}


def conjugate(
    infinitive: str,
    *,
    present: str | None = None,
    participle: str | None = None,
    gerund: str | None = None,
    imperative: str | None = None,
    isc: bool = False,
) -> ItalianVerb:
    """Conjugate a verb by its regular pattern, with any irregular forms given explicitly.

    Args:
        infinitive: ``mangiare``, ``prendere``, ``dormire``.
        present: the six present forms, space-separated, when irregular.
        participle: the past participle when irregular (``preso``).
        gerund: the gerund when irregular (``facendo``).
        imperative: the 2sg imperative when irregular (``vai``); ``""`` for a verb not used
            in the imperative (``volere``).
        isc: an ``-ire`` verb of the ``finisco`` type (``pulisco``).
    """
    stem, ending = infinitive[:-3], infinitive[-3:]
    if present is None:
        endings = _ENDINGS["isc" if isc else ending]
        forms = []
        for suffix in endings:
            spelled = stem
            if suffix[0] in "ie" and ending == "are":
                if stem.endswith(("c", "g")):
                    spelled = stem + "h"  # gioc-are -> giochi, giochiamo
                elif stem.endswith("i"):
                    spelled = stem[:-1]  # mangi-are -> mangi, mangiamo
            forms.append(spelled + suffix)
        present_forms = tuple(forms)
    else:
        present_forms = tuple(present.split())
    if len(present_forms) != 6:
        raise ValueError(f"{infinitive}: need 6 present forms, got {present_forms}")
    if imperative is None:
        imperative = stem + ("a" if ending == "are" else "isci" if isc else "i")
    return ItalianVerb(
        infinitive=infinitive,
        present=present_forms,  # type: ignore[arg-type]
        participle=participle or stem + _PARTICIPLE[ending],
        gerund=gerund or stem + ("ando" if ending == "are" else "endo"),
        imperative=imperative,
    )
