"""Utterance templates of the parentese generator: what parents say to small children.

Each template draws a language-neutral structure with the caller's ``random.Random`` and
returns its English and Italian token lists (see :mod:`lm_gym.corpora.parentese_grammar`):
naming games ("Look, a dog!"), "what is this?" games, descriptions, statements about now and
about the past, yes/no and wh-questions, imperatives, existentials, counting, praise. Keyword
options let :mod:`lm_gym.corpora.minimal_pairs` ask for a particular shape (a noun-phrase
subject, the present tense) without a second copy of the grammar.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from lm_gym.corpora import lexicon_it as it
from lm_gym.corpora.lexicon import (
    ADJECTIVES,
    CONCRETE,
    MOVABLE,
    NAMES,
    PLACES,
    VERBS,
    Adjective,
)
from lm_gym.corpora.parentese_grammar import (
    AVERE,
    EN_NUMBERS,
    ESSERE,
    IT_CLITIC,
    IT_NUMBERS,
    IT_QUANTO,
    IT_QUELLO_PRONOUN,
    IT_QUESTO,
    IT_WAS,
    NP,
    PP,
    RC,
    STARE,
    Clause,
    Pronoun,
    Token,
    agree,
    by_person,
    en_be,
    en_clause,
    en_marks_number,
    en_np,
    en_pp,
    en_subject,
    en_verb_group,
    it_clause,
    it_np,
    it_pp,
    it_verb_group,
)
from lm_gym.corpora.parentese_sampling import (
    adjectives_for,
    choose,
    location,
    make_clause,
    make_np,
    nouns_with,
    pick_np,
    verbs_with,
)

Pair = tuple[list[Token], list[Token]]
_MOVABLE = MOVABLE | {"animal"}
_GOOD = next(a for a in ADJECTIVES if a.en == "good")  # "bravo" for praise
_COLOR_NAMES = ("red", "blue", "yellow", "green", "white", "black", "pink", "orange", "purple",
                "brown", "grey")  # fmt: skip


def _pronoun_en(np: NP) -> str:
    return "they" if np.number else np.noun.pronoun


def _predicate(rng: random.Random, np: NP, adj: Adjective | None = None, past: bool = False,
               neg: bool = False, very: bool = False) -> Pair:  # fmt: skip
    """``the ball is (not) (very) red`` / ``la palla (non) è (molto) rossa``."""
    adj = adj or rng.choice(adjectives_for(np.noun))
    person, gender = np.person, np.noun.gender
    en = [*en_np(np), en_be(person, past, en_marks_number(np)), *(["not"] if neg else []),
          *(["very"] if very else [])]  # fmt: skip
    it_ = [*it_np(np), *(["non"] if neg else []), by_person(IT_WAS if past else ESSERE.present,
           person, "verb"), *(["molto"] if very else [])]  # fmt: skip
    return [*en, adj.en], [*it_, agree(adj.it, gender, np.number, "adj")]


# ----------------------------------------------------------------------------- templates
def look(rng: random.Random) -> Pair:
    """Naming game: ``Look, a dog!`` / ``Guarda, un cane!``; ``Look at the big cat!`` /
    ``Guarda il gatto grande!``."""
    if rng.random() < 0.5:
        np = pick_np(rng, CONCRETE - {"person"}, countable=True, dets=(("a", 3), ("num", 1)))
        if np.det == "num":
            np.number = 1
        elif np.det == "a":
            np.number = 0
        return ["look", ",", *en_np(np), "!"], ["guarda", ",", *it_np(np), "!"]
    np = pick_np(rng, CONCRETE)
    return ["look", "at", *en_np(np), "!"], ["guarda", *it_np(np), "!"]


def what_is(rng: random.Random) -> Pair:
    """Guessing game: ``What is this? It is a ball.`` / ``Che cos'è questo? È una palla.``."""
    np = pick_np(rng, CONCRETE - {"person", "body"}, countable=True, dets=(("a", 1),))
    near = rng.random() < 0.6
    if rng.random() < 0.25:
        np.number, np.det = 1, "bare"
        en = ["what", "are", "these" if near else "those", "?", "they"]
        it_ = ["che", "cosa", "sono", "questi" if near else "quelli", "?", "sono"]
    else:
        np.number = 0
        en = ["what", "is", "this" if near else "that", "?", "it"]
        it_ = ["che", "cos'", "è", "questo" if near else "quello", "?", "è"]
    return [*en, en_be(np.person), *en_np(np), "."], [*it_, *it_np(np), "."]


