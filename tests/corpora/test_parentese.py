"""Tests of the parentese generator: API, determinism, lexicon coverage and morphology."""

from __future__ import annotations

import collections
import random
import re

import numpy as np
import pytest

from lm_gym.corpora import lexicon_en, lexicon_it
from lm_gym.corpora.lexicon import NAMES as NAME_NOUNS
from lm_gym.corpora.lexicon import NOUNS, PLACES, VERBS
from lm_gym.corpora.parentese import (
    LANGUAGES,
    generate_parallel,
    generate_parentese,
    lemma_forms,
    lemmas,
    words,
)
from lm_gym.corpora.parentese_grammar import (
    NP,
    PP,
    Clause,
    en_clause,
    it_clause,
    it_np,
    it_pp,
    render,
)
from lm_gym.corpora.parentese_templates import TEMPLATES

NOUN = {n.key: n for n in NOUNS}
NAMES = {n.key for n in NAME_NOUNS}
VERB = {v.en_base + (" " + v.en_particle if v.en_particle else ""): v for v in VERBS}


@pytest.fixture(scope="module")
def parallel() -> list[tuple[str, str]]:
    return generate_parallel(5000, seed=7)


def _lemma_index(lang: str) -> dict[str, set[str]]:
    index = collections.defaultdict(set)
    for lemma, forms in lemma_forms(lang).items():
        for form in forms:
            index[form].add(lemma)
    return index


def test_api_shapes_and_formatting(parallel):
    assert LANGUAGES == ("en", "it")
    assert len(parallel) == 5000
    for pair in parallel[:1000]:
        assert isinstance(pair, tuple) and len(pair) == 2
        for text in pair:
            assert text[0].isupper() or text[0] == "È", text
            assert text[-1] in ".!?", text
            assert "\n" not in text and "  " not in text, text
            assert not re.search(r" [.,!?:]", text), text
            # every sentence inside the utterance starts with a capital letter too
            assert not re.search(r"[.!?] [a-zà-ù]", text), text


def test_sides_are_parallel(parallel):
    """Both sides have the same sentences, end the same way and name the same people."""
    for en, it in parallel:
        assert en[-1] == it[-1], (en, it)
        assert len(re.findall(r"[.!?]", en)) == len(re.findall(r"[.!?]", it)), (en, it)
        assert {w for w in re.findall(r"\w+", en) if w in NAMES} == {
            w for w in re.findall(r"\w+", it) if w in NAMES}, (en, it)  # fmt: skip


def test_same_seed_same_text_and_other_seed_other_text():
    assert generate_parallel(300, seed=3) == generate_parallel(300, seed=3)
    assert generate_parallel(300, seed=3) != generate_parallel(300, seed=4)
    assert generate_parentese("it", 300, seed=np.int64(3)) == generate_parentese("it", 300, 3)


def test_one_language_is_one_side_of_the_parallel_corpus():
    pairs = generate_parallel(200, seed=11)
    assert generate_parentese("en", 200, seed=11) == [en for en, _ in pairs]
    assert generate_parentese("it", 200, seed=11) == [it for _, it in pairs]
    assert generate_parentese("en", 0) == []


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="unknown language"):
        generate_parentese("fr", 3)
    with pytest.raises(ValueError, match="n must be an integer >= 0"):
        generate_parallel(-1)
    with pytest.raises(TypeError, match="n must be an int"):
        generate_parentese("en", 2.5)
    with pytest.raises(TypeError, match="seed must be an int"):
        generate_parallel(2, seed="0")
    with pytest.raises(TypeError, match="bool"):
        generate_parallel(True)
    with pytest.raises(ValueError, match="unknown language"):
        lemmas("de")


def test_variety(parallel):
    assert len(set(parallel)) > 0.8 * len(parallel)
    lengths = [len(words(en)) for en, _ in parallel]
    assert min(lengths) >= 1 and max(lengths) <= 30 and 5 <= sum(lengths) / len(lengths) <= 10
    assert any(text.endswith("?") for text, _ in parallel)
    assert any(text.endswith("!") for text, _ in parallel)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_word_is_in_the_lexicon_and_300_lemmas_are_used(parallel, lang):
    side = LANGUAGES.index(lang)
    index = _lemma_index(lang)
    used = set()
    for pair in parallel:
        for word in words(pair[side]):
            assert word in index, f"{word!r} of {pair[side]!r} is not a form of any lemma"
            if len(index[word]) == 1:  # count only forms that name their lemma unambiguously
                used |= index[word]
    assert len(used) >= 300
    assert used <= lemmas(lang)


def test_lemmas_hold_content_and_function_words():
    assert {"dog", "run", "red", "the", "be", "park"} <= lemmas("en")
    assert {"cane", "correre", "rosso", "il", "essere", "parco"} <= lemmas("it")
    assert lemma_forms("it")["il"] == {"il", "lo", "l'", "la", "i", "gli", "le"}
    assert {"go", "goes", "went", "gone", "going"} <= lemma_forms("en")["go"]


def _np(key: str, number: int, det: str = "the") -> NP:
    return NP(NOUN[key], number, det)


def _say(c: Clause) -> tuple[str, str]:
    return render([*en_clause(c), "."]), render([*it_clause(c), "."])


