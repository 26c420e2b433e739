"""Phrase structures of the parentese generator and their English and Italian realizations.

A template (:mod:`lm_gym.corpora.parentese`) builds one language-neutral structure (a noun
phrase, a clause) and realizes it twice, so the English and Italian sentences of a pair mean the
same thing. A realization is a list of tokens: plain strings, or :class:`Word` for a word that
agrees with something. A :class:`Word` records its *role* (``verb``, ``det``, ``adj``, ...) and
the forms it would take with one feature flipped (``{"gender": "rosso"}`` for ``rossa``);
:mod:`lm_gym.corpora.minimal_pairs` swaps in such a form to make a bad sentence that differs
from the good one in exactly that word and that feature.

Persons are indexed 0-5 (1sg, 2sg, 3sg, 1pl, 2pl, 3pl); flipping number adds or removes 3.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from lm_gym.corpora import lexicon_en
from lm_gym.corpora import lexicon_it as it
from lm_gym.corpora.lexicon import Adjective, Noun, Place, Verb


class Word(NamedTuple):
    """An inflected word: its text, its syntactic role, and its forms with a feature flipped."""

    text: str
    role: str
    alts: dict[str, str]


Token = str | Word

# ---------------------------------------------------------------------------- function words
EN_SUBJECT = ("I", "you", "", "we", "you", "they")
IT_SUBJECT = ("io", "tu", "", "noi", "voi", "loro")
EN_BE = ("am", "are", "is", "are", "are", "are")
EN_WAS = ("was", "were", "was", "were", "were", "were")
EN_REFLEXIVE = ("myself", "yourself", "", "ourselves", "yourselves", "themselves")
EN_REFLEXIVE_3SG = {"he": "himself", "she": "herself", "it": "itself"}
IT_REFLEXIVE = ("mi", "ti", "si", "ci", "vi", "si")
IT_CLITIC = ("lo", "li", "la", "le")
"""Direct-object clitics by agreement index; ``lo``/``la`` elide to ``l'`` before a vowel."""
ESSERE = it.conjugate("essere", present="sono sei è siamo siete sono", participle="stato")
AVERE = it.conjugate("avere", present="ho hai ha abbiamo avete hanno")
STARE = it.conjugate("stare", present="sto stai sta stiamo state stanno", imperative="stai")
VOLERE = it.conjugate("volere", present="voglio vuoi vuole vogliamo volete vogliono")
POTERE = it.conjugate("potere", present="posso puoi può possiamo potete possono")
IT_WAS = ("ero", "eri", "era", "eravamo", "eravate", "erano")
EN_NUMBERS = ("one", "two", "three", "four", "five")
IT_NUMBERS = ("uno", "due", "tre", "quattro", "cinque")
POSSESSORS = ("my", "your", "his", "her", "our", "their")
IT_POSSESSIVE = {  # agreement forms: m sg, m pl, f sg, f pl
    "my": ("mio", "miei", "mia", "mie"),
    "your": ("tuo", "tuoi", "tua", "tue"),
    "his": ("suo", "suoi", "sua", "sue"),
    "her": ("suo", "suoi", "sua", "sue"),
    "our": it.adjective_forms("nostro"),
    "their": it.adjective_forms("loro", invariable=True),
}
IT_QUESTO = it.adjective_forms("questo")
IT_QUELLO_PRONOUN = it.adjective_forms("quello")
IT_MOLTO = it.adjective_forms("molto")
IT_ALCUNO = it.adjective_forms("alcuno")
IT_TUTTO = it.adjective_forms("tutto")
IT_QUANTO = it.adjective_forms("quanto")
_IT_DEFINITE = frozenset({"il", "lo", "l'", "la", "i", "gli", "le"})

# key -> (English words, Italian words, Italian preposition fused with a definite article)
PREPOSITIONS = {
    "on": ("on", "", "su"),
    "in": ("in", "", "in"),
    "under": ("under", "sotto", ""),
    "near": ("near", "vicino", "a"),
    "next to": ("next to", "accanto", "a"),
    "behind": ("behind", "dietro", ""),
    "with": ("with", "con", ""),
    "to": ("to", "", "a"),
}