def this_is(rng: random.Random) -> Pair:
    """Showing: ``This is my ball.`` / ``Questa è la mia palla.``; ``Who is this? It is
    Grandma.``."""
    np = pick_np(rng, CONCRETE, dets=(("a", 3), ("the", 2), ("poss", 3)))
    if np.number:
        np.det = "bare" if np.det == "a" else np.det
    near = rng.random() < 0.6
    forms = IT_QUESTO if near else IT_QUELLO_PRONOUN
    pronoun = forms[it.agreement(np.noun.gender, np.number)]
    en_dem = ("these" if near else "those") if np.number else ("this" if near else "that")
    be = en_be(np.person)
    it_be = ESSERE.present[np.person]
    if "person" in np.noun.tags and np.number == 0 and rng.random() < 0.5:
        return (["who", "is", en_dem, "?", "it", be, *en_np(np), "."],
                ["chi", "è", pronoun, "?", it_be, *it_np(np), "."])  # fmt: skip
    return [en_dem, be, *en_np(np), "."], [pronoun, it_be, *it_np(np), "."]


def describe(rng: random.Random) -> Pair:
    """Description: ``The ball is red.`` / ``La palla è rossa.``; ``The dogs were not very
    tired.``."""
    np = pick_np(rng, CONCRETE, dets=(("the", 6), ("this", 1), ("that", 1), ("poss", 2)),
                 adj_p=0.1)  # fmt: skip
    en, it_ = _predicate(rng, np, past=rng.random() < 0.15, neg=rng.random() < 0.12,
                         very=rng.random() < 0.15)  # fmt: skip
    return [*en, "."], [*it_, "."]


def statement(rng: random.Random, **options) -> Pair:
    """A declarative clause, with a time word for the past and "look" for the progressive."""
    c = make_clause(rng, **options)
    en, it_, end = [], [], "."
    if c.tense == "past" and rng.random() < 0.35:
        en, it_ = (["yesterday"], ["ieri"]) if rng.random() < 0.6 else (
            ["this", "morning"], ["stamattina"])  # fmt: skip
    elif c.tense == "prog" and rng.random() < 0.4:
        en, it_, end = ["look", ","], ["guarda", ","], "!"
    return [*en, *en_clause(c), end], [*it_, *it_clause(c), end]


def question(rng: random.Random, **options) -> Pair:
    """Yes/no question: ``Does the cat sleep?`` / ``Il gatto dorme?``; ``Do you want to play?``
    / ``Vuoi giocare?``."""
    options.setdefault("tense", choose(rng, (("pres", 40), ("past", 15), ("perf", 10),
                                             ("prog", 15), ("want", 12), ("can", 8))))  # fmt: skip
    if "subject" not in options and rng.random() < 0.35:
        options["subject"] = Pronoun(1, int(rng.random() < 0.5))
        options["needs"] = "person"
    c = make_clause(rng, neg=False, **options)
    return [*en_clause(c, question=True), "?"], [*it_clause(c), "?"]


def what_does(rng: random.Random, **options) -> Pair:
    """What-question: ``What does the cat eat?`` / ``Cosa mangia il gatto?``; ``What is the dog
    doing? It is sleeping.`` / ``Cosa sta facendo il cane? Sta dormendo.``."""
    if rng.random() < 0.3:
        c = make_clause(rng, frame="intr", tense="prog", neg=False, np_subject=True)
        person = c.subj.person
        en = ["what", en_be(person, marked=en_marks_number(c.subj)), *en_np(c.subj), "doing", "?"]
        it_ = ["cosa", by_person(STARE.present, person, "verb"), "facendo", *it_np(c.subj), "?"]
        answer_en = en_clause(c, subject=[_pronoun_en(c.subj)])
        return [*en, *answer_en, "."], [*it_, *it_clause(c, subject=[]), "."]
    options.setdefault("tense", choose(rng, (("pres", 6), ("past", 3), ("perf", 1), ("prog", 2))))
    c = make_clause(rng, frame="tr", neg=False, **options)
    c.obj = None
    aux, rest = en_verb_group(c, question=True)
    subject = it_np(c.subj) if isinstance(c.subj, NP) else []
    return (["what", *aux[:1], *en_subject(c.subj), *aux[1:], *rest, "?"],
            ["cosa", *it_verb_group(c), *subject, "?"])  # fmt: skip