def test_subject_verb_agreement_in_both_languages():
    run = VERB["run"]
    assert _say(Clause(_np("dog", 0), run, "intr")) == ("The dog runs.", "Il cane corre.")
    assert _say(Clause(_np("dog", 1), run, "intr")) == ("The dogs run.", "I cani corrono.")
    eat = VERB["eat"]
    c = Clause(_np("girl", 0), eat, "tr", obj=_np("apple", 0, "a"))
    assert _say(c) == ("The girl eats an apple.", "La bambina mangia una mela.")
    c = Clause(_np("mouse", 1), eat, "tr", neg=True, obj=_np("cheese", 0))
    assert _say(c) == ("The mice do not eat the cheese.", "I topi non mangiano il formaggio.")


def test_italian_participles_agree_with_essere_subjects():
    go, fall = VERB["go"], VERB["fall"]
    park = next(p for p in PLACES if p.en_lemma == "park")
    c = Clause(_np("girl", 0), go, "go", tense="past", place=park)
    assert _say(c) == ("The girl went to the park.", "La bambina è andata al parco.")
    c = Clause(_np("dog", 1), fall, "intr", tense="past")
    assert _say(c) == ("The dogs fell.", "I cani sono caduti.")
    hurt = VERB["hurt"]
    c = Clause(_np("girl", 1), hurt, "refl", tense="past")
    assert _say(c) == ("The girls hurt themselves.", "Le bambine si sono fatte male.")
    c = Clause(_np("girl", 0), VERB["take"], "tr", tense="past", obj=_np("ball", 0))
    assert _say(c) == ("The girl took the ball.", "La bambina ha preso la palla.")


def test_italian_articles_and_articulated_prepositions():
    cases = {
        ("dog", 0): "il cane", ("dog", 1): "i cani", ("backpack", 0): "lo zaino",
        ("backpack", 1): "gli zaini", ("tree", 0): "l'albero", ("tree", 1): "gli alberi",
        ("ball", 0): "la palla", ("ball", 1): "le palle", ("duck", 0): "l'anatra",
        ("uncle", 1): "gli zii", ("king", 1): "i re",
    }  # fmt: skip
    for (key, number), expected in cases.items():
        assert render(it_np(_np(key, number))).lower() == expected
    for key, expected in {"dog": "un cane", "backpack": "uno zaino", "tree": "un albero",
                          "ball": "una palla", "duck": "un'anatra"}.items():  # fmt: skip
        assert render(it_np(_np(key, 0, "a"))).lower() == expected
    assert render(it_pp(PP("on", _np("table", 0)))).lower() == "sul tavolo"
    assert render(it_pp(PP("near", _np("tree", 1)))).lower() == "vicino agli alberi"
    assert render(it_pp(PP("in", _np("box", 0, "my")))).lower() == "nella mia scatola"


def test_english_inflection_rules():
    assert [lexicon_en.noun_plural(w) for w in ("dog", "box", "cherry", "tomato", "day")] == [
        "dogs", "boxes", "cherries", "tomatoes", "days"]  # fmt: skip
    assert [lexicon_en.third_singular(w) for w in ("run", "wash", "cry", "go", "have")] == [
        "runs", "washes", "cries", "goes", "has"]  # fmt: skip
    assert [lexicon_en.present_participle(w) for w in ("run", "dance", "see", "open", "hug")] == [
        "running", "dancing", "seeing", "opening", "hugging"]  # fmt: skip
    assert [lexicon_en.regular_past(w) for w in ("jump", "cry", "dance", "pet", "play")] == [
        "jumped", "cried", "danced", "petted", "played"]  # fmt: skip
    assert NOUN["mouse"].en == ("mouse", "mice") and NOUN["sheep"].en == ("sheep", "sheep")


def test_italian_inflection_rules():
    plural = lexicon_it.noun_plural
    assert plural("parco", 0) == "parchi" and plural("orologio", 0) == "orologi"
    assert plural("mucca", 1) == "mucche" and plural("arancia", 1) == "arance"
    assert plural("ciliegia", 1) == "ciliegie" and plural("pirata", 0) == "pirati"
    assert plural("città", 1) == "città" and plural("autobus", 0) == "autobus"
    assert lexicon_it.adjective_forms("stanco") == ("stanco", "stanchi", "stanca", "stanche")
    assert lexicon_it.adjective_forms("grande") == ("grande", "grandi", "grande", "grandi")
    giocare = lexicon_it.conjugate("giocare")
    assert giocare.present == ("gioco", "giochi", "gioca", "giochiamo", "giocate", "giocano")
    assert lexicon_it.conjugate("mangiare").present[1] == "mangi"
    assert lexicon_it.conjugate("pulire", isc=True).present[5] == "puliscono"
    assert lexicon_it.conjugate("dormire").gerund == "dormendo"
    with pytest.raises(ValueError, match="6 present forms"):
        lexicon_it.conjugate("fare", present="faccio fai")


def test_every_template_is_deterministic():
    for name, (template, _) in TEMPLATES.items():
        first = template(random.Random(5))
        assert first == template(random.Random(5)), name
        assert render(first[0]) and render(first[1]), name