QUANTIFIED = frozenset({"a", "num", "many"})
"""Determiners after which the English noun's number is the agreement being tested."""


# ----------------------------------------------------------------------------- structures
@dataclass(slots=True)
class NP:
    """A noun phrase: determiner kind, noun, number, an optional adjective and modifier.

    ``det`` is one of ``the``, ``a``, ``some``, ``this``, ``that``, ``num`` (``count`` things),
    ``many``, ``all``, a possessor from :data:`POSSESSORS`, or ``bare`` (names).
    """

    noun: Noun
    number: int
    det: str
    adj: Adjective | None = None
    count: int = 2
    mod: PP | RC | None = None

    @property
    def person(self) -> int:
        return 2 + 3 * self.number


@dataclass(slots=True)
class Pronoun:
    """A personal-pronoun subject; ``overt`` says whether Italian says it (it is pro-drop)."""

    person: int
    gender: int
    overt: bool = False


@dataclass(slots=True)
class PP:
    """A prepositional phrase: a key of :data:`PREPOSITIONS` and its noun phrase."""

    prep: str
    np: NP


@dataclass(slots=True)
class RC:
    """A subject relative clause in the present (``that chases the cat``)."""

    verb: Verb
    obj: NP | None = None


@dataclass(slots=True)
class Clause:
    """A clause: subject, verb, frame (see :mod:`lm_gym.corpora.lexicon`), tense (``pres``,
    ``prog``, ``past``, ``perf``, ``want``, ``can``, ``shall``), complements and negation.
    The English simple past and present perfect are both the Italian *passato prossimo*."""

    subj: NP | Pronoun
    verb: Verb
    frame: str
    tense: str = "pres"
    obj: NP | None = None
    place: Place | None = None
    loc: PP | None = None
    recipient: NP | None = None
    neg: bool = False


def agree(forms: tuple[str, str, str, str], gender: int, number: int, role: str) -> Word:
    """The form of an agreeing word, with its gender- and number-flipped forms as alts."""
    text = forms[gender * 2 + number]
    alts = {}
    if (other := forms[(1 - gender) * 2 + number]) != text:
        alts["gender"] = other
    if (other := forms[gender * 2 + 1 - number]) != text:
        alts["number"] = other
    return Word(text, role, alts)


def by_person(forms: tuple[str, ...], person: int, role: str, marked: bool = True) -> Word:
    """A verb form for ``person``, with the form for the other number as its ``number`` alt.

    ``marked=False`` (the subject does not show its number, as in English ``the sheep``)
    leaves out the alt: with such a subject the other form is not a mistake.
    """
    text = forms[person]
    other = forms[(person + 3) % 6]
    return Word(text, role, {"number": other} if marked and other != text else {})


_EN_NUMBER_DETS = frozenset({"a", "this", "that", "num", "many"})


def en_marks_number(subj: NP | Pronoun) -> bool:
    """Whether an English subject shows its number (``the sheep`` does not)."""
    if isinstance(subj, Pronoun):
        return True
    return subj.noun.en[0] != subj.noun.en[1] or subj.det in _EN_NUMBER_DETS


def subject_features(subj: NP | Pronoun) -> tuple[int, int, str]:
    """Person index, Italian gender and English 3sg pronoun of a subject."""
    if isinstance(subj, NP):
        return subj.person, subj.noun.gender, subj.noun.pronoun
    return subj.person, subj.gender, "she" if subj.gender == it.FEM else "he"