def who(rng: random.Random) -> Pair:
    """Who-question: ``Who went to the park?`` / ``Chi è andato al parco?``."""
    frame = choose(rng, (("tr", 3), ("intr", 1), ("go", 1), ("place", 1)))
    tense = choose(rng, (("pres", 2), ("past", 2), ("prog", 1)))
    c = make_clause(rng, frame=frame, tense=tense, neg=False, needs="person",
                    subject=Pronoun(2, it.MASC))  # fmt: skip
    return [*en_clause(c, subject=["who"]), "?"], [*it_clause(c, subject=["chi"]), "?"]


def where(rng: random.Random) -> Pair:
    """Where-question: ``Where are the shoes? They are under the bed.`` / ``Dove sono le
    scarpe? Sono sotto il letto.``."""
    np = pick_np(rng, _MOVABLE | {"person", "body"},
                 dets=(("the", 5), ("poss", 4), ("this", 1), ("that", 1)), adj_p=0.15)  # fmt: skip
    person = np.person
    en = ["where", en_be(person, marked=en_marks_number(np)), *en_np(np), "?"]
    it_ = ["dove", "sono"] if np.number else ["dov'", "è"]
    it_ += [*it_np(np), "?"]
    if rng.random() < 0.4:
        return en, it_
    if rng.random() < 0.7 or not np.noun.tags & {"person", "animal"}:
        loc = location(rng)
        en_where, it_where = en_pp(loc), it_pp(loc)
    else:
        place = rng.choice(PLACES)
        en_where, it_where = place.en_at.split(), place.it_at.split()
    answer = [_pronoun_en(np), en_be(person), *en_where, "."]
    return [*en, *answer], [*it_, ESSERE.present[person], *it_where, "."]


_IMPERATIVE_VERBS = tuple(v for v in verbs_with("tr", "person")
                          if v.it.imperative and v.en_base not in ("see", "hear"))  # fmt: skip
_REFLEXIVE_IMPERATIVES = tuple(v for v in verbs_with("refl", "person") if not v.en_reflexive)
_BODY_CARE_VERBS = tuple(v for v in VERBS if v.en_base in ("touch", "wash", "dry"))


def imperative(rng: random.Random) -> Pair:
    """Imperatives: ``Eat your apple!``, ``Do not touch the cat!``, ``Give me the spoon,
    please.``, ``Sit down!``."""
    kind = choose(rng, (("tr", 6), ("neg", 2), ("give", 2), ("go", 2), ("refl", 1), ("body", 1)))
    if kind in ("tr", "neg"):
        verb = rng.choice(_IMPERATIVE_VERBS)
        np = pick_np(rng, verb.object, dets=(("the", 4), ("poss", 2), ("this", 1), ("a", 1)))
        particle = [verb.en_particle] if verb.en_particle else []
        if kind == "neg":
            en = ["do", "not", verb.en_base, *particle, *en_np(np)]
            it_ = ["non", verb.it.infinitive, *it_np(np)]
        else:
            en = [verb.en_base, *particle, *en_np(np)]
            it_ = [verb.it.imperative, *it_np(np)]
    elif kind == "give":
        np = pick_np(rng, frozenset({"toy", "thing", "food"}), dets=(("the", 3), ("poss", 1)))
        en, it_ = ["give", "me", *en_np(np)], ["dammi", *it_np(np)]
    elif kind == "go":
        verb = rng.choice(verbs_with("go"))
        place = rng.choice(PLACES)
        particle = [verb.en_particle] if verb.en_particle else []
        here = rng.random() < 0.4 and verb.en_base == "come" and not particle
        en = [verb.en_base, *particle, *(["here"] if here else place.en_to.split())]
        it_ = [verb.it.imperative, *(["qui"] if here else place.it_to.split())]
    elif kind == "refl":
        verb = rng.choice(_REFLEXIVE_IMPERATIVES)
        particle = [verb.en_particle] if verb.en_particle else []
        en, it_ = [verb.en_base, *particle], [verb.it.imperative + "ti"]
    else:
        # "Wash your hands!" is "Lavati le mani!": a reflexive and an article, no possessive
        verb = rng.choice(_BODY_CARE_VERBS)
        np = make_np(rng, rng.choice(nouns_with(frozenset({"body"}))), dets=(("your", 1),),
                     adj_p=0)  # fmt: skip
        en = [verb.en_base, *en_np(np)]
        np.det = "the"
        it_ = [verb.it.imperative + "ti", *it_np(np)]
    end = "!"
    if rng.random() < 0.2:
        en, it_, end = ["please", *en], [*it_, ",", "per", "favore"], "."
    if rng.random() < 0.2:
        name = rng.choice(NAMES).en[0]
        en, it_ = [name, ",", *en], [name, ",", *it_]
    return [*en, end], [*it_, end]


