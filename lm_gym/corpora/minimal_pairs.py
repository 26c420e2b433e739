"""BLiMP-style minimal pairs in English and Italian, from the parentese grammar.

A pair is a grammatical sentence and a copy of it with one agreeing word put in the wrong form:
only the verb's number changes (``The dogs run.`` / ``The dogs runs.``), only the article's
gender (``Il cane corre.`` / ``La cane corre.``), and so on. The good sentence is drawn by a
parentese template (:mod:`lm_gym.corpora.parentese_templates`), so a model trained on
parentese has seen the construction, and usually not the sentence: pairs come from their own
seed stream (``random.Random`` seeded with the phenomenon and ``seed``), apart from the corpus
streams, and a phenomenon's pairs do not change when other phenomena are asked for too.

Records follow BLiMP's JSONL: ``sentence_good``, ``sentence_bad``, ``field``
(``morphology``/``syntax``), ``linguistics_term``, ``UID`` (the phenomenon), ``pair_id`` and
``lang``. Write them with :func:`write_jsonl`; score them with
:func:`lm_gym.scoring.minimal_pair_accuracy`.

A pair whose bad form would be grammatical after all is never made: English subjects like
``the sheep`` and Italian nouns like ``re`` do not show their number, so number is not flipped
around them, and Italian participles are tested only with noun-phrase subjects, whose gender
is known (``sono andato`` and ``sono andata`` are both fine for ``I``). The clitic phenomenon is
the one that leans on discourse: the clitic answers the question before it (``Dov'è la palla?
La vedo.``), so ``Lo vedo`` is wrong because it cannot refer back to ``la palla``.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lm_gym.corpora.loaders import write_jsonl
from lm_gym.corpora.parentese import LANGUAGES, check_count, check_language, check_seed
from lm_gym.corpora.parentese_grammar import Token, Word, render
from lm_gym.corpora.parentese_templates import TEMPLATES

__all__ = ["PHENOMENA", "Phenomenon", "generate_minimal_pairs", "write_jsonl"]

_FRESH_TRIES = 50
"""Draws in a row that may repeat an earlier good sentence before a repeat is accepted (only
when a phenomenon's sentences run out)."""
_MAX_DRAWS_PER_PAIR = 1000
"""Draws without a usable sentence after which generation gives up (a bug guard)."""


@dataclass(frozen=True)
class Phenomenon:
    """One kind of minimal pair: where good sentences come from and which word goes wrong."""

    uid: str
    field: str
    """``morphology`` or ``syntax``, as in BLiMP."""
    term: str
    """BLiMP's ``linguistics_term``."""
    templates: tuple[tuple[str, int, tuple[tuple[str, object], ...]], ...]
    """``(template name, weight, keyword options)`` for drawing good sentences."""
    roles: frozenset[str]
    """Roles of the words that may be put in the wrong form."""
    features: tuple[str, ...] = ("number",)
    """Features that may be flipped (one per pair)."""


def _t(name: str, weight: int = 1, **options: object) -> tuple[str, int, tuple]:
    return name, weight, tuple(options.items())


_NP_PRESENT = _t("statement", 3, np_subject=True, tense="pres", neg=False)
_ANY_NPS = (_t("statement", 4), _t("describe", 3), _t("look", 2), _t("where", 2),
            _t("imperative", 2), _t("there_is", 1), _t("this_is", 1))  # fmt: skip

_EN = (
    Phenomenon("en_subject_verb_agreement", "morphology", "subject_verb_agreement",
               (_NP_PRESENT,), frozenset({"verb"})),
    Phenomenon("en_agreement_across_prepositional_phrase", "syntax", "subject_verb_agreement",
               (_t("prepositional_subject"),), frozenset({"verb", "be"})),
    Phenomenon("en_agreement_across_relative_clause", "syntax", "subject_verb_agreement",
               (_t("relative_subject"),), frozenset({"verb", "be"})),
    Phenomenon("en_be_agreement", "morphology", "subject_verb_agreement",
               (_t("describe", 3), _t("there_is", 2), _t("where", 2), _t("what_is", 1),
                _t("statement", 2, np_subject=True, tense="prog")), frozenset({"be"})),
    Phenomenon("en_do_agreement", "morphology", "subject_verb_agreement",
               (_t("question", 3, tense="pres"), _t("what_does", 2, tense="pres"),
                _t("statement", 2, np_subject=True, tense="pres", neg=True)),
               frozenset({"do"})),
    Phenomenon("en_determiner_noun_agreement", "morphology", "determiner_noun_agreement",
               _ANY_NPS, frozenset({"dem"})),
    Phenomenon("en_quantifier_noun_agreement", "morphology", "determiner_noun_agreement",
               (_t("look", 2), _t("there_is", 2), _t("statement", 1)), frozenset({"qnoun"})),
    Phenomenon("en_anaphor_number_agreement", "morphology", "anaphor_agreement",
               (_t("reflexive", np_subject=True),), frozenset({"refl"})),
    Phenomenon("en_irregular_past_participle", "morphology", "irregular_forms",
               (_t("statement", 2, np_subject=True, tense="past", neg=False),
                _t("statement", 1, np_subject=True, tense="perf"), _t("question", 1, tense="perf")),
               frozenset({"past", "pp"}), ("participle",)),
)  # fmt: skip

_GENDER_NUMBER = ("gender", "number")
_IT = (
    Phenomenon("it_article_noun_gender_agreement", "morphology", "determiner_noun_agreement",
               _ANY_NPS, frozenset({"det"}), ("gender",)),
    Phenomenon("it_article_noun_number_agreement", "morphology", "determiner_noun_agreement",
               _ANY_NPS, frozenset({"det"})),
    Phenomenon("it_demonstrative_noun_agreement", "morphology", "determiner_noun_agreement",
               _ANY_NPS, frozenset({"dem"}), _GENDER_NUMBER),
    Phenomenon("it_noun_adjective_gender_agreement", "morphology", "adjective_noun_agreement",
               (_t("describe", 4), _t("color", 2), _t("look", 1), _t("statement", 1),
                _t("exclaim", 1)), frozenset({"adj"}), ("gender",)),
    Phenomenon("it_noun_adjective_number_agreement", "morphology", "adjective_noun_agreement",
               (_t("describe", 4), _t("color", 2), _t("look", 1), _t("statement", 1)),
               frozenset({"adj"})),
    Phenomenon("it_subject_verb_agreement", "morphology", "subject_verb_agreement",
               (_NP_PRESENT,), frozenset({"verb"})),
    Phenomenon("it_agreement_across_prepositional_phrase", "syntax", "subject_verb_agreement",
               (_t("prepositional_subject"),), frozenset({"verb"})),
    Phenomenon("it_agreement_across_relative_clause", "syntax", "subject_verb_agreement",
               (_t("relative_subject"),), frozenset({"verb"})),
    Phenomenon("it_past_participle_agreement", "morphology", "participle_agreement",
               (_t("statement", 2, np_subject=True, tense="past"),
                _t("reflexive", 1, np_subject=True, tense="past")),
               frozenset({"part"}), _GENDER_NUMBER),
    Phenomenon("it_possessive_agreement", "morphology", "possessive_agreement",
               (_t("this_is", 2), _t("where", 2), _t("describe", 1), _t("statement", 1)),
               frozenset({"poss"}), _GENDER_NUMBER),
    Phenomenon("it_quantifier_noun_agreement", "morphology", "determiner_noun_agreement",
               (_t("how_many", 2), _t("there_is", 2), _t("statement", 2)),
               frozenset({"quant"}), _GENDER_NUMBER),
    Phenomenon("it_clitic_agreement", "syntax", "clitic_agreement",
               (_t("clitic"),), frozenset({"clitic"}), _GENDER_NUMBER),
)  # fmt: skip

_BY_LANG: dict[str, dict[str, Phenomenon]] = {
    "en": {p.uid: p for p in _EN},
    "it": {p.uid: p for p in _IT},
}
PHENOMENA: dict[str, tuple[str, ...]] = {lang: tuple(t) for lang, t in _BY_LANG.items()}
"""Language -> the UIDs of its phenomena."""


def _draw_pair(rng: random.Random, phenomenon: Phenomenon, side: int) -> tuple[str, str] | None:
    """A (good, bad) sentence pair in language ``side`` (0 English, 1 Italian), or None when
    the drawn sentence has no word to spoil."""
    weights = [weight for _, weight, _ in phenomenon.templates]
    name, _, options = rng.choices(phenomenon.templates, weights)[0]
    tokens: list[Token] = TEMPLATES[name][0](rng, **dict(options))[side]
    candidates = [
        (index, feature)
        for index, token in enumerate(tokens)
        if isinstance(token, Word) and token.role in phenomenon.roles
        for feature in phenomenon.features
        if feature in token.alts
    ]
    if not candidates:
        return None
    index, feature = rng.choice(candidates)
    bad = list(tokens)
    bad[index] = tokens[index].alts[feature]  # type: ignore[union-attr]
    return render(tokens), render(bad)


def _pairs(phenomenon: Phenomenon, lang: str, n: int, seed: int) -> list[dict]:
    rng = random.Random(f"{phenomenon.uid}:{seed}")
    records: list[dict] = []
    seen: set[str] = set()
    repeats = draws = 0
    while len(records) < n:
        draws += 1
        if draws > _MAX_DRAWS_PER_PAIR * (len(records) + 1):
            raise RuntimeError(f"{phenomenon.uid}: the templates give no sentence to spoil")
        pair = _draw_pair(rng, phenomenon, LANGUAGES.index(lang))
        if pair is None:
            continue
        good, bad = pair
        if good in seen and repeats < _FRESH_TRIES:
            repeats += 1
            continue
        repeats = 0
        seen.add(good)
        records.append({
            "sentence_good": good,
            "sentence_bad": bad,
            "field": phenomenon.field,
            "linguistics_term": phenomenon.term,
            "UID": phenomenon.uid,
            "pair_id": len(records),
            "lang": lang,
        })  # fmt: skip
    return records


def generate_minimal_pairs(
    lang: str,
    n_per_phenomenon: int = 200,
    seed: int = 0,
    phenomena: Sequence[str] | None = None,
) -> list[dict]:
    """BLiMP-style minimal pairs for ``lang``, phenomenon after phenomenon.

    Args:
        lang: ``"en"`` or ``"it"``.
        n_per_phenomenon: pairs per phenomenon (>= 0). Good sentences within a phenomenon are
            distinct as long as its grammar has enough of them.
        seed: seed of the pair streams; the same seed gives the same pairs.
        phenomena: UIDs to generate (default: all of :data:`PHENOMENA` ``[lang]``).

    Returns:
        Records with ``sentence_good``, ``sentence_bad``, ``field``, ``linguistics_term``,
        ``UID``, ``pair_id`` (0-based within the phenomenon) and ``lang``.

    Raises:
        ValueError: unknown ``lang`` or phenomenon, a repeated phenomenon, negative count.
        TypeError: ``phenomena`` is not a sequence of strings, or a count or seed is not an int.
    """
    table = _BY_LANG[check_language(lang)]
    n = check_count("n_per_phenomenon", n_per_phenomenon)
    seed = check_seed(seed)
    uids = list(table) if phenomena is None else _check_phenomena(phenomena, lang)
    return [record for uid in uids for record in _pairs(table[uid], lang, n, seed)]


def _check_phenomena(phenomena: object, lang: str) -> list[str]:
    if isinstance(phenomena, str) or not isinstance(phenomena, Iterable):
        raise TypeError("phenomena must be a sequence of UIDs, e.g. ['en_be_agreement']")
    uids = list(phenomena)
    for uid in uids:
        if not isinstance(uid, str):
            raise TypeError(f"phenomena must hold UID strings, got {uid!r}")
        if uid not in _BY_LANG[lang]:
            raise ValueError(f"unknown {lang} phenomenon {uid!r}; choose from {PHENOMENA[lang]}")
    if len(set(uids)) != len(uids):
        raise ValueError(f"phenomena repeats a UID: {uids}")
    return uids