# -------------------------------------------------------------------------------- English
def en_np(np: NP) -> list[Token]:
    """``the big dog``, ``these balls``, ``Mommy``, ``two cats on the table``."""
    noun, number = np.noun, np.number
    text = noun.en[number]
    if np.det in QUANTIFIED and noun.en[1] != noun.en[0]:
        head: Token = Word(text, "qnoun", {"number": noun.en[1 - number]})
    else:
        head = text
    if "kin" in noun.tags and np.det == "the":
        return [text.capitalize(), *_en_modifier(np.mod, np)]
    out: list[Token] = []
    det = np.det
    if det == "a":
        out.append(lexicon_en.indefinite_article(np.adj.en if np.adj else text))
    elif det in ("this", "that"):
        forms = ("this", "these") if det == "this" else ("that", "those")
        invariable = noun.en[0] == noun.en[1]  # "this sheep" and "these sheep" are both fine
        out.append(Word(forms[number], "dem", {} if invariable else {"number": forms[1 - number]}))
    elif det == "num":
        out.append(EN_NUMBERS[np.count - 1])
    elif det == "all":
        out += ["all", "the"]
    elif det != "bare":
        out.append(det)  # the, some, many, my, your, ...
    if np.adj:
        out.append(np.adj.en)
    out.append(head)
    return out + _en_modifier(np.mod, np)


def _en_modifier(mod: PP | RC | None, head: NP) -> list[Token]:
    if mod is None:
        return []
    if isinstance(mod, PP):
        return en_pp(mod)
    verb = mod.verb
    out: list[Token] = ["who" if "person" in head.noun.tags else "that"]
    out.append(by_person(_en_present(verb), head.person, "rc_verb", en_marks_number(head)))
    if verb.en_particle:
        out.append(verb.en_particle)
    return out + (en_np(mod.obj) if mod.obj else [])


def en_pp(pp: PP) -> list[Token]:
    return [PREPOSITIONS[pp.prep][0], *en_np(pp.np)]


def _en_present(verb: Verb) -> tuple[str, ...]:
    return (verb.en_base,) * 2 + (verb.en_s3,) + (verb.en_base,) * 3


def en_subject(subj: NP | Pronoun) -> list[Token]:
    if isinstance(subj, NP):
        return en_np(subj)
    word = EN_SUBJECT[subj.person] or subject_features(subj)[2]
    return [word]


def en_be(person: int, past: bool = False, marked: bool = True) -> Word:
    """``am``/``is``/``are`` (``was``/``were``), role ``be``; see :func:`by_person`."""
    return by_person(EN_WAS if past else EN_BE, person, "be", marked)


def en_verb_group(c: Clause, question: bool = False) -> tuple[list[Token], list[Token]]:
    """(auxiliary, rest) of the English verb group; a question puts the subject between."""
    verb, person = c.verb, subject_features(c.subj)[0]
    marked = en_marks_number(c.subj)
    needs_do = question or c.neg
    do = by_person(("do", "do", "does", "do", "do", "do"), person, "do", marked)
    aux: list[Token] = []
    if c.tense == "pres" and needs_do:
        aux, main = [do], [verb.en_base]
    elif c.tense == "pres":
        main = [by_person(_en_present(verb), person, "verb", marked)]
    elif c.tense == "past" and needs_do:
        aux, main = ["did"], [verb.en_base]
    elif c.tense == "past":
        # "ran" -> "run" would be a present tense, not a wrong past: only distinct participles
        wrong = verb.en_participle not in (verb.en_past, verb.en_base)
        main = [Word(verb.en_past, "past", {"participle": verb.en_participle} if wrong else {})]
    elif c.tense == "perf":
        # "has eaten" -> "has ate"; a participle like "run" has no distinct past to swap in
        wrong = verb.en_past not in (verb.en_participle, verb.en_base)
        aux = [by_person(("have", "have", "has", "have", "have", "have"), person, "have", marked)]
        main = [Word(verb.en_participle, "pp", {"participle": verb.en_past} if wrong else {})]
    elif c.tense == "prog":
        aux, main = [en_be(person, marked=marked)], [verb.en_ing]
    elif c.tense == "want" and needs_do:
        aux, main = [do], ["want", "to", verb.en_base]
    elif c.tense == "want":
        want = by_person(("want", "want", "wants", "want", "want", "want"), person, "verb", marked)
        main = [want, "to", verb.en_base]
    else:  # can, shall
        aux, main = [c.tense], [verb.en_base]
    if verb.en_particle:
        main.append(verb.en_particle)
    if c.neg:
        aux.append("not")
    return aux, main + _en_complements(c)