def shall_we(rng: random.Random) -> Pair:
    """Suggestion: ``Shall we go to the park?`` / ``Andiamo al parco?``."""
    frame = choose(rng, (("go", 3), ("tr", 3), ("intr", 1), ("place", 1), ("with", 1)))
    c = make_clause(rng, frame=frame, tense="shall", neg=False, needs="person",
                    subject=Pronoun(3, int(rng.random() < 0.4)))  # fmt: skip
    return [*en_clause(c, question=True), "?"], [*it_clause(c), "?"]


def there_is(rng: random.Random) -> Pair:
    """Existential: ``There are two birds in the tree.`` / ``Ci sono due uccellini
    sull'albero.``."""
    number = int(rng.random() < 0.45)
    dets = (("num", 3), ("many", 1), ("some", 1)) if number else (("a", 1),)
    np = pick_np(rng, _MOVABLE, countable=True, number=number, dets=dets, adj_p=0.2)
    if rng.random() < 0.6:
        loc = location(rng)
        en_where, it_where = en_pp(loc), it_pp(loc)
    else:
        place = rng.choice(PLACES)
        en_where, it_where = place.en_at.split(), place.it_at.split()
    it_there = ["ci", "sono"] if number else ["c'", "è"]
    if rng.random() < 0.25:
        return ([en_be(np.person, marked=en_marks_number(np)), "there", *en_np(np), *en_where, "?"],
                [*it_there, *it_np(np), *it_where, "?"])  # fmt: skip
    return (["there", en_be(np.person, marked=en_marks_number(np)), *en_np(np), *en_where, "."],
            [*it_there, *it_np(np), *it_where, "."])  # fmt: skip


def how_many(rng: random.Random) -> Pair:
    """How-many question: ``How many ducks are there? There are three ducks.`` / ``Quante
    anatre ci sono? ...``."""
    noun = rng.choice(nouns_with(_MOVABLE, countable=True))
    k = rng.randint(2, 5)
    en_pl, it_pl = noun.en[1], noun.it[1]
    return (["how", "many", en_pl, "are", "there", "?", "there", en_be(5), EN_NUMBERS[k - 1],
             en_pl, "."],
            [agree(IT_QUANTO, noun.gender, 1, "quant"), it_pl, "ci", "sono", "?", "ci", "sono",
             IT_NUMBERS[k - 1], it_pl, "."])  # fmt: skip


def color(rng: random.Random) -> Pair:
    """Colour question: ``What color is the ball? It is red.`` / ``Di che colore è la palla? È
    rossa.``."""
    while True:
        np = pick_np(rng, CONCRETE - {"person"},
                     dets=(("the", 3), ("poss", 1), ("this", 1)), adj_p=0)  # fmt: skip
        colors = [a for a in adjectives_for(np.noun) if a.en in _COLOR_NAMES]
        if colors:
            break
    adj = rng.choice(colors)
    person = np.person
    en = ["what", "color", en_be(person, marked=en_marks_number(np)), *en_np(np), "?",
          _pronoun_en(np), en_be(person), adj.en]  # fmt: skip
    it_ = ["di", "che", "colore", by_person(ESSERE.present, person, "verb"), *it_np(np), "?",
           ESSERE.present[person], agree(adj.it, np.noun.gender, np.number, "adj")]  # fmt: skip
    return [*en, "."], [*it_, "."]