def _en_complements(c: Clause) -> list[Token]:
    out: list[Token] = []
    if c.frame == "refl" and c.verb.en_reflexive:
        person, _, pronoun = subject_features(c.subj)
        forms = list(EN_REFLEXIVE)
        forms[2] = EN_REFLEXIVE_3SG[pronoun]  # also the singular of "the dogs ... themselves"
        # Singular "themselves" may refer to one person of unknown gender: flip only from
        # the plural, or from a singular that is not a person.
        marked = en_marks_number(c.subj) and (person == 5 or pronoun == "it")
        out.append(by_person(tuple(forms), person, "refl", marked))
    if c.obj:
        out += en_np(c.obj)
    if c.recipient:
        out += ["to", *en_np(c.recipient)]
    if c.place:
        out += (c.place.en_to if c.frame == "go" else c.place.en_at).split()
    if c.loc:
        out += en_pp(c.loc)
    return out


def en_clause(c: Clause, question: bool = False, subject: list[Token] | None = None) -> list:
    """A declarative clause, or a yes/no question (auxiliary first) with ``question``."""
    aux, rest = en_verb_group(c, question)
    subj = en_subject(c.subj) if subject is None else subject
    if question:
        return [*aux[:1], *subj, *aux[1:], *rest]
    return [*subj, *aux, *rest]


# -------------------------------------------------------------------------------- Italian
def it_np(np: NP) -> list[Token]:
    """``il cane grande``, ``queste palle``, ``la mia mamma``, ``due gatti sul tavolo``."""
    noun, number, gender = np.noun, np.number, np.noun.gender
    text = noun.it[number]
    det = np.det
    out: list[Token] = []
    if det == "the" or det == "all":
        if det == "all":
            out.append(agree(IT_TUTTO, gender, number, "quant"))
        out.append(_article(gender, number, text))
    elif det == "a":
        alt = it.indefinite_article(1 - gender, text)
        article = it.indefinite_article(gender, text)
        out.append(Word(article, "det", {"gender": alt} if alt != article else {}))
    elif det == "this":
        out.append(agree(IT_QUESTO, gender, number, "dem"))
    elif det == "that":
        alts = {"gender": it.quello(1 - gender, number, text),
                "number": it.quello(gender, 1 - number, text)}  # fmt: skip
        word = it.quello(gender, number, text)
        out.append(Word(word, "dem", {k: v for k, v in alts.items() if v != word}))
    elif det == "num":
        out.append(IT_NUMBERS[np.count - 1])
    elif det == "many":
        out.append(agree(IT_MOLTO, gender, number, "quant"))
    elif det == "some":
        out.append(agree(IT_ALCUNO, gender, number, "quant"))
    elif det in IT_POSSESSIVE:
        possessive = agree(IT_POSSESSIVE[det], gender, number, "poss")
        # "mio zio", "tua sorella": no article before one unmodified relative (but "loro")
        bare = "family" in noun.tags and not number and not np.adj and det != "their"
        out += [possessive] if bare else [_article(gender, number, possessive.text), possessive]
    if noun.it[0] == noun.it[1]:  # "il re" and "i re" are both fine: only gender can be wrong
        out = [_without_number(t) for t in out]
    out.append(text)
    if np.adj:
        out.append(agree(np.adj.it, gender, number, "adj"))
    return out + _it_modifier(np.mod, np)


def _without_number(token: Token) -> Token:
    if isinstance(token, Word) and token.role in ("det", "dem") and "number" in token.alts:
        return Word(token.text, token.role, {k: v for k, v in token.alts.items() if k != "number"})
    return token


def _article(gender: int, number: int, next_word: str) -> Word:
    text = it.definite_article(gender, number, next_word)
    alts = {}
    if (other := it.definite_article(1 - gender, number, next_word)) != text:
        alts["gender"] = other
    if (other := it.definite_article(gender, 1 - number, next_word)) != text:
        alts["number"] = other
    return Word(text, "det", alts)