def clitic(rng: random.Random) -> Pair:
    """Object clitic: ``Where is the ball? I found it.`` / ``Dov'è la palla? L'ho trovata.``;
    ``Do you want the apple? Yes, I want it.`` / ``Vuoi la mela? Sì, la voglio.``."""
    np = pick_np(rng, _MOVABLE, dets=(("the", 5), ("poss", 2), ("this", 1)), adj_p=0.15)
    index = it.agreement(np.noun.gender, np.number)
    person = rng.choice((0, 3))
    en_it = "them" if np.number else "it"
    kind = choose(rng, (("see", 2), ("found", 2), ("want", 1)))
    if kind == "want":
        en_q = ["do", "you", "want", *en_np(np), "?", "yes", ",", "I", "want", en_it, "."]
        it_q = ["vuoi", *it_np(np), "?", "sì", ",", agree(IT_CLITIC, np.noun.gender, np.number,
                "clitic"), "voglio", "."]  # fmt: skip
        return en_q, it_q
    en = ["where", en_be(np.person, marked=en_marks_number(np)), *en_np(np), "?",
          "I" if person == 0 else "we"]  # fmt: skip
    it_ = [*(["dove", "sono"] if np.number else ["dov'", "è"]), *it_np(np), "?"]
    if kind == "see":
        see = next(v for v in VERBS if v.en_base == "see")
        en += ["see", en_it, "."]
        it_ += [agree(IT_CLITIC, np.noun.gender, np.number, "clitic"), see.it.present[person]]
    else:
        en += ["found", en_it, "."]
        # Before "ho"/"abbiamo" a singular clitic elides to "l'"; a plural one may only go
        # wrong in gender ("la ho" would add a spelling error to the agreement error).
        object_clitic = agree(IT_CLITIC, np.noun.gender, np.number, "clitic")
        object_clitic.alts.pop("number", None)
        aux = AVERE.present[person]
        it_ += ["l'" if index in (0, 2) else object_clitic, aux]
        it_.append(agree(it.adjective_forms("trovato"), np.noun.gender, np.number, "part"))
    return en, [*it_, "."]


def relative_subject(rng: random.Random) -> Pair:
    """Subject with a relative clause: ``The dog that chases the cats is happy.`` / ``Il cane
    che insegue i gatti è felice.``."""
    verb = rng.choice(verbs_with("tr", "animal") + verbs_with("intr", "animal"))
    np = pick_np(rng, verb.subject, countable=True, adj_p=0,
                 dets=(("the", 6), ("this", 1), ("that", 1), ("poss", 1), ("num", 1)))  # fmt: skip
    obj = None
    if "tr" in verb.frames and verb.object:
        obj = pick_np(rng, verb.object, dets=(("the", 4), ("a", 1), ("poss", 1)), adj_p=0)
    np.mod = RC(verb, obj)
    return _main_predicate(rng, np)


def prepositional_subject(rng: random.Random) -> Pair:
    """Subject with a prepositional phrase: ``The ball on the table is red.`` / ``La palla sul
    tavolo è rossa.``."""
    np = pick_np(rng, _MOVABLE | {"person"}, countable=True, adj_p=0,
                 dets=(("the", 6), ("this", 1), ("that", 1), ("poss", 1), ("num", 1)))  # fmt: skip
    if np.noun.tags & {"person", "animal"} and rng.random() < 0.3:
        with_np = pick_np(rng, frozenset({"toy", "clothing"}), dets=(("the", 2), ("a", 1)))
        np.mod = PP("with", with_np)
    else:
        np.mod = location(rng, animate=bool(np.noun.tags & {"person", "animal"}))
    return _main_predicate(rng, np)