def _it_modifier(mod: PP | RC | None, head: NP) -> list[Token]:
    if mod is None:
        return []
    if isinstance(mod, PP):
        return it_pp(mod)
    out: list[Token] = ["che", by_person(mod.verb.it.present, head.person, "rc_verb")]
    return out + (it_np(mod.obj) if mod.obj else [])


def it_pp(pp: PP) -> list[Token]:
    """``sul tavolo``, ``vicino alla porta``, ``sotto il letto``, ``nella mia borsa``."""
    _, words, fused = PREPOSITIONS[pp.prep]
    out: list[Token] = words.split()
    phrase = it_np(pp.np)
    first = phrase[0]
    if fused and isinstance(first, Word) and first.text in _IT_DEFINITE and first.role == "det":
        return [*out, it.articulated(fused, first.text), *phrase[1:]]
    return [*out, *([fused] if fused else []), *phrase]


def it_subject(subj: NP | Pronoun) -> list[Token]:
    if isinstance(subj, NP):
        return it_np(subj)
    if not subj.overt:
        return []
    word = IT_SUBJECT[subj.person] or ("lei" if subj.gender == it.FEM else "lui")
    return [word]


def it_verb_group(c: Clause) -> list[Token]:
    """Negation, clitics, the finite verb (role ``verb``/``aux``) and what follows it."""
    verb = c.verb
    person, gender, _ = subject_features(c.subj)
    reflexive = c.frame == "refl"
    out: list[Token] = ["non"] if c.neg else []
    if reflexive and c.tense not in ("want", "can"):
        out.append(IT_REFLEXIVE[person])
    if c.tense in ("pres", "shall"):  # "shall we play?" is "giochiamo?"
        out.append(by_person(verb.it.present, person, "verb"))
    elif c.tense == "prog":
        out += [by_person(STARE.present, person, "verb"), verb.it.gerund]
    elif c.tense in ("past", "perf"):
        if reflexive or verb.essere:
            participle = agree(it.adjective_forms(verb.it.participle), gender, person // 3, "part")
            out += [by_person(ESSERE.present, person, "aux"), participle]
        else:
            out += [by_person(AVERE.present, person, "aux"), verb.it.participle]
    else:  # want, can
        modal = VOLERE if c.tense == "want" else POTERE
        infinitive = verb.it.infinitive
        if reflexive:
            infinitive = infinitive[:-1] + IT_REFLEXIVE[person]
        out += [by_person(modal.present, person, "verb"), infinitive]
    if verb.it_complement:
        out.append(verb.it_complement)
    return out + _it_complements(c)


def _it_complements(c: Clause) -> list[Token]:
    out: list[Token] = []
    if c.obj:
        out += it_np(c.obj)
    if c.recipient:
        out += it_pp(PP("to", c.recipient))
    if c.place:
        out += (c.place.it_to if c.frame == "go" else c.place.it_at).split()
    if c.loc:
        out += it_pp(c.loc)
    return out


def it_clause(c: Clause, subject: list[Token] | None = None) -> list[Token]:
    """A declarative clause (an Italian yes/no question has the same words)."""
    return [*(it_subject(c.subj) if subject is None else subject), *it_verb_group(c)]


# ------------------------------------------------------------------------------- rendering
_ATTACHED = ".,!?:"
_SENTENCE_START = re.compile(r"(?<=[.!?] )\w")


def render(tokens: list[Token]) -> str:
    """Join tokens into one utterance: spaces between words, none before punctuation or after
    an elided form (``l'albero``), a capital letter at the start of every sentence."""
    text = " ".join([t if isinstance(t, str) else t.text for t in tokens])
    for mark in _ATTACHED:
        text = text.replace(" " + mark, mark)
    text = text.replace("' ", "'")
    text = text[0].upper() + text[1:]
    if "? " in text or ". " in text or "! " in text:  # a second sentence
        text = _SENTENCE_START.sub(_upper, text)
    return text


def _upper(match: re.Match[str]) -> str:
    return match.group(0).upper()