def _main_predicate(rng: random.Random, np: NP) -> Pair:
    """A modified subject with an adjective predicate or an intransitive verb."""
    animate = bool(np.noun.tags & {"person", "animal"})
    if not animate or rng.random() < 0.5:
        en, it_ = _predicate(rng, np)
        return [*en, "."], [*it_, "."]
    tags = np.noun.tags
    verb = rng.choice([v for v in verbs_with("intr") if v.subject & tags])
    c = Clause(np, verb, "intr", choose(rng, (("pres", 3), ("prog", 1))))
    return [*en_clause(c), "."], [*it_clause(c), "."]


def reflexive(rng: random.Random, **options) -> Pair:
    """Reflexive verb: ``The girl hurt herself.`` / ``La bambina si è fatta male.``."""
    options.setdefault("tense", choose(rng, (("pres", 45), ("past", 35), ("prog", 10),
                                             ("want", 10))))  # fmt: skip
    return statement(rng, frame="refl", **options)


def exclaim(rng: random.Random) -> Pair:
    """Exclamation: ``What a big dog!`` / ``Che cane grande!``; ``Well done, Anna!`` / ``Brava,
    Anna!``."""
    kind = choose(rng, (("what", 3), ("praise", 2), ("wow", 2), ("no", 2)))
    if kind == "praise":
        name = rng.choice(NAMES)
        bravo = agree(_GOOD.it, name.gender, 0, "adj")
        return ["well", "done", ",", name.en[0], "!"], [bravo, ",", name.it[0], "!"]
    np = pick_np(rng, CONCRETE - {"person"}, countable=True, dets=(("a", 1),), adj_p=1.0)
    if kind == "wow":
        np.number = 0
        return ["wow", ",", *en_np(np), "!"], ["wow", ",", *it_np(np), "!"]
    if kind == "no":
        np.number, np.adj = 0, None
        other = make_np(rng, rng.choice(nouns_with(frozenset(np.noun.tags & CONCRETE),
                        countable=True)), number=0, dets=(("a", 1),), adj_p=0)  # fmt: skip
        if other.noun is np.noun:
            return ["yes", ",", "it", "is", *en_np(np), "!"], ["sì", ",", "è", *it_np(np), "!"]
        return (["no", ",", "it", "is", "not", *en_np(other), ",", "it", "is", *en_np(np), "."],
                ["no", ",", "non", "è", *it_np(other), ",", "è", *it_np(np), "."])  # fmt: skip
    if np.number:
        np.det = "bare"
    return ["what", *en_np(np), "!"], ["che", *it_np(np)[int(not np.number) :], "!"]


def count(rng: random.Random) -> Pair:
    """Counting game: ``Count the ducks with me: one, two, three!`` / ``Conta le anatre con me:
    una, due, tre!``."""
    np = pick_np(rng, _MOVABLE, countable=True, number=1, dets=(("the", 1),), adj_p=0.1)
    k = rng.randint(3, 5)
    en_numbers: list[Token] = []
    it_numbers: list[Token] = []
    # "una, due, tre" for feminine things; "uno, due, tre" is fine for anything, so this "uno"
    # is not an agreement to test
    first = "una" if np.noun.gender == it.FEM else "uno"
    for i in range(k):
        en_numbers += [EN_NUMBERS[i], ","]
        it_numbers += [first if i == 0 else IT_NUMBERS[i], ","]
    return (["count", *en_np(np), "with", "me", ":", *en_numbers[:-1], "!"],
            ["conta", *it_np(np), "con", "me", ":", *it_numbers[:-1], "!"])  # fmt: skip


TEMPLATES: dict[str, tuple[Callable[..., Pair], int]] = {
    "look": (look, 7),
    "what_is": (what_is, 5),
    "this_is": (this_is, 6),
    "describe": (describe, 10),
    "statement": (statement, 18),
    "question": (question, 7),
    "what_does": (what_does, 4),
    "who": (who, 3),
    "where": (where, 6),
    "imperative": (imperative, 9),
    "shall_we": (shall_we, 2),
    "there_is": (there_is, 4),
    "how_many": (how_many, 2),
    "color": (color, 2),
    "clitic": (clitic, 4),
    "relative_subject": (relative_subject, 4),
    "prepositional_subject": (prepositional_subject, 4),
    "reflexive": (reflexive, 4),
    "exclaim": (exclaim, 3),
    "count": (count, 1),
}
"""Template name -> (function, relative frequency in the corpus)."""
